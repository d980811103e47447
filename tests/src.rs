//! Cross-crate integration tests of Vigil live in `tests/tests/`.
//!
//! `tests/tests/e2e` runs Vigil's background processor on real LDK nodes of a simnet
//! (`vigil-simnet`). It covers payments along a line of three nodes, a restart of every node
//! from disk, a ChannelManager write that keeps failing, and a slow event handler. It also
//! covers a force close with its sweep, and the stored network graph and scorer. The payment, restart and write-failure scenarios
//! run under both the thread runner and the tokio runner. Each scenario runs under a 120 s
//! watchdog, so a deadlock fails its test instead of hanging the run. Run them with
//! `cargo test -p vigil-tests`; they take about 15 to 30 seconds on 2 cores.
