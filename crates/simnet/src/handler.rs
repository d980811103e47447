//! The event handler of a node: records each event, does what a wallet application would do
//! with it, then calls the test's own handler.

use std::sync::Arc;

use bitcoin::Amount;
use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::util::logger::Logger as _;
use lightning::{log_error, log_trace};

use crate::logger::NodeLogger;
use crate::recorder::EventRecorder;
use crate::types::{SimChannelManager, SimSweeper};
use crate::wallet::Wallet;

/// A handler a test adds to a node, called after the node's own handling of each event.
///
/// Returning `Err(ReplayEvent())` makes LDK hand the event out again later.
pub type UserHandler = Arc<dyn Fn(&Event) -> Result<(), ReplayEvent> + Send + Sync>;

/// The [`EventHandler`] of a simnet node, cheap to clone.
///
/// For each event it, in this order:
/// - records the event in the node's [`EventRecorder`];
/// - funds a channel on `FundingGenerationReady` from the node's [`Wallet`];
/// - claims a payment on `PaymentClaimable` when the preimage is known (an invoice payment);
/// - hands `SpendableOutputs` to the OutputSweeper, asking for a replay if that fails;
/// - calls the user handler, if one is set, and returns its result.
#[derive(Clone)]
pub struct NodeEventHandler {
    channel_manager: Arc<SimChannelManager>,
    sweeper: Arc<SimSweeper>,
    wallet: Arc<Wallet>,
    recorder: Arc<EventRecorder>,
    logger: Arc<NodeLogger>,
    user: Option<UserHandler>,
}

impl NodeEventHandler {
    /// Returns the handler for the node made of these parts.
    pub fn new(
        channel_manager: Arc<SimChannelManager>,
        sweeper: Arc<SimSweeper>,
        wallet: Arc<Wallet>,
        recorder: Arc<EventRecorder>,
        logger: Arc<NodeLogger>,
        user: Option<UserHandler>,
    ) -> Self {
        Self {
            channel_manager,
            sweeper,
            wallet,
            recorder,
            logger,
            user,
        }
    }

    /// Returns the recorder this handler appends to.
    pub fn recorder(&self) -> &Arc<EventRecorder> {
        &self.recorder
    }

    fn fund_channel(&self, event: &Event) {
        let Event::FundingGenerationReady {
            temporary_channel_id,
            counterparty_node_id,
            channel_value_satoshis,
            output_script,
            ..
        } = event
        else {
            return;
        };
        let funding = self.wallet.funding_transaction(
            output_script.clone(),
            Amount::from_sat(*channel_value_satoshis),
        );
        let result = self.channel_manager.funding_transaction_generated(
            *temporary_channel_id,
            *counterparty_node_id,
            funding,
        );
        if let Err(error) = result {
            log_error!(
                self.logger,
                "failed to hand the funding transaction of channel {} to the channel manager: {:?}",
                temporary_channel_id,
                error
            );
        }
    }

    fn claim_payment(&self, event: &Event) {
        let Event::PaymentClaimable {
            purpose,
            payment_hash,
            ..
        } = event
        else {
            return;
        };
        match purpose.preimage() {
            Some(preimage) => {
                self.channel_manager.claim_funds(preimage);
                self.recorder.mark_claimed(*payment_hash);
            }
            None => log_trace!(
                self.logger,
                "payment {} has no known preimage, leaving it unclaimed",
                payment_hash
            ),
        }
    }

    fn track_outputs(&self, event: &Event) -> Result<(), ReplayEvent> {
        let Event::SpendableOutputs {
            outputs,
            channel_id,
        } = event
        else {
            return Ok(());
        };
        let tracked =
            self.sweeper
                .track_spendable_outputs(outputs.clone(), *channel_id, false, None);
        tracked.map_err(|()| {
            log_error!(
                self.logger,
                "failed to hand {} spendable outputs to the sweeper, asking for a replay",
                outputs.len()
            );
            ReplayEvent()
        })
    }
}

impl EventHandler for NodeEventHandler {
    fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        self.recorder.record(&event);
        match &event {
            Event::FundingGenerationReady { .. } => self.fund_channel(&event),
            Event::PaymentClaimable { .. } => self.claim_payment(&event),
            Event::SpendableOutputs { .. } => self.track_outputs(&event)?,
            _ => {}
        }
        match &self.user {
            Some(user) => user(&event),
            None => Ok(()),
        }
    }
}
