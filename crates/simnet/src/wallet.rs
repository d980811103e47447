//! The on-chain wallet of a node.

use std::sync::atomic::{AtomicU64, Ordering};

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::locktime::absolute;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use lightning::sign::ChangeDestinationSourceSync;

use crate::chain::Chain;

// Numbers the outside coins of every wallet in the process, so that no two funding
// transactions spend the same input, even for a node restarted from the same seed.
static NEXT_OUTSIDE_COIN: AtomicU64 = AtomicU64::new(0);

/// A node's on-chain wallet: it funds channels and receives swept outputs.
///
/// A funding transaction spends a coin from outside the simulated chain: an input with a
/// made-up outpoint and a placeholder witness. LDK checks the funding output, and that each
/// input has a witness, but not the inputs' signatures. Swept outputs and cooperative-close
/// outputs come back to the wallet's one P2WPKH script, so [`Wallet::balance`] can add them up.
///
/// # Example
///
/// ```
/// use bitcoin::{Amount, ScriptBuf};
/// use vigil_simnet::Wallet;
///
/// let wallet = Wallet::new(&[7; 32]);
/// let funding_script = ScriptBuf::new_op_return([1u8; 4]);
/// let tx = wallet.funding_transaction(funding_script.clone(), Amount::from_sat(100_000));
/// assert_eq!(tx.output[0].script_pubkey, funding_script);
/// assert!(!tx.input[0].witness.is_empty());
/// ```
#[derive(Debug)]
pub struct Wallet {
    seed_tag: [u8; 32],
    public_key: PublicKey,
    script: ScriptBuf,
}

impl Wallet {
    /// Returns the wallet whose key derives from `seed`.
    pub fn new(seed: &[u8; 32]) -> Self {
        let mut engine = sha256::Hash::engine();
        engine.input(b"vigil-simnet wallet key");
        engine.input(seed);
        let secret = SecretKey::from_slice(sha256::Hash::from_engine(engine).as_byte_array())
            .expect("a SHA-256 digest is a valid secret key but with negligible probability");
        let public_key = PublicKey::from_secret_key(&Secp256k1::signing_only(), &secret);
        let script = ScriptBuf::new_p2wpkh(&CompressedPublicKey(public_key).wpubkey_hash());
        Self {
            seed_tag: sha256::Hash::hash(seed).to_byte_array(),
            public_key,
            script,
        }
    }

    /// Returns the wallet's public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Returns the script that receives swept and closing outputs.
    pub fn script(&self) -> &ScriptBuf {
        &self.script
    }

    /// Returns a transaction paying `value` to `output_script` from a fresh outside coin.
    pub fn funding_transaction(&self, output_script: ScriptBuf, value: Amount) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: self.outside_coin(),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0u8; 72].as_slice(), &[2u8; 33]]),
            }],
            output: vec![TxOut {
                value,
                script_pubkey: output_script,
            }],
        }
    }

    /// Returns the sum of confirmed, unspent outputs paying the wallet's script.
    pub fn balance(&self, chain: &Chain) -> Amount {
        let mut total = Amount::ZERO;
        for tx in chain.transactions_paying(&self.script) {
            let txid = tx.compute_txid();
            for (vout, output) in tx.output.iter().enumerate() {
                let outpoint = OutPoint::new(txid, vout as u32);
                if output.script_pubkey == self.script && chain.spender(&outpoint).is_none() {
                    total += output.value;
                }
            }
        }
        total
    }

    fn outside_coin(&self) -> OutPoint {
        let number = NEXT_OUTSIDE_COIN.fetch_add(1, Ordering::Relaxed);
        let mut engine = sha256::Hash::engine();
        engine.input(&self.seed_tag);
        engine.input(&number.to_be_bytes());
        let txid = Txid::from_byte_array(sha256::Hash::from_engine(engine).to_byte_array());
        OutPoint::new(txid, 0)
    }
}

impl ChangeDestinationSourceSync for Wallet {
    // NOTE: returns the same script every time, which links the swept outputs on chain. That is
    // harmless on a simulated chain and lets `balance` find every output.
    fn get_change_destination_script(&self) -> Result<ScriptBuf, ()> {
        Ok(self.script.clone())
    }
}
