//! Shared pieces of the conformance scenarios (genstage-scenarios.md, "Notation and helper
//! stages"):
//!
//! - the event type [`Ev`] (numbers for `Counter`, letters and tags for the scenarios that
//!   name events `a`, `b`, ...) and the info/call message type [`Msg`];
//! - the helper stages: [`counter`], [`silent`], [`demand_echo`] (one [`TestProducer`]
//!   type), [`recorder`] (a [`TestConsumer`]), [`doubler`] and [`discarder`] (one
//!   [`TestPc`] type). Every callback they get is recorded, with its arguments, as a [`Cb`];
//! - [`Net`], the scenarios on the simulator (`genstage::sim`), which drives every stage
//!   through the core's one driving surface (`Stage`): the simulator's observer records each
//!   output in one shared log *as it is produced*, interleaved with the callbacks the helper
//!   behaviours record, so a test sees the exact order of "callback ran, then ask sent".
//!   Messages are delivered in FIFO order, one per [`Net::step`]. Ids that name no stage in
//!   the net are **raw peers** (`X`): what they are sent stays in the log, and the test sends
//!   on their behalf ([`Net::send`], [`Net::send_events`], [`Net::send_cancel`]);
//! - constructors for the log entries a test expects ([`handle_events`], [`ask`],
//!   [`events`], ...) and [`assert_trace`], which points at the first entry that differs.
#![allow(dead_code)] // each test module uses its own subset

use genstage::error::*;
use genstage::runtime::*;
use genstage::sim::{Handle, Observed, Sim, SimOutbox};
use genstage::*;
use std::cell::RefCell;
use std::rc::Rc;

// ----- events and messages -----

/// The events of the scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ev {
    /// A number (what `Counter` emits).
    N(u32),
    /// A letter (the scenarios' `a`, `b`, ...).
    L(char),
    /// A named event (`from_cancel`, `a1`, ...).
    T(&'static str),
}

/// Numbers as events.
pub fn ns(range: impl IntoIterator<Item = u32>) -> Vec<Ev> {
    range.into_iter().map(Ev::N).collect()
}

/// Letters as events: `ls("abc")` is `[a, b, c]`.
pub fn ls(letters: &str) -> Vec<Ev> {
    letters.chars().map(Ev::L).collect()
}

/// Every event twice, as the Doubler emits them.
pub fn doubled(events: &[Ev]) -> Vec<Ev> {
    events.iter().flat_map(|&e| [e, e]).collect()
}

/// The info and call messages of the helper stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// GenStage's `emit(P, [..])`: the callback (call or info) emits these events; a call
    /// replies `Ok` after they were dispatched.
    Emit(Vec<Ev>),
    /// A call that replies `Ok` first (GenStage's `reply/2`) and then emits these events.
    EmitReplyFirst(Vec<Ev>),
    /// A plain info message with a name (GenStage's `sync_info(stage, :name)`).
    Info(&'static str),
    /// The callback stops the stage with this reason.
    Stop(Reason),
    /// A reply.
    Ok,
}

/// A callback that ran, with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cb {
    /// `handle_demand(n)`.
    Demand(usize),
    /// `handle_events(events, from)`.
    Events(SubId, Vec<Ev>),
    /// `handle_subscribe` (on a producer-role stage, `sub.consumer` is the peer; on a
    /// consumer-role stage, `sub.producer` is).
    Subscribe(SubId),
    /// `handle_cancel(how, sub)`.
    Cancel(Cancellation, SubId),
    /// `handle_info(msg)`.
    Info(Msg),
    /// `handle_call(msg)`.
    Call(Msg),
    /// `format_discarded(count)`.
    Discarded(usize),
}

/// One entry of a [`Net`]'s log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A callback ran on this stage.
    Cb(StageId, Cb),
    /// This stage (or raw peer) output this, in order.
    Out(StageId, Record<Ev, Ev, Msg>),
}

/// The log shared by a net's stages, their behaviours and its raw peers.
pub type Log = Rc<RefCell<Vec<Entry>>>;

/// What a helper behaviour records: every callback in its own list, and in the shared log
/// once attached to a [`Net`].
#[derive(Default)]
pub struct Seen {
    me: StageId,
    log: Option<Log>,
    /// Every callback so far, oldest first.
    pub calls: Vec<Cb>,
}

impl Seen {
    /// Records into `log` as stage `me` (for behaviours added with [`Net::add`]).
    pub fn attached(me: StageId, log: Log) -> Self {
        Seen {
            me,
            log: Some(log),
            calls: Vec::new(),
        }
    }
    /// Records one callback.
    pub fn record(&mut self, cb: Cb) {
        if let Some(log) = &self.log {
            log.borrow_mut().push(Entry::Cb(self.me, cb.clone()));
        }
        self.calls.push(cb);
    }
}

/// Behaviours that [`Net`] attaches to its log when it adds them.
pub trait Attach {
    /// Records into `log` as stage `me` from now on.
    fn attach(&mut self, me: StageId, log: Log);
}

// ----- helper producers: Counter(k), Silent, DemandEcho -----

/// What a [`TestProducer`]'s `handle_demand(n)` emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `[k, k+1, .., k+n-1]`, then the state is `k+n`.
    Counter(u32),
    /// Nothing.
    Silent,
    /// The single event `[n]`.
    DemandEcho,
}

/// The scenarios' helper producers. Every callback is recorded. Besides `handle_demand`:
/// `emit` through a call or an info ([`Msg::Emit`]), [`Msg::Stop`] stops it, `handle_cancel`
/// emits [`cancel_emits`](Self::cancel_emits), and `format_discarded` answers
/// [`log_discards`](Self::log_discards).
pub struct TestProducer {
    /// What `handle_demand` does.
    pub kind: Kind,
    /// Events `handle_cancel` emits.
    pub cancel_emits: Vec<Ev>,
    /// What `format_discarded` returns.
    pub log_discards: bool,
    /// `handle_subscribe` stops the stage with this reason.
    pub subscribe_stop: Option<Reason>,
    /// What it saw.
    pub seen: Seen,
}

/// Counter(k): `handle_demand(n)` emits `[k..k+n)`.
pub fn counter(k: u32) -> TestProducer {
    TestProducer::new(Kind::Counter(k))
}
/// Silent: `handle_demand(n)` records `n` and emits nothing.
pub fn silent() -> TestProducer {
    TestProducer::new(Kind::Silent)
}
/// DemandEcho: `handle_demand(n)` emits `[n]`.
pub fn demand_echo() -> TestProducer {
    TestProducer::new(Kind::DemandEcho)
}

impl TestProducer {
    fn new(kind: Kind) -> Self {
        TestProducer {
            kind,
            cancel_emits: Vec::new(),
            log_discards: true,
            subscribe_stop: None,
            seen: Seen::default(),
        }
    }
    /// `format_discarded` returns `log`.
    pub fn log_discards(mut self, log: bool) -> Self {
        self.log_discards = log;
        self
    }
    /// `handle_cancel` emits `events`.
    pub fn cancel_emits(mut self, events: Vec<Ev>) -> Self {
        self.cancel_emits = events;
        self
    }
    /// `handle_subscribe` stops the stage with `reason`.
    pub fn stop_on_subscribe(mut self, reason: Reason) -> Self {
        self.subscribe_stop = Some(reason);
        self
    }
    /// The callbacks so far.
    pub fn calls(&self) -> &[Cb] {
        &self.seen.calls
    }
}

impl Attach for TestProducer {
    fn attach(&mut self, me: StageId, log: Log) {
        self.seen = Seen::attached(me, log);
    }
}

impl Producer<Msg> for TestProducer {
    type Event = Ev;

    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Ev>) -> Flow {
        self.seen.record(Cb::Demand(demand));
        match &mut self.kind {
            Kind::Counter(k) => {
                let from = *k;
                *k += demand as u32;
                let _ = out.extend(ns(from..*k));
            }
            Kind::Silent => {}
            Kind::DemandEcho => {
                let _ = out.extend([Ev::N(demand as u32)]);
            }
        }
        Flow::Continue
    }

    fn handle_subscribe(&mut self, sub: SubId, _opts: &SubscribeOptions<Ev>) -> Flow {
        self.seen.record(Cb::Subscribe(sub));
        match self.subscribe_stop {
            Some(r) => Flow::Stop(r),
            None => Flow::Continue,
        }
    }

    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, out: &mut Emit<'_, Ev>) -> Flow {
        self.seen.record(Cb::Cancel(how, sub));
        let _ = out.extend(self.cancel_emits.iter().copied());
        Flow::Continue
    }

    fn handle_info(&mut self, msg: Msg, out: &mut Emit<'_, Ev>) -> Flow {
        self.seen.record(Cb::Info(msg.clone()));
        info_flow(msg, out)
    }

    fn handle_call(
        &mut self,
        request: Msg,
        reply: &mut Reply<Msg>,
        out: &mut Emit<'_, Ev>,
    ) -> Flow {
        self.seen.record(Cb::Call(request.clone()));
        call_flow(request, reply, out)
    }

    fn format_discarded(&mut self, count: usize) -> bool {
        self.seen.record(Cb::Discarded(count));
        self.log_discards
    }
}

fn info_flow(msg: Msg, out: &mut Emit<'_, Ev>) -> Flow {
    match msg {
        Msg::Emit(events) => {
            let _ = out.extend(events);
            Flow::Continue
        }
        Msg::Stop(r) => Flow::Stop(r),
        _ => Flow::Continue,
    }
}

fn call_flow(request: Msg, reply: &mut Reply<Msg>, out: &mut Emit<'_, Ev>) -> Flow {
    match request {
        Msg::Emit(events) => {
            let _ = out.extend(events);
            reply.reply(Msg::Ok);
            Flow::Continue
        }
        Msg::EmitReplyFirst(events) => {
            reply.reply_now(Msg::Ok);
            let _ = out.extend(events);
            Flow::Continue
        }
        Msg::Stop(r) => {
            reply.reply(Msg::Ok);
            Flow::Stop(r)
        }
        _ => {
            reply.reply(Msg::Ok);
            Flow::Continue
        }
    }
}

// ----- helper consumer: Recorder -----

/// The scenarios' Recorder: records every callback and returns no events (a consumer cannot
/// return any: its callbacks get a `Ctx`, not an `Emit`). Its subscriptions are manual when
/// [`manual`](Self::manual) is set; GenStage's Recorder reads a custom `mode: manual` key from
/// the subscription options, which have no free-form keys here, so the behaviour carries the
/// choice instead.
pub struct TestConsumer {
    /// `handle_subscribe` answers `Manual`.
    pub manual: bool,
    /// `handle_subscribe` stops the stage with this reason.
    pub subscribe_stop: Option<Reason>,
    /// What it saw.
    pub seen: Seen,
}

/// The Recorder consumer, automatic demand.
pub fn recorder() -> TestConsumer {
    TestConsumer {
        manual: false,
        subscribe_stop: None,
        seen: Seen::default(),
    }
}

impl TestConsumer {
    /// Every subscription manual (GenStage's `mode: manual`).
    pub fn manual(mut self) -> Self {
        self.manual = true;
        self
    }
    /// `handle_subscribe` stops the stage with `reason`.
    pub fn stop_on_subscribe(mut self, reason: Reason) -> Self {
        self.subscribe_stop = Some(reason);
        self
    }
    /// The callbacks so far.
    pub fn calls(&self) -> &[Cb] {
        &self.seen.calls
    }
}

impl Attach for TestConsumer {
    fn attach(&mut self, me: StageId, log: Log) {
        self.seen = Seen::attached(me, log);
    }
}

impl Consumer<Msg> for TestConsumer {
    type Event = Ev;

    fn handle_events(&mut self, events: Batch<'_, Ev>, _ctx: &mut Ctx<'_>) -> Flow {
        let from = events.sub();
        self.seen.record(Cb::Events(from, events.collect()));
        Flow::Continue
    }

    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _opts: &SubscribeOptions<Ev>,
        _ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        self.seen.record(Cb::Subscribe(sub));
        match (self.subscribe_stop, self.manual) {
            (Some(r), _) => Subscribed::Stop(r),
            (None, true) => Subscribed::Manual,
            (None, false) => Subscribed::Automatic,
        }
    }

    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _ctx: &mut Ctx<'_>) -> Flow {
        self.seen.record(Cb::Cancel(how, sub));
        Flow::Continue
    }

    fn handle_info(&mut self, msg: Msg, _ctx: &mut Ctx<'_>) -> Flow {
        self.seen.record(Cb::Info(msg.clone()));
        match msg {
            Msg::Stop(r) => Flow::Stop(r),
            _ => Flow::Continue,
        }
    }

    fn handle_call(&mut self, request: Msg, reply: &mut Reply<Msg>, _ctx: &mut Ctx<'_>) -> Flow {
        self.seen.record(Cb::Call(request.clone()));
        reply.reply(Msg::Ok);
        match request {
            Msg::Stop(r) => Flow::Stop(r),
            _ => Flow::Continue,
        }
    }
}

// ----- helper producer_consumers: Doubler, Discarder -----

/// The scenarios' Doubler (each event `x` becomes `x, x`) and Discarder (emits nothing). Both
/// record every callback; infos and calls work as on [`TestProducer`].
pub struct TestPc {
    /// Doubler when set, Discarder otherwise.
    pub double: bool,
    /// Its upstream subscriptions are manual.
    pub manual: bool,
    /// What `format_discarded` returns.
    pub log_discards: bool,
    /// `handle_events` stops the stage with this reason after its first call.
    pub stop_on_events: Option<Reason>,
    /// `handle_consumer_subscribe` stops the stage with this reason.
    pub stop_on_consumer: Option<Reason>,
    /// What it saw.
    pub seen: Seen,
}

/// Doubler: maps each event `x` to `x, x`.
pub fn doubler() -> TestPc {
    TestPc {
        double: true,
        manual: false,
        log_discards: true,
        stop_on_events: None,
        stop_on_consumer: None,
        seen: Seen::default(),
    }
}
/// Discarder: records its input and emits nothing.
pub fn discarder() -> TestPc {
    TestPc {
        double: false,
        manual: false,
        log_discards: true,
        stop_on_events: None,
        stop_on_consumer: None,
        seen: Seen::default(),
    }
}

impl TestPc {
    /// `format_discarded` returns `log`.
    pub fn log_discards(mut self, log: bool) -> Self {
        self.log_discards = log;
        self
    }
    /// Its upstream subscriptions are manual.
    pub fn manual(mut self) -> Self {
        self.manual = true;
        self
    }
    /// `handle_events` stops the stage with `reason` (after emitting).
    pub fn stop_on_events(mut self, reason: Reason) -> Self {
        self.stop_on_events = Some(reason);
        self
    }
    /// `handle_consumer_subscribe` stops the stage with `reason`.
    pub fn stop_on_consumer(mut self, reason: Reason) -> Self {
        self.stop_on_consumer = Some(reason);
        self
    }
    /// The callbacks so far.
    pub fn calls(&self) -> &[Cb] {
        &self.seen.calls
    }
}

impl Attach for TestPc {
    fn attach(&mut self, me: StageId, log: Log) {
        self.seen = Seen::attached(me, log);
    }
}

impl ProducerConsumer<Msg> for TestPc {
    type In = Ev;
    type Out = Ev;

    fn handle_events(&mut self, events: Batch<'_, Ev>, out: &mut Relay<'_, Ev>) -> Flow {
        let from = events.sub();
        let events: Vec<Ev> = events.collect();
        self.seen.record(Cb::Events(from, events.clone()));
        if self.double {
            let _ = out.extend(doubled(&events));
        }
        match self.stop_on_events {
            Some(reason) => Flow::Stop(reason),
            None => Flow::Continue,
        }
    }

    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _opts: &SubscribeOptions<Ev>,
        _ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        self.seen.record(Cb::Subscribe(sub));
        if self.manual {
            Subscribed::Manual
        } else {
            Subscribed::Automatic
        }
    }

    fn handle_consumer_subscribe(&mut self, sub: SubId, _opts: &SubscribeOptions<Ev>) -> Flow {
        self.seen.record(Cb::Subscribe(sub));
        match self.stop_on_consumer {
            Some(reason) => Flow::Stop(reason),
            None => Flow::Continue,
        }
    }

    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _out: &mut Relay<'_, Ev>) -> Flow {
        self.seen.record(Cb::Cancel(how, sub));
        Flow::Continue
    }

    fn handle_info(&mut self, msg: Msg, out: &mut Relay<'_, Ev>) -> Flow {
        self.seen.record(Cb::Info(msg.clone()));
        info_flow(msg, out)
    }

    fn handle_call(
        &mut self,
        request: Msg,
        reply: &mut Reply<Msg>,
        out: &mut Relay<'_, Ev>,
    ) -> Flow {
        self.seen.record(Cb::Call(request.clone()));
        call_flow(request, reply, out)
    }

    fn format_discarded(&mut self, count: usize) -> bool {
        self.seen.record(Cb::Discarded(count));
        self.log_discards
    }
}

// ----- the net: the simulator, recording everything in order -----

/// Names a stage of type `T` in a [`Net`].
pub type H<T> = Handle<T>;

/// The outbox a stage of a [`Net`] writes to (for [`Net::with`]).
pub type Tap<'a> = SimOutbox<'a>;

/// Anything that names a stage.
pub trait Id {
    /// The stage's address.
    fn id(&self) -> StageId;
}
impl Id for StageId {
    fn id(&self) -> StageId {
        *self
    }
}
impl<T> Id for Handle<T> {
    fn id(&self) -> StageId {
        Handle::id(self)
    }
}

/// The producer stage type of the helpers.
pub type P = ProducerStage<TestProducer, Msg>;
/// The producer_consumer stage type of the helpers.
pub type Pc = ProducerConsumerStage<TestPc, Msg>;
/// The consumer stage type of the helpers.
pub type C = ConsumerStage<TestConsumer, Msg>;

/// The stages of a scenario on the simulator, with one ordered log of callbacks and outputs.
/// See the [module docs](self).
///
/// The simulator delivers FIFO; a message for a stage that has stopped is dropped, except a
/// subscribe, which is answered with a down of reason `NoProc` (the monitor fires at once,
/// spec §4.6); when a stage stops (or is killed), every other live stage hears `handle_down`
/// from it after the messages already queued. The simulator's observer puts every output in
/// the log as it is produced; the helper behaviours put their callbacks there.
pub struct Net {
    sim: Sim,
    log: Log,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

/// The most steps [`Net::run`] takes before deciding the pipeline never goes idle.
const STEP_LIMIT: u64 = 200_000;

impl Net {
    /// An empty net.
    pub fn new() -> Self {
        let log: Log = Rc::new(RefCell::new(Vec::new()));
        let mut sim = Sim::new(0);
        sim.set_tracing(false);
        let tap = log.clone();
        sim.observe(Box::new(move |me, seen| {
            let record = match seen {
                Observed::Output(o) => {
                    let o = o
                        .downcast_ref::<Output<Ev, Msg>>()
                        .expect("every stage of a net uses Ev and Msg");
                    Record::Output(o.clone())
                }
                Observed::Events(sub, events) => {
                    let events = events
                        .downcast_ref::<Vec<Ev>>()
                        .expect("every stage of a net emits Ev");
                    Record::Events(sub, events.clone())
                }
            };
            tap.borrow_mut().push(Entry::Out(me, record));
        }));
        Net { sim, log }
    }

    /// The id the next stage gets.
    pub fn next_id(&self) -> StageId {
        self.sim.next_id()
    }

    /// The shared log (for behaviours built by hand, see [`Seen::attached`]).
    pub fn log(&self) -> Log {
        self.log.clone()
    }

    /// Adds a stage built with [`next_id`](Self::next_id).
    pub fn add<T: Stage<In = Ev, Out = Ev, Msg = Msg> + 'static>(&mut self, stage: T) -> H<T> {
        self.sim.add(stage)
    }

    /// Adds a producer with these options (which must be valid).
    pub fn producer<B>(
        &mut self,
        mut behaviour: B,
        opts: ProducerOptions,
    ) -> H<ProducerStage<B, Msg>>
    where
        B: Producer<Msg, Event = Ev> + Attach + 'static,
    {
        let id = self.next_id();
        behaviour.attach(id, self.log());
        self.add(ProducerStage::new(id, behaviour, opts).expect("valid producer options"))
    }

    /// Adds a producer_consumer with these options (which must be valid).
    pub fn producer_consumer<B>(
        &mut self,
        mut behaviour: B,
        opts: ProducerOptions,
    ) -> H<ProducerConsumerStage<B, Msg>>
    where
        B: ProducerConsumer<Msg, In = Ev, Out = Ev> + Attach + 'static,
    {
        let id = self.next_id();
        behaviour.attach(id, self.log());
        self.add(ProducerConsumerStage::new(id, behaviour, opts).expect("valid options"))
    }

    /// Adds a consumer.
    pub fn consumer<B>(&mut self, mut behaviour: B) -> H<ConsumerStage<B, Msg>>
    where
        B: Consumer<Msg, Event = Ev> + Attach + 'static,
    {
        let id = self.next_id();
        behaviour.attach(id, self.log());
        self.add(ConsumerStage::new(id, behaviour))
    }

    /// The stage behind a handle.
    pub fn stage<T: 'static>(&self, h: H<T>) -> &T {
        self.sim.stage(h)
    }

    /// Why a stage stopped (or was killed), once it has.
    pub fn stopped<T>(&self, at: H<T>) -> Option<Reason> {
        self.sim.stopped(at)
    }

    /// Runs `f` on a stage with its outbox (for methods the other helpers do not cover).
    pub fn with<T: 'static, R>(&mut self, h: H<T>, f: impl FnOnce(&mut T, &mut Tap<'_>) -> R) -> R {
        self.sim.with(h, f)
    }

    // ----- driving stages -----

    /// `subscribe(consumer → producer, opts)`: GenStage's `sync_subscribe`. The producer may
    /// be a raw peer.
    pub fn subscribe<T>(
        &mut self,
        consumer: H<T>,
        producer: impl Id,
        opts: Subscribe<Ev>,
    ) -> Result<SubId, SubscribeError>
    where
        T: ConsumerRole<In = Ev> + 'static,
    {
        self.sim.subscribe_raw(consumer, producer.id(), opts, None)
    }

    /// `resubscribe`: a new subscription to `producer`, cancelling `old` with `reason` first.
    pub fn resubscribe<T>(
        &mut self,
        consumer: H<T>,
        old: SubId,
        reason: Reason,
        producer: impl Id,
        opts: Subscribe<Ev>,
    ) -> Result<SubId, SubscribeError>
    where
        T: ConsumerRole<In = Ev> + 'static,
    {
        self.sim
            .subscribe_raw(consumer, producer.id(), opts, Some((old, reason)))
    }

    /// A manual ask on `sub`, from the consumer side of `at`.
    pub fn ask<T>(&mut self, at: H<T>, sub: SubId, demand: usize) -> Result<(), AskError>
    where
        T: ConsumerRole<In = Ev, Out = Ev, Msg = Msg> + 'static,
    {
        self.sim.with(at, |s, o| s.ask(sub, demand, o))
    }

    /// The consumer side of `at` asks its producer to cancel `sub`.
    pub fn cancel<T>(&mut self, at: H<T>, sub: SubId, reason: Reason) -> Result<(), AskError>
    where
        T: ConsumerRole<In = Ev, Out = Ev, Msg = Msg> + 'static,
    {
        self.sim.with(at, |s, o| s.cancel(sub, reason, o))
    }

    /// An info (GenStage's `sync_info` and `async_info` alike).
    pub fn info<T>(&mut self, at: H<T>, msg: Msg)
    where
        T: Stage<In = Ev, Out = Ev, Msg = Msg> + 'static,
    {
        self.try_info(at, msg)
            .expect("a live stage on growable storage takes every info");
    }

    /// An info, with the stage's refusal when it has stopped.
    pub fn try_info<T>(&mut self, at: H<T>, msg: Msg) -> Result<(), SendError<Msg>>
    where
        T: Stage<In = Ev, Out = Ev, Msg = Msg> + 'static,
    {
        self.sim.with(at, |s, o| s.info(msg, o))
    }

    /// A call (GenStage's `call`, and `cast`, which has no twin).
    pub fn call<T>(&mut self, at: H<T>, msg: Msg)
    where
        T: Stage<In = Ev, Out = Ev, Msg = Msg> + 'static,
    {
        self.try_call(at, msg)
            .expect("a live stage takes every call");
    }

    /// A call, with the stage's refusal when it has stopped.
    pub fn try_call<T>(&mut self, at: H<T>, msg: Msg) -> Result<(), SendError<Msg>>
    where
        T: Stage<In = Ev, Out = Ev, Msg = Msg> + 'static,
    {
        self.sim.with(at, |s, o| s.call(msg, o))
    }

    /// GenStage's `demand(stage, mode)`, on a producer.
    pub fn set_demand_mode<B>(&mut self, at: H<ProducerStage<B, Msg>>, mode: DemandMode)
    where
        B: Producer<Msg, Event = Ev> + 'static,
    {
        self.sim.with(at, |s, o| s.set_demand_mode(mode, o));
    }

    /// Kills a stage: it stops with `reason` at once (what it held is counted as discarded),
    /// and every other live stage hears it went down (GenStage's `Process.exit(pid, :kill)`).
    pub fn kill<T>(&mut self, at: H<T>, reason: Reason) {
        self.sim.kill(at, reason);
    }

    // ----- raw peers -----

    fn raw(&mut self, from: StageId, record: Record<Ev, Ev, Msg>) {
        assert!(
            from.0 as usize >= self.sim.report().stages.len(),
            "a raw peer's id must name no stage of the net"
        );
        self.log.borrow_mut().push(Entry::Out(from, record));
    }

    /// Raw peer `msg.sub().consumer` sends `msg` to its producer.
    pub fn send(&mut self, msg: ToProducer<Ev>) {
        self.raw(
            msg.sub().consumer,
            Record::Output(Output::ToProducer(msg.clone())),
        );
        self.sim.send_to_producer(msg);
    }

    /// Raw peer `sub.producer` sends events on `sub`.
    pub fn send_events(&mut self, sub: SubId, events: Vec<Ev>) {
        self.raw(sub.producer, Record::Events(sub, events.clone()));
        self.sim.send_events(sub, events);
    }

    /// Raw peer `sub.producer` cancels `sub`.
    pub fn send_cancel(&mut self, sub: SubId, reason: Reason) {
        let msg = ToConsumer::Cancel { sub, reason };
        self.raw(sub.producer, Record::Output(Output::ToConsumer(msg)));
        self.sim.send_to_consumer(msg);
    }

    // ----- running -----

    /// Delivers one queued message; false when none was queued.
    pub fn step(&mut self) -> bool {
        self.sim.step()
    }

    /// Delivers messages until none is queued. Panics if that takes more than a limit of
    /// steps: the pipeline never goes idle, which is a test bug.
    pub fn run(&mut self) {
        if let Err(e) = self.sim.run_bounded(STEP_LIMIT) {
            panic!("{e}");
        }
    }

    /// Delivers exactly `n` messages. Panics if the queue runs dry first.
    pub fn steps(&mut self, n: usize) {
        for i in 0..n {
            assert!(self.step(), "the net went idle after {i} of {n} steps");
        }
    }

    /// Delivers messages until `done` holds (checked before each step). Panics if the net
    /// goes idle first, or after the step limit.
    pub fn run_until(&mut self, done: impl Fn(&Net) -> bool) {
        let mut steps = 0;
        while !done(self) {
            assert!(self.step(), "the net went idle before the condition held");
            steps += 1;
            assert!(
                steps < STEP_LIMIT,
                "the condition did not hold within {STEP_LIMIT} steps"
            );
        }
    }

    /// Delivers messages until the log holds `entry`. Panics if the net goes idle first.
    pub fn run_until_logged(&mut self, entry: &Entry) {
        let seen_from = self.log.borrow().len();
        self.run_until(|net| net.log.borrow()[seen_from..].contains(entry));
    }

    /// Messages queued and not yet delivered.
    pub fn pending(&self) -> usize {
        self.sim.pending()
    }

    /// Takes the log so far.
    pub fn take(&mut self) -> Vec<Entry> {
        std::mem::take(&mut *self.log.borrow_mut())
    }
}

// ----- expected log entries -----

/// A subscription id: `seq` is the consumer's count of its subscribe calls (from 0).
pub fn sub_id(producer: impl Id, consumer: impl Id, seq: u32) -> SubId {
    SubId::new(producer.id(), consumer.id(), seq)
}

/// `at.handle_demand(n)`.
pub fn handle_demand(at: impl Id, n: usize) -> Entry {
    Entry::Cb(at.id(), Cb::Demand(n))
}
/// `handle_events(events, sub)` on the consumer of `sub`.
pub fn handle_events(sub: SubId, events: Vec<Ev>) -> Entry {
    Entry::Cb(sub.consumer, Cb::Events(sub, events))
}
/// `at.handle_subscribe(.., sub)`.
pub fn handle_subscribe(at: impl Id, sub: SubId) -> Entry {
    Entry::Cb(at.id(), Cb::Subscribe(sub))
}
/// `at.handle_cancel(how, sub)`.
pub fn handle_cancel(at: impl Id, how: Cancellation, sub: SubId) -> Entry {
    Entry::Cb(at.id(), Cb::Cancel(how, sub))
}
/// `at.handle_info(msg)`.
pub fn handle_info(at: impl Id, msg: Msg) -> Entry {
    Entry::Cb(at.id(), Cb::Info(msg))
}
/// `at.handle_call(msg)`.
pub fn handle_call(at: impl Id, msg: Msg) -> Entry {
    Entry::Cb(at.id(), Cb::Call(msg))
}
/// `at.format_discarded(n)`.
pub fn format_discarded(at: impl Id, n: usize) -> Entry {
    Entry::Cb(at.id(), Cb::Discarded(n))
}

fn to_producer(msg: ToProducer<Ev>) -> Entry {
    Entry::Out(msg.sub().consumer, Record::Output(Output::ToProducer(msg)))
}

/// The consumer of `sub` sends Subscribe(sub) with these options.
pub fn subscribe(sub: SubId, opts: Subscribe<Ev>) -> Entry {
    to_producer(ToProducer::Subscribe {
        sub,
        previous: None,
        opts: opts.validate().expect("valid options in an expected entry"),
    })
}
/// The consumer of `sub` sends Subscribe(sub), cancelling `previous` first (resubscribe).
pub fn resubscribe(sub: SubId, previous: (SubId, Reason), opts: Subscribe<Ev>) -> Entry {
    to_producer(ToProducer::Subscribe {
        sub,
        previous: Some(previous),
        opts: opts.validate().expect("valid options in an expected entry"),
    })
}
/// The consumer of `sub` sends Ask(sub, n).
pub fn ask(sub: SubId, demand: usize) -> Entry {
    to_producer(ToProducer::Ask { sub, demand })
}
/// The consumer of `sub` sends Cancel(sub, reason) to the producer.
pub fn cancel_up(sub: SubId, reason: Reason) -> Entry {
    to_producer(ToProducer::Cancel { sub, reason })
}
/// The producer of `sub` sends Cancel(sub, reason) to the consumer.
pub fn cancel_down(sub: SubId, reason: Reason) -> Entry {
    Entry::Out(
        sub.producer,
        Record::Output(Output::ToConsumer(ToConsumer::Cancel { sub, reason })),
    )
}
/// The producer of `sub` sends Events(sub, events).
pub fn events(sub: SubId, events: Vec<Ev>) -> Entry {
    Entry::Out(sub.producer, Record::Events(sub, events))
}
/// `at` decides to stop with `reason`.
pub fn stop(at: impl Id, reason: Reason) -> Entry {
    Entry::Out(at.id(), Record::Output(Output::Stop(reason)))
}
/// `at` reports something worth logging.
pub fn report(at: impl Id, report: Report) -> Entry {
    Entry::Out(at.id(), Record::Output(Output::Report(report)))
}
/// `at` replies to the call it handles.
pub fn reply(at: impl Id, msg: Msg) -> Entry {
    Entry::Out(at.id(), Record::Output(Output::Reply(msg)))
}

/// Asserts two traces are equal, entry for entry, pointing at the first difference.
#[track_caller]
pub fn assert_trace(got: &[Entry], want: &[Entry]) {
    let show = |t: &[Entry], i: usize| -> String {
        let lo = i.saturating_sub(3);
        let hi = (i + 4).min(t.len());
        (lo..hi)
            .map(|k| format!("  {k:>5}{} {:?}\n", if k == i { " >" } else { "  " }, t[k]))
            .collect()
    };
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!(
            "traces differ at entry {i} (got {} entries, want {}).\ngot:\n{}want:\n{}",
            got.len(),
            want.len(),
            show(got, i),
            show(want, i)
        );
    }
    if got.len() != want.len() {
        let i = got.len().min(want.len());
        panic!(
            "traces agree on {i} entries, then got {} entries but want {}.\ngot:\n{}want:\n{}",
            got.len(),
            want.len(),
            show(got, i),
            show(want, i)
        );
    }
}

/// The callbacks `at` ran, in order, from a trace.
pub fn callbacks_of(trace: &[Entry], at: impl Id) -> Vec<Cb> {
    let at = at.id();
    trace
        .iter()
        .filter_map(|e| match e {
            Entry::Cb(s, cb) if *s == at => Some(cb.clone()),
            _ => None,
        })
        .collect()
}

/// Everything `to` received, in the order it was sent: event batches and messages addressed
/// to it (a raw peer's mailbox).
pub fn received_by(trace: &[Entry], to: impl Id) -> Vec<Record<Ev, Ev, Msg>> {
    let to = to.id();
    trace
        .iter()
        .filter_map(|e| match e {
            Entry::Out(_, r) => {
                let dest = match r {
                    Record::Events(sub, _) => Some(sub.consumer),
                    Record::Output(Output::ToProducer(m)) => Some(m.to()),
                    Record::Output(Output::ToConsumer(m)) => Some(m.to()),
                    Record::Output(_) => None,
                };
                (dest == Some(to)).then(|| r.clone())
            }
            Entry::Cb(..) => None,
        })
        .collect()
}

// ----- messages a raw peer sends -----

/// Subscribe(sub) with these options, as a raw consumer sends it.
pub fn subscribe_msg(sub: SubId, opts: Subscribe<Ev>) -> ToProducer<Ev> {
    ToProducer::Subscribe {
        sub,
        previous: None,
        opts: opts.validate().expect("valid options in a raw message"),
    }
}
/// Ask(sub, n), as a raw consumer sends it.
pub fn ask_msg(sub: SubId, demand: usize) -> ToProducer<Ev> {
    ToProducer::Ask { sub, demand }
}
/// Cancel(sub, reason), as a raw consumer sends it.
pub fn cancel_msg(sub: SubId, reason: Reason) -> ToProducer<Ev> {
    ToProducer::Cancel { sub, reason }
}
