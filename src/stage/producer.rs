//! The producer stage: the producer role plus a [`Producer`] behaviour.

use crate::behaviour::{Flow, Producer};
use crate::callbacks::{Emit, Reply};
use crate::dispatcher::{Dispatch, Dispatcher};
use crate::id::{StageId, SubId};
use crate::message::{DiscardReason, Outbox, Output, Report, SendError, ToConsumer, ToProducer};
use crate::options::{
    BufferSize, DEFAULT_PRODUCER_BUFFER, DemandMode, OptionsError, ProducerOptions,
    SubscribeOptions,
};
use crate::reason::{Cancellation, Reason};
use crate::stage::downstream::accumulate::Replay;
use crate::stage::downstream::side::{IDLE_REPLACEMENTS, ProducerSide, SelfMsg};
use crate::stage::downstream::{DownstreamFlows, Parts};
use crate::stage::{ProducerRole, Stage, StageKind, StageSummary};
use crate::stats::{StageStats, SubscriptionStats};
use crate::storage::{DefaultStorage, Deque, Run, Storage};

/// A producer: answers demand from its consumers with events from its buffer, then from
/// [`Producer::handle_demand`], through its dispatcher (spec §7).
///
/// See the [crate docs](crate) for the driving contract and a run loop.
pub struct ProducerStage<
    B,
    M = (),
    S: Storage = DefaultStorage,
    D = Dispatch<<B as Producer<M>>::Event, S>,
> where
    B: Producer<M>,
{
    id: StageId,
    behaviour: B,
    side: ProducerSide<B::Event, M, D, S>,
    stats: StageStats,
    stopped: Option<Reason>,
    /// The time its callbacks see ([`Stage::set_now`]).
    now: u64,
}

impl<B: Producer<M>, M> ProducerStage<B, M> {
    /// A producer at address `id` on the default storage ([`Heap`](crate::storage::Heap)) with
    /// the default dispatcher. Options are checked first. For another storage or dispatcher,
    /// see [`with_dispatcher`](Self::with_dispatcher).
    pub fn new(id: StageId, behaviour: B, opts: ProducerOptions) -> Result<Self, OptionsError> {
        Self::with_dispatcher(id, behaviour, opts, Dispatch::default())
    }
}

impl<B, M, S, D> ProducerStage<B, M, S, D>
where
    B: Producer<M>,
    S: Storage,
    D: Dispatcher<B::Event>,
{
    /// A producer with the given dispatcher.
    pub fn with_dispatcher(
        id: StageId,
        behaviour: B,
        opts: ProducerOptions,
        dispatcher: D,
    ) -> Result<Self, OptionsError> {
        crate::storage::assert_usable::<S>();
        let capacity =
            opts.resolve_buffer(BufferSize::Bounded(DEFAULT_PRODUCER_BUFFER), S::EVENTS)?;
        Ok(Self {
            id,
            behaviour,
            side: ProducerSide::new(dispatcher, capacity, opts.buffer_keep, opts.demand),
            stats: StageStats::default(),
            stopped: None,
            now: 0,
        })
    }

    /// This stage's address.
    pub fn id(&self) -> StageId {
        self.id
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
        &self.side.dispatcher
    }
    /// The stage's counters.
    pub fn stats(&self) -> &StageStats {
        &self.stats
    }
    /// Counters of one consumer's subscription.
    pub fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        self.side.sub_stats(sub)
    }
    /// The consumers subscribed.
    pub fn consumers(&self) -> impl Iterator<Item = SubId> + '_ {
        self.side.consumer_ids()
    }
    /// Events in the buffer (not counting held events of accumulate mode, nor info markers).
    pub fn buffered_count(&self) -> usize {
        self.side.buffer.len()
    }
    /// Events held by accumulate mode.
    pub fn held_count(&self) -> usize {
        self.side.acc.len()
    }
    /// The demand mode.
    pub fn demand_mode(&self) -> DemandMode {
        self.side.mode
    }
    /// Why it stopped, once it has.
    pub fn stopped(&self) -> Option<Reason> {
        self.stopped
    }
    /// The reason it will stop with once drained, after a callback returned
    /// [`Flow::StopWhenDrained`] (and until it has stopped).
    pub fn draining(&self) -> Option<Reason> {
        self.side.finishing.filter(|_| self.stopped.is_none())
    }

    /// Stops the stage now with `reason`, as if a callback had returned [`Flow::Stop`]: the
    /// way a runtime ends a stage from outside (a kill, a shutdown). Events it still holds
    /// (buffer, accumulate log, events its dispatcher holds) are counted as discarded with
    /// [`DiscardReason::Abandoned`] and reported; then [`Output::Stop`] goes out. Stopping a
    /// stage that has stopped does nothing.
    pub(crate) fn halt<In, O: Outbox<In, B::Event, M>>(&mut self, reason: Reason, out: &mut O) {
        if self.stopped.is_none() {
            self.stopped = Some(reason);
            self.side.discard_all(out, &mut self.stats);
            self.behaviour.terminate(reason);
            out.push(Output::Stop(reason));
        }
    }

    /// Acts on what a callback returned.
    fn apply<In, O: Outbox<In, B::Event, M>>(&mut self, flow: Flow, out: &mut O) {
        match flow {
            Flow::Continue => {}
            Flow::Stop(r) => self.halt(r, out),
            Flow::StopWhenDrained(r) => {
                if self.stopped.is_none() {
                    self.side.finish(r, out, &mut self.stats);
                }
            }
        }
    }

    /// Runs a callback that may emit, then dispatches what it emitted. Returns whether the
    /// callback marked its info message as not handled.
    fn emitting<In, O, F>(&mut self, out: &mut O, f: F) -> bool
    where
        O: Outbox<In, B::Event, M>,
        F: FnOnce(&mut B, &mut Emit<'_, B::Event>) -> Flow,
    {
        let mut emit = self.side.scratch.emit().at(self.now);
        let flow = f(&mut self.behaviour, &mut emit);
        let unhandled = emit.was_unhandled();
        self.dispatch(out);
        self.apply(flow, out);
        unhandled
    }

    fn dispatch<In, O: Outbox<In, B::Event, M>>(&mut self, out: &mut O) {
        let (_, dropped) = self.side.dispatch_emitted(out, &mut self.stats);
        self.report_dropped(dropped, out);
    }

    fn report_dropped<In, O: Outbox<In, B::Event, M>>(&mut self, dropped: usize, out: &mut O) {
        if dropped > 0 {
            let log = self.behaviour.format_discarded(dropped);
            out.push(Output::Report(Report::Discarded {
                count: dropped,
                reason: DiscardReason::BufferFull,
                log,
            }));
        }
    }

    /// Upstream demand `u`: from the buffer first, then `handle_demand` for the rest.
    fn demand<In, O: Outbox<In, B::Event, M>>(&mut self, u: usize, out: &mut O) {
        if self.stopped.is_some() || (u == 0 && self.side.buffer.is_empty()) {
            return;
        }
        let rest = self
            .side
            .serve_from_buffer(u, out, &mut self.stats)
            .uncovered;
        // A draining producer makes nothing new.
        if rest > 0 && self.side.finishing.is_none() {
            self.emitting(out, |b, e| b.handle_demand(rest, e));
        }
    }

    /// A message from a consumer-role stage.
    fn on_to_producer<In, O: Outbox<In, B::Event, M>>(
        &mut self,
        msg: ToProducer<B::Event>,
        out: &mut O,
    ) {
        self.consumer_message(msg, out);
        self.run_self_queue(out);
    }

    /// Stage `stage` went down: each of its subscriptions here ends with `Down(reason)`.
    fn on_down<In, O: Outbox<In, B::Event, M>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    ) {
        self.consumers_down(stage, reason, out);
        self.run_self_queue(out);
    }

    /// An info message, handled by `handle_info` once every event buffered before it has been
    /// dispatched (at once when the buffer is empty; spec §10). Accumulate mode does not hold
    /// infos (spec §8.5, kept as GenStage does it). A stopped stage hands the message back
    /// with [`SendError::Stopped`]; with fixed storage and no room for another pending info,
    /// with [`SendError::Full`].
    fn on_info<In, O: Outbox<In, B::Event, M>>(
        &mut self,
        msg: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        if let Some(reason) = self.stopped {
            return Err(SendError::Stopped { msg, reason });
        }
        self.side
            .info(msg, out, &mut self.stats)
            .map_err(SendError::Full)?;
        self.run_self_queue(out);
        Ok(())
    }

    /// A call. The reply comes out as [`Output::Reply`]: after the events the callback emitted
    /// ([`Reply::reply`]) or before them ([`Reply::reply_now`]). A stopped stage runs nothing
    /// and hands the request back with [`SendError::Stopped`].
    fn on_call<In, O: Outbox<In, B::Event, M>>(
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
        let flow = self.behaviour.handle_call(
            request,
            &mut reply,
            &mut self.side.scratch.emit().at(self.now),
        );
        if let Some(r) = reply.before.take() {
            out.push(Output::Reply(r));
        }
        self.dispatch(out);
        if let Some(r) = reply.after.take() {
            out.push(Output::Reply(r));
        }
        self.apply(flow, out);
        self.run_self_queue(out);
        Ok(())
    }

    /// Switches the demand mode (spec §8). Back to forward, the held log replays in order:
    /// held events are dispatched, each held demand runs the buffer-then-`handle_demand`
    /// pipeline on its own. Consumers still get events in emission order (spec §20.1): events
    /// taken from the buffer while accumulating go first, and what a replayed `handle_demand`
    /// emits goes behind the older held events that follow it in the log.
    pub fn set_demand_mode<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        mode: DemandMode,
        out: &mut O,
    ) {
        if self.stopped.is_some() || mode == self.side.mode {
            return;
        }
        self.side.mode = mode;
        if mode == DemandMode::Forward {
            // The held events that were taken from the buffer are older than what the buffer
            // still holds: they go back to its front and are served first, with the demand
            // they were taken for (per-subscription FIFO, spec §20.1).
            let taken = self.side.acc.return_taken(&mut self.side.scratch);
            while let Some(e) = self.side.scratch.pop_back() {
                self.side.buffer.unpop(e);
            }
            // Every buffered event is older than every held one still in the log, so the
            // buffer goes first to whoever can take it, even when no event was taken for an
            // ask (the DemandDispatcher's `pending` may have absorbed it; `Dispatcher::ready`).
            let _ = self.side.serve_from_buffer(taken, out, &mut self.stats);
            while let Some(step) = self.side.acc.next(&mut self.side.scratch) {
                match step {
                    Replay::Events(n) => {
                        self.stats.emitted -= n as u64; // counted when first emitted
                        self.dispatch(out);
                    }
                    Replay::Demand(d) => self.replay_demand(d, out),
                }
                if self.stopped.is_some() {
                    break;
                }
            }
        }
        self.run_self_queue(out);
    }

    /// A held demand replayed: the buffer first, then `handle_demand`. What it emits is newer
    /// than the held events still in the log: it goes behind them (held again), so that every
    /// consumer gets events in emission order (spec §20.1); callbacks still run in the log's
    /// order (spec §8.3).
    fn replay_demand<O: Outbox<B::Event, B::Event, M>>(&mut self, demand: usize, out: &mut O) {
        let rest = self
            .side
            .serve_from_buffer(demand, out, &mut self.stats)
            .uncovered;
        if rest > 0 && self.side.finishing.is_none() {
            if self.side.acc.holds_events() {
                self.side.mode = DemandMode::Accumulate;
            }
            self.emitting(out, |b, e| b.handle_demand(rest, e));
            self.side.mode = DemandMode::Forward;
        }
    }

    /// Handles the messages the stage sent itself (released infos, dispatcher self-asks and
    /// replacements), and places a draining stage's stop marker once it can.
    fn run_self_queue<In, O: Outbox<In, B::Event, M>>(&mut self, out: &mut O) {
        let mut idle = 0;
        while self.stopped.is_none() {
            let Some(msg) = self.side.selfq.pop_front() else {
                if self.side.finishing.is_some() && self.side.stop_marker.is_none() {
                    self.side.place_stop_marker(out, &mut self.stats);
                    if !self.side.selfq.is_empty() {
                        continue;
                    }
                }
                break;
            };
            match msg {
                SelfMsg::Info(id) if self.side.is_stop_marker(id) => {
                    let reason = self.side.finishing.unwrap_or(Reason::Normal);
                    self.halt(reason, out);
                }
                SelfMsg::Info(id) => {
                    if let Some(m) = self.side.take_info(id)
                        && self.emitting(out, |b, e| b.handle_info(m, e))
                    {
                        out.push(Output::Report(Report::UnhandledInfo));
                    }
                }
                SelfMsg::Ask(sub, n) => {
                    if let Some(u) = self.side.ask(sub, n, false, out, &mut self.stats) {
                        self.demand(u, out);
                    }
                }
                SelfMsg::Demand(n) => {
                    // Replacing dropped events is bounded per input: a hash that sends every
                    // event nowhere must not keep one call spinning (see `IDLE_REPLACEMENTS`).
                    if idle < IDLE_REPLACEMENTS {
                        let before = self.stats.events_out + self.side.dispatcher.held() as u64;
                        self.demand(n, out);
                        let after = self.stats.events_out + self.side.dispatcher.held() as u64;
                        idle = if after == before { idle + 1 } else { 0 };
                    }
                }
            }
        }
    }
}

impl<In, B, M, S, D> DownstreamFlows<In, M> for ProducerStage<B, M, S, D>
where
    B: Producer<M>,
    S: Storage,
    D: Dispatcher<B::Event>,
{
    type Out = B::Event;
    type D = D;
    type S = S;

    fn parts(&mut self) -> Parts<'_, B::Event, M, D, S> {
        Parts {
            side: &mut self.side,
            stats: &mut self.stats,
        }
    }
    fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }
    fn apply_flow<O: Outbox<In, B::Event, M>>(&mut self, flow: Flow, out: &mut O) {
        self.apply(flow, out);
    }
    fn subscribed(&mut self, sub: SubId, opts: &SubscribeOptions<B::Event>) -> Flow {
        self.behaviour.handle_subscribe(sub, opts)
    }
    fn cancelled<O: Outbox<In, B::Event, M>>(
        &mut self,
        how: Cancellation,
        sub: SubId,
        out: &mut O,
    ) -> Flow {
        let flow =
            self.behaviour
                .handle_cancel(how, sub, &mut self.side.scratch.emit().at(self.now));
        self.dispatch(out);
        flow
    }
    fn demand<O: Outbox<In, B::Event, M>>(&mut self, u: usize, out: &mut O) {
        Self::demand(self, u, out);
    }
}

impl<B, M, S, D> Stage for ProducerStage<B, M, S, D>
where
    B: Producer<M>,
    S: Storage,
    D: Dispatcher<B::Event>,
{
    type In = B::Event;
    type Out = B::Event;
    type Msg = M;

    fn id(&self) -> StageId {
        self.id
    }
    fn kind(&self) -> StageKind {
        StageKind::Producer
    }
    fn stopped(&self) -> Option<Reason> {
        self.stopped
    }
    fn stats(&self) -> &StageStats {
        &self.stats
    }
    fn holding(&self) -> usize {
        self.side.buffer.len() + self.side.acc.len() + self.side.dispatcher.held()
    }
    fn summary(&self) -> StageSummary {
        StageSummary {
            id: self.id,
            kind: StageKind::Producer,
            stopped: self.stopped,
            draining: self.draining(),
            buffered: self.side.buffer.len(),
            held: self.side.acc.len() + self.side.dispatcher.held(),
            queued: 0,
            outstanding: 0,
            stats: self.stats,
        }
    }
    fn handle_to_producer<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        msg: ToProducer<B::Event>,
        out: &mut O,
    ) {
        self.on_to_producer(msg, out);
    }
    /// A producer has no producers: reported as [`Report::WrongKind`].
    fn handle_to_consumer<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        msg: ToConsumer,
        out: &mut O,
    ) {
        out.push(Output::Report(Report::WrongKind { sub: msg.sub() }));
    }
    /// A producer takes no events: reported as [`Report::WrongKind`] and counted as
    /// discarded (unknown subscription).
    fn handle_events<I, O>(&mut self, sub: SubId, events: I, out: &mut O)
    where
        I: IntoIterator<Item = B::Event>,
        I::IntoIter: ExactSizeIterator,
        O: Outbox<B::Event, B::Event, M>,
    {
        let n = events.into_iter().len();
        self.stats
            .discarded
            .add(DiscardReason::UnknownSubscription, n);
        out.push(Output::Report(Report::WrongKind { sub }));
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

impl<B, M, S, D> ProducerRole for ProducerStage<B, M, S, D>
where
    B: Producer<M>,
    S: Storage,
    D: Dispatcher<B::Event>,
{
}
