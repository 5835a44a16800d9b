//! Why subscriptions end and stages stop, and how a consumer reacts to it.

use core::fmt;

/// The reason a subscription was cancelled or a stage stopped.
///
/// The GenStage reasons that the protocol itself produces have their own variants; anything
/// else a user wants to say goes in [`Reason::Custom`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A normal end: a finite source ran dry, a consumer is done.
    Normal,
    /// An orderly shutdown.
    Shutdown,
    /// An orderly shutdown with a note (GenStage's `{:shutdown, term}`).
    ShutdownWith(&'static str),
    /// The stage was killed (for instance, the runtime tore it down).
    Killed,
    /// The peer did not exist when the subscription was made.
    NoProc,
    /// A message named a subscription that its receiver does not know.
    UnknownSubscription,
    /// A subscribe reused a subscription id that the producer already has.
    DuplicatedSubscription,
    /// A broadcast producer refused a second subscription from the same consumer stage.
    /// Never stops the consumer, whatever the cancel mode.
    AlreadySubscribed,
    /// The producer's dispatcher refused the subscription (for example a partition that is
    /// unknown or taken); the producer keeps running.
    Refused(Refusal),
    /// The stage has no room for another subscription (fixed-capacity storage).
    TooManySubscriptions,
    /// A `call` reached a behaviour that does not handle calls.
    BadCall,
    /// A user callback panicked (set by runtimes that catch panics).
    Panicked,
    /// A user-defined reason.
    Custom(&'static str),
}

impl Reason {
    /// True for the reasons that a *transient* subscription treats as a clean end:
    /// `Normal`, `Shutdown` and `ShutdownWith(_)`.
    pub const fn is_clean(&self) -> bool {
        matches!(self, Self::Normal | Self::Shutdown | Self::ShutdownWith(_))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("normal"),
            Self::Shutdown => f.write_str("shutdown"),
            Self::ShutdownWith(s) => write!(f, "shutdown: {s}"),
            Self::Killed => f.write_str("killed"),
            Self::NoProc => f.write_str("no such stage"),
            Self::UnknownSubscription => f.write_str("unknown subscription"),
            Self::DuplicatedSubscription => f.write_str("duplicated subscription"),
            Self::AlreadySubscribed => f.write_str("consumer already subscribed"),
            Self::Refused(r) => write!(f, "subscription refused: {r}"),
            Self::TooManySubscriptions => f.write_str("too many subscriptions"),
            Self::BadCall => f.write_str("call not handled by this stage"),
            Self::Panicked => f.write_str("a callback panicked"),
            Self::Custom(s) => f.write_str(s),
        }
    }
}

/// Why a dispatcher refused a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The subscription named no partition, but the dispatcher needs one.
    MissingPartition,
    /// The named partition does not exist.
    UnknownPartition(usize),
    /// Another subscription already holds this partition.
    PartitionTaken(usize),
    /// The dispatcher has no room for another subscription.
    Full,
    /// The subscription carries a `selector`, which this dispatcher does not apply (only the
    /// broadcast dispatcher does).
    SelectorNotSupported,
    /// The subscription names a `partition`, which this dispatcher does not use (only the
    /// partition dispatcher does).
    PartitionNotSupported,
    /// A dispatcher-specific reason.
    Other(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPartition => f.write_str("the partition option is required"),
            Self::UnknownPartition(p) => write!(f, "unknown partition {p}"),
            Self::PartitionTaken(p) => write!(f, "partition {p} is already taken"),
            Self::Full => f.write_str("the dispatcher is full"),
            Self::SelectorNotSupported => {
                f.write_str("the selector option is only supported by the broadcast dispatcher")
            }
            Self::PartitionNotSupported => {
                f.write_str("the partition option is only supported by the partition dispatcher")
            }
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// How a subscription ended, as handed to `handle_cancel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cancellation {
    /// The other side sent a cancel with this reason.
    Cancel(Reason),
    /// The other side's stage stopped (or never existed) with this reason.
    Down(Reason),
}

impl Cancellation {
    /// The reason, whichever way the subscription ended.
    pub const fn reason(&self) -> Reason {
        match self {
            Self::Cancel(r) | Self::Down(r) => *r,
        }
    }
}

/// What a consumer does when one of its subscriptions ends (GenStage's `cancel:` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CancelMode {
    /// Stop with the subscription's reason, whatever it is (the default).
    #[default]
    Permanent,
    /// Stop with the reason unless it is clean ([`Reason::is_clean`]).
    Transient,
    /// Keep running.
    Temporary,
}

impl CancelMode {
    /// Whether a consumer with this mode stops when its subscription ends with `reason`.
    ///
    /// [`Reason::AlreadySubscribed`] never stops a consumer (spec §15.3).
    pub const fn stops_on(&self, reason: &Reason) -> bool {
        if matches!(reason, Reason::AlreadySubscribed) {
            return false;
        }
        match self {
            Self::Permanent => true,
            Self::Transient => !reason.is_clean(),
            Self::Temporary => false,
        }
    }
}
