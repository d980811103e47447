//! Coalesced scorer writes, run through the async runner in virtual time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning::events::Event;
use lightning::ln::channelmanager::PaymentId;
use lightning::routing::router::{CandidateRouteHop, Path};
use lightning::routing::scoring::{ChannelUsage, ScoreLookUp, ScoreUpdate};
use lightning::types::payment::PaymentHash;
use lightning::util::ser::{Writeable, Writer};
use vigil_scheduler::{Clock, ManualClock};

use super::support::{config, within, Rig};

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// When the scorer was decayed and encoded, in virtual time since start.
#[derive(Default)]
struct Record {
    decays: Vec<Duration>,
    encodes: Vec<Duration>,
}

/// A scorer that gives no penalties and records each decay and each encoding.
struct RecordingScorer {
    clock: ManualClock,
    start: Instant,
    record: Arc<Mutex<Record>>,
}

impl RecordingScorer {
    fn elapsed(&self) -> Duration {
        self.clock.now() - self.start
    }
}

impl ScoreLookUp for RecordingScorer {
    type ScoreParams = ();

    fn channel_penalty_msat(&self, _: &CandidateRouteHop, _: ChannelUsage, _: &()) -> u64 {
        0
    }
}

impl ScoreUpdate for RecordingScorer {
    fn payment_path_failed(&mut self, _: &Path, _: u64, _: Duration) {}
    fn payment_path_successful(&mut self, _: &Path, _: Duration) {}
    fn probe_failed(&mut self, _: &Path, _: u64, _: Duration) {}
    fn probe_successful(&mut self, _: &Path, _: Duration) {}

    fn time_passed(&mut self, _: Duration) {
        let at = self.elapsed();
        self.record.lock().expect("not poisoned").decays.push(at);
    }
}

impl Writeable for RecordingScorer {
    fn write<W: Writer>(&self, writer: &mut W) -> Result<(), lightning::io::Error> {
        let at = self.elapsed();
        self.record.lock().expect("not poisoned").encodes.push(at);
        writer.write_all(b"scorer")
    }
}

/// Returns a probe result, which the scorer observer feeds to the scorer.
fn probe_successful(id: u8) -> Event {
    Event::ProbeSuccessful {
        payment_id: PaymentId([id; 32]),
        payment_hash: PaymentHash([id; 32]),
        path: Path {
            hops: Vec::new(),
            blinded_tail: None,
        },
    }
}

#[tokio::test]
async fn scorer_writes_are_coalesced() {
    let mut rig = Rig::new();
    let record = Arc::new(Mutex::new(Record::default()));
    let scorer = Arc::new(Mutex::new(RecordingScorer {
        clock: rig.node.clock.clone(),
        start: rig.node.start,
        record: Arc::clone(&record),
    }));
    let (handled_sender, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |_: Event| {
        let _ = handled_sender.send(());
        std::future::ready(Ok(()))
    };
    let processor = rig
        .builder(handler, config())
        .scorer(scorer)
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(secs(1)).await;

    // A ChainMonitor event changes the scorer every 100 ms for 3 s.
    let mut pending = rig.node.start;
    for step in 1..=30 {
        rig.forget_waits();
        rig.node
            .advance_to(Duration::from_millis(100 * u64::from(step)));
        rig.node.monitor.push(probe_successful(step));
        within("the event is handled", handled.recv()).await;
        // The pending change is due within the coalescing interval, and the runner waits
        // for it rather than for the next timer.
        loop {
            pending = rig.wait_for_idle(Duration::ZERO).await;
            if pending <= rig.node.now() + secs(1) {
                break;
            }
        }
    }
    rig.node.advance_to(pending - rig.node.start);
    rig.run_until(secs(300)).await;
    rig.wait_for_idle(secs(1)).await;

    let (mut encodes, decays) = {
        let record = record.lock().expect("not poisoned");
        (record.encodes.clone(), record.decays.clone())
    };
    // LDK's encoding runs the writer twice because it measures the length first. The counts
    // below show that each instant is one write.
    encodes.dedup();
    assert_eq!(
        encodes,
        [secs(1), secs(2), secs(3), secs(4), secs(300)],
        "30 changes, one write a second, the change at 3 s written at 4 s, then the decay write"
    );
    assert_eq!(decays, [secs(0), secs(300)], "at start and every 5 minutes");
    assert_eq!(rig.node.trace.count("write scorer"), 5);
    assert_eq!(processor.stats().key("scorer").writes, 5);
    processor.stop().await.expect("stops cleanly");
}
