//! The trait for code that must see each event before the user's handler.

use std::sync::Arc;

use lightning::events::Event;

/// Code that receives each event, by reference, before the user's handler does.
///
/// An observer is a small value added to a [`Dispatcher`](crate::Dispatcher) or an
/// [`AsyncDispatcher`](crate::AsyncDispatcher) with `observe`. Observers run in the order they
/// were added, each once per event, and then the handler runs. An observer cannot change or
/// drop the event, so the handler always receives it.
///
/// An observer should be quick and must not call back into the LDK object that is handing out
/// the event (the `ChannelManager` holds locks during the call). If it panics, the dispatcher
/// catches the panic, skips the remaining observers and the handler, asks LDK to replay the
/// event and records a [`DispatchError::ObserverPanicked`](crate::DispatchError::ObserverPanicked).
///
/// Any `Fn(&Event) + Send + Sync` closure is an observer, and so are `Box<dyn Observer>`,
/// `Arc<O>` and `Option<O>` of an observer `O`.
///
/// # Examples
///
/// An observer that counts payments sent:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// use lightning::events::Event;
/// use vigil_events::Observer;
///
/// struct PaymentsSent(Arc<AtomicU64>);
///
/// impl Observer for PaymentsSent {
///     fn observe(&self, event: &Event) {
///         if let Event::PaymentSent { .. } = event {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let sent = Arc::new(AtomicU64::new(0));
/// let dispatcher = vigil_events::Dispatcher::new(|_event: Event| Ok(()))
///     .observe(PaymentsSent(Arc::clone(&sent)));
/// # let _ = dispatcher;
/// ```
pub trait Observer: Send + Sync {
    /// Looks at one event before the handler receives it.
    fn observe(&self, event: &Event);
}

impl<F> Observer for F
where
    F: Fn(&Event) + Send + Sync,
{
    fn observe(&self, event: &Event) {
        self(event)
    }
}

/// A boxed observer, for lists of observers chosen at run time.
impl Observer for Box<dyn Observer> {
    fn observe(&self, event: &Event) {
        (**self).observe(event)
    }
}

/// A shared observer, so the caller can keep a handle to read its state after adding it.
impl<O: Observer + ?Sized> Observer for Arc<O> {
    fn observe(&self, event: &Event) {
        (**self).observe(event)
    }
}

/// An optional observer, which observes nothing when `None`, for parts a node may lack (a scorer).
impl<O: Observer> Observer for Option<O> {
    fn observe(&self, event: &Event) {
        if let Some(observer) = self {
            observer.observe(event)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fails to build if `Observer` stops being object safe, which the dispatchers rely on.
    fn _takes_boxed_observer(_observer: Box<dyn Observer>) {}

    fn failed_payment() -> Event {
        Event::PaymentFailed {
            payment_id: lightning::ln::channelmanager::PaymentId([3; 32]),
            payment_hash: None,
            reason: None,
        }
    }

    /// An observer that counts the events it sees.
    #[derive(Default)]
    struct Tally(std::sync::atomic::AtomicUsize);

    impl Observer for Tally {
        fn observe(&self, _event: &Event) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    impl Tally {
        fn count(&self) -> usize {
            self.0.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    #[test]
    fn wrappers_forward_to_observer() {
        let shared = Arc::new(Tally::default());
        let boxed: Box<dyn Observer> = Box::new(Arc::clone(&shared));
        let present = Some(Arc::clone(&shared));
        let absent: Option<Tally> = None;

        boxed.observe(&failed_payment());
        present.observe(&failed_payment());
        absent.observe(&failed_payment());

        assert_eq!(
            shared.count(),
            2,
            "the box and the `Some` forward, `None` observes nothing"
        );
    }

    #[test]
    fn closure_is_observer() {
        let seen = std::sync::Mutex::new(Vec::new());
        let observer = |event: &Event| seen.lock().unwrap().push(crate::event_kind(event));
        Observer::observe(&observer, &failed_payment());

        assert_eq!(*seen.lock().unwrap(), vec!["PaymentFailed"]);
    }
}
