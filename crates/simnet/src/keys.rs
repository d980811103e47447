//! Seeds and keys of simnet nodes.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use lightning::sign::KeysManager;

use crate::node::unix_now;

/// Returns the seed of node number `index` of a simnet seeded with `simnet_seed`.
///
/// The same simnet seed gives the same node keys in every run, which keeps node ids stable in
/// logs and reports.
pub fn node_seed(simnet_seed: u64, index: usize) -> [u8; 32] {
    let mut engine = sha256::Hash::engine();
    engine.input(b"vigil-simnet node seed");
    engine.input(&simnet_seed.to_be_bytes());
    engine.input(&(index as u64).to_be_bytes());
    sha256::Hash::from_engine(engine).to_byte_array()
}

/// Returns the `KeysManager` for `seed`, started at the current time.
///
/// LDK derives per-channel keys from the seed and the start time, so every start of a node,
/// including a restart from its data directory, gets a fresh start time.
pub fn keys_manager(seed: &[u8; 32]) -> KeysManager {
    let now = unix_now();
    KeysManager::new(seed, now.as_secs(), now.subsec_nanos(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_per_node() {
        assert_ne!(node_seed(1, 0), node_seed(1, 1));
        assert_ne!(node_seed(1, 0), node_seed(2, 0));
        assert_eq!(node_seed(3, 4), node_seed(3, 4));
    }
}
