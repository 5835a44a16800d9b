//! The three stage kinds, each the core's state machine around a user behaviour, and the one
//! driving surface every kind implements.
//!
//! A runtime drives any stage through [`Stage`]: one input in (a message, a batch of events, a
//! down notice, an info, a call, a stop from outside), its outputs routed from the
//! [`Outbox`], repeat. Stages that subscribe to producers also implement [`ConsumerRole`] (the
//! commands `subscribe`, `resubscribe`, `ask`, `cancel`); stages that take subscribers
//! implement the marker [`ProducerRole`]. A message of the wrong kind (a `ToProducer` for a
//! consumer, events for a producer) is reported as [`Report::WrongKind`] and its events are
//! counted as discarded, never a panic.
//!
//! The outbox is typed by the stage: `Outbox<Self::In, Self::Out, Self::Msg>`. A producer takes
//! no events and a consumer emits none; for them `In` and `Out` are both the event type, so no
//! caller ever names a type the stage does not use.

pub mod consumer;
pub(crate) mod downstream;
pub mod producer;
pub mod producer_consumer;
#[cfg(test)]
mod tests;
pub(crate) mod upstream;

use crate::error::{AskError, SubscribeError};
use crate::id::{StageId, SubId};
use crate::message::{Outbox, SendError, ToConsumer, ToProducer};
use crate::options::Subscribe;
use crate::reason::Reason;
use crate::stats::StageStats;

#[allow(unused_imports)] // for the docs
use crate::message::Report;

/// Which of the three kinds a stage is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// A producer.
    Producer,
    /// A producer_consumer.
    ProducerConsumer,
    /// A consumer.
    Consumer,
}

/// A stage's state at a glance: what it holds and what it is owed. Runtimes use it to tell a
/// finished pipeline from a stuck one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageSummary {
    /// The stage.
    pub id: StageId,
    /// Its kind.
    pub kind: StageKind,
    /// Why it stopped, if it has.
    pub stopped: Option<Reason>,
    /// The reason it will stop with once drained ([`Flow::StopWhenDrained`](crate::Flow)).
    pub draining: Option<Reason>,
    /// Events in its output buffer.
    pub buffered: usize,
    /// Events held: by accumulate mode, or by its dispatcher for consumers without demand.
    pub held: usize,
    /// Events received and not yet handled (a producer_consumer's input queue).
    pub queued: usize,
    /// Demand it asked of its producers and has not received yet.
    pub outstanding: usize,
    /// Its counters.
    pub stats: StageStats,
}

/// The one driving surface of every stage kind. See the [module docs](self) and the run loop
/// in the [crate docs](crate).
///
/// Every input goes in through one of these methods; everything the stage wants done goes out,
/// in order and before the method returns, through the outbox.
pub trait Stage {
    /// Events it takes from its producers (for a producer: its own event type, never taken).
    type In;
    /// Events it emits (for a consumer: its own event type, never emitted).
    type Out;
    /// Its info and call messages.
    type Msg;

    /// Its address.
    fn id(&self) -> StageId;
    /// Its kind.
    fn kind(&self) -> StageKind;
    /// Why it stopped, once it has.
    fn stopped(&self) -> Option<Reason>;
    /// Its counters.
    fn stats(&self) -> &StageStats;
    /// What it holds and is owed.
    fn summary(&self) -> StageSummary;
    /// The events it holds: `buffered + held + queued` of its [`summary`](Self::summary),
    /// without the rest (a runtime may read it after every input).
    fn holding(&self) -> usize {
        let s = self.summary();
        s.buffered + s.held + s.queued
    }

    /// A message from a consumer-role stage: subscribe, ask or cancel.
    fn handle_to_producer<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        msg: ToProducer<Self::Out>,
        out: &mut O,
    );
    /// A control message from a producer-role stage (a cancel).
    fn handle_to_consumer<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        msg: ToConsumer,
        out: &mut O,
    );
    /// A batch of events on `sub`, from its producer.
    fn handle_events<I, O>(&mut self, sub: SubId, events: I, out: &mut O)
    where
        I: IntoIterator<Item = Self::In>,
        I::IntoIter: ExactSizeIterator,
        O: Outbox<Self::In, Self::Out, Self::Msg>;
    /// A batch of events on `sub`, in a buffer the stage may take whole (feature `alloc`):
    /// it takes every event, and may leave an emptied buffer of its own in its place, so that
    /// a batch that arrives as a `Vec` is lent to the callback without its events being moved.
    /// The default hands them to [`handle_events`](Self::handle_events).
    #[cfg(feature = "alloc")]
    fn handle_events_buffer<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        sub: SubId,
        events: &mut alloc::vec::Vec<Self::In>,
        out: &mut O,
    ) {
        self.handle_events(sub, events.drain(..), out);
    }
    /// Stage `stage` went down with `reason`: every subscription to or from it ends.
    fn handle_down<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    );
    /// An info message (behind the events the stage holds, spec §10). A stopped stage hands
    /// it back with [`SendError::Stopped`].
    fn info<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        msg: Self::Msg,
        out: &mut O,
    ) -> Result<(), SendError<Self::Msg>>;
    /// A call; the reply comes out as [`Output::Reply`](crate::runtime::Output::Reply). A stopped stage
    /// hands it back with [`SendError::Stopped`].
    fn call<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        request: Self::Msg,
        out: &mut O,
    ) -> Result<(), SendError<Self::Msg>>;
    /// Stops the stage now, from outside (a kill, a shutdown), as if a callback had returned
    /// [`Flow::Stop`](crate::Flow::Stop): what it holds is counted as discarded, then
    /// [`Output::Stop`](crate::runtime::Output::Stop) goes out. Stopping a stopped stage does nothing.
    fn stop<O: Outbox<Self::In, Self::Out, Self::Msg>>(&mut self, reason: Reason, out: &mut O);

    /// Sets the time its callbacks see from now on ([`Emit::now`](crate::Emit::now),
    /// [`Ctx::now`](crate::Ctx::now)), in whatever ticks the runtime counts. The core never
    /// reads a clock: a runtime that has one passes it in before an input, and a stage nobody
    /// sets a time on sees 0. The default does nothing (a stage of your own that has no use
    /// for time).
    ///
    /// ```
    /// use genstage::runtime::*;
    /// use genstage::*;
    ///
    /// struct Stamp(Vec<u64>);
    /// impl Consumer for Stamp {
    ///     type Event = u8;
    ///     fn handle_events(&mut self, events: Batch<'_, u8>, ctx: &mut Ctx<'_>) -> Flow {
    ///         self.0.push(ctx.now());
    ///         Flow::Continue
    ///     }
    /// }
    /// let mut c: ConsumerStage<Stamp> = ConsumerStage::new(StageId(1), Stamp(Vec::new()));
    /// let mut out: Recorder<u8, u8> = Recorder::new();
    /// let sub = c.subscribe(StageId(0), Subscribe::new(), &mut out).unwrap();
    /// c.set_now(42);
    /// c.handle_events(sub, [1u8, 2], &mut out);
    /// assert_eq!(c.behaviour().0, [42]);
    /// assert_eq!(c.now(), 42);
    /// ```
    fn set_now(&mut self, now: u64) {
        let _ = now;
    }
    /// The time last given with [`set_now`](Self::set_now) (0 if never, and always 0 for a
    /// stage that ignores it).
    fn now(&self) -> u64 {
        0
    }
}

/// A stage that takes subscribers: a producer or a producer_consumer. Runtimes use it to check
/// at compile time that a subscription names a producer-role stage of the right event type.
pub trait ProducerRole: Stage {}

/// A stage that subscribes to producers: a consumer or a producer_consumer. These are the
/// commands of its upstream side (spec §4, §6).
pub trait ConsumerRole: Stage {
    /// Subscribes to `producer` (spec §4.7): the subscribe goes out, `handle_subscribe` runs,
    /// and in automatic mode the first ask follows. Bad options are an `Err` and nothing is
    /// sent.
    fn subscribe<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<Self::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError>;
    /// Subscribes anew, asking the producer to cancel `old` with `reason` first (spec §4.9).
    fn resubscribe<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        old: SubId,
        reason: Reason,
        producer: StageId,
        opts: Subscribe<Self::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError>;
    /// Asks for `demand` more events on a manual subscription (an ask of 0 sends nothing).
    fn ask<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError>;
    /// Asks the producer to cancel `sub`; the subscription ends when it confirms.
    fn cancel<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError>;
}
