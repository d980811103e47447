//! `event_kind` names each event after its variant, as LDK's `Debug` output does.

mod common;

use std::collections::BTreeSet;

use lightning::events::{ClosureReason, Event, HTLCHandlingFailureType};
use lightning::ln::types::ChannelId;
use lightning::types::features::ChannelTypeFeatures;
use vigil_events::event_kind;

use common::{
    node_key, path_failed, path_successful, payment_failed, payment_sent, probe_failed,
    probe_successful, short_path,
};

fn sample_events() -> Vec<Event> {
    vec![
        payment_failed(1),
        payment_sent(2, [0; 32]),
        path_failed(short_path(), Some(1), false, None),
        path_successful(3, short_path()),
        probe_successful(4, short_path()),
        probe_failed(5, short_path(), None),
        Event::ConnectionNeeded {
            node_id: node_key(1),
            addresses: Vec::new(),
        },
        Event::OnionMessagePeerConnected {
            peer_node_id: node_key(2),
        },
        Event::SpendableOutputs {
            outputs: Vec::new(),
            channel_id: None,
        },
        Event::ChannelReady {
            channel_id: ChannelId::new_zero(),
            user_channel_id: 7,
            counterparty_node_id: node_key(3),
            funding_txo: None,
            channel_type: ChannelTypeFeatures::empty(),
        },
        Event::ChannelClosed {
            channel_id: ChannelId::new_zero(),
            user_channel_id: 7,
            reason: ClosureReason::DisconnectedPeer,
            counterparty_node_id: None,
            channel_capacity_sats: None,
            channel_funding_txo: None,
            last_local_balance_msat: None,
        },
        Event::HTLCHandlingFailed {
            prev_channel_id: ChannelId::new_zero(),
            failure_type: HTLCHandlingFailureType::InvalidOnion,
            failure_reason: None,
        },
    ]
}

/// Returns the variant name that starts LDK's derived `Debug` output of `event`.
fn debug_variant(event: &Event) -> String {
    let debug = format!("{event:?}");
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn kind_matches_debug_variant() {
    for event in sample_events() {
        assert_eq!(event_kind(&event), debug_variant(&event));
    }
}

#[test]
fn sample_kinds_are_distinct() {
    let events = sample_events();
    let kinds: BTreeSet<&str> = events.iter().map(event_kind).collect();

    assert_eq!(kinds.len(), events.len(), "{kinds:?}");
}
