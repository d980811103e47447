//! End-to-end tests of Vigil's background processor on real LDK nodes of a simnet.

mod support;

mod compat_async;
mod compat_failures;
mod compat_thread;
mod failures;
mod graph;
mod payments;
mod restart;
mod slow_handler;
mod slow_monitor_handler;
mod stuck_handler;
mod sweep;
mod tokio_runner;
