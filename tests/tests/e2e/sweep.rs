//! Force-closing a channel and sweeping its outputs back to the wallets under Vigil.

use std::sync::Arc;

use vigil_simnet::{Simnet, SimnetConfig, VigilDriver};

use crate::support::{pay_settled, short_intervals, within_limit, CHANNEL_SATS};

#[test]
fn force_close_outputs_are_swept() {
    within_limit(check_force_close_sweep);
}

fn check_force_close_sweep() {
    let simnet =
        Simnet::start(SimnetConfig::default(), VigilDriver::new(short_intervals())).unwrap();
    simnet.connect(0, 1).unwrap();
    let channel = simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
    pay_settled(&simnet, 0, 1, 30_000_000);
    for index in 0..2 {
        let wallet = Arc::clone(&simnet.node(index).unwrap().parts().wallet);
        assert_eq!(
            wallet.balance(simnet.chain()).to_sat(),
            0,
            "wallet of node {index}"
        );
    }

    let commitment = simnet.force_close(1, channel).unwrap();
    // Past the CSV delay of node 1's own output (144 blocks by LDK's default) and more.
    simnet.mine_and_sweep(160).unwrap();

    // The processor hands SpendableOutputs to the sweeper on its own thread, possibly after
    // the block that matured the output, so keep mining until both sweeps are confirmed.
    simnet
        .wait_for("both wallets to hold their swept outputs", || {
            simnet.mine_and_sweep(1).unwrap();
            (0..2).all(|index| {
                let wallet = Arc::clone(&simnet.node(index).unwrap().parts().wallet);
                wallet.balance(simnet.chain()).to_sat() > 0
            })
        })
        .unwrap();

    for index in 0..2 {
        let node = simnet.node(index).unwrap();
        let wallet = &node.parts().wallet;
        let sweeps = simnet.chain().transactions_paying(wallet.script());
        assert!(
            sweeps
                .iter()
                .any(|sweep| spends_output_of(sweep, &commitment, &simnet)),
            "node {index}'s wallet received a spend of the commitment or of a transaction on it"
        );
        assert_eq!(simnet.recorder(index).unwrap().count("SpendableOutputs"), 1);
    }
    let total: u64 = (0..2)
        .map(|index| {
            let wallet = Arc::clone(&simnet.node(index).unwrap().parts().wallet);
            wallet.balance(simnet.chain()).to_sat()
        })
        .sum();
    assert!(
        total < CHANNEL_SATS,
        "fees are paid out of the channel's funds"
    );
    assert!(
        total > CHANNEL_SATS * 9 / 10,
        "the swept total is {total} sats"
    );
}

/// Returns whether `sweep` spends an output of the transaction `commitment`, directly or
/// through one confirmed transaction in between (such as an HTLC claim).
fn spends_output_of(
    sweep: &bitcoin::Transaction,
    commitment: &bitcoin::Txid,
    simnet: &Simnet,
) -> bool {
    sweep.input.iter().any(|input| {
        let parent = input.previous_output.txid;
        parent == *commitment
            || simnet.chain().transaction(&parent).is_some_and(|tx| {
                tx.input
                    .iter()
                    .any(|input| input.previous_output.txid == *commitment)
            })
    })
}
