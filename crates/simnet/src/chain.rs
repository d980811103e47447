//! The simulated chain: a block store, a mempool of broadcast transactions and a miner.
//!
//! Blocks have real headers: each links to its parent, commits to the merkle root of its
//! transactions and carries a nonce that meets the regtest target. The miner takes broadcast
//! transactions into the next block when they would be valid there: every absolute lock time
//! and every height-based relative lock time (BIP 68) must be met, and no input may be spent
//! twice. Signatures and amounts are not checked, and an input whose transaction the chain has
//! never seen counts as a coin from outside (the wallet funds channels that way).

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::block::{Block, Header, Version as BlockVersion};
use bitcoin::blockdata::constants::{genesis_block, ChainHash};
use bitcoin::blockdata::locktime::absolute;
use bitcoin::blockdata::opcodes::all::OP_PUSHNUM_1;
use bitcoin::blockdata::script::Builder;
use bitcoin::hash_types::TxMerkleNode;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Amount, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxOut, Txid, Witness,
};
use lightning::chain::{Filter, WatchedOutput};
use lightning::routing::utxo::{UtxoLookup, UtxoLookupError, UtxoResult};
use parking_lot::Mutex;

/// A simulated regtest chain shared by all nodes of a simnet.
///
/// # Example
///
/// ```
/// use vigil_simnet::Chain;
///
/// let chain = Chain::new();
/// assert_eq!(chain.height(), 0);
/// let hash = chain.mine_block();
/// assert_eq!(chain.height(), 1);
/// let block = chain.block(1).expect("block 1 was just mined");
/// assert_eq!(block.block_hash(), hash);
/// assert_eq!(block.header.prev_blockhash, chain.block(0).unwrap().block_hash());
/// assert!(block.check_merkle_root());
/// ```
#[derive(Debug)]
pub struct Chain {
    network: Network,
    state: Mutex<ChainState>,
}

#[derive(Debug)]
struct ChainState {
    blocks: Vec<Block>,
    mempool: Vec<Transaction>,
    // The height and index in its block of each confirmed transaction.
    confirmed: HashMap<Txid, (u32, usize)>,
    // Confirmed spends: the outpoint and the transaction spending it.
    spent: HashMap<OutPoint, Txid>,
}

/// The miner's decision on a mempool transaction when it assembles a block.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    Include,
    Wait,
    Drop,
}

impl Chain {
    /// Returns a chain holding only the regtest genesis block.
    pub fn new() -> Self {
        let genesis = genesis_block(Network::Regtest);
        Self {
            network: Network::Regtest,
            state: Mutex::new(ChainState {
                blocks: vec![genesis],
                mempool: Vec::new(),
                confirmed: HashMap::new(),
                spent: HashMap::new(),
            }),
        }
    }

    /// Returns the network the chain simulates (always regtest).
    pub fn network(&self) -> Network {
        self.network
    }

    /// Returns the height of the best block (0 for a chain with only the genesis block).
    pub fn height(&self) -> u32 {
        (self.state.lock().blocks.len() - 1) as u32
    }

    /// Returns the hash and height of the best block.
    pub fn tip(&self) -> (BlockHash, u32) {
        let state = self.state.lock();
        let tip = state
            .blocks
            .last()
            .expect("the chain always contains its genesis block");
        (tip.block_hash(), (state.blocks.len() - 1) as u32)
    }

    /// Returns a copy of the block at `height`, or `None` above the tip.
    pub fn block(&self, height: u32) -> Option<Block> {
        self.state.lock().blocks.get(height as usize).cloned()
    }

    /// Returns the header of the block at `height`, or `None` above the tip.
    pub fn header(&self, height: u32) -> Option<Header> {
        self.state
            .lock()
            .blocks
            .get(height as usize)
            .map(|block| block.header)
    }

    /// Adds transactions to the mempool, skipping any already there or confirmed.
    pub fn broadcast(&self, transactions: &[&Transaction]) {
        let mut state = self.state.lock();
        for tx in transactions {
            let txid = tx.compute_txid();
            let known = state.confirmed.contains_key(&txid)
                || state
                    .mempool
                    .iter()
                    .any(|pending| pending.compute_txid() == txid);
            if !known {
                state.mempool.push((*tx).clone());
            }
        }
    }

    /// Returns a copy of the transactions waiting to be mined, in broadcast order.
    pub fn mempool(&self) -> Vec<Transaction> {
        self.state.lock().mempool.clone()
    }

    /// Returns the number of confirmations of `txid`: 1 in the best block, 0 if unconfirmed.
    pub fn confirmations(&self, txid: &Txid) -> u32 {
        let state = self.state.lock();
        let tip = (state.blocks.len() - 1) as u32;
        match state.confirmed.get(txid) {
            Some((height, _)) => tip - height + 1,
            None => 0,
        }
    }

    /// Returns a confirmed transaction.
    pub fn transaction(&self, txid: &Txid) -> Option<Transaction> {
        let state = self.state.lock();
        let (height, index) = *state.confirmed.get(txid)?;
        Some(state.blocks[height as usize].txdata[index].clone())
    }

    /// Returns the confirmed transaction that spends `outpoint`.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Transaction> {
        let txid = *self.state.lock().spent.get(outpoint)?;
        self.transaction(&txid)
    }

    /// Returns every confirmed transaction with an output paying `script`, oldest first.
    pub fn transactions_paying(&self, script: &ScriptBuf) -> Vec<Transaction> {
        let state = self.state.lock();
        let mut found = Vec::new();
        for block in &state.blocks {
            for tx in &block.txdata {
                if tx.output.iter().any(|out| &out.script_pubkey == script) {
                    found.push(tx.clone());
                }
            }
        }
        found
    }

    /// Mines one block with every mempool transaction valid in it and returns its hash.
    ///
    /// Transactions whose lock times are not met yet stay in the mempool. Those that conflict
    /// with a confirmed spend are dropped, as a node's mempool would drop them.
    pub fn mine_block(&self) -> BlockHash {
        let mut state = self.state.lock();
        let height = state.blocks.len() as u32;
        let parent = state.blocks[height as usize - 1].header;
        let time = block_time(parent.time);

        let mut txdata = vec![coinbase(height)];
        let pending = std::mem::take(&mut state.mempool);
        let (included, waiting) = select_transactions(&state, pending, height, time);
        txdata.extend(included);
        state.mempool = waiting;

        let block = assemble(parent, txdata, time);
        let hash = block.block_hash();
        for (index, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            state.confirmed.insert(txid, (height, index));
            if !tx.is_coinbase() {
                for input in &tx.input {
                    state.spent.insert(input.previous_output, txid);
                }
            }
        }
        state.blocks.push(block);
        hash
    }

    /// Mines `count` blocks and returns the new height.
    pub fn mine_blocks(&self, count: u32) -> u32 {
        for _ in 0..count {
            self.mine_block();
        }
        self.height()
    }

    /// Returns the output at `outpoint` if its transaction is confirmed.
    pub fn confirmed_output(&self, outpoint: &OutPoint) -> Option<TxOut> {
        let state = self.state.lock();
        let (height, index) = *state.confirmed.get(&outpoint.txid)?;
        let tx = &state.blocks[height as usize].txdata[index];
        tx.output.get(outpoint.vout as usize).cloned()
    }
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits `pending` into the transactions valid in the block at `height` and those to keep.
///
/// Several passes let a child follow its parent into the same block.
fn select_transactions(
    state: &ChainState,
    pending: Vec<Transaction>,
    height: u32,
    time: u32,
) -> (Vec<Transaction>, Vec<Transaction>) {
    let mut included: Vec<Transaction> = Vec::new();
    let mut in_block: HashSet<Txid> = HashSet::new();
    let mut spent_in_block: HashSet<OutPoint> = HashSet::new();
    let mut candidates = pending;

    loop {
        let mut progress = false;
        let mut waiting = Vec::new();
        let pending_ids: HashSet<Txid> = candidates.iter().map(|tx| tx.compute_txid()).collect();
        for tx in candidates {
            let context = BlockContext {
                state,
                height,
                time,
                in_block: &in_block,
                spent_in_block: &spent_in_block,
                pending: &pending_ids,
            };
            match context.admit(&tx) {
                Admission::Include => {
                    in_block.insert(tx.compute_txid());
                    spent_in_block.extend(tx.input.iter().map(|input| input.previous_output));
                    included.push(tx);
                    progress = true;
                }
                Admission::Wait => waiting.push(tx),
                Admission::Drop => {}
            }
        }
        candidates = waiting;
        if !progress {
            return (included, candidates);
        }
    }
}

/// The state against which the miner checks whether a transaction fits the block at
/// `height`.
struct BlockContext<'a> {
    state: &'a ChainState,
    height: u32,
    time: u32,
    in_block: &'a HashSet<Txid>,
    spent_in_block: &'a HashSet<OutPoint>,
    pending: &'a HashSet<Txid>,
}

impl BlockContext<'_> {
    fn admit(&self, tx: &Transaction) -> Admission {
        let txid = tx.compute_txid();
        if self.state.confirmed.contains_key(&txid) || self.in_block.contains(&txid) {
            return Admission::Drop;
        }
        if !self.lock_time_met(tx.lock_time) {
            return Admission::Wait;
        }

        let mut admission = Admission::Include;
        for input in &tx.input {
            let previous = input.previous_output;
            if self.state.spent.contains_key(&previous) || self.spent_in_block.contains(&previous) {
                return Admission::Drop;
            }
            let parent_height = if self.in_block.contains(&previous.txid) {
                Some(self.height)
            } else if let Some((height, _)) = self.state.confirmed.get(&previous.txid) {
                Some(*height)
            } else if self.pending.contains(&previous.txid) {
                admission = Admission::Wait;
                continue;
            } else {
                // A coin from outside the simulated chain, such as the wallet's funding input.
                None
            };
            if let Some(parent_height) = parent_height {
                if !relative_lock_met(tx, input.sequence, self.height - parent_height) {
                    admission = Admission::Wait;
                }
            }
        }
        admission
    }

    fn lock_time_met(&self, lock_time: absolute::LockTime) -> bool {
        match lock_time {
            absolute::LockTime::Blocks(height) => height.to_consensus_u32() < self.height,
            absolute::LockTime::Seconds(time) => time.to_consensus_u32() < self.time,
        }
    }
}

/// Returns whether a BIP 68 relative lock on an input whose parent has `depth` blocks on top of
/// it (0 when the parent is in the same block) is met. Time-based locks are treated as met
/// because the simulated chain's block times do not follow a schedule.
fn relative_lock_met(tx: &Transaction, sequence: Sequence, depth: u32) -> bool {
    if tx.version < TxVersion::TWO {
        return true;
    }
    match sequence.to_relative_lock_time() {
        Some(bitcoin::relative::LockTime::Blocks(blocks)) => depth >= u32::from(blocks.value()),
        _ => true,
    }
}

/// Returns a block time one second after the parent's, or the wall clock if that is later.
fn block_time(parent_time: u32) -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as u32)
        .unwrap_or(0);
    now.max(parent_time + 1)
}

/// Returns the coinbase transaction for the block at `height`, with the height in its script
/// as BIP 34 requires.
fn coinbase(height: u32) -> Transaction {
    let script_sig = Builder::new()
        .push_int(i64::from(height))
        .push_int(0)
        .into_script();
    Transaction {
        version: TxVersion::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000),
            script_pubkey: Builder::new().push_opcode(OP_PUSHNUM_1).into_script(),
        }],
    }
}

/// Builds a block on `parent` with `txdata`, searching a nonce that meets the regtest target.
fn assemble(parent: Header, txdata: Vec<Transaction>, time: u32) -> Block {
    let mut block = Block {
        header: Header {
            version: BlockVersion::TWO,
            prev_blockhash: parent.block_hash(),
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(parent.bits.to_consensus()),
            nonce: 0,
        },
        txdata,
    };
    block.header.merkle_root = block
        .compute_merkle_root()
        .expect("a block always contains its coinbase");
    let target = block.header.target();
    while block.header.validate_pow(target).is_err() {
        block.header.nonce += 1;
    }
    block
}

impl UtxoLookup for Chain {
    /// Returns the output named by a short channel id (block height, index in the block and
    /// output index) if it is confirmed.
    fn get_utxo(&self, chain_hash: &ChainHash, short_channel_id: u64) -> UtxoResult {
        if *chain_hash != ChainHash::using_genesis_block(self.network) {
            return UtxoResult::Sync(Err(UtxoLookupError::UnknownChain));
        }
        let height = (short_channel_id >> 40) as usize;
        let index = ((short_channel_id >> 16) & 0xff_ffff) as usize;
        let vout = (short_channel_id & 0xffff) as usize;
        let state = self.state.lock();
        let output = state
            .blocks
            .get(height)
            .and_then(|block| block.txdata.get(index))
            .and_then(|tx| tx.output.get(vout))
            .cloned();
        UtxoResult::Sync(output.ok_or(UtxoLookupError::UnknownTx))
    }
}

impl Filter for Chain {
    // The simnet hands every node each block in full, so nothing needs registering.
    fn register_tx(&self, _txid: &Txid, _script_pubkey: &bitcoin::Script) {}

    fn register_output(&self, _output: WatchedOutput) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(previous: OutPoint, sequence: Sequence, lock_time: u32) -> Transaction {
        Transaction {
            version: TxVersion::TWO,
            lock_time: absolute::LockTime::from_consensus(lock_time),
            input: vec![TxIn {
                previous_output: previous,
                script_sig: ScriptBuf::new(),
                sequence,
                witness: Witness::from_slice(&[[1u8]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    fn outside_coin(tag: u8) -> OutPoint {
        OutPoint::new(Txid::from_byte_array([tag; 32]), 0)
    }

    #[test]
    fn blocks_link_to_parents() {
        let chain = Chain::new();
        chain.mine_blocks(3);
        for height in 1..=3 {
            let block = chain.block(height).unwrap();
            let parent = chain.block(height - 1).unwrap();
            assert_eq!(block.header.prev_blockhash, parent.block_hash());
            assert!(block.check_merkle_root());
            assert!(block.header.validate_pow(block.header.target()).is_ok());
        }
    }

    #[test]
    fn broadcast_transaction_is_mined() {
        let chain = Chain::new();
        let tx = spend(outside_coin(1), Sequence::MAX, 0);
        chain.broadcast(&[&tx]);
        chain.mine_block();
        assert_eq!(chain.confirmations(&tx.compute_txid()), 1);
        assert!(chain.mempool().is_empty());
        assert_eq!(chain.block(1).unwrap().txdata.len(), 2);
    }

    #[test]
    fn double_spend_is_dropped() {
        let chain = Chain::new();
        let first = spend(outside_coin(2), Sequence::MAX, 0);
        let mut second = first.clone();
        second.output[0].value = Amount::from_sat(900);
        chain.broadcast(&[&first, &second]);
        chain.mine_block();
        assert_eq!(chain.confirmations(&first.compute_txid()), 1);
        assert_eq!(chain.confirmations(&second.compute_txid()), 0);
        assert!(chain.mempool().is_empty());
    }

    #[test]
    fn absolute_lock_time_waits() {
        let chain = Chain::new();
        let tx = spend(outside_coin(3), Sequence::ENABLE_LOCKTIME_NO_RBF, 3);
        chain.broadcast(&[&tx]);
        chain.mine_blocks(3);
        assert_eq!(chain.confirmations(&tx.compute_txid()), 0);
        chain.mine_block();
        assert_eq!(chain.confirmations(&tx.compute_txid()), 1);
    }

    #[test]
    fn relative_lock_time_waits() {
        let chain = Chain::new();
        let parent = spend(outside_coin(4), Sequence::MAX, 0);
        let child = spend(
            OutPoint::new(parent.compute_txid(), 0),
            Sequence::from_height(2),
            0,
        );
        chain.broadcast(&[&child, &parent]);
        chain.mine_block();
        assert_eq!(chain.confirmations(&parent.compute_txid()), 1);
        assert_eq!(chain.confirmations(&child.compute_txid()), 0);
        chain.mine_block();
        assert_eq!(chain.confirmations(&child.compute_txid()), 0);
        chain.mine_block();
        assert_eq!(chain.confirmations(&child.compute_txid()), 1);
    }

    #[test]
    fn child_joins_parent_block() {
        let chain = Chain::new();
        let parent = spend(outside_coin(5), Sequence::MAX, 0);
        let child = spend(OutPoint::new(parent.compute_txid(), 0), Sequence::MAX, 0);
        chain.broadcast(&[&child, &parent]);
        chain.mine_block();
        assert_eq!(chain.confirmations(&parent.compute_txid()), 1);
        assert_eq!(chain.confirmations(&child.compute_txid()), 1);
    }

    #[test]
    fn utxo_lookup_finds_output() {
        let chain = Chain::new();
        let tx = spend(outside_coin(6), Sequence::MAX, 0);
        chain.broadcast(&[&tx]);
        chain.mine_block();
        let scid = (1u64 << 40) | (1 << 16);
        let genesis = ChainHash::using_genesis_block(Network::Regtest);
        match chain.get_utxo(&genesis, scid) {
            UtxoResult::Sync(Ok(output)) => assert_eq!(output, tx.output[0]),
            _ => panic!("the output of the confirmed transaction should be found"),
        }
        match chain.get_utxo(&genesis, scid + 1) {
            UtxoResult::Sync(Err(UtxoLookupError::UnknownTx)) => {}
            _ => panic!("a missing output should be reported as unknown"),
        }
    }
}
