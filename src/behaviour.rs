//! The traits users implement: [`Producer`], [`ProducerConsumer`], [`Consumer`].
//!
//! Each has one required callback; the others have defaults. `M` is the type of the info
//! messages and calls the stage takes (`()` unless you need them).

use crate::callbacks::{Batch, Ctx, Emit, Relay, Reply};
use crate::id::SubId;
use crate::options::SubscribeOptions;
use crate::reason::{Cancellation, Reason};

/// What a callback wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Keep running.
    Continue,
    /// Stop the stage now with this reason. Its peers see the stage go down with it. Events
    /// it still holds are counted as discarded: output it had emitted (buffer, accumulate log,
    /// dispatcher queues) as [`Abandoned`](crate::runtime::DiscardReason::Abandoned), input it had not
    /// handled as [`Stopped`](crate::runtime::DiscardReason::Stopped).
    Stop(Reason),
    /// Stop with this reason once every event emitted so far has been taken by consumers: the
    /// clean way to end a finite producer (GenStage's `async_info(self(), :stop)` pattern).
    ///
    /// The stage places a stop marker behind everything it emitted (its buffer, and events a
    /// dispatcher still holds, such as partition queues) and calls no emitting callback for
    /// new work again: a producer's `handle_demand` is not called, a producer_consumer handles
    /// no more input (what is queued is counted as discarded when it stops). Infos, calls and
    /// subscriptions are still served meanwhile. When the marker is reached, the stage stops
    /// with the reason and holds nothing. A consumer holds no events, so for it this is
    /// [`Stop`](Self::Stop). A later `Stop` still stops at once.
    StopWhenDrained(Reason),
}

impl Flow {
    /// Finish normally: `StopWhenDrained(Reason::Normal)`, the usual end of a finite stage.
    pub const DONE: Self = Self::StopWhenDrained(Reason::Normal);

    /// True for [`Flow::Continue`].
    pub const fn is_continue(&self) -> bool {
        matches!(self, Self::Continue)
    }
}

/// How a consumer-role stage takes a new subscription to a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subscribed {
    /// The stage asks for events itself, within `min_demand..=max_demand` (spec §5).
    Automatic,
    /// The behaviour asks with [`Ctx::ask`] / [`Relay::ask`]; nothing is asked for it (spec §6).
    Manual,
    /// Stop the stage with this reason.
    Stop(Reason),
}

/// A stage that makes events when asked.
pub trait Producer<M = ()> {
    /// The events it makes.
    type Event;

    /// `demand` more events were asked for (after the buffer served what it could). Emit up to
    /// that many; emitting fewer is fine, but `handle_demand` is not called again for the
    /// rest: remember it and emit from another callback (spec §7.3). Extra events are
    /// buffered.
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Self::Event>) -> Flow;

    /// A consumer subscribed.
    fn handle_subscribe(&mut self, sub: SubId, opts: &SubscribeOptions<Self::Event>) -> Flow {
        let _ = (sub, opts);
        Flow::Continue
    }

    /// A consumer's subscription ended. Events emitted here are dispatched to the remaining
    /// consumers (never to the departing one) or buffered.
    fn handle_cancel(
        &mut self,
        how: Cancellation,
        sub: SubId,
        out: &mut Emit<'_, Self::Event>,
    ) -> Flow {
        let _ = (how, sub, out);
        Flow::Continue
    }

    /// An info message, delivered after every event buffered before it was dispatched. The
    /// default marks it [not handled](Emit::not_handled), which the stage reports as
    /// [`Report::UnhandledInfo`](crate::runtime::Report::UnhandledInfo).
    fn handle_info(&mut self, msg: M, out: &mut Emit<'_, Self::Event>) -> Flow {
        let _ = msg;
        out.not_handled();
        Flow::Continue
    }

    /// A call. The default stops the stage with [`Reason::BadCall`].
    fn handle_call(
        &mut self,
        request: M,
        reply: &mut Reply<M>,
        out: &mut Emit<'_, Self::Event>,
    ) -> Flow {
        let _ = (request, reply, out);
        Flow::Stop(Reason::BadCall)
    }

    /// `count` events were discarded from the buffer. Return false to ask for no log line;
    /// the discard is counted and reported either way.
    fn format_discarded(&mut self, count: usize) -> bool {
        let _ = count;
        true
    }

    /// The stage is stopping with `reason`, whatever stopped it (a callback, a drained stop, a
    /// cancel mode, a stop from outside): the last call the behaviour gets, to flush partial
    /// work. Nothing it could emit would be delivered. The default does nothing. A runtime
    /// that catches a panicking callback does not call it.
    fn terminate(&mut self, reason: Reason) {
        let _ = reason;
    }
}

/// A stage in the middle: takes events from upstream, emits events downstream.
pub trait ProducerConsumer<M = ()> {
    /// What it takes.
    type In;
    /// What it emits.
    type Out;

    /// Handles one chunk from the subscription `from`. Only called while downstream demand is
    /// positive (spec §16).
    fn handle_events(
        &mut self,
        events: Batch<'_, Self::In>,
        out: &mut Relay<'_, Self::Out>,
    ) -> Flow;

    /// This stage subscribed to a producer. To take the demand in hand (GenStage's
    /// `{:manual, state}`), return [`Subscribed::Manual`], or ask right here with
    /// [`Ctx::ask`]: an ask from this callback makes the subscription manual.
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<Self::In>,
        ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        let _ = (sub, opts, ctx);
        Subscribed::Automatic
    }

    /// A consumer subscribed to this stage.
    fn handle_consumer_subscribe(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<Self::Out>,
    ) -> Flow {
        let _ = (sub, opts);
        Flow::Continue
    }

    /// A subscription ended, upstream (`sub.consumer` is this stage) or downstream.
    fn handle_cancel(
        &mut self,
        how: Cancellation,
        sub: SubId,
        out: &mut Relay<'_, Self::Out>,
    ) -> Flow {
        let _ = (how, sub, out);
        Flow::Continue
    }

    /// An info message, delivered after every event queued or buffered before it. The default
    /// marks it [not handled](Emit::not_handled), reported as
    /// [`Report::UnhandledInfo`](crate::runtime::Report::UnhandledInfo).
    fn handle_info(&mut self, msg: M, out: &mut Relay<'_, Self::Out>) -> Flow {
        let _ = msg;
        out.not_handled();
        Flow::Continue
    }

    /// A call. The default stops the stage with [`Reason::BadCall`].
    fn handle_call(
        &mut self,
        request: M,
        reply: &mut Reply<M>,
        out: &mut Relay<'_, Self::Out>,
    ) -> Flow {
        let _ = (request, reply, out);
        Flow::Stop(Reason::BadCall)
    }

    /// `count` events were discarded from the output buffer; return false for no log line.
    fn format_discarded(&mut self, count: usize) -> bool {
        let _ = count;
        true
    }

    /// The stage is stopping with `reason`, whatever stopped it (a callback, a drained stop, a
    /// cancel mode, a stop from outside): the last call the behaviour gets, to flush partial
    /// work. Nothing it could emit would be delivered. The default does nothing. A runtime
    /// that catches a panicking callback does not call it.
    fn terminate(&mut self, reason: Reason) {
        let _ = reason;
    }
}

/// A stage at the end: takes events.
pub trait Consumer<M = ()> {
    /// What it takes.
    type Event;

    /// Handles one chunk from the subscription `from`.
    fn handle_events(&mut self, events: Batch<'_, Self::Event>, ctx: &mut Ctx<'_>) -> Flow;

    /// This stage subscribed to a producer. To take the demand in hand (GenStage's
    /// `{:manual, state}`), return [`Subscribed::Manual`], or send the first ask right here with
    /// [`Ctx::ask`]: an ask from this callback makes the subscription manual.
    ///
    /// ```
    /// use genstage::prelude::*;
    /// struct OneByOne;
    /// impl Consumer for OneByOne {
    ///     type Event = u64;
    ///     fn handle_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<u64>, ctx: &mut Ctx<'_>) -> Subscribed {
    ///         ctx.ask(sub, 1).expect("the subscription is ours");
    ///         Subscribed::Manual
    ///     }
    ///     fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
    ///         let _ = ctx.ask(events.sub(), 1); // one more, after each one
    ///         Flow::Continue
    ///     }
    /// }
    /// ```
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<Self::Event>,
        ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        let _ = (sub, opts, ctx);
        Subscribed::Automatic
    }

    /// A subscription ended. The cancel mode then decides whether the stage stops.
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, ctx: &mut Ctx<'_>) -> Flow {
        let _ = (how, sub, ctx);
        Flow::Continue
    }

    /// An info message (delivered at once: a consumer holds no events). The default marks it
    /// [not handled](Ctx::not_handled), reported as
    /// [`Report::UnhandledInfo`](crate::runtime::Report::UnhandledInfo).
    fn handle_info(&mut self, msg: M, ctx: &mut Ctx<'_>) -> Flow {
        let _ = msg;
        ctx.not_handled();
        Flow::Continue
    }

    /// A call. The default stops the stage with [`Reason::BadCall`].
    fn handle_call(&mut self, request: M, reply: &mut Reply<M>, ctx: &mut Ctx<'_>) -> Flow {
        let _ = (request, reply, ctx);
        Flow::Stop(Reason::BadCall)
    }

    /// The stage is stopping with `reason`, whatever stopped it (a callback, a drained stop, a
    /// cancel mode, a stop from outside): the last call the behaviour gets, to flush partial
    /// work. Nothing it could emit would be delivered. The default does nothing. A runtime
    /// that catches a panicking callback does not call it.
    fn terminate(&mut self, reason: Reason) {
        let _ = reason;
    }
}
