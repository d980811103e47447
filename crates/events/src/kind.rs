//! Names of LDK event variants, for counters and logs.

use lightning::events::Event;

/// Returns the name of the event's variant, such as `"PaymentSent"` or `"ChannelReady"`.
///
/// The name is the variant's identifier in [`Event`] of `lightning` 0.2, so counters and logs
/// can name an event without formatting its fields, some of which are secrets (a
/// `PaymentSent` carries the payment preimage).
///
/// # Examples
///
/// ```
/// use lightning::events::Event;
/// use lightning::ln::channelmanager::PaymentId;
///
/// let event = Event::PaymentFailed { payment_id: PaymentId([7; 32]), payment_hash: None, reason: None };
/// assert_eq!(vigil_events::event_kind(&event), "PaymentFailed");
/// ```
pub fn event_kind(event: &Event) -> &'static str {
    // NOTE: `Event` is not `#[non_exhaustive]` in `lightning` 0.2, so this match has no
    // wildcard and a new variant in a later release fails the build here instead of being
    // counted under a made-up name.
    match event {
        Event::FundingGenerationReady { .. } => "FundingGenerationReady",
        Event::FundingTxBroadcastSafe { .. } => "FundingTxBroadcastSafe",
        Event::PaymentClaimable { .. } => "PaymentClaimable",
        Event::PaymentClaimed { .. } => "PaymentClaimed",
        Event::ConnectionNeeded { .. } => "ConnectionNeeded",
        Event::InvoiceReceived { .. } => "InvoiceReceived",
        Event::PaymentSent { .. } => "PaymentSent",
        Event::PaymentFailed { .. } => "PaymentFailed",
        Event::PaymentPathSuccessful { .. } => "PaymentPathSuccessful",
        Event::PaymentPathFailed { .. } => "PaymentPathFailed",
        Event::ProbeSuccessful { .. } => "ProbeSuccessful",
        Event::ProbeFailed { .. } => "ProbeFailed",
        Event::HTLCIntercepted { .. } => "HTLCIntercepted",
        Event::SpendableOutputs { .. } => "SpendableOutputs",
        Event::PaymentForwarded { .. } => "PaymentForwarded",
        Event::ChannelPending { .. } => "ChannelPending",
        Event::ChannelReady { .. } => "ChannelReady",
        Event::ChannelClosed { .. } => "ChannelClosed",
        Event::SplicePending { .. } => "SplicePending",
        Event::SpliceFailed { .. } => "SpliceFailed",
        Event::DiscardFunding { .. } => "DiscardFunding",
        Event::OpenChannelRequest { .. } => "OpenChannelRequest",
        Event::HTLCHandlingFailed { .. } => "HTLCHandlingFailed",
        Event::BumpTransaction(_) => "BumpTransaction",
        Event::OnionMessageIntercepted { .. } => "OnionMessageIntercepted",
        Event::OnionMessagePeerConnected { .. } => "OnionMessagePeerConnected",
        Event::PersistStaticInvoice { .. } => "PersistStaticInvoice",
        Event::StaticInvoiceRequested { .. } => "StaticInvoiceRequested",
        Event::FundingTransactionReadyForSigning { .. } => "FundingTransactionReadyForSigning",
    }
}
