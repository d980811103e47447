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
    /// NOTE: LDK 0.2.7 holds the ChainMonitor's monitors read lock, and the OnionMessenger's
    /// recipients lock, while it calls the handler. A gate that blocked there could wait for
    /// a write that never comes, because the processor thread may need those locks (through
    /// `PeerManager::process_events`) before it writes. So only ChannelManager events wait
    /// inside the handler call. For the other sources the worker waits for owed writes before
    /// the call, and the gate rejects an event whose write became owed during the call.
    pub(crate) fn dispatch_all(&self) -> DispatchRound {
        let mut round = DispatchRound::default();
        self.dispatch_from(EventSource::ChannelManager, &mut round, |handler| {
            self.channel_manager.process_pending_events(handler)
        });
        self.dispatch_locked(EventSource::ChainMonitor, &mut round, |handler| {
            self.chain_monitor.process_pending_events(handler)
        });
        if let Some(messenger) = &self.onion_messenger {
            self.dispatch_locked(EventSource::OnionMessenger, &mut round, |handler| {
                messenger.process_pending_events(handler)
            });
        }
        round
    }

    /// Dispatches a source that holds its own locks while it calls the handler.
    fn dispatch_locked(
        &self,
        source: EventSource,
        round: &mut DispatchRound,
        process: impl Fn(&dyn EventHandler),
    ) {
        // Rounds are bounded: a source that keeps finding new writes owed is served again on
        // its next wake, since LDK's providers signal their future after a replay.
        const MAX_ROUNDS: usize = 8;
        for _ in 0..MAX_ROUNDS {
            if matches!(self.gate, GateMode::Wait(_))
                && self
                    .ledger
                    .admit_event(&*self.channel_manager, &self.gate)
                    .is_err()
            {
                return;
            }
            let mut source_round = DispatchRound::default();
            self.dispatch_from(source, &mut source_round, &process);
            round.handled += source_round.handled;
            round.gate_rejected |= source_round.gate_rejected;
            let retry = source_round.gate_rejected && matches!(self.gate, GateMode::Wait(_));
            if !retry || self.ledger.is_closed() {
                return;
            }
        }
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

/// The handler handed to one source's `process_pending_events`.
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
    /// Passes `event` through the gate, blocking only for ChannelManager events.
    fn admit(&self, event: &Event) -> Result<(), ReplayEvent> {
        let pump = self.pump;
        if self.source != EventSource::ChannelManager {
            // LDK ignores the handler's result for `ConnectionNeeded`, so a rejected one
            // would be lost. It requests a connection and depends on no ChannelManager state.
            if matches!(event, Event::ConnectionNeeded { .. }) && !pump.ledger.is_closed() {
                return Ok(());
            }
            return pump
                .ledger
                .admit_event(&*pump.channel_manager, &GateMode::Reject);
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
