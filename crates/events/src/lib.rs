//! Vigil events (work in progress).
#![deny(missing_docs)]
