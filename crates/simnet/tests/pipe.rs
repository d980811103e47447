//! The in-memory network against fake PeerManagers that record every call.

use std::sync::Arc;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning::ln::peer_handler::SocketDescriptor;
use parking_lot::Mutex;
use vigil_simnet::{ConnectionClosed, Network, PeerEndpoint, PipeConfig, PipeDescriptor};

/// A PeerManager stand-in that records reads, space notices and disconnects, and rejects
/// reads when `reject_reads` is set.
struct RecordingEndpoint {
    node_id: PublicKey,
    descriptor: Mutex<Option<PipeDescriptor>>,
    received: Mutex<Vec<u8>>,
    read_sizes: Mutex<Vec<usize>>,
    space_notices: Mutex<usize>,
    disconnects: Mutex<usize>,
    reject_reads: Mutex<bool>,
}

impl RecordingEndpoint {
    fn new(key_byte: u8) -> Arc<Self> {
        let secret = SecretKey::from_slice(&[key_byte; 32]).unwrap();
        Arc::new(Self {
            node_id: PublicKey::from_secret_key(&Secp256k1::new(), &secret),
            descriptor: Mutex::new(None),
            received: Mutex::new(Vec::new()),
            read_sizes: Mutex::new(Vec::new()),
            space_notices: Mutex::new(0),
            disconnects: Mutex::new(0),
            reject_reads: Mutex::new(false),
        })
    }

    fn descriptor(&self) -> PipeDescriptor {
        self.descriptor
            .lock()
            .clone()
            .expect("the network registered a descriptor")
    }
}

impl PeerEndpoint for RecordingEndpoint {
    fn node_id(&self) -> PublicKey {
        self.node_id
    }

    fn new_outbound_connection(
        &self,
        _their_node_id: PublicKey,
        descriptor: PipeDescriptor,
    ) -> Result<Vec<u8>, ConnectionClosed> {
        *self.descriptor.lock() = Some(descriptor);
        Ok(b"hello".to_vec())
    }

    fn new_inbound_connection(&self, descriptor: PipeDescriptor) -> Result<(), ConnectionClosed> {
        *self.descriptor.lock() = Some(descriptor);
        Ok(())
    }

    fn read_event(
        &self,
        _descriptor: &mut PipeDescriptor,
        data: &[u8],
    ) -> Result<(), ConnectionClosed> {
        if *self.reject_reads.lock() {
            return Err(ConnectionClosed);
        }
        self.received.lock().extend_from_slice(data);
        self.read_sizes.lock().push(data.len());
        Ok(())
    }

    fn process_events(&self) {}

    fn write_buffer_space_avail(
        &self,
        _descriptor: &mut PipeDescriptor,
    ) -> Result<(), ConnectionClosed> {
        *self.space_notices.lock() += 1;
        Ok(())
    }

    fn socket_disconnected(&self, _descriptor: &PipeDescriptor) {
        *self.disconnects.lock() += 1;
    }
}

fn connected(config: PipeConfig) -> (Network, Arc<RecordingEndpoint>, Arc<RecordingEndpoint>) {
    let network = Network::new(config);
    let a = RecordingEndpoint::new(1);
    let b = RecordingEndpoint::new(2);
    network.connect(a.clone(), b.clone()).unwrap();
    (network, a, b)
}

#[test]
fn first_bytes_reach_responder() {
    let (network, a, b) = connected(PipeConfig::default());
    assert!(
        b.received.lock().is_empty(),
        "nothing moves before delivery"
    );

    network.deliver_all();

    assert_eq!(b.received.lock().as_slice(), b"hello");
    assert!(a.received.lock().is_empty());
    assert_eq!(network.open_pipes(), 1);
}

#[test]
fn short_write_then_space_notice() {
    let config = PipeConfig {
        capacity: 10,
        chunk: 4,
    };
    let (network, a, b) = connected(config);
    network.deliver_all();
    let data: Vec<u8> = (0..25).collect();

    let accepted = a.descriptor().send_data(&data, true);
    assert_eq!(accepted, 10, "the outbox takes only its capacity");
    assert_eq!(*a.space_notices.lock(), 0);

    network.deliver_all();

    assert_eq!(&b.received.lock()[5..], &data[..10]);
    assert!(b.read_sizes.lock().iter().all(|size| *size <= 4));
    assert_eq!(
        *a.space_notices.lock(),
        1,
        "the sender learns it may write again"
    );
}

#[test]
fn paused_reader_gets_nothing() {
    let (network, a, b) = connected(PipeConfig::default());
    network.deliver_all();

    // The responder pauses its reads by sending nothing with continue_read unset.
    assert_eq!(b.descriptor().send_data(&[], false), 0);
    assert_eq!(a.descriptor().send_data(b"queued", true), 6);
    network.deliver_all();
    assert_eq!(b.received.lock().as_slice(), b"hello");

    b.descriptor().send_data(&[], true);
    network.deliver_all();
    assert_eq!(b.received.lock().as_slice(), b"helloqueued");
}

#[test]
fn disconnect_reaches_both_sides() {
    let (network, a, b) = connected(PipeConfig::default());
    network.deliver_all();

    a.descriptor().disconnect_socket();
    network.deliver_all();

    assert_eq!(*a.disconnects.lock(), 1);
    assert_eq!(*b.disconnects.lock(), 1);
    assert_eq!(network.open_pipes(), 0);
    assert_eq!(a.descriptor().send_data(b"late", true), 0);
}

#[test]
fn rejected_read_closes_pipe() {
    let (network, a, b) = connected(PipeConfig::default());
    *b.reject_reads.lock() = true;

    network.deliver_all();

    assert_eq!(network.open_pipes(), 0);
    assert_eq!(*a.disconnects.lock(), 1);
    assert_eq!(*b.disconnects.lock(), 1);
}

#[test]
fn delivery_thread_moves_bytes() {
    let (network, a, b) = connected(PipeConfig::default());
    network.start_delivery_thread();
    a.descriptor().send_data(b" world", true);

    // The thread delivers on its own. deliver_all waits for a pass in progress and then
    // delivers what is left, so the bytes have arrived when it returns.
    network.deliver_all();

    assert_eq!(b.received.lock().as_slice(), b"hello world");
}
