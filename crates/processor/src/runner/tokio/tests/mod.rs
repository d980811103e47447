//! Tests of the async runner over the simulated node, in virtual time.
//!
//! Tests await channels with a generous failure timeout; no test sleeps or asserts a
//! duration.

mod duties;
mod equivalence;
mod lifecycle;
mod ordering;
mod scorer;
pub(crate) mod support;
