//! The protocol's messages and the stage outputs that carry them (spec §3).
//!
//! Messages are plain values that name subscriptions by [`SubId`]; a runtime only moves them.
//! Events travel separately, through [`Outbox::events`], so that a runtime can put them in
//! whatever batch container it recycles.

use crate::id::{StageId, SubId};
use crate::options::SubscribeOptions;
use crate::reason::Reason;

/// A message for a producer-role stage (sent by a consumer-role stage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToProducer<E> {
    /// Subscribe on `sub`. With `previous`, first cancel that subscription with that reason.
    Subscribe {
        /// The new subscription.
        sub: SubId,
        /// A subscription to cancel first (resubscribe).
        previous: Option<(SubId, Reason)>,
        /// The subscriber's options (all of them, as GenStage sends them).
        opts: SubscribeOptions<E>,
    },
    /// Ask for `demand` more events on `sub`.
    Ask {
        /// The subscription.
        sub: SubId,
        /// How many more events.
        demand: usize,
    },
    /// Cancel `sub`.
    Cancel {
        /// The subscription.
        sub: SubId,
        /// Why.
        reason: Reason,
    },
}

impl<E> ToProducer<E> {
    /// The subscription the message is about.
    pub fn sub(&self) -> SubId {
        match self {
            Self::Subscribe { sub, .. } | Self::Ask { sub, .. } | Self::Cancel { sub, .. } => *sub,
        }
    }
    /// Where the message goes: the subscription's producer.
    pub fn to(&self) -> StageId {
        self.sub().producer
    }
}

/// A control message for a consumer-role stage (events travel through [`Outbox::events`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToConsumer {
    /// The producer cancelled `sub` (or confirms the consumer's own cancel).
    Cancel {
        /// The subscription.
        sub: SubId,
        /// Why.
        reason: Reason,
    },
}

impl ToConsumer {
    /// The subscription the message is about.
    pub fn sub(&self) -> SubId {
        match self {
            Self::Cancel { sub, .. } => *sub,
        }
    }
    /// Where the message goes: the subscription's consumer.
    pub fn to(&self) -> StageId {
        self.sub().consumer
    }
}

/// Why events were discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiscardReason {
    /// The producer buffer was full (see `Keep`).
    BufferFull,
    /// A dispatcher dropped them (a partition hash returned `None`, or every broadcast
    /// consumer's selector rejected them).
    Dispatcher,
    /// A partition's queue was dropped when its consumer cancelled.
    PartitionCancelled,
    /// A producer_consumer's input queue was full (fixed storage; a producer sent more than
    /// was asked).
    InputQueueFull,
    /// The accumulate-mode log was full (fixed storage).
    AccumulateFull,
    /// Events arrived on a subscription the stage does not know.
    UnknownSubscription,
    /// Input the stage never handled because it had stopped (or stopped while they were
    /// queued).
    Stopped,
    /// Events the stage had emitted and still held when it stopped: its buffer, its
    /// accumulate log, or a dispatcher's queues.
    Abandoned,
}

/// Something worth logging: the core never logs itself, it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Report {
    /// Events were discarded. `log` is what the behaviour's `format_discarded` said.
    Discarded {
        /// How many.
        count: usize,
        /// Why.
        reason: DiscardReason,
        /// Whether the behaviour wants the default log line.
        log: bool,
    },
    /// A producer sent more events than were asked for on `sub`; they were still delivered.
    Excess {
        /// The subscription.
        sub: SubId,
        /// Events beyond the outstanding demand.
        excess: usize,
    },
    /// A message named a subscription this stage does not know.
    UnknownSubscription {
        /// The subscription named.
        sub: SubId,
    },
    /// A subscribe reused a known subscription id.
    DuplicatedSubscription {
        /// The subscription named.
        sub: SubId,
    },
    /// A protocol message reached a stage of the wrong kind and was ignored.
    WrongKind {
        /// The subscription named by the message.
        sub: SubId,
    },
    /// A consumer asked for more than the dispatcher expects (`max_demand`).
    DemandAboveMax {
        /// The subscription.
        sub: SubId,
        /// The expected maximum.
        max: usize,
        /// The demand asked.
        demand: usize,
    },
    /// A dispatcher refused a subscription; the producer cancelled it.
    SubscribeRefused {
        /// The subscription.
        sub: SubId,
        /// Why.
        reason: Reason,
    },
    /// An info message reached a behaviour that does not handle it (the default
    /// `handle_info`, or one that called `not_handled`).
    UnhandledInfo,
    /// One of the stage's internal queues (its queue of messages to itself, or the accumulate
    /// log) was full; only possible with fixed storage. The item was folded into a neighbour
    /// where possible, else dropped.
    SelfQueueFull,
    /// A manual ask named a subscription that is not this stage's, or not manual.
    BadAsk {
        /// The subscription named.
        sub: SubId,
    },
}

/// Why an info or a call did not reach the behaviour; the message comes back with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError<M> {
    /// The stage has stopped, with this reason; nothing ran.
    Stopped {
        /// The message, handed back.
        msg: M,
        /// Why the stage stopped.
        reason: Reason,
    },
    /// No room to hold another pending info (fixed storage only).
    Full(M),
}

impl<M> SendError<M> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> M {
        match self {
            Self::Stopped { msg, .. } | Self::Full(msg) => msg,
        }
    }
}

impl<M> core::fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Stopped { reason, .. } => write!(f, "the stage has stopped ({reason})"),
            Self::Full(_) => f.write_str("no room for another pending info"),
        }
    }
}

impl<M: core::fmt::Debug> core::error::Error for SendError<M> {}

/// One output of a stage, in the order the stage produced it (events aside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output<In, M> {
    /// Send to the producer named by the message's subscription.
    ToProducer(ToProducer<In>),
    /// Send to the consumer named by the message's subscription.
    ToConsumer(ToConsumer),
    /// The reply to the `call` being handled.
    Reply(M),
    /// The stage stopped with this reason: the runtime tears it down and tells its peers.
    Stop(Reason),
    /// Something worth logging.
    Report(Report),
}

/// Where a stage puts what it wants done. Runtimes implement it; with `alloc`, a
/// [`Recorder`](crate::runtime::Recorder) keeps everything in order for tests and simple loops.
///
/// Outputs arrive in exactly the order the stage produced them; events for one subscription
/// arrive as one batch per [`events`](Outbox::events) (or, with `alloc`,
/// [`events_buffer`](Outbox::events_buffer)) call, never empty.
pub trait Outbox<In, Out, M> {
    /// A control output.
    fn push(&mut self, output: Output<In, M>);
    /// A batch of events for `sub`'s consumer.
    fn events<I: ExactSizeIterator<Item = Out>>(&mut self, sub: SubId, events: I);
    /// A batch of events for `sub`'s consumer, in a buffer the outbox may take whole: it
    /// takes every event, and may swap in another (empty) buffer, so that a runtime that
    /// moves batches as `Vec`s passes this one on without moving its events (feature
    /// `alloc`). The default moves them through [`events`](Self::events).
    #[cfg(feature = "alloc")]
    fn events_buffer(&mut self, sub: SubId, events: &mut alloc::vec::Vec<Out>) {
        self.events(sub, events.drain(..));
    }
}
