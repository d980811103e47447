//! Vigil simnet (work in progress).
#![deny(missing_docs)]
