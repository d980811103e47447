//! The transaction broadcaster of a node.

use std::sync::Arc;

use bitcoin::{Transaction, Txid};
use lightning::chain::chaininterface::BroadcasterInterface;
use parking_lot::Mutex;

use crate::chain::Chain;

/// A [`BroadcasterInterface`] that puts a node's transactions in the shared chain's mempool
/// and keeps a copy, so a test can check what a node broadcast.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
///
/// use lightning::chain::chaininterface::BroadcasterInterface;
/// use vigil_simnet::{Chain, NodeBroadcaster};
///
/// let chain = Arc::new(Chain::new());
/// let broadcaster = NodeBroadcaster::new(Arc::clone(&chain));
/// let coinbase = chain.block(0).unwrap().txdata[0].clone();
/// broadcaster.broadcast_transactions(&[&coinbase]);
/// assert_eq!(broadcaster.broadcast().len(), 1);
/// ```
#[derive(Debug)]
pub struct NodeBroadcaster {
    chain: Arc<Chain>,
    sent: Mutex<Vec<Transaction>>,
}

impl NodeBroadcaster {
    /// Returns a broadcaster feeding `chain`'s mempool.
    pub fn new(chain: Arc<Chain>) -> Self {
        Self {
            chain,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Returns a copy of every transaction broadcast so far, oldest first, repeats included.
    pub fn broadcast(&self) -> Vec<Transaction> {
        self.sent.lock().clone()
    }

    /// Returns whether a transaction with `txid` was broadcast.
    pub fn has_broadcast(&self, txid: &Txid) -> bool {
        self.sent.lock().iter().any(|tx| tx.compute_txid() == *txid)
    }
}

impl BroadcasterInterface for NodeBroadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        self.sent.lock().extend(txs.iter().map(|tx| (*tx).clone()));
        self.chain.broadcast(txs);
    }
}
