//! Vigil processor (work in progress).
#![deny(missing_docs)]
