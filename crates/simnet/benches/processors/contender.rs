//! One processor under test: two simnet nodes with a channel, driven by that processor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning::events::Event;
use vigil_simnet::{ProcessorDriver, Simnet, SimnetConfig, UserHandler, VigilProcessor};

use crate::threads::{thread_ids, thread_name};

/// The paying node.
pub const PAYER: usize = 0;
/// The paid node, whose handler can be made slow.
pub const PAYEE: usize = 1;
/// The channel's capacity: room for every payment of a full run.
const CHANNEL_SATS: u64 = 10_000_000;
/// Each payment's amount. Above the dust limit at the simnet's feerate, so every payment
/// adds a real HTLC output to the commitment transactions.
pub const PAYMENT_MSAT: u64 = 6_000_000;
/// How long the slow handler blocks on each event.
pub const SLOW_HANDLER_DELAY: Duration = Duration::from_millis(200);
/// Payments made before any measurement, so that caches, the scorer and the store's files
/// exist.
const WARM_UP_PAYMENTS: usize = 3;

/// Two nodes with a channel, each driven by the processor under test.
pub struct Contender {
    /// The name in the table's header.
    pub name: &'static str,
    /// The nodes.
    pub simnet: Simnet,
    /// The threads the driver and its processors started, found by comparing the thread list
    /// before and after the simnet started.
    pub threads: Vec<u32>,
    // While set, the payee's handler blocks for `SLOW_HANDLER_DELAY` on every event.
    slow: Arc<AtomicBool>,
}

impl Contender {
    /// Starts two nodes under the driver `make_driver` returns, opens a channel from the
    /// payer to the payee and makes a few payments.
    ///
    /// `make_driver` gets the flag of the slow handler. With [`SlowHandler::Async`] the
    /// driver must delay its handler's future while the flag is set.
    ///
    /// # Errors
    ///
    /// Returns the driver's error, or the simnet's when a node, the channel or a payment
    /// fails.
    pub fn start<D: ProcessorDriver + 'static>(
        name: &'static str,
        slow_handler: SlowHandler,
        make_driver: impl FnOnce(Arc<AtomicBool>) -> Result<D, std::io::Error>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let slow = Arc::new(AtomicBool::new(false));
        let handler = blocking_handler(Arc::clone(&slow));
        let config = SimnetConfig {
            nodes: 2,
            ..SimnetConfig::default()
        };
        // The driver is made after this snapshot, so that the threads of an async driver's
        // runtime count as the processors' threads.
        let before = thread_ids();
        let driver = make_driver(Arc::clone(&slow))?;
        let simnet = Simnet::start_with(config, driver, |index, node| {
            if index == PAYEE && slow_handler == SlowHandler::Blocking {
                node.user_handler = Some(Arc::clone(&handler));
            }
        })?;
        let started_threads: Vec<u32> = thread_ids().difference(&before).copied().collect();

        simnet.connect(PAYER, PAYEE)?;
        simnet.open_channel(PAYER, PAYEE, CHANNEL_SATS, 0)?;
        for _ in 0..WARM_UP_PAYMENTS {
            simnet.pay(PAYER, PAYEE, PAYMENT_MSAT)?;
        }
        // The simnet started its network thread and the driver its processors' threads, so
        // the processors' threads are the new ones that are not the network's. A new thread sets
        // its own name once it runs, so names are only read now, long after the start.
        let threads = started_threads
            .into_iter()
            .filter(|tid| thread_name(*tid) != "simnet-network")
            .collect();
        Ok(Self {
            name,
            simnet,
            threads,
            slow,
        })
    }

    /// Makes the payee's handler block on every event, or stop blocking.
    pub fn set_slow_handler(&self, slow: bool) {
        self.slow.store(slow, Ordering::Release);
    }

    /// Returns the names of the processor threads, for the report.
    pub fn thread_names(&self) -> Vec<String> {
        self.threads.iter().map(|tid| thread_name(*tid)).collect()
    }

    /// Returns the wakeups Vigil's processors counted themselves, summed over the nodes, or
    /// `None` for another processor.
    pub fn vigil_wakeups(&self) -> Option<u64> {
        (0..self.simnet.len())
            .map(|index| {
                self.simnet
                    .with_processor(index, |running| {
                        running
                            .as_any()
                            .and_then(|any| any.downcast_ref::<VigilProcessor>())
                            .map(|vigil| vigil.processor().stats().wakeups)
                    })
                    .ok()
                    .flatten()
            })
            .sum()
    }
}

/// Delay added to the payee's handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowHandler {
    /// The node's own handler sleeps, blocking the thread that called it.
    Blocking,
    /// The driver's async handler awaits a timer, as an async handler would wait for I/O.
    Async,
}

fn blocking_handler(slow: Arc<AtomicBool>) -> UserHandler {
    Arc::new(move |_event: &Event| {
        if slow.load(Ordering::Acquire) {
            std::thread::sleep(SLOW_HANDLER_DELAY);
        }
        Ok(())
    })
}
