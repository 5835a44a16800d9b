//! The consumer stage: the consumer role plus a [`Consumer`] behaviour.

use crate::behaviour::{Consumer, Flow, Subscribed};
use crate::callbacks::{AskError, Batch, Ctx, Reply};
use crate::error::SubscribeError;
use crate::id::{StageId, SubId};
use crate::message::{DiscardReason, Outbox, Output, Report, SendError, ToConsumer, ToProducer};
use crate::options::{Subscribe, SubscribeOptions};
use crate::reason::{Cancellation, Reason};
use crate::stage::upstream::incoming::{FromIter, Incoming};
use crate::stage::upstream::side::unknown_events;
use crate::stage::upstream::side::{ConsumerSide, UpCtx};
use crate::stage::upstream::{UpParts, UpstreamFlows};
use crate::stage::{ConsumerRole, Stage, StageKind, StageSummary};
use crate::stats::{StageStats, SubscriptionStats};
use crate::storage::{DefaultStorage, Deque, List, Run, Storage};

/// A consumer: subscribes to producers, asks for events (automatically or as its behaviour
/// says) and hands them to [`Consumer::handle_events`].
///
/// Like every stage, it is driven by calls (`handle_*`, `subscribe`, `info`, ...) and writes
/// what it wants done to the [`Outbox`] it is given. See the [crate docs](crate) for the
/// contract and a run loop.
pub struct ConsumerStage<B, M = (), S: Storage = DefaultStorage>
where
    B: Consumer<M>,
{
    behaviour: B,
    side: ConsumerSide<S>,
    /// Incoming events, lent to `handle_events` in one piece (growable storage; empty
    /// between inputs).
    inbox: S::Inbox<B::Event>,
    stats: StageStats,
    stopped: Option<Reason>,
    /// The time its callbacks see ([`Stage::set_now`]).
    now: u64,
    _m: core::marker::PhantomData<fn(M)>,
}

impl<B: Consumer<M>, M> ConsumerStage<B, M> {
    /// A consumer at address `id` on the default storage ([`Heap`](crate::storage::Heap)).
    /// For another storage, see [`with_storage`](Self::with_storage).
    pub fn new(id: StageId, behaviour: B) -> Self {
        Self::with_storage(id, behaviour)
    }
}

impl<B: Consumer<M>, M, S: Storage> ConsumerStage<B, M, S> {
    /// A consumer at address `id` on the storage its type names.
    pub fn with_storage(id: StageId, behaviour: B) -> Self {
        crate::storage::assert_usable::<S>();
        Self {
            behaviour,
            side: ConsumerSide::new(id),
            inbox: Default::default(),
            stats: StageStats::default(),
            stopped: None,
            now: 0,
            _m: core::marker::PhantomData,
        }
    }

    /// This stage's address.
    pub fn id(&self) -> StageId {
        self.side.me
    }
    /// The behaviour.
    pub fn behaviour(&self) -> &B {
        &self.behaviour
    }
    /// The behaviour, mutably.
    pub fn behaviour_mut(&mut self) -> &mut B {
        &mut self.behaviour
    }
    /// The stage's counters.
    pub fn stats(&self) -> &StageStats {
        &self.stats
    }
    /// Counters of one of its subscriptions.
    pub fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        self.side
            .subs
            .as_slice()
            .iter()
            .find(|s| s.sub == sub)
            .map(|s| s.stats)
    }
    /// The subscriptions it holds.
    pub fn subscriptions(&self) -> impl Iterator<Item = SubId> + '_ {
        self.side.subs.as_slice().iter().map(|s| s.sub)
    }
    /// Why it stopped, once it has.
    pub fn stopped(&self) -> Option<Reason> {
        self.stopped
    }
    /// Demand asked on `sub` and not yet answered, for an automatic subscription.
    pub fn outstanding(&self, sub: SubId) -> Option<usize> {
        self.subscription_stats(sub).map(|s| s.outstanding as usize)
    }

    /// Stops the stage now with `reason`, as if a callback had returned [`Flow::Stop`]: the
    /// way a runtime ends a stage from outside. A consumer holds no events, so nothing is
    /// discarded; [`Output::Stop`] goes out. Stopping a stage that has stopped does nothing.
    pub(crate) fn halt<Out, O: Outbox<B::Event, Out, M>>(&mut self, reason: Reason, out: &mut O) {
        if self.stopped.is_none() {
            self.stopped = Some(reason);
            self.behaviour.terminate(reason);
            out.push(Output::Stop(reason));
        }
    }

    /// Acts on what a callback returned: a consumer holds nothing, so
    /// [`Flow::StopWhenDrained`] stops it at once.
    fn flow<Out, O: Outbox<B::Event, Out, M>>(&mut self, flow: Flow, out: &mut O) {
        if let Flow::Stop(r) | Flow::StopWhenDrained(r) = flow {
            self.halt(r, out);
        }
    }

    /// Subscribes to `producer` (spec §4.7): sends Subscribe, runs `handle_subscribe`, and in
    /// automatic mode asks for `max_demand`. Bad options are an `Err` and nothing is sent.
    fn on_subscribe<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<B::Event>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.subscribe_to(producer, opts, None, out)
    }

    /// Subscribes to `producer` with a new subscription, asking it to cancel `old` with
    /// `reason` first. `old`'s cancel mode applies when its cancel arrives (spec §4.9).
    fn on_resubscribe<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        old: SubId,
        reason: Reason,
        producer: StageId,
        opts: Subscribe<B::Event>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.subscribe_to(producer, opts, Some((old, reason)), out)
    }

    /// Asks for `demand` more events on a manual subscription.
    fn on_ask<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.ask_upstream(sub, demand, out)
    }

    /// Asks the producer to cancel `sub`. The subscription ends when the producer confirms.
    fn on_cancel<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.cancel_upstream(sub, reason, out)
    }

    /// Events from a producer on `sub`.
    fn on_events<X, Out, O>(&mut self, sub: SubId, events: X, out: &mut O)
    where
        X: Incoming<B::Event>,
        O: Outbox<B::Event, Out, M>,
    {
        let len = events.len();
        if self.stopped.is_some() {
            self.stats.discarded.add(DiscardReason::Stopped, len);
            return;
        }
        self.stats.events_in += len as u64;
        if self.side.index(sub).is_none() {
            unknown_events(sub, len, out, &mut self.stats);
            return;
        }
        let behaviour = &mut self.behaviour;
        let now = self.now;
        let flow = if <S::Inbox<B::Event> as Run<B::Event>>::GROWS {
            // Growable storage: the message's buffer becomes the inbox (or is copied into it),
            // which the callback then gets as a lent buffer, chunk by chunk.
            let inbox = &mut self.inbox;
            let taken = events.into_run(inbox);
            debug_assert_eq!(taken, len, "a growable inbox takes the whole message");
            let flow =
                self.side
                    .run_chunks(sub, len, out, &mut self.stats, |k, side, out, stats| {
                        let mut up = UpCtx::new(side, out, stats);
                        let mut ctx = Ctx::new(&mut up).at(now);
                        behaviour.handle_events(inbox.lend(k, sub), &mut ctx)
                    });
            let rest = inbox.len();
            inbox.clear();
            if !flow.is_continue() {
                self.stats.discarded.add(DiscardReason::Stopped, rest);
            }
            flow
        } else {
            let mut events = events.into_events();
            let flow =
                self.side
                    .run_chunks(sub, len, out, &mut self.stats, |k, side, out, stats| {
                        let mut up = UpCtx::new(side, out, stats);
                        let mut ctx = Ctx::new(&mut up).at(now);
                        behaviour.handle_events(Batch::new(&mut events, k, sub), &mut ctx)
                    });
            if !flow.is_continue() {
                self.stats
                    .discarded
                    .add(DiscardReason::Stopped, events.len());
            }
            flow
        };
        if !flow.is_continue() {
            self.flow(flow, out);
        }
    }

    /// A control message from a producer.
    fn on_to_consumer<Out, O: Outbox<B::Event, Out, M>>(&mut self, msg: ToConsumer, out: &mut O) {
        match msg {
            ToConsumer::Cancel { sub, reason } => self.end(sub, Cancellation::Cancel(reason), out),
        }
    }

    /// A producer-bound message sent here by mistake: reported and ignored (spec §1.3).
    fn on_to_producer<E, Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        msg: ToProducer<E>,
        out: &mut O,
    ) {
        out.push(Output::Report(Report::WrongKind { sub: msg.sub() }));
    }

    /// Stage `stage` went down with `reason`: every subscription to it ends (spec §3.10).
    fn on_down<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    ) {
        while let Some(sub) = self.side.any_to(stage) {
            self.end(sub, Cancellation::Down(reason), out);
            if self.stopped.is_some() {
                return;
            }
        }
    }

    fn end<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        sub: SubId,
        how: Cancellation,
        out: &mut O,
    ) {
        if self.stopped.is_some() {
            return;
        }
        let Some(up) = self.side.remove(sub) else {
            return;
        };
        let mut upc = UpCtx::new(&mut self.side, out, &mut self.stats);
        let flow = self
            .behaviour
            .handle_cancel(how, sub, &mut Ctx::new(&mut upc).at(self.now));
        if flow.is_continue() && up.cancel.stops_on(&how.reason()) {
            self.halt(how.reason(), out);
        } else {
            self.flow(flow, out);
        }
    }

    /// An info message: a consumer holds no events, so it is handled at once. A stopped stage
    /// runs nothing and hands the message back with [`SendError::Stopped`].
    fn on_info<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        msg: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        if let Some(reason) = self.stopped {
            return Err(SendError::Stopped { msg, reason });
        }
        let mut upc = UpCtx::new(&mut self.side, out, &mut self.stats);
        let mut ctx = Ctx::new(&mut upc).at(self.now);
        let flow = self.behaviour.handle_info(msg, &mut ctx);
        if ctx.was_unhandled() {
            out.push(Output::Report(Report::UnhandledInfo));
        }
        self.flow(flow, out);
        Ok(())
    }

    /// A call; the reply comes out as [`Output::Reply`]. A stopped stage runs nothing and
    /// hands the request back with [`SendError::Stopped`].
    fn on_call<Out, O: Outbox<B::Event, Out, M>>(
        &mut self,
        request: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        if let Some(reason) = self.stopped {
            return Err(SendError::Stopped {
                msg: request,
                reason,
            });
        }
        let mut reply = Reply::new();
        let mut upc = UpCtx::new(&mut self.side, out, &mut self.stats);
        let flow =
            self.behaviour
                .handle_call(request, &mut reply, &mut Ctx::new(&mut upc).at(self.now));
        if let Some(r) = reply.before.take().or(reply.after.take()) {
            out.push(Output::Reply(r));
        }
        self.flow(flow, out);
        Ok(())
    }
}

impl<B, M, S, Out> UpstreamFlows<B::Event, Out, M> for ConsumerStage<B, M, S>
where
    B: Consumer<M>,
    S: Storage,
{
    type S = S;
    fn upstream(&mut self) -> UpParts<'_, S> {
        UpParts {
            side: &mut self.side,
            stats: &mut self.stats,
        }
    }
    fn has_stopped(&self) -> bool {
        self.stopped.is_some()
    }
    fn halt_upstream<O: Outbox<B::Event, Out, M>>(&mut self, reason: Reason, out: &mut O) {
        self.halt(reason, out);
    }
    fn subscribed_to<O: Outbox<B::Event, Out, M>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<B::Event>,
        out: &mut O,
    ) -> Subscribed {
        let mut upc = UpCtx::new(&mut self.side, out, &mut self.stats);
        self.behaviour
            .handle_subscribe(sub, opts, &mut Ctx::new(&mut upc).at(self.now))
    }
}

impl<B: Consumer<M>, M, S: Storage> Stage for ConsumerStage<B, M, S> {
    type In = B::Event;
    type Out = B::Event;
    type Msg = M;

    fn id(&self) -> StageId {
        self.side.me
    }
    fn kind(&self) -> StageKind {
        StageKind::Consumer
    }
    fn stopped(&self) -> Option<Reason> {
        self.stopped
    }
    fn stats(&self) -> &StageStats {
        &self.stats
    }
    fn holding(&self) -> usize {
        0
    }
    fn summary(&self) -> StageSummary {
        StageSummary {
            id: self.side.me,
            kind: StageKind::Consumer,
            stopped: self.stopped,
            draining: None,
            buffered: 0,
            held: 0,
            queued: 0,
            outstanding: self
                .subscriptions()
                .filter_map(|s| self.outstanding(s))
                .fold(0, usize::saturating_add),
            stats: self.stats,
        }
    }
    /// A consumer takes no subscribers: reported as [`Report::WrongKind`] (spec §1.3).
    fn handle_to_producer<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        msg: ToProducer<B::Event>,
        out: &mut O,
    ) {
        self.on_to_producer(msg, out);
    }
    fn handle_to_consumer<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        msg: ToConsumer,
        out: &mut O,
    ) {
        self.on_to_consumer(msg, out);
    }
    fn handle_events<I, O>(&mut self, sub: SubId, events: I, out: &mut O)
    where
        I: IntoIterator<Item = B::Event>,
        I::IntoIter: ExactSizeIterator,
        O: Outbox<B::Event, B::Event, M>,
    {
        self.on_events(sub, FromIter(events.into_iter()), out);
    }
    #[cfg(feature = "alloc")]
    fn handle_events_buffer<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        sub: SubId,
        events: &mut alloc::vec::Vec<B::Event>,
        out: &mut O,
    ) {
        self.on_events(sub, &mut *events, out);
        // What was not taken (a stopped stage, an unknown subscription) is counted: the
        // buffer goes back empty.
        events.clear();
    }
    fn handle_down<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    ) {
        self.on_down(stage, reason, out);
    }
    fn info<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        msg: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        self.on_info(msg, out)
    }
    fn call<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        request: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        self.on_call(request, out)
    }
    fn stop<O: Outbox<B::Event, B::Event, M>>(&mut self, reason: Reason, out: &mut O) {
        self.halt(reason, out);
    }
    fn set_now(&mut self, now: u64) {
        self.now = now;
    }
    fn now(&self) -> u64 {
        self.now
    }
}

impl<B: Consumer<M>, M, S: Storage> ConsumerRole for ConsumerStage<B, M, S> {
    fn subscribe<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<B::Event>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.on_subscribe(producer, opts, out)
    }
    fn resubscribe<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        old: SubId,
        reason: Reason,
        producer: StageId,
        opts: Subscribe<B::Event>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.on_resubscribe(old, reason, producer, opts, out)
    }
    fn ask<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.on_ask(sub, demand, out)
    }
    fn cancel<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.on_cancel(sub, reason, out)
    }
}
