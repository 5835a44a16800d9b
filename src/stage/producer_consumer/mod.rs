//! The producer_consumer stage: both roles plus a [`ProducerConsumer`] behaviour (spec §16).

mod driving;
use crate::behaviour::{Flow, ProducerConsumer, Subscribed};
use crate::callbacks::{AskError, Relay, Reply};
use crate::dispatcher::{Dispatch, Dispatcher};
use crate::error::SubscribeError;
use crate::id::{StageId, SubId};
use crate::message::{DiscardReason, Outbox, Output, Report, SendError, ToConsumer, ToProducer};
use crate::options::{
    BufferSize, Keep, OptionsError, ProducerOptions, Subscribe, SubscribeOptions,
};
use crate::reason::{CancelMode, Cancellation, Reason};
use crate::stage::downstream::side::{IDLE_REPLACEMENTS, ProducerSide, SelfMsg};
use crate::stage::downstream::{DownstreamFlows, Parts};
use crate::stage::upstream::incoming::{FromIter, Incoming};
use crate::stage::upstream::side::unknown_events;
use crate::stage::upstream::side::{ConsumerSide, UpCtx};
use crate::stage::upstream::{UpParts, UpstreamFlows};
use crate::stage::{ConsumerRole, ProducerRole, Stage, StageKind, StageSummary};
use crate::stats::{StageStats, SubscriptionStats};
use crate::storage::{DefaultStorage, Deque, List, Run, Storage};

/// One item of the input queue, in arrival order across all producers.
enum Input<M> {
    Events {
        sub: SubId,
        len: usize,
    },
    Info(M),
    Cancel {
        sub: SubId,
        how: Cancellation,
        mode: CancelMode,
    },
}

/// A producer_consumer: asks its producers for events at once (its upstream side is
/// decoupled from downstream demand), queues what arrives in one FIFO, and hands it to
/// [`ProducerConsumer::handle_events`] only while its consumers have demand. Output beyond that
/// demand goes to its buffer (unbounded by default).
///
/// Its downstream counter ([`downstream_demand`](Self::downstream_demand)) rises by the
/// upstream demand its dispatcher returns and falls once per event the dispatcher takes,
/// however many consumers get a copy (spec §16.2). It handles no input while its output buffer
/// holds events (the dispatcher takes no more then), so the buffer grows by at most one input
/// message beyond what consumers asked for: a bounded buffer at least as large as the upstream
/// `max_demand` never overflows (with a broadcast dispatcher, also at least its consumers'
/// largest `max_demand`).
///
/// Choices where GenStage has quirks (spec §21):
/// - events queued from a producer whose subscription has since ended are still handled, as one
///   chunk with no ask; `from` is that subscription's id as before (Q9);
/// - a cancel from upstream that arrives while events are queued waits behind them: the
///   subscription is forgotten at once, `handle_cancel` and the cancel mode apply when the
///   notice is reached (§16.7). Unlike GenStage, this also holds when only the *output buffer*
///   has events, and when the notice is reached the stage drains (as
///   [`Flow::StopWhenDrained`]): a stage whose producer finished does not stop (and lose its
///   buffer or its dispatcher's queues) before its consumers have taken what it holds.
pub struct ProducerConsumerStage<
    B,
    M = (),
    S: Storage = DefaultStorage,
    D = Dispatch<<B as ProducerConsumer<M>>::Out, S>,
> where
    B: ProducerConsumer<M>,
{
    behaviour: B,
    up: ConsumerSide<S>,
    down: ProducerSide<B::Out, M, D, S>,
    queue: S::Events<Input<M>>,
    inbox: S::Run<B::In>,
    counter: usize,
    stats: StageStats,
    stopped: Option<Reason>,
    /// The time its callbacks see ([`Stage::set_now`]).
    now: u64,
}

impl<B: ProducerConsumer<M>, M> ProducerConsumerStage<B, M> {
    /// A producer_consumer at address `id` on the default storage
    /// ([`Heap`](crate::storage::Heap)) with the default dispatcher. Its buffer is unbounded by
    /// default; accumulate mode is refused. For another storage or dispatcher, see
    /// [`with_dispatcher`](Self::with_dispatcher).
    pub fn new(id: StageId, behaviour: B, opts: ProducerOptions) -> Result<Self, OptionsError> {
        Self::with_dispatcher(id, behaviour, opts, Dispatch::default())
    }
}

impl<B, M, S, D> ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M>,
    S: Storage,
    D: Dispatcher<B::Out>,
{
    /// A producer_consumer with the given dispatcher.
    pub fn with_dispatcher(
        id: StageId,
        behaviour: B,
        opts: ProducerOptions,
        dispatcher: D,
    ) -> Result<Self, OptionsError> {
        crate::storage::assert_usable::<S>();
        if opts.demand != crate::options::DemandMode::Forward {
            return Err(OptionsError::DemandModeNotSupported);
        }
        let capacity = opts.resolve_buffer(BufferSize::Unbounded, S::EVENTS)?;
        let keep: Keep = opts.buffer_keep;
        Ok(Self {
            behaviour,
            up: ConsumerSide::new(id),
            down: ProducerSide::new(
                dispatcher,
                capacity,
                keep,
                crate::options::DemandMode::Forward,
            ),
            queue: Default::default(),
            inbox: Default::default(),
            counter: 0,
            stats: StageStats::default(),
            stopped: None,
            now: 0,
        })
    }

    /// This stage's address.
    pub fn id(&self) -> StageId {
        self.up.me
    }
    /// The behaviour.
    pub fn behaviour(&self) -> &B {
        &self.behaviour
    }
    /// The behaviour, mutably.
    pub fn behaviour_mut(&mut self) -> &mut B {
        &mut self.behaviour
    }
    /// The dispatcher.
    pub fn dispatcher(&self) -> &D {
        &self.down.dispatcher
    }
    /// The stage's counters.
    pub fn stats(&self) -> &StageStats {
        &self.stats
    }
    /// Counters of a subscription, upstream or downstream.
    pub fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        self.up
            .subs
            .as_slice()
            .iter()
            .find(|s| s.sub == sub)
            .map(|s| s.stats)
            .or_else(|| self.down.sub_stats(sub))
    }
    /// Events in the output buffer.
    pub fn buffered_count(&self) -> usize {
        self.down.buffer.len()
    }
    /// Events received and not yet handled.
    pub fn queued_count(&self) -> usize {
        self.inbox.len()
    }
    /// Downstream demand not yet met (spec §16.2).
    pub fn downstream_demand(&self) -> usize {
        self.counter
    }
    /// The subscriptions to producers.
    pub fn subscriptions(&self) -> impl Iterator<Item = SubId> + '_ {
        self.up.subs.as_slice().iter().map(|s| s.sub)
    }
    /// The consumers subscribed.
    pub fn consumers(&self) -> impl Iterator<Item = SubId> + '_ {
        self.down.consumer_ids()
    }
    /// The demand mode: always forward (spec §8.6; GenStage's query crashes a producer_consumer,
    /// §21 Q7).
    pub fn demand_mode(&self) -> crate::options::DemandMode {
        crate::options::DemandMode::Forward
    }
    /// Setting the demand mode: forward is a no-op, accumulate is refused (spec §8.6).
    pub fn set_demand_mode(
        &mut self,
        mode: crate::options::DemandMode,
    ) -> Result<(), OptionsError> {
        match mode {
            crate::options::DemandMode::Forward => Ok(()),
            crate::options::DemandMode::Accumulate => Err(OptionsError::DemandModeNotSupported),
        }
    }
    /// Why it stopped, once it has.
    pub fn stopped(&self) -> Option<Reason> {
        self.stopped
    }
    /// The reason it will stop with once its output is taken, after a callback returned
    /// [`Flow::StopWhenDrained`] (and until it has stopped).
    pub fn draining(&self) -> Option<Reason> {
        self.down.finishing.filter(|_| self.stopped.is_none())
    }

    /// Stops the stage now with `reason`, as if a callback had returned [`Flow::Stop`]: the
    /// way a runtime ends a stage from outside. Events it still holds are counted as
    /// discarded and reported: input received and not handled with [`DiscardReason::Stopped`],
    /// output in its buffer or held by its dispatcher with [`DiscardReason::Abandoned`]; then [`Output::Stop`] goes out. Stopping
    /// a stage that has stopped does nothing.
    pub(crate) fn halt<O: Outbox<B::In, B::Out, M>>(&mut self, reason: Reason, out: &mut O) {
        if self.stopped.is_none() {
            self.stopped = Some(reason);
            let unhandled = self.inbox.len();
            self.inbox.clear();
            self.queue.clear();
            if unhandled > 0 {
                self.stats.discarded.add(DiscardReason::Stopped, unhandled);
                out.push(Output::Report(Report::Discarded {
                    count: unhandled,
                    reason: DiscardReason::Stopped,
                    log: true,
                }));
            }
            self.down.discard_all(out, &mut self.stats);
            self.behaviour.terminate(reason);
            out.push(Output::Stop(reason));
        }
    }

    /// Acts on what a callback returned.
    fn apply<O: Outbox<B::In, B::Out, M>>(&mut self, flow: Flow, out: &mut O) {
        match flow {
            Flow::Continue => {}
            Flow::Stop(r) => self.halt(r, out),
            Flow::StopWhenDrained(r) => {
                if self.stopped.is_none() {
                    self.down.finish(r, out, &mut self.stats);
                }
            }
        }
    }

    // ----- upstream side -----

    /// Subscribes to `producer` (spec §4.7).
    fn on_subscribe<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<B::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.subscribe_to(producer, opts, None, out)
    }

    /// Subscribes anew, asking the producer to cancel `old` first (spec §4.9).
    fn on_resubscribe<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        old: SubId,
        reason: Reason,
        producer: StageId,
        opts: Subscribe<B::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.subscribe_to(producer, opts, Some((old, reason)), out)
    }

    /// Asks on a manual upstream subscription.
    fn on_ask<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.ask_upstream(sub, demand, out)
    }

    /// Asks the producer to cancel an upstream subscription.
    fn on_cancel<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.cancel_upstream(sub, reason, out)
    }

    /// Events from a producer: queued, then handled while downstream demand lasts.
    fn on_events<X, O>(&mut self, sub: SubId, events: X, out: &mut O)
    where
        X: Incoming<B::In>,
        O: Outbox<B::In, B::Out, M>,
    {
        let len = events.len();
        if self.stopped.is_some() {
            self.stats.discarded.add(DiscardReason::Stopped, len);
            return;
        }
        self.stats.events_in += len as u64;
        if self.up.index(sub).is_none() {
            unknown_events(sub, len, out, &mut self.stats);
            return;
        }
        if len == 0 {
            return;
        }
        // In one go: with growable storage, the batch's buffer becomes the input run when that
        // is empty, else one copy.
        let queued = events.into_run(&mut self.inbox);
        let lost = len - queued;
        if lost > 0 {
            self.stats
                .discarded
                .add(DiscardReason::InputQueueFull, lost);
            out.push(Output::Report(Report::Discarded {
                count: lost,
                reason: DiscardReason::InputQueueFull,
                log: true,
            }));
        }
        if queued > 0
            && self
                .queue
                .push_back(Input::Events { sub, len: queued })
                .is_err()
        {
            // No room for the item (fixed storage): the events cannot be told apart from the
            // previous message's, so drop them, counted.
            for _ in 0..queued {
                let _ = Deque::pop_back(&mut self.inbox);
            }
            self.stats
                .discarded
                .add(DiscardReason::InputQueueFull, queued);
            out.push(Output::Report(Report::Discarded {
                count: queued,
                reason: DiscardReason::InputQueueFull,
                log: true,
            }));
        }
        self.settle(out);
    }

    /// A control message from a producer (a cancel).
    fn on_to_consumer<O: Outbox<B::In, B::Out, M>>(&mut self, msg: ToConsumer, out: &mut O) {
        match msg {
            ToConsumer::Cancel { sub, reason } => {
                self.end_upstream(sub, Cancellation::Cancel(reason), out)
            }
        }
        self.settle(out);
    }

    fn end_upstream<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        how: Cancellation,
        out: &mut O,
    ) {
        if self.stopped.is_some() {
            return;
        }
        let Some(up) = self.up.remove(sub) else {
            return;
        };
        if !self.queue.is_empty() || !self.down.buffer.is_empty() {
            let notice = Input::Cancel {
                sub,
                how,
                mode: up.cancel,
            };
            if self.queue.push_back(notice).is_ok() {
                return;
            }
            out.push(Output::Report(Report::SelfQueueFull));
        }
        self.upstream_cancelled(sub, how, up.cancel, out);
    }

    fn upstream_cancelled<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        how: Cancellation,
        mode: CancelMode,
        out: &mut O,
    ) {
        let (flow, _) = self.emitting(out, |b, e| b.handle_cancel(how, sub, e));
        if flow.is_continue() && mode.stops_on(&how.reason()) {
            // Everything queued before the notice has been handled; what it emitted is still
            // to be taken (buffered, or held by the dispatcher): stop once it is.
            self.apply(Flow::StopWhenDrained(how.reason()), out);
        } else {
            self.apply(flow, out);
        }
    }

    // ----- downstream side -----

    /// A message from a consumer of this stage.
    fn on_to_producer<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        msg: ToProducer<B::Out>,
        out: &mut O,
    ) {
        self.consumer_message(msg, out);
        self.settle(out);
    }

    /// Stage `stage` went down: subscriptions to it (upstream) and from it (downstream) end.
    fn on_down<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    ) {
        while self.stopped.is_none() {
            let Some(sub) = self.up.any_to(stage) else {
                break;
            };
            self.end_upstream(sub, Cancellation::Down(reason), out);
        }
        self.consumers_down(stage, reason, out);
        self.settle(out);
    }

    /// An info message: behind the input queue if it holds anything, else behind the output
    /// buffer, else at once (spec §10.5). Handed back with [`SendError::Stopped`] by a stopped
    /// stage, with [`SendError::Full`] when fixed storage has no room for it.
    fn on_info<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        msg: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        if let Some(reason) = self.stopped {
            return Err(SendError::Stopped { msg, reason });
        }
        if self.queue.is_empty() {
            self.down
                .info(msg, out, &mut self.stats)
                .map_err(SendError::Full)?;
        } else if let Err(Input::Info(msg)) = self.queue.push_back(Input::Info(msg)) {
            return Err(SendError::Full(msg));
        }
        self.settle(out);
        Ok(())
    }

    /// A call; see [`ProducerStage::call`](crate::ProducerStage::call). A stopped stage runs
    /// nothing and hands the request back with [`SendError::Stopped`].
    fn on_call<O: Outbox<B::In, B::Out, M>>(
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
        let flow = {
            let mut up = UpCtx::new(&mut self.up, out, &mut self.stats);
            self.behaviour.handle_call(
                request,
                &mut reply,
                &mut Relay::new(self.down.scratch.emit(), &mut up).at(self.now),
            )
        };
        if let Some(r) = reply.before.take() {
            out.push(Output::Reply(r));
        }
        self.dispatch(out);
        if let Some(r) = reply.after.take() {
            out.push(Output::Reply(r));
        }
        self.apply(flow, out);
        self.settle(out);
        Ok(())
    }

    // ----- internals -----

    /// Runs a callback that may emit and dispatches what it emitted; returns its flow and
    /// whether it marked its info message as not handled.
    fn emitting<O, F>(&mut self, out: &mut O, f: F) -> (Flow, bool)
    where
        O: Outbox<B::In, B::Out, M>,
        F: FnOnce(&mut B, &mut Relay<'_, B::Out>) -> Flow,
    {
        let (flow, unhandled) = {
            let mut up = UpCtx::new(&mut self.up, out, &mut self.stats);
            let mut emit = Relay::new(self.down.scratch.emit(), &mut up).at(self.now);
            let flow = f(&mut self.behaviour, &mut emit);
            (flow, emit.was_unhandled())
        };
        self.dispatch(out);
        (flow, unhandled)
    }

    /// `handle_info`, reported when not handled, then its flow applied.
    fn handle_info<O: Outbox<B::In, B::Out, M>>(&mut self, msg: M, out: &mut O) {
        let (flow, unhandled) = self.emitting(out, |b, e| b.handle_info(msg, e));
        if unhandled {
            out.push(Output::Report(Report::UnhandledInfo));
        }
        self.apply(flow, out);
    }

    fn dispatch<O: Outbox<B::In, B::Out, M>>(&mut self, out: &mut O) {
        // The counter falls by the events the dispatcher took, each once however many
        // consumers got a copy (spec §16.2).
        let (sent, dropped) = self.down.dispatch_emitted(out, &mut self.stats);
        self.counter = self.counter.saturating_sub(sent);
        if dropped > 0 {
            let log = self.behaviour.format_discarded(dropped);
            out.push(Output::Report(Report::Discarded {
                count: dropped,
                reason: DiscardReason::BufferFull,
                log,
            }));
        }
    }

    /// Downstream demand `u`: raises the counter, drains the output buffer against it.
    fn demand<O: Outbox<B::In, B::Out, M>>(&mut self, u: usize, out: &mut O) {
        if self.stopped.is_some() || (u == 0 && self.down.buffer.is_empty()) {
            return;
        }
        let total = self.counter.saturating_add(u);
        // Only events that left the buffer for good pay the counter down; events taken and
        // put back (the dispatcher took no more) leave it as it was (spec §16.2, §16.5).
        let served = self.down.serve_from_buffer(total, out, &mut self.stats);
        self.counter = total - served.sent.min(total);
    }

    /// Handles queued input while downstream demand is positive (spec §16.4).
    /// A draining stage handles no more input. Neither does a stage whose output buffer holds
    /// events: the buffer is served first whenever demand arrives, so events in it mean the
    /// dispatcher takes no more right now, even if the counter says otherwise (a broadcast
    /// consumer that subscribes late holds back demand its siblings already asked for; a
    /// consumer that left took its demand with it, spec §21 Q21). Handling more input would
    /// only grow the buffer.
    fn process<O: Outbox<B::In, B::Out, M>>(&mut self, out: &mut O) {
        while self.counter > 0
            && self.down.buffer.is_empty()
            && self.stopped.is_none()
            && self.down.finishing.is_none()
        {
            let Some(item) = self.queue.pop_front() else {
                break;
            };
            match item {
                Input::Events { sub, len } => self.process_events(sub, len, out),
                Input::Info(msg) => {
                    if let Err(msg) = self.down.info(msg, out, &mut self.stats) {
                        // No room for a marker (fixed storage): hand it over now rather than
                        // lose it.
                        self.handle_info(msg, out);
                    }
                }
                Input::Cancel { sub, how, mode } => self.upstream_cancelled(sub, how, mode, out),
            }
        }
    }

    fn process_events<O: Outbox<B::In, B::Out, M>>(&mut self, sub: SubId, len: usize, out: &mut O) {
        let behaviour = &mut self.behaviour;
        let down = &mut self.down;
        let inbox = &mut self.inbox;
        let counter = &mut self.counter;
        let now = self.now;
        let mut taken = 0;
        let flow = self
            .up
            .run_chunks(sub, len, out, &mut self.stats, |k, side, out, stats| {
                taken += k;
                let flow = {
                    let mut up = UpCtx::new(side, out, stats);
                    behaviour.handle_events(
                        inbox.lend(k, sub),
                        &mut Relay::new(down.scratch.emit(), &mut up).at(now),
                    )
                };
                let (sent, dropped) = down.dispatch_emitted(out, stats);
                *counter = counter.saturating_sub(sent);
                if dropped > 0 {
                    let log = behaviour.format_discarded(dropped);
                    out.push(Output::Report(Report::Discarded {
                        count: dropped,
                        reason: DiscardReason::BufferFull,
                        log,
                    }));
                }
                flow
            });
        if !flow.is_continue() {
            // The rest of the message is never handled: counted now, whether the stage stops
            // at once or drains first.
            let rest = len - taken;
            drop(self.inbox.drain_front(rest));
            self.stats.discarded.add(DiscardReason::Stopped, rest);
            self.apply(flow, out);
        }
    }

    /// Handles queued input while demand lasts, then the messages the stage sent itself
    /// (released infos, dispatcher self-asks), until neither has anything to do.
    fn settle<O: Outbox<B::In, B::Out, M>>(&mut self, out: &mut O) {
        let mut idle = 0;
        loop {
            self.process(out);
            if self.stopped.is_some() {
                return;
            }
            let Some(msg) = self.down.selfq.pop_front() else {
                if self.down.finishing.is_some() && self.down.stop_marker.is_none() {
                    self.down.place_stop_marker(out, &mut self.stats);
                    if !self.down.selfq.is_empty() {
                        continue;
                    }
                }
                return;
            };
            match msg {
                SelfMsg::Info(id) if self.down.is_stop_marker(id) => {
                    let reason = self.down.finishing.unwrap_or(Reason::Normal);
                    self.halt(reason, out);
                }
                SelfMsg::Info(id) => {
                    if let Some(m) = self.down.take_info(id) {
                        self.handle_info(m, out);
                    }
                }
                SelfMsg::Ask(sub, n) => {
                    if let Some(u) = self.down.ask(sub, n, false, out, &mut self.stats) {
                        self.demand(u, out);
                    }
                }
                SelfMsg::Demand(n) => {
                    // Bounded per input, as on a producer (see `IDLE_REPLACEMENTS`).
                    if idle < IDLE_REPLACEMENTS {
                        let before = self.stats.events_out + self.down.dispatcher.held() as u64;
                        self.demand(n, out);
                        let after = self.stats.events_out + self.down.dispatcher.held() as u64;
                        idle = if after == before { idle + 1 } else { 0 };
                    }
                }
            }
        }
    }
}
