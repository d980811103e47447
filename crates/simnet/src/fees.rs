//! Fixed fee estimates.

use std::sync::atomic::{AtomicU32, Ordering};

use lightning::chain::chaininterface::{
    ConfirmationTarget, FeeEstimator, FEERATE_FLOOR_SATS_PER_KW,
};

/// A [`FeeEstimator`] that returns one configured feerate for every confirmation target.
///
/// The rate is in satoshis per 1000 weight units. It can be changed while nodes run, for
/// example to exercise a fee update, and is never reported below LDK's floor of 253.
///
/// # Example
///
/// ```
/// use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator};
/// use vigil_simnet::FixedFeeEstimator;
///
/// let fees = FixedFeeEstimator::new(1000);
/// assert_eq!(fees.get_est_sat_per_1000_weight(ConfirmationTarget::NonAnchorChannelFee), 1000);
/// fees.set_sat_per_kw(10);
/// assert_eq!(fees.get_est_sat_per_1000_weight(ConfirmationTarget::UrgentOnChainSweep), 253);
/// ```
#[derive(Debug)]
pub struct FixedFeeEstimator {
    sat_per_kw: AtomicU32,
}

impl FixedFeeEstimator {
    /// Returns an estimator that reports `sat_per_kw` for every target.
    pub fn new(sat_per_kw: u32) -> Self {
        Self {
            sat_per_kw: AtomicU32::new(sat_per_kw),
        }
    }

    /// Sets the feerate reported from now on.
    pub fn set_sat_per_kw(&self, sat_per_kw: u32) {
        self.sat_per_kw.store(sat_per_kw, Ordering::Relaxed);
    }

    /// Returns the feerate as configured, before the floor is applied.
    pub fn sat_per_kw(&self) -> u32 {
        self.sat_per_kw.load(Ordering::Relaxed)
    }
}

impl Default for FixedFeeEstimator {
    /// Returns an estimator at LDK's floor of 253 satoshis per 1000 weight units.
    fn default() -> Self {
        Self::new(FEERATE_FLOOR_SATS_PER_KW)
    }
}

impl FeeEstimator for FixedFeeEstimator {
    fn get_est_sat_per_1000_weight(&self, _target: ConfirmationTarget) -> u32 {
        self.sat_per_kw().max(FEERATE_FLOOR_SATS_PER_KW)
    }
}
