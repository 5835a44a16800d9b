//! Every error the crate returns, in one place. Each is small, `Copy` where it can be,
//! `Display` + [`core::error::Error`], and `#[non_exhaustive]`: bad input is an `Err` that
//! says what was wrong and loses nothing (a refused message is handed back).

use crate::options::OptionsError as Options;
use core::fmt;

pub use crate::callbacks::AskError;
pub use crate::dispatcher::partition::PartitionsError;
pub use crate::message::SendError;
pub use crate::options::OptionsError;

/// Why a subscribe was refused. Nothing was sent and the stage is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The options are out of range.
    Options(Options),
    /// The stage has no room for another subscription (fixed storage).
    TooManySubscriptions,
    /// The stage has stopped.
    Stopped,
    /// The target cannot take subscribers, or this stage cannot subscribe (a producer).
    NotAConsumer,
    /// The target stage does not exist (runtimes).
    NoSuchStage,
    /// The target produces another event type than this stage consumes (runtimes).
    WrongEventType,
    /// A handle names a stage of another runtime instance (for example another simulator).
    ForeignHandle,
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Options(e) => write!(f, "bad subscription options: {e}"),
            Self::TooManySubscriptions => f.write_str("too many subscriptions"),
            Self::Stopped => f.write_str("the stage has stopped"),
            Self::NotAConsumer => f.write_str("not a consumer"),
            Self::NoSuchStage => f.write_str("no such stage"),
            Self::WrongEventType => f.write_str("the stages' event types differ"),
            Self::ForeignHandle => f.write_str("the handle belongs to another runtime instance"),
        }
    }
}

impl core::error::Error for SubscribeError {}

impl From<Options> for SubscribeError {
    fn from(e: Options) -> Self {
        Self::Options(e)
    }
}
