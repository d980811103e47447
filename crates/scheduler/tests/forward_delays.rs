//! `ForwardDelays`: the fixed first delay, the range and the determinism of later delays.

use std::time::Duration;

use vigil_scheduler::{DelaySource, ForwardDelays, FIRST_FORWARD_DELAY};

const SAMPLES: usize = 10_000;

fn draw(source: &mut impl DelaySource, count: usize) -> Vec<Duration> {
    (0..count).map(|_| source.next_delay()).collect()
}

#[test]
fn first_delay_is_two_seconds() {
    let mut seeded = ForwardDelays::seeded(1);
    let mut entropy = ForwardDelays::new();

    assert_eq!(seeded.next_delay(), Duration::from_secs(2));
    assert_eq!(entropy.next_delay(), FIRST_FORWARD_DELAY);
}

#[test]
fn seeded_sequence_repeats() {
    let first = draw(&mut ForwardDelays::seeded(0xdead_beef), 1000);
    let second = draw(&mut ForwardDelays::seeded(0xdead_beef), 1000);

    assert_eq!(first, second);
}

#[test]
fn seeds_give_different_sequences() {
    let first = draw(&mut ForwardDelays::seeded(1), 100);
    let second = draw(&mut ForwardDelays::seeded(2), 100);

    assert_ne!(first, second);
}

#[test]
fn later_delays_within_bounds() {
    for seed in 0..10 {
        let mut delays = ForwardDelays::seeded(seed);
        delays.next_delay();

        for delay in draw(&mut delays, SAMPLES) {
            assert!(
                delay > Duration::ZERO,
                "seed {seed}: delay {delay:?} is zero"
            );
            assert!(
                delay < Duration::from_millis(201),
                "seed {seed}: delay {delay:?} is not below 201 ms"
            );
        }
    }
}

#[test]
fn later_delays_follow_log_normal() {
    let mut delays = ForwardDelays::seeded(7);
    delays.next_delay();
    let mut millis: Vec<f64> = draw(&mut delays, SAMPLES)
        .iter()
        .map(|delay| delay.as_secs_f64() * 1000.0)
        .collect();
    millis.sort_by(f64::total_cmp);

    // Median of the log-normal part is 50 ms, and the jitter adds 0.5 ms on average. The
    // quartiles of a log-normal with sd 0.5 in log space lie at 50 * exp(-+0.674 * 0.5),
    // about 35.7 and 70.0 ms. With 10 000 samples each estimate is within about 1 ms.
    let median = millis[SAMPLES / 2];
    let lower_quartile = millis[SAMPLES / 4];
    let upper_quartile = millis[SAMPLES * 3 / 4];
    assert!((48.0..53.0).contains(&median), "median {median} ms");
    assert!(
        (34.0..38.5).contains(&lower_quartile),
        "lower quartile {lower_quartile} ms"
    );
    assert!(
        (68.0..73.0).contains(&upper_quartile),
        "upper quartile {upper_quartile} ms"
    );

    // About 0.3 % of draws exceed 200 ms (z > ln(4) / 0.5 = 2.77) and are clipped.
    let clipped = millis.iter().filter(|value| **value >= 200.0).count();
    assert!(
        clipped < SAMPLES / 100,
        "{clipped} of {SAMPLES} delays at the clip"
    );
}

#[test]
fn boxed_source_delegates() {
    let mut boxed: Box<dyn DelaySource> = Box::new(ForwardDelays::seeded(3));
    let mut plain = ForwardDelays::seeded(3);

    assert_eq!(draw(&mut boxed, 20), draw(&mut plain, 20));
}
