//! The trait for code that must see each event before the user's handler.

use lightning::events::Event;

/// Code that sees each event, by reference, before the user's handler does.
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
/// Any `Fn(&Event) + Send + Sync` closure is an observer.
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

#[cfg(test)]
mod tests {
    use super::*;

    // Fails to build if `Observer` stops being object safe, which the dispatchers rely on.
    fn _takes_boxed_observer(_observer: Box<dyn Observer>) {}

    #[test]
    fn closure_is_observer() {
        let seen = std::sync::Mutex::new(Vec::new());
        let observer = |event: &Event| seen.lock().unwrap().push(crate::event_kind(event));
        let event = Event::PaymentFailed {
            payment_id: lightning::ln::channelmanager::PaymentId([3; 32]),
            payment_hash: None,
            reason: None,
        };

        Observer::observe(&observer, &event);

        assert_eq!(*seen.lock().unwrap(), vec!["PaymentFailed"]);
    }
}
