//! Per-key write order for stores whose async writes run after the call that issued them.
//!
//! LDK's `KVStore::write` may be called several times for one key before any of the returned
//! futures runs, and the futures may then run in any order. The state must only move forward:
//! once a later write (or remove) landed, an earlier one must not land over it. Each store
//! therefore hands out a [`Ticket`] with a version from one counter when the call is made, and
//! applies a ticket only if no newer version of that key has been applied yet. A superseded
//! ticket is skipped and reported as success, because the state already contains a newer value.
//!
//! A failed operation does not advance the applied version, so an older write that runs after a
//! newer one failed still lands: the failed write never happened.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::names::KeyLocation;

/// Hands out versions per store and keeps the latest applied version of each key with
/// operations in flight.
#[derive(Clone, Default)]
pub(crate) struct WriteOrder {
    inner: Arc<OrderInner>,
}

#[derive(Default)]
struct OrderInner {
    next_version: AtomicU64,
    // Keys with at least one ticket alive. An entry goes away with the last ticket, so the map
    // stays as small as the number of keys being written at once.
    slots: Mutex<HashMap<String, Arc<Mutex<u64>>>>,
}

/// The place of one write or remove in its key's order.
pub(crate) struct Ticket {
    order: WriteOrder,
    slot_id: String,
    slot: Arc<Mutex<u64>>,
    version: u64,
}

impl WriteOrder {
    /// Returns a ticket for the next operation on the key at `location`, newer than every ticket
    /// issued before.
    pub(crate) fn issue(&self, location: &KeyLocation) -> Ticket {
        // Names are checked before this point and contain no '/', so the id is unambiguous.
        let key = location.key.as_deref().unwrap_or_default();
        let slot_id = format!(
            "{}/{}/{}",
            location.primary_namespace, location.secondary_namespace, key
        );
        self.issue_slot(slot_id)
    }

    fn issue_slot(&self, slot_id: String) -> Ticket {
        let mut slots = self.inner.slots.lock();
        // Versions start at 1 so that a fresh slot (applied version 0) accepts the first ticket.
        // Taking the version under the map lock keeps slot creation and versions in one order.
        let version = self.inner.next_version.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Arc::clone(slots.entry(slot_id.clone()).or_default());
        Ticket {
            order: self.clone(),
            slot_id,
            slot,
            version,
        }
    }

    #[cfg(test)]
    pub(crate) fn tracked_keys(&self) -> usize {
        self.inner.slots.lock().len()
    }
}

/// The outcome of a ticket's operation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied<T> {
    /// The operation ran and returned this value.
    Done(T),
    /// A newer operation on the key had already been applied, so this one did not run.
    Superseded,
}

impl Ticket {
    /// Returns whether a newer operation on the key has already been applied.
    pub(crate) fn is_superseded(&self) -> bool {
        *self.slot.lock() >= self.version
    }

    /// Runs `operation` unless the ticket is superseded, holding the key's lock so that no other
    /// operation on the key runs at the same time. On success the key's applied version becomes
    /// this ticket's.
    pub(crate) fn apply<T, E>(
        self,
        operation: impl FnOnce() -> Result<T, E>,
    ) -> Result<Applied<T>, E> {
        let mut applied = self.slot.lock();
        if *applied >= self.version {
            return Ok(Applied::Superseded);
        }
        let value = operation()?;
        *applied = self.version;
        Ok(Applied::Done(value))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut slots = self.order.inner.slots.lock();
        // One reference sits in the map and one in this ticket: no other ticket needs the slot.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.slot_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_ticket_wins_when_applied_first() {
        let order = WriteOrder::default();
        let first = order.issue_slot("k".into());
        let second = order.issue_slot("k".into());

        assert_eq!(second.apply(|| Ok::<_, ()>(2)), Ok(Applied::Done(2)));
        assert!(first.is_superseded());
        assert_eq!(first.apply(|| Ok::<_, ()>(1)), Ok(Applied::Superseded));
    }

    #[test]
    fn failed_ticket_does_not_block_older_one() {
        let order = WriteOrder::default();
        let first = order.issue_slot("k".into());
        let second = order.issue_slot("k".into());

        assert_eq!(second.apply(|| Err::<(), _>("disk full")), Err("disk full"));
        assert_eq!(first.apply(|| Ok::<_, ()>(1)), Ok(Applied::Done(1)));
    }

    #[test]
    fn keys_are_independent() {
        let order = WriteOrder::default();
        let a = order.issue_slot("a".into());
        let b = order.issue_slot("b".into());

        assert_eq!(b.apply(|| Ok::<_, ()>(())), Ok(Applied::Done(())));
        assert_eq!(a.apply(|| Ok::<_, ()>(())), Ok(Applied::Done(())));
    }

    #[test]
    fn slots_are_released_with_last_ticket() {
        let order = WriteOrder::default();
        let first = order.issue_slot("k".into());
        let second = order.issue_slot("k".into());
        assert_eq!(order.tracked_keys(), 1);

        drop(first);
        assert_eq!(order.tracked_keys(), 1);
        drop(second);
        assert_eq!(order.tracked_keys(), 0);
    }
}
