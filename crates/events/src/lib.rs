#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod async_dispatcher;
mod change_flag;
mod counters;
mod dispatcher;
mod error;
mod graph_observer;
mod kind;
mod observer;
mod panic_guard;
mod pipeline;
mod scorer_observer;

pub use async_dispatcher::AsyncDispatcher;
pub use change_flag::ChangeFlag;
pub use counters::CounterSnapshot;
pub use dispatcher::Dispatcher;
pub use error::DispatchError;
pub use graph_observer::NetworkGraphObserver;
pub use kind::event_kind;
pub use observer::Observer;
pub use scorer_observer::{ScoreOutcome, ScorerObserver};
