//! Vigil persistence (work in progress).
#![deny(missing_docs)]
