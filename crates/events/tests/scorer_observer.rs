//! The scorer observer against a real `ProbabilisticScorer` and a scorer that records calls.

mod common;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use lightning::events::{Event, EventHandler};
use lightning::routing::gossip::{NetworkGraph, NodeId};
use lightning::routing::router::CandidateRouteHop;
use lightning::routing::router::Path;
use lightning::routing::scoring::{
    ChannelUsage, ProbabilisticScorer, ProbabilisticScoringDecayParameters, ScoreLookUp,
    ScoreUpdate,
};
use lightning::util::logger::Level;
use vigil_events::{ChangeFlag, Dispatcher, Observer, ScoreOutcome, ScorerObserver};

use common::{
    add_channel, hop, node_key, path, path_failed, path_successful, probe_failed, probe_successful,
    Graph, RecordingLogger, CAPACITY_SATS,
};

type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<RecordingLogger>>;

const CAPACITY_MSAT: u64 = CAPACITY_SATS * 1_000;
const AMOUNT_MSAT: u64 = 40_000_000;
const NOW: Duration = Duration::from_secs(1_700_000_000);

/// A real scorer over channel 1 (node 1 to node 2) and channel 2 (node 2 to node 3), and the
/// observer that feeds it.
struct Fixture {
    scorer: Arc<RwLock<Scorer>>,
    observer: ScorerObserver<Arc<RwLock<Scorer>>>,
    logger: Arc<RecordingLogger>,
}

impl Fixture {
    fn new(wall_clock: impl Fn() -> Option<Duration> + Send + Sync + 'static) -> Self {
        let logger = Arc::new(RecordingLogger::default());
        let graph = Arc::new(NetworkGraph::new(
            bitcoin::Network::Regtest,
            Arc::clone(&logger),
        ));
        add_channel(&graph, 1, node_key(1), node_key(2));
        add_channel(&graph, 2, node_key(2), node_key(3));
        let decay = ProbabilisticScoringDecayParameters::default();
        let scorer = Arc::new(RwLock::new(ProbabilisticScorer::new(
            decay,
            graph,
            Arc::clone(&logger),
        )));
        let observer = ScorerObserver::new(Arc::clone(&scorer), wall_clock, logger.clone());
        Self {
            scorer,
            observer,
            logger,
        }
    }

    /// Returns the scorer's liquidity bounds for channel `short_channel_id` towards node `target`.
    fn liquidity(&self, short_channel_id: u64, target: u8) -> Option<(u64, u64)> {
        let target = NodeId::from_pubkey(&node_key(target));
        self.scorer
            .read()
            .unwrap()
            .estimated_channel_liquidity_range(short_channel_id, &target)
    }
}

/// Returns the path from node 1 over channels 1 and 2 to node 3, delivering `AMOUNT_MSAT`.
fn two_hop_path() -> Path {
    path(vec![
        hop(node_key(2), 1, 1_000),
        hop(node_key(3), 2, AMOUNT_MSAT),
    ])
}

#[test]
fn no_estimates_before_events() {
    let fixture = Fixture::new(|| Some(NOW));

    assert_eq!(fixture.liquidity(1, 2), None);
    assert_eq!(fixture.liquidity(2, 3), None);
}

#[test]
fn path_failed_at_channel_bounds_liquidity() {
    let fixture = Fixture::new(|| Some(NOW));

    fixture
        .observer
        .observe(&path_failed(two_hop_path(), Some(2), false, None));

    // The amount did not pass channel 2, so less is there. It passed channel 1, so more is there.
    assert_eq!(fixture.liquidity(2, 3), Some((0, AMOUNT_MSAT)));
    assert_eq!(fixture.liquidity(1, 2), Some((AMOUNT_MSAT, CAPACITY_MSAT)));
    assert!(fixture.observer.change_flag().is_set());
}

#[test]
fn permanent_failure_at_destination_counts_as_probe() {
    let fixture = Fixture::new(|| Some(NOW));

    fixture
        .observer
        .observe(&path_failed(two_hop_path(), None, true, None));

    // The destination rejected the payment, so every channel on the path carried the amount.
    assert_eq!(fixture.liquidity(1, 2), Some((AMOUNT_MSAT, CAPACITY_MSAT)));
    assert_eq!(fixture.liquidity(2, 3), Some((AMOUNT_MSAT, CAPACITY_MSAT)));
    assert!(fixture.observer.change_flag().is_set());
}

#[test]
fn path_failed_without_channel_is_ignored() {
    let fixture = Fixture::new(|| Some(NOW));

    fixture
        .observer
        .observe(&path_failed(two_hop_path(), None, false, None));

    assert_eq!(fixture.liquidity(1, 2), None);
    assert_eq!(fixture.liquidity(2, 3), None);
    assert!(!fixture.observer.change_flag().is_set());
}

#[test]
fn path_successful_lowers_max_liquidity() {
    let fixture = Fixture::new(|| Some(NOW));

    fixture
        .observer
        .observe(&path_successful(1, two_hop_path()));

    // The payment is now on the far side of each channel, so at most capacity minus amount remains.
    assert_eq!(
        fixture.liquidity(1, 2),
        Some((0, CAPACITY_MSAT - AMOUNT_MSAT))
    );
    assert_eq!(
        fixture.liquidity(2, 3),
        Some((0, CAPACITY_MSAT - AMOUNT_MSAT))
    );
    assert!(fixture.observer.change_flag().is_set());
}

#[test]
fn probe_successful_raises_min_liquidity() {
    let fixture = Fixture::new(|| Some(NOW));

    fixture
        .observer
        .observe(&probe_successful(1, two_hop_path()));

    assert_eq!(fixture.liquidity(1, 2), Some((AMOUNT_MSAT, CAPACITY_MSAT)));
    assert_eq!(fixture.liquidity(2, 3), Some((AMOUNT_MSAT, CAPACITY_MSAT)));
    assert!(fixture.observer.change_flag().is_set());
}

#[test]
fn probe_failed_at_channel_bounds_liquidity() {
    let fixture = Fixture::new(|| Some(NOW));

    fixture
        .observer
        .observe(&probe_failed(1, two_hop_path(), Some(2)));

    assert_eq!(fixture.liquidity(2, 3), Some((0, AMOUNT_MSAT)));
    assert_eq!(fixture.liquidity(1, 2), Some((AMOUNT_MSAT, CAPACITY_MSAT)));
    assert!(fixture.observer.change_flag().is_set());
}

#[test]
fn probe_failed_without_channel_is_ignored() {
    let fixture = Fixture::new(|| Some(NOW));

    fixture
        .observer
        .observe(&probe_failed(1, two_hop_path(), None));

    assert_eq!(fixture.liquidity(2, 3), None);
    assert!(!fixture.observer.change_flag().is_set());
}

#[test]
fn unrelated_event_leaves_scorer_alone() {
    let fixture = Fixture::new(|| panic!("the wall clock is read only for scorer updates"));

    fixture.observer.observe(&common::payment_failed(1));
    fixture.observer.observe(&common::payment_sent(2, [0; 32]));

    assert!(!fixture.observer.change_flag().is_set());
    assert_eq!(fixture.observer.skipped_updates(), 0);
}

#[test]
fn unknown_wall_clock_skips_and_logs() {
    let fixture = Fixture::new(|| None);

    for id in 0..3 {
        fixture
            .observer
            .observe(&probe_successful(id, two_hop_path()));
    }

    assert_eq!(
        fixture.liquidity(1, 2),
        None,
        "no update without a wall-clock time"
    );
    assert!(!fixture.observer.change_flag().is_set());
    assert_eq!(fixture.observer.skipped_updates(), 3);
    let warnings = fixture.logger.messages_at(Level::Warn);
    assert_eq!(
        warnings.len(),
        1,
        "one warning, later skips at trace: {warnings:?}"
    );
    assert!(warnings[0].contains("ProbeSuccessful"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("wall-clock time is unknown"),
        "{}",
        warnings[0]
    );
    let traces = fixture.logger.messages_at(Level::Trace);
    assert!(
        traces
            .iter()
            .any(|message| message.contains("3 skipped so far")),
        "{traces:?}"
    );
}

#[test]
fn change_flag_taken_once_per_batch() {
    let fixture = Fixture::new(|| Some(NOW));
    let flag = fixture.observer.change_flag();

    fixture
        .observer
        .observe(&probe_successful(1, two_hop_path()));
    fixture
        .observer
        .observe(&path_successful(2, two_hop_path()));

    assert!(flag.take(), "two updates leave one write owed");
    assert!(!flag.take());
}

#[test]
fn shared_change_flag_is_set() {
    let flag = ChangeFlag::new();
    let fixture = Fixture::new(|| Some(NOW));
    let observer = fixture.observer.with_change_flag(flag.clone());

    observer.observe(&probe_successful(1, two_hop_path()));

    assert!(flag.is_set());
}

#[test]
fn handler_sees_updated_scorer() {
    let fixture = Fixture::new(|| Some(NOW));
    let scorer = Arc::clone(&fixture.scorer);
    let dispatcher = Dispatcher::new(move |_event: Event| {
        let target = NodeId::from_pubkey(&node_key(3));
        let range = scorer
            .read()
            .unwrap()
            .estimated_channel_liquidity_range(2, &target);
        assert_eq!(
            range,
            Some((0, AMOUNT_MSAT)),
            "the scorer observer runs before the handler"
        );
        Ok(())
    })
    .observe(fixture.observer);

    assert!(dispatcher
        .handle_event(path_failed(two_hop_path(), Some(2), false, None))
        .is_ok());
    assert!(
        dispatcher.take_failure().is_none(),
        "the handler's assertion held"
    );
}

/// A scorer call, as [`RecordingScore`] keeps it.
#[derive(Debug, PartialEq)]
enum Call {
    PaymentPathFailed { short_channel_id: u64, at: Duration },
    PaymentPathSuccessful { at: Duration },
    ProbeFailed { short_channel_id: u64, at: Duration },
    ProbeSuccessful { at: Duration },
    TimePassed,
}

/// A scorer that records each update call and scores every hop zero.
#[derive(Default)]
struct RecordingScore {
    calls: Vec<Call>,
}

impl ScoreLookUp for RecordingScore {
    type ScoreParams = ();

    fn channel_penalty_msat(
        &self,
        _candidate: &CandidateRouteHop,
        _usage: ChannelUsage,
        _params: &(),
    ) -> u64 {
        0
    }
}

impl ScoreUpdate for RecordingScore {
    fn payment_path_failed(&mut self, _path: &Path, short_channel_id: u64, at: Duration) {
        self.calls.push(Call::PaymentPathFailed {
            short_channel_id,
            at,
        });
    }

    fn payment_path_successful(&mut self, _path: &Path, at: Duration) {
        self.calls.push(Call::PaymentPathSuccessful { at });
    }

    fn probe_failed(&mut self, _path: &Path, short_channel_id: u64, at: Duration) {
        self.calls.push(Call::ProbeFailed {
            short_channel_id,
            at,
        });
    }

    fn probe_successful(&mut self, _path: &Path, at: Duration) {
        self.calls.push(Call::ProbeSuccessful { at });
    }

    fn time_passed(&mut self, _at: Duration) {
        self.calls.push(Call::TimePassed);
    }
}

#[test]
fn events_map_to_scorer_calls() {
    let score = Arc::new(Mutex::new(RecordingScore::default()));
    let logger = Arc::new(RecordingLogger::default());
    let observer = ScorerObserver::new(Arc::clone(&score), || Some(NOW), logger);
    let path = two_hop_path();
    let cases = [
        (
            path_failed(path.clone(), Some(5), false, None),
            Some(Call::PaymentPathFailed {
                short_channel_id: 5,
                at: NOW,
            }),
        ),
        (
            path_failed(path.clone(), Some(5), true, None),
            Some(Call::PaymentPathFailed {
                short_channel_id: 5,
                at: NOW,
            }),
        ),
        (
            path_failed(path.clone(), None, true, None),
            Some(Call::ProbeSuccessful { at: NOW }),
        ),
        (path_failed(path.clone(), None, false, None), None),
        (
            path_successful(1, path.clone()),
            Some(Call::PaymentPathSuccessful { at: NOW }),
        ),
        (
            probe_successful(1, path.clone()),
            Some(Call::ProbeSuccessful { at: NOW }),
        ),
        (
            probe_failed(1, path.clone(), Some(6)),
            Some(Call::ProbeFailed {
                short_channel_id: 6,
                at: NOW,
            }),
        ),
        (probe_failed(1, path.clone(), None), None),
        (common::payment_failed(1), None),
    ];

    for (event, expected) in cases {
        let kind = vigil_events::event_kind(&event);
        observer.observe(&event);

        let call = score.lock().unwrap().calls.pop();
        assert_eq!(call, expected, "{kind} event: {event:?}");
        assert_eq!(
            observer.change_flag().take(),
            expected.is_some(),
            "change flag after {kind}"
        );
        assert!(
            score.lock().unwrap().calls.is_empty(),
            "one call at most per event"
        );
    }
}

#[test]
fn outcome_matches_observer_mapping() {
    let path = two_hop_path();

    assert_eq!(
        ScoreOutcome::from_event(&path_failed(path.clone(), None, true, None)),
        Some(ScoreOutcome::ProbeSuccessful { path: &path })
    );
    assert_eq!(ScoreOutcome::from_event(&common::payment_failed(1)), None);
}
