//! Runners: loops that call [`Core::turn`](crate::Core::turn) and wait in between.

pub(crate) mod thread;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

#[cfg(test)]
mod tests;
