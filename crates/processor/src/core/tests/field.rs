//! Cases that went wrong in other background processors.
