//! In-memory connections between PeerManagers.
//!
//! A [`Network`] contains pipes: each joins two PeerManagers, and each side owns a
//! [`PipeDescriptor`]. `send_data` only appends bytes to the sender's outbox and wakes the
//! deliverer, so no PeerManager is ever entered from inside another's `send_data` (which could
//! deadlock on a peer lock held by the caller). Delivery moves up to one chunk per direction per
//! pass: it calls the receiver's `read_event` and then its `process_events`, as
//! `lightning-net-tokio` does after every read.
//!
//! Back-pressure works as on a socket. An outbox takes at most [`PipeConfig::capacity`] bytes,
//! so `send_data` accepts what fits and reports the rest unsent. Once the outbox has drained,
//! the sender's `write_buffer_space_avail` is called. A side that sends with
//! `continue_read == false` receives nothing until it sends with `continue_read == true`.
//!
//! Delivery runs in whichever thread calls [`Network::deliver_all`], and in a background thread
//! once [`Network::start_delivery_thread`] was called. A lock lets one deliverer work at a time,
//! which keeps the bytes of each direction in order.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::peer_handler::SocketDescriptor;
use parking_lot::{Condvar, Mutex};

use crate::activity::Activity;

/// The operations of a PeerManager that a [`Network`] calls.
///
/// Implemented for the PeerManager of a simnet node; a test can implement it to watch the
/// bytes a node sends.
pub trait PeerEndpoint: Send + Sync {
    /// Returns the node id of the PeerManager's node.
    fn node_id(&self) -> PublicKey;
    /// Registers an outbound connection to `their_node_id` and returns the first bytes to send.
    ///
    /// # Errors
    ///
    /// Returns [`ConnectionClosed`] when the PeerManager rejects the connection.
    fn new_outbound_connection(
        &self,
        their_node_id: PublicKey,
        descriptor: PipeDescriptor,
    ) -> Result<Vec<u8>, ConnectionClosed>;
    /// Registers an inbound connection.
    ///
    /// # Errors
    ///
    /// Returns [`ConnectionClosed`] when the PeerManager rejects the connection.
    fn new_inbound_connection(&self, descriptor: PipeDescriptor) -> Result<(), ConnectionClosed>;
    /// Hands received bytes to the PeerManager.
    ///
    /// # Errors
    ///
    /// Returns [`ConnectionClosed`] when the PeerManager wants the connection closed.
    fn read_event(
        &self,
        descriptor: &mut PipeDescriptor,
        data: &[u8],
    ) -> Result<(), ConnectionClosed>;
    /// Lets the PeerManager send what its message handlers queued.
    fn process_events(&self);
    /// Tells the PeerManager that a short write can continue.
    ///
    /// # Errors
    ///
    /// Returns [`ConnectionClosed`] when the PeerManager wants the connection closed.
    fn write_buffer_space_avail(
        &self,
        descriptor: &mut PipeDescriptor,
    ) -> Result<(), ConnectionClosed>;
    /// Tells the PeerManager that the connection closed.
    fn socket_disconnected(&self, descriptor: &PipeDescriptor);
}

/// A PeerManager rejected a connection or asked for it to be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the peer manager closed the connection")]
pub struct ConnectionClosed;

/// Sizes of the pipes of a [`Network`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipeConfig {
    /// The maximum number of bytes in an outbox before `send_data` reports a short write.
    pub capacity: usize,
    /// The maximum number of bytes handed to one `read_event` call.
    pub chunk: usize,
}

impl Default for PipeConfig {
    /// Returns a 64 KiB outbox and 4 KiB reads, the read size LDK recommends.
    fn default() -> Self {
        Self {
            capacity: 64 * 1024,
            chunk: 4 * 1024,
        }
    }
}

/// One side of an in-memory pipe: the socket descriptor a PeerManager writes to.
#[derive(Clone)]
pub struct PipeDescriptor {
    pipe: u64,
    side: usize,
    network: Weak<Shared>,
}

impl PartialEq for PipeDescriptor {
    fn eq(&self, other: &Self) -> bool {
        self.pipe == other.pipe && self.side == other.side
    }
}

impl Eq for PipeDescriptor {}

impl Hash for PipeDescriptor {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pipe.hash(state);
        self.side.hash(state);
    }
}

impl std::fmt::Debug for PipeDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PipeDescriptor({}.{})", self.pipe, self.side)
    }
}

impl SocketDescriptor for PipeDescriptor {
    fn send_data(&mut self, data: &[u8], continue_read: bool) -> usize {
        match self.network.upgrade() {
            Some(shared) => shared.send(self.pipe, self.side, data, continue_read),
            None => 0,
        }
    }

    fn disconnect_socket(&mut self) {
        if let Some(shared) = self.network.upgrade() {
            shared.close(self.pipe);
        }
    }
}

/// The in-memory network joining the PeerManagers of a simnet.
///
/// # Example
///
/// ```
/// use vigil_simnet::{Network, PipeConfig};
///
/// let network = Network::new(PipeConfig::default());
/// assert_eq!(network.open_pipes(), 0);
/// assert_eq!(network.deliver_all(), 0);
/// ```
pub struct Network {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    me: Weak<Shared>,
    config: PipeConfig,
    activity: Arc<Activity>,
    state: Mutex<NetworkState>,
    wake: Condvar,
    deliverer: Mutex<()>,
}

#[derive(Default)]
struct NetworkState {
    pipes: BTreeMap<u64, Pipe>,
    next_pipe: u64,
    // Set by every change a deliverer may act on, cleared by the delivery thread before a pass.
    dirty: bool,
    stopping: bool,
}

struct Pipe {
    sides: [Side; 2],
    open: bool,
}

struct Side {
    endpoint: Arc<dyn PeerEndpoint>,
    outbox: VecDeque<u8>,
    reads_paused: bool,
    write_blocked: bool,
    disconnect_delivered: bool,
}

impl Side {
    fn new(endpoint: Arc<dyn PeerEndpoint>) -> Self {
        Self {
            endpoint,
            outbox: VecDeque::new(),
            reads_paused: false,
            write_blocked: false,
            disconnect_delivered: false,
        }
    }
}

/// One step of delivery, run with no network lock held.
enum Delivery {
    Bytes {
        receiver: Arc<dyn PeerEndpoint>,
        descriptor: PipeDescriptor,
        data: Vec<u8>,
    },
    SpaceAvailable {
        sender: Arc<dyn PeerEndpoint>,
        descriptor: PipeDescriptor,
    },
    Disconnected {
        endpoint: Arc<dyn PeerEndpoint>,
        descriptor: PipeDescriptor,
    },
}

/// The reason [`Network::connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A PeerManager rejected the new connection.
    #[error("the peer manager of node {node_id} rejected the connection (is the node stopped?)")]
    Rejected {
        /// The node whose PeerManager rejected it.
        node_id: PublicKey,
    },
}

impl Network {
    /// Returns an empty network whose pipes follow `config`.
    pub fn new(config: PipeConfig) -> Self {
        Self::with_activity(config, Arc::new(Activity::default()))
    }

    /// Returns an empty network that also bumps `activity` whenever a PeerManager sends.
    pub fn with_activity(config: PipeConfig, activity: Arc<Activity>) -> Self {
        Self {
            shared: Arc::new_cyclic(|me| Shared {
                me: Weak::clone(me),
                config,
                activity,
                state: Mutex::new(NetworkState::default()),
                wake: Condvar::new(),
                deliverer: Mutex::new(()),
            }),
            thread: Mutex::new(None),
        }
    }

    /// Opens a pipe from `initiator` to `responder` and starts the noise handshake.
    ///
    /// The handshake and the `init` messages complete as bytes are delivered.
    ///
    /// # Errors
    ///
    /// Returns [`ConnectError::Rejected`] when either PeerManager rejects the connection; the
    /// pipe is then closed again.
    pub fn connect(
        &self,
        initiator: Arc<dyn PeerEndpoint>,
        responder: Arc<dyn PeerEndpoint>,
    ) -> Result<(), ConnectError> {
        let responder_id = responder.node_id();
        let pipe = {
            let mut state = self.shared.state.lock();
            let pipe = state.next_pipe;
            state.next_pipe += 1;
            let sides = [
                Side::new(Arc::clone(&initiator)),
                Side::new(Arc::clone(&responder)),
            ];
            state.pipes.insert(pipe, Pipe { sides, open: true });
            pipe
        };

        let descriptor = |side| PipeDescriptor {
            pipe,
            side,
            network: Arc::downgrade(&self.shared),
        };
        if responder.new_inbound_connection(descriptor(1)).is_err() {
            self.shared.forget(pipe);
            return Err(ConnectError::Rejected {
                node_id: responder_id,
            });
        }
        let Ok(first_bytes) = initiator.new_outbound_connection(responder_id, descriptor(0)) else {
            self.shared.close(pipe);
            return Err(ConnectError::Rejected {
                node_id: initiator.node_id(),
            });
        };

        let mut state = self.shared.state.lock();
        if let Some(open) = state.pipes.get_mut(&pipe) {
            open.sides[0].outbox.extend(first_bytes);
        }
        state.dirty = true;
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Closes every pipe with a side at `node_id`; both PeerManagers learn of it on delivery.
    pub fn disconnect_node(&self, node_id: &PublicKey) {
        self.close_where(|sides| sides.contains(node_id));
    }

    /// Closes every pipe between `a` and `b`; both PeerManagers learn of it on delivery.
    pub fn disconnect_pair(&self, a: &PublicKey, b: &PublicKey) {
        self.close_where(|sides| sides.contains(a) && sides.contains(b));
    }

    fn close_where(&self, matches: impl Fn(&[PublicKey; 2]) -> bool) {
        let pipes: Vec<u64> = {
            let state = self.shared.state.lock();
            state
                .pipes
                .iter()
                .filter(|(_, pipe)| {
                    let sides = [
                        pipe.sides[0].endpoint.node_id(),
                        pipe.sides[1].endpoint.node_id(),
                    ];
                    pipe.open && matches(&sides)
                })
                .map(|(id, _)| *id)
                .collect()
        };
        for pipe in pipes {
            self.shared.close(pipe);
        }
    }

    /// Returns how many pipes are open.
    pub fn open_pipes(&self) -> usize {
        self.shared
            .state
            .lock()
            .pipes
            .values()
            .filter(|pipe| pipe.open)
            .count()
    }

    /// Delivers in the calling thread until nothing is left to deliver, and returns the number
    /// of passes that delivered something.
    ///
    /// Bytes waiting for a side that paused its reads stay queued.
    pub fn deliver_all(&self) -> usize {
        let mut passes = 0;
        while self.shared.deliver_pass() {
            passes += 1;
        }
        passes
    }

    /// Starts a thread that delivers whenever a PeerManager sends, until the network drops.
    ///
    /// Nodes driven by a background processor need it: their PeerManagers send from the
    /// processor's thread. Calling it again does nothing.
    ///
    /// # Panics
    ///
    /// Panics if the operating system cannot start a thread.
    pub fn start_delivery_thread(&self) {
        let mut thread = self.thread.lock();
        if thread.is_some() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name("simnet-network".into())
            .spawn(move || shared.run_delivery())
            .expect("the simnet network thread should start");
        *thread = Some(handle);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.shared.state.lock().stopping = true;
        self.shared.wake.notify_all();
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Shared {
    fn send(&self, pipe: u64, side: usize, data: &[u8], continue_read: bool) -> usize {
        let mut state = self.state.lock();
        let Some(open) = state.pipes.get_mut(&pipe).filter(|pipe| pipe.open) else {
            return 0;
        };
        let sender = &mut open.sides[side];
        sender.reads_paused = !continue_read;
        let room = self.config.capacity.saturating_sub(sender.outbox.len());
        let accepted = data.len().min(room);
        sender.outbox.extend(&data[..accepted]);
        if accepted < data.len() {
            sender.write_blocked = true;
        }
        state.dirty = true;
        drop(state);
        self.wake.notify_all();
        self.activity.bump();
        accepted
    }

    fn close(&self, pipe: u64) {
        let mut state = self.state.lock();
        if let Some(open) = state.pipes.get_mut(&pipe) {
            open.open = false;
            state.dirty = true;
            self.wake.notify_all();
        }
    }

    fn forget(&self, pipe: u64) {
        self.state.lock().pipes.remove(&pipe);
    }

    /// Runs one pass of delivery and returns whether it did anything.
    fn deliver_pass(&self) -> bool {
        let _deliverer = self.deliverer.lock();
        let deliveries = self.collect_deliveries();
        let did_work = !deliveries.is_empty();
        for delivery in deliveries {
            self.run(delivery);
        }
        did_work
    }

    /// Takes the work of one pass out of the network state: a chunk per open direction whose
    /// receiver reads, space notices for drained senders, and disconnect notices.
    fn collect_deliveries(&self) -> Vec<Delivery> {
        let mut state = self.state.lock();
        let mut deliveries = Vec::new();
        let mut finished = Vec::new();
        for (&id, pipe) in state.pipes.iter_mut() {
            let descriptor = |side| PipeDescriptor {
                pipe: id,
                side,
                network: Weak::clone(&self.me),
            };
            if !pipe.open {
                for (side, end) in pipe.sides.iter_mut().enumerate() {
                    if !end.disconnect_delivered {
                        end.disconnect_delivered = true;
                        deliveries.push(Delivery::Disconnected {
                            endpoint: Arc::clone(&end.endpoint),
                            descriptor: descriptor(side),
                        });
                    }
                }
                finished.push(id);
                continue;
            }
            for from in 0..2 {
                let to = 1 - from;
                if pipe.sides[to].reads_paused || pipe.sides[from].outbox.is_empty() {
                    continue;
                }
                let take = pipe.sides[from].outbox.len().min(self.config.chunk);
                let data: Vec<u8> = pipe.sides[from].outbox.drain(..take).collect();
                deliveries.push(Delivery::Bytes {
                    receiver: Arc::clone(&pipe.sides[to].endpoint),
                    descriptor: descriptor(to),
                    data,
                });
                let sender = &mut pipe.sides[from];
                if sender.write_blocked && sender.outbox.len() < self.config.capacity {
                    sender.write_blocked = false;
                    deliveries.push(Delivery::SpaceAvailable {
                        sender: Arc::clone(&sender.endpoint),
                        descriptor: descriptor(from),
                    });
                }
            }
        }
        for id in finished {
            state.pipes.remove(&id);
        }
        deliveries
    }

    fn run(&self, delivery: Delivery) {
        match delivery {
            Delivery::Bytes {
                receiver,
                mut descriptor,
                data,
            } => {
                if receiver.read_event(&mut descriptor, &data).is_err() {
                    self.close(descriptor.pipe);
                }
                receiver.process_events();
            }
            Delivery::SpaceAvailable {
                sender,
                mut descriptor,
            } => {
                if sender.write_buffer_space_avail(&mut descriptor).is_err() {
                    self.close(descriptor.pipe);
                }
            }
            Delivery::Disconnected {
                endpoint,
                descriptor,
            } => {
                endpoint.socket_disconnected(&descriptor);
                endpoint.process_events();
            }
        }
    }

    fn run_delivery(self: Arc<Self>) {
        loop {
            {
                let mut state = self.state.lock();
                while !state.dirty && !state.stopping {
                    self.wake.wait(&mut state);
                }
                if state.stopping {
                    return;
                }
                state.dirty = false;
            }
            while self.deliver_pass() {}
        }
    }
}
