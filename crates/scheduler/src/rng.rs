//! A small seeded pseudo-random number generator, so that delays need no external crate.
//!
//! The generator is xoshiro256++ by Blackman and Vigna (<https://prng.di.unimi.it/>), with its
//! state filled from the seed by SplitMix64 as its authors recommend. It is fast and
//! statistically sound for jitter, and it is not a cryptographic generator.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// A xoshiro256++ generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// Creates a generator whose whole output is determined by `seed`.
    pub(crate) fn seeded(seed: u64) -> Self {
        let mut splitmix = seed;
        let state = std::array::from_fn(|_| splitmix64(&mut splitmix));
        Self { state }
    }

    /// Returns a seed that differs between processes and between calls.
    ///
    /// `RandomState` draws its keys from the operating system's entropy once per thread and
    /// changes them on every call, and the time adds variation between processes on
    /// platforms where that entropy is weak.
    pub(crate) fn entropy_seed() -> u64 {
        let mut hasher = RandomState::new().build_hasher();
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        hasher.write_u128(since_epoch.as_nanos());
        hasher.finish()
    }

    /// Returns the next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = self.state;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);

        let t = s1 << 17;
        let mut state = [s0, s1, s2 ^ s0, s3 ^ s1];
        state[1] ^= state[2];
        state[0] ^= state[3];
        state[2] ^= t;
        state[3] = state[3].rotate_left(45);
        self.state = state;
        result
    }

    /// Returns a uniform value in `[0, 1)` with 53 random bits.
    pub(crate) fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * UNIT
    }

    /// Returns a uniform integer in `[0, bound)`, for a `bound` of at least 1.
    ///
    /// The multiply-and-shift mapping has a bias of at most `bound / 2^64`, which is far
    /// below anything jitter can show.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Returns a standard normal value (mean 0, standard deviation 1), by the Box-Muller
    /// transform.
    pub(crate) fn next_standard_normal(&mut self) -> f64 {
        // `radius_uniform` lies in (0, 1], so its logarithm is finite.
        let radius_uniform = 1.0 - self.next_unit();
        let angle_uniform = self.next_unit();
        let radius = (-2.0 * radius_uniform.ln()).sqrt();
        radius * (std::f64::consts::TAU * angle_uniform).cos()
    }
}

/// 2^-53, the gap between consecutive values of [`Rng::next_unit`].
const UNIT: f64 = 1.0 / (1u64 << 53) as f64;

/// Advances a SplitMix64 state and returns its next output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_output() {
        // First outputs for seed 1234567 from the reference C implementation
        // (https://prng.di.unimi.it/splitmix64.c).
        let mut state = 1_234_567;
        assert_eq!(splitmix64(&mut state), 6_457_827_717_110_365_317);
        assert_eq!(splitmix64(&mut state), 3_203_168_211_198_807_973);
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut first = Rng::seeded(7);
        let mut second = Rng::seeded(7);
        for _ in 0..100 {
            assert_eq!(first.next_u64(), second.next_u64());
        }
    }

    #[test]
    fn different_seeds_differ() {
        let first: Vec<u64> = {
            let mut rng = Rng::seeded(1);
            (0..4).map(|_| rng.next_u64()).collect()
        };
        let second: Vec<u64> = {
            let mut rng = Rng::seeded(2);
            (0..4).map(|_| rng.next_u64()).collect()
        };
        assert_ne!(first, second);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::seeded(3);
        for _ in 0..10_000 {
            let value = rng.below(1000);
            assert!(value < 1000, "value {value} is not below 1000");
        }
    }

    #[test]
    fn unit_stays_in_range() {
        let mut rng = Rng::seeded(4);
        for _ in 0..10_000 {
            let value = rng.next_unit();
            assert!(
                (0.0..1.0).contains(&value),
                "value {value} is outside [0, 1)"
            );
        }
    }

    #[test]
    fn standard_normal_moments() {
        // With 100 000 samples the standard error of the mean is about 0.003, so these bounds
        // fail only for a broken transform (a fixed seed keeps the test deterministic).
        let mut rng = Rng::seeded(5);
        let samples: Vec<f64> = (0..100_000).map(|_| rng.next_standard_normal()).collect();
        let count = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / count;
        let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / count;

        assert!(mean.abs() < 0.02, "mean {mean} is not close to 0");
        assert!(
            (variance - 1.0).abs() < 0.02,
            "variance {variance} is not close to 1"
        );
    }
}
