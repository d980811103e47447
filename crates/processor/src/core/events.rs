//! Handing pending events from the ChannelManager, the ChainMonitor and the OnionMessenger
//! to the dispatcher, through the gate of [`ManagerLedger`].

use std::cell::Cell;
use std::sync::Arc;

use lightning::events::{Event, EventHandler, ReplayEvent};
use parking_lot::Mutex;
use vigil_events::DispatchError;

use super::ledger::{GateMode, ManagerLedger};
use crate::components::{ChainMonitorDriver, ChannelManagerDriver, OnionMessengerDriver};
use crate::stats::{EventSource, StatsRecorder};

/// The dispatcher as the pump uses it: the user's handler behind the observers.
pub(crate) trait EventSink: Send + Sync {
    /// Hands `event` to the observers, then to the user's handler.
    fn handle(&self, event: Event) -> Result<(), ReplayEvent>;

    /// Returns the first handler or observer panic since the last call.
    fn take_failure(&self) -> Option<DispatchError>;
}

impl<H: EventHandler + Send + Sync> EventSink for vigil_events::Dispatcher<H> {
    fn handle(&self, event: Event) -> Result<(), ReplayEvent> {
        self.handle_event(event)
    }

    fn take_failure(&self) -> Option<DispatchError> {
        vigil_events::Dispatcher::take_failure(self)
    }
}

/// The outcome of one round of dispatching.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DispatchRound {
    /// Events the dispatcher accepted.
    pub(crate) handled: u64,
    /// Whether the gate rejected an event because a write was owed.
    pub(crate) gate_rejected: bool,
}

/// Pulls events from every source and hands them out; shared by the core and an event
/// worker thread.
pub(crate) struct EventPump {
    channel_manager: Arc<dyn ChannelManagerDriver>,
    chain_monitor: Arc<dyn ChainMonitorDriver>,
    onion_messenger: Option<Arc<dyn OnionMessengerDriver>>,
    sink: Arc<dyn EventSink>,
    ledger: Arc<ManagerLedger>,
    gate: GateMode,
    stats: Arc<StatsRecorder>,
    failure: Mutex<Option<DispatchError>>,
}

impl EventPump {
    pub(crate) fn new(
        channel_manager: Arc<dyn ChannelManagerDriver>,
        chain_monitor: Arc<dyn ChainMonitorDriver>,
        onion_messenger: Option<Arc<dyn OnionMessengerDriver>>,
        sink: Arc<dyn EventSink>,
        ledger: Arc<ManagerLedger>,
        gate: GateMode,
        stats: Arc<StatsRecorder>,
    ) -> Self {
        Self {
            channel_manager,
            chain_monitor,
            onion_messenger,
            sink,
            ledger,
            gate,
            stats,
            failure: Mutex::new(None),
        }
    }

    /// Returns a pump over the event sources among `components`.
    pub(crate) fn for_components(
        components: &super::Components,
        sink: Arc<dyn EventSink>,
        ledger: Arc<ManagerLedger>,
        gate: GateMode,
        stats: Arc<StatsRecorder>,
    ) -> Self {
        Self::new(
            Arc::clone(&components.channel_manager),
            Arc::clone(&components.chain_monitor),
            components.onion_messenger.clone(),
            sink,
            ledger,
            gate,
            stats,
        )
    }

    /// Hands out the pending events of every source, ChannelManager first.
    ///
    /// With [`GateMode::Wait`] the gate blocks inside the handler call for every source. That
    /// is safe because no source keeps a lock the processor thread needs while it calls the
    /// handler. LDK's ChannelManager releases its locks first, and the ChainMonitor and the
    /// OnionMessenger hand out events through `process_pending_events_unlocked`.
    pub(crate) fn dispatch_all(&self) -> DispatchRound {
        let mut round = DispatchRound::default();
        self.dispatch_from(EventSource::ChannelManager, &mut round, |handler| {
            self.channel_manager.process_pending_events(handler)
        });
        self.dispatch_from(EventSource::ChainMonitor, &mut round, |handler| {
            self.chain_monitor.process_pending_events_unlocked(handler)
        });
        if let Some(messenger) = &self.onion_messenger {
            self.dispatch_from(EventSource::OnionMessenger, &mut round, |handler| {
                messenger.process_pending_events_unlocked(handler)
            });
        }
        round
    }

    fn dispatch_from(
        &self,
        source: EventSource,
        round: &mut DispatchRound,
        process: impl FnOnce(&dyn EventHandler),
    ) {
        let handler = SourceHandler::new(self, source);
        process(&handler);
        round.handled += handler.handled.get();
        round.gate_rejected |= handler.gate_rejected.get();
    }

    /// Returns the first handler or observer panic seen, leaving it recorded.
    pub(crate) fn failure(&self) -> Option<DispatchError> {
        self.failure.lock().clone()
    }

    /// Records `failure` unless one is recorded already; the core stops on its next turn.
    pub(crate) fn record_failure(&self, failure: DispatchError) {
        let mut slot = self.failure.lock();
        if slot.is_none() {
            *slot = Some(failure);
        }
    }
}

/// The handler handed to one source's event processing.
struct SourceHandler<'a> {
    pump: &'a EventPump,
    source: EventSource,
    handled: Cell<u64>,
    gate_rejected: Cell<bool>,
}

impl<'a> SourceHandler<'a> {
    fn new(pump: &'a EventPump, source: EventSource) -> Self {
        Self {
            pump,
            source,
            handled: Cell::new(0),
            gate_rejected: Cell::new(false),
        }
    }
}

impl SourceHandler<'_> {
    /// Passes `event` through the gate.
    fn admit(&self, event: &Event) -> Result<(), ReplayEvent> {
        let pump = self.pump;
        // LDK ignores the handler's result for `ConnectionNeeded`, so an event the gate
        // rejected would be lost. It requests a connection and depends on no ChannelManager
        // state, so it does not wait for a write either.
        if matches!(event, Event::ConnectionNeeded { .. }) && !pump.ledger.is_closed() {
            return Ok(());
        }
        pump.ledger.admit_event(&*pump.channel_manager, &pump.gate)
    }
}

impl EventHandler for SourceHandler<'_> {
    fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        let pump = self.pump;

        // After a panic nothing more is handed out; the processor is stopping.
        if pump.failure.lock().is_some() {
            return Err(ReplayEvent());
        }

        if let Err(replay) = self.admit(&event) {
            self.gate_rejected.set(true);
            return Err(replay);
        }

        let outcome = pump.sink.handle(event);
        if let Some(failure) = pump.sink.take_failure() {
            pump.record_failure(failure);
            return Err(ReplayEvent());
        }
        if outcome.is_ok() {
            self.handled.set(self.handled.get() + 1);
            pump.stats.event_handled(self.source);
        }
        outcome
    }
}
