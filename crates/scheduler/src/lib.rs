//! Vigil scheduler (work in progress).
#![deny(missing_docs)]
