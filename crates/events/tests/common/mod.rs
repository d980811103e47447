//! Builders for LDK events and a logger that keeps its records, shared by the tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::Network;
use lightning::events::{Event, PathFailure};
use lightning::ln::channelmanager::PaymentId;
use lightning::ln::msgs::UnsignedChannelUpdate;
use lightning::routing::gossip::{NetworkGraph, NetworkUpdate, NodeId};
use lightning::routing::router::{Path, RouteHop};
use lightning::types::features::{ChannelFeatures, NodeFeatures};
use lightning::types::payment::{PaymentHash, PaymentPreimage};
use lightning::util::logger::{Level, Logger, Record};

/// The graph type of the tests.
pub type Graph = NetworkGraph<Arc<RecordingLogger>>;

/// Returns the public key of a node derived from `seed`, which must be between 1 and 127.
pub fn node_key(seed: u8) -> PublicKey {
    let secret = SecretKey::from_slice(&[seed; 32])
        .expect("32 bytes of a value from 1 to 127 are below the curve order");
    PublicKey::from_secret_key(&Secp256k1::new(), &secret)
}

/// Capacity of every channel that [`add_channel`] adds.
pub const CAPACITY_SATS: u64 = 100_000;

/// Adds a channel with a policy in each direction, as if both announcements had arrived.
pub fn add_channel(graph: &Graph, short_channel_id: u64, one: PublicKey, two: PublicKey) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    graph
        .add_channel_from_partial_announcement(
            short_channel_id,
            Some(CAPACITY_SATS),
            now,
            ChannelFeatures::empty(),
            NodeId::from_pubkey(&one),
            NodeId::from_pubkey(&two),
        )
        .expect("the channel joins two different nodes");
    for direction in [0, 1] {
        let update = UnsignedChannelUpdate {
            chain_hash: ChainHash::using_genesis_block(Network::Regtest),
            short_channel_id,
            timestamp: now as u32,
            message_flags: 1,
            channel_flags: direction,
            cltv_expiry_delta: 40,
            htlc_minimum_msat: 1_000,
            htlc_maximum_msat: CAPACITY_SATS * 1_000,
            fee_base_msat: 1_000,
            fee_proportional_millionths: 100,
            excess_data: Vec::new(),
        };
        graph
            .update_channel_unsigned(&update)
            .expect("the update matches a known channel");
    }
}

/// Returns a payment id that encodes `id`, so a handler can tell events apart.
pub fn payment_id(id: u32) -> PaymentId {
    let mut bytes = [0; 32];
    bytes[..4].copy_from_slice(&id.to_le_bytes());
    PaymentId(bytes)
}

/// Returns the number that [`payment_id`] encoded.
pub fn decode_payment_id(payment_id: &PaymentId) -> u32 {
    u32::from_le_bytes(payment_id.0[..4].try_into().expect("four bytes"))
}

/// Returns a hop to the node `pubkey` over channel `short_channel_id`, charging `fee_msat`.
///
/// The last hop's `fee_msat` is the amount the recipient receives.
pub fn hop(pubkey: PublicKey, short_channel_id: u64, fee_msat: u64) -> RouteHop {
    RouteHop {
        pubkey,
        node_features: NodeFeatures::empty(),
        short_channel_id,
        channel_features: ChannelFeatures::empty(),
        fee_msat,
        cltv_expiry_delta: 40,
        maybe_announced_channel: true,
    }
}

/// Returns an unblinded path over `hops`.
pub fn path(hops: Vec<RouteHop>) -> Path {
    Path {
        hops,
        blinded_tail: None,
    }
}

/// Returns a one-hop path, for events whose path does not matter.
pub fn short_path() -> Path {
    path(vec![hop(node_key(2), 1, 1_000)])
}

pub fn payment_failed(id: u32) -> Event {
    Event::PaymentFailed {
        payment_id: payment_id(id),
        payment_hash: None,
        reason: None,
    }
}

pub fn payment_sent(id: u32, preimage: [u8; 32]) -> Event {
    Event::PaymentSent {
        payment_id: Some(payment_id(id)),
        payment_preimage: PaymentPreimage(preimage),
        payment_hash: PaymentHash([0x11; 32]),
        amount_msat: Some(1_000),
        fee_paid_msat: Some(0),
        bolt12_invoice: None,
    }
}

pub fn path_failed(
    path: Path,
    short_channel_id: Option<u64>,
    failed_permanently: bool,
    network_update: Option<NetworkUpdate>,
) -> Event {
    Event::PaymentPathFailed {
        payment_id: Some(payment_id(0)),
        payment_hash: PaymentHash([0x22; 32]),
        payment_failed_permanently: failed_permanently,
        failure: PathFailure::OnPath { network_update },
        path,
        short_channel_id,
        hold_times: Vec::new(),
    }
}

pub fn path_successful(id: u32, path: Path) -> Event {
    Event::PaymentPathSuccessful {
        payment_id: payment_id(id),
        payment_hash: None,
        path,
        hold_times: Vec::new(),
    }
}

pub fn probe_successful(id: u32, path: Path) -> Event {
    Event::ProbeSuccessful {
        payment_id: payment_id(id),
        payment_hash: PaymentHash([0x33; 32]),
        path,
    }
}

pub fn probe_failed(id: u32, path: Path, short_channel_id: Option<u64>) -> Event {
    Event::ProbeFailed {
        payment_id: payment_id(id),
        payment_hash: PaymentHash([0x44; 32]),
        path,
        short_channel_id,
    }
}

/// Returns the number [`payment_id`] encoded in events built here, or `None` for other events.
pub fn event_id(event: &Event) -> Option<u32> {
    match event {
        Event::PaymentFailed { payment_id, .. }
        | Event::PaymentPathSuccessful { payment_id, .. }
        | Event::ProbeSuccessful { payment_id, .. }
        | Event::ProbeFailed { payment_id, .. } => Some(decode_payment_id(payment_id)),
        Event::PaymentSent {
            payment_id: Some(payment_id),
            ..
        } => Some(decode_payment_id(payment_id)),
        _ => None,
    }
}

/// A logger that keeps every record as its level and formatted message.
#[derive(Default)]
pub struct RecordingLogger {
    records: Mutex<Vec<(Level, String)>>,
}

impl RecordingLogger {
    pub fn records(&self) -> Vec<(Level, String)> {
        self.records.lock().unwrap().clone()
    }

    pub fn messages_at(&self, level: Level) -> Vec<String> {
        self.records()
            .into_iter()
            .filter(|(at, _)| *at == level)
            .map(|(_, message)| message)
            .collect()
    }
}

impl Logger for RecordingLogger {
    fn log(&self, record: Record) {
        self.records
            .lock()
            .unwrap()
            .push((record.level, record.args.to_string()));
    }
}

/// Installs, once per test binary, a panic hook that stays silent for panics whose message
/// starts with `scripted panic` and prints every other panic as the default hook does.
pub fn silence_scripted_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|message| message.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !message.starts_with("scripted panic") {
                default_hook(info);
            }
        }));
    });
}
