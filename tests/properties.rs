//! Property tests of the invariants in `DESIGN.md` ("Invariants every layer is tested against").
//!
//! Random operation sequences run one producer — alone, or with a producer_consumer after it —
//! and 1–4 consumers through a hand-written router. The router keeps one FIFO channel per
//! ordered pair of stages (as Erlang does) and delivers from a randomly picked channel, so
//! messages between different pairs interleave in every order the protocol allows. A raw peer
//! that is not a stage can also take subscriptions and send events nobody asked for.
//!
//! Everything that happens goes into one journal, in order: what the router hands to a stage,
//! what each stage outputs, and every callback its behaviour runs (behaviours write to the
//! journal themselves). Every event gets a unique id when it is emitted. Each invariant is a
//! check over that journal, plus counters snapshotted after every operation; each has its own
//! proptest below. `PROPTEST_CASES` decides the number of cases.

use genstage::buffer::Buffer;
use genstage::demand::AutoDemand;
use genstage::runtime::{
    MarkerId, Outbox, Output, Record, Report, StageStats, SubscriptionStats, ToConsumer, ToProducer,
};
use genstage::sim::{Handle, Sim, TraceEntry};
use genstage::storage::Heap;
use genstage::{
    Batch, CancelMode, Cancellation, Consumer, ConsumerRole, ConsumerStage, Ctx, DemandMode, Emit,
    Flow, Keep, Producer, ProducerConsumer, ProducerConsumerStage, ProducerOptions, ProducerStage,
    Reason, Reply, Stage, StageId, SubId, Subscribe, SubscribeOptions, Subscribed,
};
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::Rc;

/// An event: its unique id, handed out in emission order.
type Ev = u64;

// ---------------------------------------------------------------------------------------------
// The journal
// ---------------------------------------------------------------------------------------------

/// Info messages and calls the stages take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    /// Info marker `id`; its `handle_info` emits `emit` events.
    Info { id: u32, emit: usize },
    /// A call whose `handle_call` emits `emit` events, replying before them when `now`.
    Call { emit: usize, now: bool },
    /// Stop the stage.
    Stop(Reason),
    /// The reply to a call.
    Reply,
}

/// A message on the wire between two stages.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Wire {
    Events(SubId, Vec<Ev>),
    ToProducer(ToProducer<Ev>),
    ToConsumer(ToConsumer),
    /// The sending stage went down (a monitor notice).
    Down(StageId, Reason),
}

/// A behaviour callback that ran.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cb {
    /// The callback that ran just before emitted these events.
    Emitted(Vec<Ev>),
    /// `handle_events` on a consumer-role stage.
    Events(SubId, Vec<Ev>),
    /// A producer's `handle_demand`.
    Demand(usize),
    /// A consumer-role stage's `handle_subscribe`, and whether it answered manual.
    Subscribed(SubId, bool),
    /// A producer-role stage heard of a new consumer.
    ConsumerSubscribed(SubId),
    Cancel(SubId, Cancellation),
    Info(u32),
    Call,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum J {
    /// The router handed `wire` to stage `at`.
    In { at: StageId, wire: Wire },
    /// Stage `at` output this.
    Out {
        at: StageId,
        rec: Record<Ev, Ev, Msg>,
    },
    /// A callback of the behaviour of `at` ran.
    Cb { at: StageId, cb: Cb },
    /// The test is about to give info `id` to `at`.
    InfoIssued { at: StageId, id: u32 },
    /// The test switched the producer's demand mode.
    Mode { at: StageId, accumulate: bool },
}

#[derive(Default)]
struct World {
    journal: Vec<J>,
    next_event: Ev,
    /// One FIFO per (from, to).
    channels: BTreeMap<(StageId, StageId), VecDeque<Wire>>,
    /// Stages that output `Stop` and whose peers have not been told yet.
    stops: Vec<(StageId, Reason)>,
}

type Shared = Rc<RefCell<World>>;

impl World {
    fn send(&mut self, from: StageId, to: StageId, wire: Wire) {
        self.channels.entry((from, to)).or_default().push_back(wire);
    }
    fn cb(&mut self, at: StageId, cb: Cb) {
        self.journal.push(J::Cb { at, cb });
    }
    fn fresh(&mut self, n: usize) -> Vec<Ev> {
        let ids = (self.next_event..self.next_event + n as u64).collect();
        self.next_event += n as u64;
        ids
    }
}

/// The outbox every stage writes to: journals each output and routes it.
struct Tap {
    w: Shared,
    me: StageId,
}

impl Outbox<Ev, Ev, Msg> for Tap {
    fn push(&mut self, output: Output<Ev, Msg>) {
        let mut w = self.w.borrow_mut();
        w.journal.push(J::Out {
            at: self.me,
            rec: Record::Output(output),
        });
        match output {
            Output::ToProducer(m) => w.send(self.me, m.to(), Wire::ToProducer(m)),
            Output::ToConsumer(m) => w.send(self.me, m.to(), Wire::ToConsumer(m)),
            Output::Stop(r) => w.stops.push((self.me, r)),
            Output::Reply(_) | Output::Report(_) => {}
        }
    }
    fn events<I: ExactSizeIterator<Item = Ev>>(&mut self, sub: SubId, events: I) {
        let ids: Vec<Ev> = events.collect();
        let mut w = self.w.borrow_mut();
        w.journal.push(J::Out {
            at: self.me,
            rec: Record::Events(sub, ids.clone()),
        });
        w.send(self.me, sub.consumer, Wire::Events(sub, ids));
    }
}

// ---------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------

fn emit(w: &Shared, me: StageId, out: &mut Emit<'_, Ev>, n: usize) {
    if n == 0 {
        return;
    }
    let mut w = w.borrow_mut();
    let ids = w.fresh(n);
    assert_eq!(out.extend(ids.iter().copied()), n, "growable storage");
    w.cb(me, Cb::Emitted(ids));
}

fn on_info(w: &Shared, me: StageId, msg: Msg, out: &mut Emit<'_, Ev>) -> Flow {
    match msg {
        Msg::Info { id, emit: n } => {
            w.borrow_mut().cb(me, Cb::Info(id));
            emit(w, me, out, n);
            Flow::Continue
        }
        Msg::Stop(r) => Flow::Stop(r),
        Msg::Call { .. } | Msg::Reply => Flow::Continue,
    }
}

fn on_call(w: &Shared, me: StageId, msg: Msg, reply: &mut Reply<Msg>, out: &mut Emit<'_, Ev>) {
    if let Msg::Call { emit: n, now } = msg {
        w.borrow_mut().cb(me, Cb::Call);
        if now {
            reply.reply_now(Msg::Reply);
        } else {
            reply.reply(Msg::Reply);
        }
        emit(w, me, out, n);
    }
}

/// The producer. `handle_demand` answers `demand + delta` events (deltas cycle), within a
/// total budget so that runs stay finite; `handle_cancel` emits a few events.
struct Src {
    w: Shared,
    me: StageId,
    deltas: Vec<i8>,
    calls: usize,
    budget: usize,
    cancel_emit: usize,
}

impl Producer<Msg> for Src {
    type Event = Ev;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Demand(demand));
        let delta = i64::from(self.deltas[self.calls % self.deltas.len()]);
        self.calls += 1;
        let n = ((demand as i64 + delta).max(0) as usize).min(self.budget);
        self.budget -= n;
        emit(&self.w, self.me, out, n);
        Flow::Continue
    }
    fn handle_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::ConsumerSubscribed(sub));
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, out: &mut Emit<'_, Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Cancel(sub, how));
        emit(&self.w, self.me, out, self.cancel_emit);
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, out: &mut Emit<'_, Ev>) -> Flow {
        on_info(&self.w, self.me, msg, out)
    }
    fn handle_call(&mut self, msg: Msg, reply: &mut Reply<Msg>, out: &mut Emit<'_, Ev>) -> Flow {
        on_call(&self.w, self.me, msg, reply, out);
        Flow::Continue
    }
}

/// The producer_consumer: each input becomes 0, 1 or 2 fresh outputs (the pattern cycles).
struct Mid {
    w: Shared,
    me: StageId,
    fanout: Vec<u8>,
    handled: usize,
    next_manual: bool,
    cancel_emit: usize,
}

impl ProducerConsumer<Msg> for Mid {
    type In = Ev;
    type Out = Ev;
    fn handle_events(
        &mut self,
        events: Batch<'_, Ev>,
        from: SubId,
        out: &mut Emit<'_, Ev>,
    ) -> Flow {
        let ids: Vec<Ev> = events.collect();
        let mut n = 0;
        for _ in &ids {
            n += usize::from(self.fanout[self.handled % self.fanout.len()]);
            self.handled += 1;
        }
        self.w.borrow_mut().cb(self.me, Cb::Events(from, ids));
        emit(&self.w, self.me, out, n);
        Flow::Continue
    }
    fn handle_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<Ev>) -> Subscribed {
        self.w
            .borrow_mut()
            .cb(self.me, Cb::Subscribed(sub, self.next_manual));
        if self.next_manual {
            Subscribed::Manual
        } else {
            Subscribed::Automatic
        }
    }
    fn handle_consumer_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::ConsumerSubscribed(sub));
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, out: &mut Emit<'_, Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Cancel(sub, how));
        emit(&self.w, self.me, out, self.cancel_emit);
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, out: &mut Emit<'_, Ev>) -> Flow {
        on_info(&self.w, self.me, msg, out)
    }
    fn handle_call(&mut self, msg: Msg, reply: &mut Reply<Msg>, out: &mut Emit<'_, Ev>) -> Flow {
        on_call(&self.w, self.me, msg, reply, out);
        Flow::Continue
    }
}

/// A consumer that journals what it gets; an info `Stop` makes it stop (a crash).
struct Sink {
    w: Shared,
    me: StageId,
    next_manual: bool,
}

impl Consumer<Msg> for Sink {
    type Event = Ev;
    fn handle_events(&mut self, events: Batch<'_, Ev>, from: SubId, _: &mut Ctx<'_>) -> Flow {
        let ids: Vec<Ev> = events.collect();
        self.w.borrow_mut().cb(self.me, Cb::Events(from, ids));
        Flow::Continue
    }
    fn handle_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<Ev>) -> Subscribed {
        self.w
            .borrow_mut()
            .cb(self.me, Cb::Subscribed(sub, self.next_manual));
        if self.next_manual {
            Subscribed::Manual
        } else {
            Subscribed::Automatic
        }
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _: &mut Ctx<'_>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Cancel(sub, how));
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, _: &mut Ctx<'_>) -> Flow {
        match msg {
            Msg::Stop(r) => Flow::Stop(r),
            Msg::Info { id, .. } => {
                self.w.borrow_mut().cb(self.me, Cb::Info(id));
                Flow::Continue
            }
            Msg::Call { .. } | Msg::Reply => Flow::Continue,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct SubSpec {
    max: usize,
    min: usize,
    manual: bool,
    cancel: CancelMode,
}

impl SubSpec {
    fn opts(&self) -> Subscribe<Ev> {
        Subscribe::new()
            .max_demand(self.max)
            .min_demand(self.min)
            .cancel(self.cancel)
    }
}

#[derive(Clone, Debug)]
struct MidConfig {
    buffer: Option<usize>,
    keep: Keep,
    fanout: Vec<u8>,
    cancel_emit: usize,
    /// Its subscription to the producer, made at the start.
    sub: SubSpec,
}

#[derive(Clone, Debug)]
struct Config {
    sinks: usize,
    buffer: Option<usize>,
    keep: Keep,
    accumulate: bool,
    deltas: Vec<i8>,
    budget: usize,
    cancel_emit: usize,
    mid: Option<MidConfig>,
    /// Each consumer's first subscription, made at the start: (target, options).
    initial: Vec<(u8, SubSpec)>,
}

#[derive(Clone, Copy, Debug)]
enum Via {
    Info,
    Call,
    CallNow,
}

/// One step of a scenario. `who`, `pick`, `target` are reduced modulo what exists.
#[derive(Clone, Debug)]
enum Op {
    /// A consumer-role stage (the producer_consumer or a consumer) subscribes.
    Subscribe { who: u8, target: u8, sub: SubSpec },
    /// It resubscribes to the producer of one of its subscriptions, cancelling it.
    Resubscribe {
        who: u8,
        pick: u8,
        reason: Reason,
        sub: SubSpec,
    },
    /// A manual ask (refused on an automatic subscription).
    Ask { who: u8, pick: u8, n: usize },
    /// It cancels one of its subscriptions.
    Cancel { who: u8, pick: u8, reason: Reason },
    /// A consumer crashes: its peers see it go down.
    Crash { who: u8, reason: Reason },
    /// The producer (or producer_consumer) is told to stop, through an info.
    StopStage { mid: bool, reason: Reason },
    /// The producer (or producer_consumer) emits `n` events from a call or an info.
    Emit { mid: bool, n: usize, via: Via },
    /// The producer's demand mode.
    Mode { accumulate: bool },
    /// The raw peer sends `n` events on one of the subscriptions made to it, asked or not.
    Raw { pick: u8, n: usize },
    /// Deliver `count` messages, from channels picked starting at `pick`.
    Deliver { pick: u8, count: u8 },
    /// Deliver until idle (bounded).
    Flush,
}

const P: StageId = StageId(0);
const PC: StageId = StageId(1);
const RAW: StageId = StageId(9);
const FLUSH_STEPS: usize = 300;

fn sink_id(i: usize) -> StageId {
    StageId(2 + i as u32)
}

/// Counters of one stage after an operation.
#[derive(Clone, Debug, PartialEq)]
struct StageSnap {
    id: StageId,
    stats: StageStats,
    buffered: usize,
    held: usize,
    queued: usize,
    /// Its subscriptions to producers, with their counters.
    subs: Vec<(SubId, SubscriptionStats)>,
    stopped: Option<Reason>,
}

#[derive(Clone, Debug, PartialEq)]
struct Snap {
    /// Journal length when taken.
    at: usize,
    stages: Vec<StageSnap>,
    /// Events in undelivered messages, by sender.
    in_flight: BTreeMap<StageId, usize>,
}

struct Net {
    w: Shared,
    p: ProducerStage<Src, Msg>,
    pc: Option<ProducerConsumerStage<Mid, Msg>>,
    sinks: Vec<ConsumerStage<Sink, Msg>>,
    raw_subs: Vec<SubId>,
    next_info: u32,
    snaps: Vec<Snap>,
}

struct Run {
    cfg: Config,
    journal: Vec<J>,
    snaps: Vec<Snap>,
}

impl Net {
    fn new(cfg: &Config) -> Self {
        let w: Shared = Rc::default();
        let mut popts = ProducerOptions::new()
            .buffer_keep(cfg.keep)
            .demand(if cfg.accumulate {
                DemandMode::Accumulate
            } else {
                DemandMode::Forward
            });
        if let Some(n) = cfg.buffer {
            popts = popts.buffer_size(n);
        }
        let src = Src {
            w: w.clone(),
            me: P,
            deltas: cfg.deltas.clone(),
            calls: 0,
            budget: cfg.budget,
            cancel_emit: cfg.cancel_emit,
        };
        let p = ProducerStage::new(P, src, popts).expect("valid producer options");
        let pc = cfg.mid.as_ref().map(|m| {
            let mut o = ProducerOptions::new().buffer_keep(m.keep);
            if let Some(n) = m.buffer {
                o = o.buffer_size(n);
            }
            let mid = Mid {
                w: w.clone(),
                me: PC,
                fanout: m.fanout.clone(),
                handled: 0,
                next_manual: false,
                cancel_emit: m.cancel_emit,
            };
            ProducerConsumerStage::new(PC, mid, o).expect("valid producer_consumer options")
        });
        let sinks = (0..cfg.sinks)
            .map(|i| {
                let me = sink_id(i);
                let sink = Sink {
                    w: w.clone(),
                    me,
                    next_manual: false,
                };
                ConsumerStage::new(me, sink)
            })
            .collect();
        let mut net = Net {
            w,
            p,
            pc,
            sinks,
            raw_subs: Vec::new(),
            next_info: 0,
            snaps: Vec::new(),
        };
        if let Some(m) = &cfg.mid {
            net.subscribe(PC, P, m.sub, None);
        }
        for (i, &(target, sub)) in cfg.initial.iter().enumerate().take(cfg.sinks) {
            let who = sink_id(i);
            let target = net.pick_target(who, target);
            net.subscribe(who, target, sub, None);
        }
        net
    }

    fn tap(&self, me: StageId) -> Tap {
        Tap {
            w: self.w.clone(),
            me,
        }
    }

    fn stage_ids(&self) -> Vec<StageId> {
        let mut ids = vec![P];
        if self.pc.is_some() {
            ids.push(PC);
        }
        ids.extend((0..self.sinks.len()).map(sink_id));
        ids
    }

    fn stopped(&self, id: StageId) -> bool {
        if id == P {
            self.p.stopped().is_some()
        } else if id == PC {
            self.pc.as_ref().is_some_and(|pc| pc.stopped().is_some())
        } else {
            self.sinks[(id.0 - 2) as usize].stopped().is_some()
        }
    }

    /// Consumer-role stages: the producer_consumer (if any), then the consumers.
    fn pick_role(&self, who: u8) -> StageId {
        let n = self.sinks.len() + usize::from(self.pc.is_some());
        let k = usize::from(who) % n;
        if self.pc.is_some() {
            if k == 0 { PC } else { sink_id(k - 1) }
        } else {
            sink_id(k)
        }
    }

    fn pick_target(&self, who: StageId, target: u8) -> StageId {
        if target.is_multiple_of(8) {
            return RAW;
        }
        if self.pc.is_some() && who != PC && target.is_multiple_of(2) {
            PC
        } else {
            P
        }
    }

    fn subs_of(&self, who: StageId) -> Vec<SubId> {
        if who == PC {
            self.pc
                .as_ref()
                .map(|pc| pc.subscriptions().collect())
                .unwrap_or_default()
        } else {
            self.sinks[(who.0 - 2) as usize].subscriptions().collect()
        }
    }

    fn pick_sub(&self, who: StageId, pick: u8) -> Option<SubId> {
        let subs = self.subs_of(who);
        (!subs.is_empty()).then(|| subs[usize::from(pick) % subs.len()])
    }

    fn subscribe(
        &mut self,
        who: StageId,
        target: StageId,
        spec: SubSpec,
        previous: Option<(SubId, Reason)>,
    ) {
        if self.stopped(who) {
            return;
        }
        let mut tap = self.tap(who);
        let opts = spec.opts();
        let r = if who == PC {
            let pc = self.pc.as_mut().expect("a producer_consumer");
            pc.behaviour_mut().next_manual = spec.manual;
            match previous {
                None => pc.subscribe(target, opts, &mut tap),
                Some((old, reason)) => pc.resubscribe(old, reason, target, opts, &mut tap),
            }
        } else {
            let c = &mut self.sinks[(who.0 - 2) as usize];
            c.behaviour_mut().next_manual = spec.manual;
            match previous {
                None => c.subscribe(target, opts, &mut tap),
                Some((old, reason)) => c.resubscribe(old, reason, target, opts, &mut tap),
            }
        };
        r.expect("valid options on a live stage");
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Subscribe { who, target, sub } => {
                let who = self.pick_role(who);
                let target = self.pick_target(who, target);
                self.subscribe(who, target, sub, None);
            }
            Op::Resubscribe {
                who,
                pick,
                reason,
                sub,
            } => {
                let who = self.pick_role(who);
                if let Some(old) = self.pick_sub(who, pick) {
                    self.subscribe(who, old.producer, sub, Some((old, reason)));
                }
            }
            Op::Ask { who, pick, n } => {
                let who = self.pick_role(who);
                if self.stopped(who) {
                    return;
                }
                if let Some(sub) = self.pick_sub(who, pick) {
                    let mut tap = self.tap(who);
                    // Refused (NotManual) on automatic subscriptions; the demand check sees
                    // any ask that goes out anyway.
                    let _ = if who == PC {
                        self.pc.as_mut().expect("pc").ask(sub, n, &mut tap)
                    } else {
                        self.sinks[(who.0 - 2) as usize].ask(sub, n, &mut tap)
                    };
                }
            }
            Op::Cancel { who, pick, reason } => {
                let who = self.pick_role(who);
                if self.stopped(who) {
                    return;
                }
                if let Some(sub) = self.pick_sub(who, pick) {
                    let mut tap = self.tap(who);
                    let r = if who == PC {
                        self.pc.as_mut().expect("pc").cancel(sub, reason, &mut tap)
                    } else {
                        self.sinks[(who.0 - 2) as usize].cancel(sub, reason, &mut tap)
                    };
                    r.expect("a known subscription");
                }
            }
            Op::Crash { who, reason } => {
                let id = sink_id(usize::from(who) % self.sinks.len());
                if !self.stopped(id) {
                    let mut tap = self.tap(id);
                    let _ = self.sinks[(id.0 - 2) as usize].info(Msg::Stop(reason), &mut tap);
                }
            }
            Op::StopStage { mid, reason } => {
                let at = if mid && self.pc.is_some() { PC } else { P };
                if !self.stopped(at) {
                    let mut tap = self.tap(at);
                    let r = if at == P {
                        self.p.info(Msg::Stop(reason), &mut tap)
                    } else {
                        self.pc
                            .as_mut()
                            .expect("pc")
                            .info(Msg::Stop(reason), &mut tap)
                    };
                    r.expect("a live stage with growable storage takes every info");
                }
            }
            Op::Emit { mid, n, via } => {
                let at = if mid && self.pc.is_some() { PC } else { P };
                if self.stopped(at) {
                    return;
                }
                let mut tap = self.tap(at);
                match via {
                    Via::Info => {
                        let id = self.next_info;
                        self.next_info += 1;
                        self.w.borrow_mut().journal.push(J::InfoIssued { at, id });
                        let msg = Msg::Info { id, emit: n };
                        let r = if at == P {
                            self.p.info(msg, &mut tap)
                        } else {
                            self.pc.as_mut().expect("pc").info(msg, &mut tap)
                        };
                        r.expect("a live stage with growable storage takes every info");
                    }
                    Via::Call | Via::CallNow => {
                        let msg = Msg::Call {
                            emit: n,
                            now: matches!(via, Via::CallNow),
                        };
                        if at == P {
                            let _ = self.p.call(msg, &mut tap);
                        } else {
                            let _ = self.pc.as_mut().expect("pc").call(msg, &mut tap);
                        }
                    }
                }
            }
            Op::Mode { accumulate } => {
                let mode = if accumulate {
                    DemandMode::Accumulate
                } else {
                    DemandMode::Forward
                };
                if !self.stopped(P) && self.p.demand_mode() != mode {
                    self.w
                        .borrow_mut()
                        .journal
                        .push(J::Mode { at: P, accumulate });
                    let mut tap = self.tap(P);
                    self.p.set_demand_mode(mode, &mut tap);
                }
            }
            Op::Raw { pick, n } => {
                if self.raw_subs.is_empty() {
                    return;
                }
                let sub = self.raw_subs[usize::from(pick) % self.raw_subs.len()];
                let mut w = self.w.borrow_mut();
                let ids = w.fresh(n);
                w.journal.push(J::Out {
                    at: RAW,
                    rec: Record::Events(sub, ids.clone()),
                });
                w.send(RAW, sub.consumer, Wire::Events(sub, ids));
            }
            Op::Deliver { pick, count } => {
                for k in 0..usize::from(count) {
                    if !self.deliver_one(usize::from(pick) + k) {
                        break;
                    }
                }
            }
            Op::Flush => self.flush(),
        }
        self.settle_stops();
    }

    fn flush(&mut self) {
        for k in 0..FLUSH_STEPS {
            if !self.deliver_one(k) {
                break;
            }
        }
    }

    /// Delivers the front message of the `pick`-th non-empty channel.
    fn deliver_one(&mut self, pick: usize) -> bool {
        let (from, to, wire) = {
            let mut w = self.w.borrow_mut();
            w.channels.retain(|_, q| !q.is_empty());
            if w.channels.is_empty() {
                return false;
            }
            let n = w.channels.len();
            let (&(from, to), q) = w.channels.iter_mut().nth(pick % n).expect("in range");
            (from, to, q.pop_front().expect("non-empty"))
        };
        self.deliver(from, to, wire);
        true
    }

    fn deliver(&mut self, _from: StageId, to: StageId, wire: Wire) {
        self.w.borrow_mut().journal.push(J::In {
            at: to,
            wire: wire.clone(),
        });
        if to == RAW {
            self.raw_peer(wire);
            return;
        }
        // A subscribe to a stage that has stopped is answered by the monitor: down, noproc.
        let dead_subscribe = match &wire {
            Wire::ToProducer(ToProducer::Subscribe { sub, .. }) if self.stopped(to) => Some(*sub),
            _ => None,
        };
        let mut tap = self.tap(to);
        if to == P {
            match wire {
                Wire::ToProducer(m) => self.p.handle_to_producer(m, &mut tap),
                Wire::Down(stage, r) => self.p.handle_down(stage, r, &mut tap),
                other => panic!("misrouted to the producer: {other:?}"),
            }
        } else if to == PC {
            let pc = self.pc.as_mut().expect("pc");
            match wire {
                Wire::ToProducer(m) => pc.handle_to_producer(m, &mut tap),
                Wire::Events(sub, ids) => pc.handle_events(sub, ids, &mut tap),
                Wire::ToConsumer(m) => pc.handle_to_consumer(m, &mut tap),
                Wire::Down(stage, r) => pc.handle_down(stage, r, &mut tap),
            }
        } else {
            let c = &mut self.sinks[(to.0 - 2) as usize];
            match wire {
                Wire::Events(sub, ids) => c.handle_events(sub, ids, &mut tap),
                Wire::ToConsumer(m) => c.handle_to_consumer(m, &mut tap),
                Wire::Down(stage, r) => c.handle_down(stage, r, &mut tap),
                Wire::ToProducer(m) => c.handle_to_producer(m, &mut tap),
            }
        }
        if let Some(sub) = dead_subscribe {
            self.w
                .borrow_mut()
                .send(to, sub.consumer, Wire::Down(to, Reason::NoProc));
        }
        self.settle_stops();
    }

    /// The misbehaving peer: takes subscriptions, confirms cancels, ignores asks.
    fn raw_peer(&mut self, wire: Wire) {
        match wire {
            Wire::ToProducer(ToProducer::Subscribe { sub, .. }) => self.raw_subs.push(sub),
            Wire::ToProducer(ToProducer::Cancel { sub, reason }) => self.w.borrow_mut().send(
                RAW,
                sub.consumer,
                Wire::ToConsumer(ToConsumer::Cancel { sub, reason }),
            ),
            _ => {}
        }
    }

    /// Tells every other stage about the stages that stopped (after what they already sent).
    fn settle_stops(&mut self) {
        let stops = std::mem::take(&mut self.w.borrow_mut().stops);
        let ids = self.stage_ids();
        let mut w = self.w.borrow_mut();
        for (id, reason) in stops {
            for &other in &ids {
                if other != id {
                    w.send(id, other, Wire::Down(id, reason));
                }
            }
        }
    }

    fn snap(&mut self) {
        let (at, in_flight) = {
            let w = self.w.borrow();
            let mut in_flight = BTreeMap::new();
            for q in w.channels.values() {
                for wire in q {
                    if let Wire::Events(sub, ids) = wire {
                        *in_flight.entry(sub.producer).or_insert(0) += ids.len();
                    }
                }
            }
            (w.journal.len(), in_flight)
        };
        let mut stages = vec![StageSnap {
            id: P,
            stats: *self.p.stats(),
            buffered: self.p.buffered_count(),
            held: self.p.held_count(),
            queued: 0,
            subs: Vec::new(),
            stopped: self.p.stopped(),
        }];
        if let Some(pc) = &self.pc {
            stages.push(StageSnap {
                id: PC,
                stats: *pc.stats(),
                buffered: pc.buffered_count(),
                held: 0,
                queued: pc.queued_count(),
                subs: pc
                    .subscriptions()
                    .map(|s| (s, pc.subscription_stats(s).expect("its own subscription")))
                    .collect(),
                stopped: pc.stopped(),
            });
        }
        for c in &self.sinks {
            stages.push(StageSnap {
                id: c.id(),
                stats: *c.stats(),
                buffered: 0,
                held: 0,
                queued: 0,
                subs: c
                    .subscriptions()
                    .map(|s| (s, c.subscription_stats(s).expect("its own subscription")))
                    .collect(),
                stopped: c.stopped(),
            });
        }
        self.snaps.push(Snap {
            at,
            stages,
            in_flight,
        });
    }
}

fn run(cfg: &Config, ops: &[Op]) -> Run {
    let mut net = Net::new(cfg);
    net.snap();
    for op in ops {
        net.apply(op);
        net.snap();
    }
    net.flush();
    net.snap();
    let journal = std::mem::take(&mut net.w.borrow_mut().journal);
    Run {
        cfg: cfg.clone(),
        journal,
        snaps: net.snaps,
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn reason() -> impl Strategy<Value = Reason> {
    prop_oneof![
        Just(Reason::Normal),
        Just(Reason::Shutdown),
        Just(Reason::Custom("boom")),
    ]
}

fn cancel_mode() -> impl Strategy<Value = CancelMode> {
    prop_oneof![
        3 => Just(CancelMode::Temporary),
        1 => Just(CancelMode::Transient),
        1 => Just(CancelMode::Permanent),
    ]
}

fn keep() -> impl Strategy<Value = Keep> {
    prop_oneof![Just(Keep::First), Just(Keep::Last)]
}

fn buffer_size() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 2 => (1usize..=6).prop_map(Some)]
}

fn sub_spec() -> impl Strategy<Value = SubSpec> {
    (
        1usize..=10,
        0usize..10,
        prop::bool::weighted(0.25),
        cancel_mode(),
    )
        .prop_map(|(max, min, manual, cancel)| SubSpec {
            max,
            min: min % max,
            manual,
            cancel,
        })
}

fn mid_config() -> impl Strategy<Value = MidConfig> {
    (
        buffer_size(),
        keep(),
        prop::collection::vec(0u8..=2, 1..4),
        0usize..=1,
        sub_spec(),
    )
        .prop_map(|(buffer, keep, fanout, cancel_emit, sub)| MidConfig {
            buffer,
            keep,
            fanout,
            cancel_emit,
            sub,
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        1usize..=4,
        buffer_size(),
        keep(),
        prop::bool::weighted(0.2),
        prop::collection::vec(-3i8..=3, 1..4),
        0usize..=2,
        prop::option::of(mid_config()),
        prop::collection::vec((any::<u8>(), sub_spec()), 4),
    )
        .prop_map(
            |(sinks, buffer, keep, accumulate, deltas, cancel_emit, mid, initial)| Config {
                sinks,
                buffer,
                keep,
                accumulate,
                deltas,
                budget: 150,
                cancel_emit,
                mid,
                initial,
            },
        )
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![Just(Via::Info), Just(Via::Call), Just(Via::CallNow)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (any::<u8>(), any::<u8>(), sub_spec())
            .prop_map(|(who, target, sub)| Op::Subscribe { who, target, sub }),
        3 => (any::<u8>(), any::<u8>(), reason(), sub_spec())
            .prop_map(|(who, pick, reason, sub)| Op::Resubscribe { who, pick, reason, sub }),
        9 => (any::<u8>(), any::<u8>(), 0usize..=8)
            .prop_map(|(who, pick, n)| Op::Ask { who, pick, n }),
        4 => (any::<u8>(), any::<u8>(), reason())
            .prop_map(|(who, pick, reason)| Op::Cancel { who, pick, reason }),
        3 => (any::<u8>(), reason()).prop_map(|(who, reason)| Op::Crash { who, reason }),
        1 => (prop::bool::weighted(0.7), reason())
            .prop_map(|(mid, reason)| Op::StopStage { mid, reason }),
        12 => (any::<bool>(), 0usize..=6, via()).prop_map(|(mid, n, via)| Op::Emit { mid, n, via }),
        4 => any::<bool>().prop_map(|accumulate| Op::Mode { accumulate }),
        8 => (any::<u8>(), 1usize..=15).prop_map(|(pick, n)| Op::Raw { pick, n }),
        25 => (any::<u8>(), 1u8..=6).prop_map(|(pick, count)| Op::Deliver { pick, count }),
        5 => Just(Op::Flush),
    ]
}

fn scenario() -> impl Strategy<Value = (Config, Vec<Op>)> {
    (config(), prop::collection::vec(op(), 1..40))
}

// ---------------------------------------------------------------------------------------------
// The reference model of automatic demand (spec §5), written from the spec
// ---------------------------------------------------------------------------------------------

/// What a consumer-role stage does, in order, for one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `Report::Excess` for this many events.
    Excess(usize),
    /// `handle_events` with this many events.
    Chunk(usize),
    /// `Ask` for this much.
    Ask(usize),
}

/// Spec §5.2–5.3: cut a message of `n` events into chunks of at most `max − min`; the arrival
/// budget is the outstanding demand `d` when the message is taken up and is not refilled; a
/// chunk counts at most what is left of the budget (the rest is excess); once the counted
/// events bring `d` to `min` or below, ask for `max − d` after the chunk and refill to `max`.
fn reference_chunks(max: usize, min: usize, d: &mut usize, n: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut budget = *d;
    let mut rest = n;
    while rest > 0 {
        let k = rest.min(max - min);
        rest -= k;
        let counted = k.min(budget);
        budget -= counted;
        if counted < k {
            steps.push(Step::Excess(k - counted));
        }
        steps.push(Step::Chunk(k));
        let left = *d - counted;
        if left <= min {
            steps.push(Step::Ask(max - left));
            *d = max;
        } else {
            *d = left;
        }
        assert!(*d <= max, "the model never holds more than max outstanding");
    }
    steps
}

#[derive(Debug)]
struct ModelSub {
    /// `None` until `handle_subscribe` answered.
    manual: Option<bool>,
    max: usize,
    min: usize,
    d: usize,
    /// Still known to its consumer (no cancel or down arrived yet).
    alive: bool,
    /// Producer_consumer only: messages queued, not yet taken up.
    msgs: VecDeque<usize>,
    /// Steps still expected, in order.
    plan: VecDeque<Step>,
    /// Demand asked on this subscription (every ask output).
    asked: u64,
    /// Events handed to the consumer's `handle_events` from this subscription.
    events: u64,
}

#[derive(Clone, Copy)]
struct Checks {
    asks: bool,
    excess: bool,
    outstanding: bool,
}

/// Walks the journal with the reference model of every subscription of every consumer-role
/// stage and checks each `handle_events` call, each `Ask` of an automatic subscription and each
/// excess report (as `checks` says) against it, plus the stages' outstanding counters at every
/// snapshot.
fn check_demand(run: &Run, checks: Checks) -> Result<(), TestCaseError> {
    let mut subs: BTreeMap<SubId, ModelSub> = BTreeMap::new();
    let mut stopped: HashSet<StageId> = HashSet::new();
    let mut snaps = run.snaps.iter().peekable();
    let keep = |s: &Step| match s {
        Step::Chunk(_) => true,
        Step::Ask(_) => checks.asks,
        Step::Excess(_) => checks.excess,
    };
    for i in 0..=run.journal.len() {
        while let Some(snap) = snaps.next_if(|s| s.at == i) {
            for st in &snap.stages {
                for (sub, stats) in &st.subs {
                    let m = subs.get(sub).expect("subscribed through the journal");
                    prop_assert!(
                        m.plan.is_empty(),
                        "#{i}: {sub} still owes {:?} after the operation",
                        m.plan
                    );
                    if st.id == PC && st.stopped.is_none() {
                        // Queued messages are the ones not yet taken up.
                        let queued: usize = subs
                            .iter()
                            .filter(|(s, _)| s.consumer == PC)
                            .map(|(_, m)| m.msgs.iter().sum::<usize>())
                            .sum();
                        prop_assert_eq!(queued, st.queued, "#{}: producer_consumer queue", i);
                    }
                    if checks.outstanding && m.manual == Some(false) && st.stopped.is_none() {
                        prop_assert_eq!(
                            stats.outstanding as usize,
                            m.d,
                            "#{}: outstanding demand of {}",
                            i,
                            sub
                        );
                        prop_assert!(m.d <= m.max);
                    }
                    if st.stopped.is_none() {
                        prop_assert_eq!(stats.asked, m.asked, "#{}: demand asked on {}", i, sub);
                        prop_assert_eq!(stats.events, m.events, "#{}: events on {}", i, sub);
                    }
                }
            }
        }
        let Some(j) = run.journal.get(i) else { break };
        // Which subscription and step this entry is, if any.
        let mut step: Option<(SubId, Step)> = None;
        match j {
            J::In { at, wire } if *at != P && *at != RAW => {
                if *at != PC {
                    // A consumer does everything for a message before its next input.
                    for (sub, m) in subs.range(..).filter(|(s, _)| s.consumer == *at) {
                        prop_assert!(m.plan.is_empty(), "#{i}: {sub} still owes {:?}", m.plan);
                    }
                }
                if stopped.contains(at) {
                    continue;
                }
                match wire {
                    Wire::Events(sub, ids) if !ids.is_empty() => {
                        if let Some(m) = subs.get_mut(sub)
                            && m.alive
                        {
                            if *at == PC {
                                m.msgs.push_back(ids.len());
                            } else {
                                m.plan = plan_for(m, ids.len()).into_iter().filter(keep).collect();
                            }
                        }
                    }
                    Wire::ToConsumer(ToConsumer::Cancel { sub, .. }) => {
                        if let Some(m) = subs.get_mut(sub) {
                            m.alive = false;
                        }
                    }
                    Wire::Down(stage, _) => {
                        for (_, m) in subs
                            .iter_mut()
                            .filter(|(s, _)| s.consumer == *at && s.producer == *stage)
                        {
                            m.alive = false;
                        }
                    }
                    _ => {}
                }
            }
            J::Out {
                at,
                rec: Record::Output(out),
            } => match out {
                Output::ToProducer(ToProducer::Subscribe { sub, opts, .. }) => {
                    prop_assert_eq!(sub.consumer, *at);
                    subs.insert(
                        *sub,
                        ModelSub {
                            manual: None,
                            max: opts.max_demand(),
                            min: opts.min_demand(),
                            d: 0,
                            alive: true,
                            msgs: VecDeque::new(),
                            plan: VecDeque::new(),
                            asked: 0,
                            events: 0,
                        },
                    );
                }
                Output::ToProducer(ToProducer::Ask { sub, demand }) => {
                    let m = subs.get_mut(sub);
                    prop_assert!(m.is_some(), "#{i}: ask on {sub}, never subscribed");
                    let m = m.expect("checked");
                    m.asked += *demand as u64;
                    if m.manual != Some(true) && checks.asks {
                        step = Some((*sub, Step::Ask(*demand)));
                    }
                }
                Output::Report(Report::Excess { sub, excess }) if checks.excess => {
                    step = Some((*sub, Step::Excess(*excess)));
                }
                Output::Stop(_) => {
                    stopped.insert(*at);
                    for (_, m) in subs.iter_mut().filter(|(s, _)| s.consumer == *at) {
                        m.plan.clear();
                    }
                }
                _ => {}
            },
            J::Cb {
                cb: Cb::Subscribed(sub, manual),
                ..
            } => {
                let m = subs.get_mut(sub).expect("subscribe output comes first");
                m.manual = Some(*manual);
                if !*manual {
                    m.d = m.max;
                    if checks.asks {
                        m.plan.push_back(Step::Ask(m.max));
                    }
                }
            }
            J::Cb {
                at,
                cb: Cb::Events(sub, ids),
            } if *at != P => {
                if let Some(m) = subs.get_mut(sub) {
                    m.events += ids.len() as u64;
                }
                step = Some((*sub, Step::Chunk(ids.len())));
            }
            _ => {}
        }
        if let Some((sub, got)) = step {
            let m = subs.get_mut(&sub);
            prop_assert!(m.is_some(), "#{i}: {got:?} on {sub}, never subscribed");
            let m = m.expect("checked");
            if m.plan.is_empty()
                && sub.consumer == PC
                && let Some(n) = m.msgs.pop_front()
            {
                m.plan = plan_for(m, n).into_iter().filter(keep).collect();
            }
            let want = m.plan.pop_front();
            prop_assert_eq!(
                Some(got),
                want,
                "#{}: {} did {:?}; the reference model expected {:?} (then {:?})",
                i,
                sub,
                got,
                want,
                m.plan
            );
        }
    }
    Ok(())
}

/// The steps for a message of `n` events taken up now.
fn plan_for(m: &mut ModelSub, n: usize) -> Vec<Step> {
    match (m.alive, m.manual) {
        // Manual (spec §6.2), or queued from a subscription since removed (spec §16.8): one
        // chunk, no ask, no excess check.
        (true, Some(true)) | (false, _) => vec![Step::Chunk(n)],
        (true, _) => reference_chunks(m.max, m.min, &mut m.d, n),
    }
}

// ---------------------------------------------------------------------------------------------
// The invariants
// ---------------------------------------------------------------------------------------------

/// Invariant 1: on every subscription, at every point of the run, a producer has sent at most
/// what it was asked for; excess from the raw peer is reported as the model says and counted.
fn check_no_over_delivery(run: &Run) -> Result<(), TestCaseError> {
    let mut asked: HashMap<SubId, usize> = HashMap::new();
    let mut sent: HashMap<SubId, usize> = HashMap::new();
    let mut reported: HashMap<StageId, u64> = HashMap::new();
    for (i, j) in run.journal.iter().enumerate() {
        match j {
            J::In {
                at,
                wire: Wire::ToProducer(ToProducer::Ask { sub, demand }),
            } if *at != RAW => *asked.entry(*sub).or_default() += demand,
            J::Out {
                at,
                rec: Record::Events(sub, ids),
            } if *at != RAW => {
                prop_assert_eq!(sub.producer, *at);
                let s = sent.entry(*sub).or_default();
                *s += ids.len();
                let a = asked.get(sub).copied().unwrap_or(0);
                prop_assert!(*s <= a, "#{i}: {at} sent {s} events on {sub}, asked {a}");
            }
            J::Out {
                at,
                rec: Record::Output(Output::Report(Report::Excess { sub, excess })),
            } => {
                prop_assert_eq!(
                    sub.producer,
                    RAW,
                    "#{}: excess reported on a real producer's subscription",
                    i
                );
                *reported.entry(*at).or_default() += *excess as u64;
            }
            _ => {}
        }
    }
    let last = run.snaps.last().expect("a final snapshot");
    for st in &last.stages {
        prop_assert_eq!(
            st.stats.excess,
            reported.get(&st.id).copied().unwrap_or(0),
            "{}: excess counted vs reported",
            st.id
        );
    }
    check_demand(
        run,
        Checks {
            asks: false,
            excess: true,
            outstanding: true,
        },
    )
}

/// Invariant 2: every event is accounted for at every snapshot — at its producer it was sent,
/// is buffered or held, or was counted as discarded; on the wire it is in flight; at its
/// consumer-role stage it was handed to `handle_events`, is queued, or was counted as discarded.
/// No id is sent or handled twice, nor anything that was never emitted or never arrived.
fn check_conservation(run: &Run) -> Result<(), TestCaseError> {
    let mut emitted: HashMap<StageId, HashSet<Ev>> = HashMap::new();
    let mut sent: HashMap<StageId, usize> = HashMap::new();
    let mut sent_ids: HashSet<Ev> = HashSet::new();
    let mut arrived: HashMap<StageId, HashSet<Ev>> = HashMap::new();
    let mut arrived_stopped: HashMap<StageId, usize> = HashMap::new();
    let mut arrived_from: HashMap<StageId, usize> = HashMap::new();
    let mut handled: HashMap<StageId, HashSet<Ev>> = HashMap::new();
    let mut stopped: HashSet<StageId> = HashSet::new();
    let mut snaps = run.snaps.iter().peekable();
    let len = |m: &HashMap<StageId, HashSet<Ev>>, id: StageId| m.get(&id).map_or(0, HashSet::len);
    let num = |m: &HashMap<StageId, usize>, id: StageId| m.get(&id).copied().unwrap_or(0);
    for i in 0..=run.journal.len() {
        while let Some(snap) = snaps.next_if(|s| s.at == i) {
            for st in &snap.stages {
                let d = &st.stats.discarded;
                let out_lost = d.buffer_full
                    + d.accumulate_full
                    + d.dispatcher
                    + d.partition_cancelled
                    + d.abandoned;
                let in_lost = d.unknown_subscription + d.stopped + d.input_queue_full;
                if st.id == P || st.id == PC {
                    let (e, s) = (len(&emitted, st.id), num(&sent, st.id));
                    prop_assert_eq!(st.stats.emitted as usize, e, "#{}: {} emitted", i, st.id);
                    prop_assert_eq!(st.stats.events_out as usize, s, "#{}: {} sent", i, st.id);
                    prop_assert_eq!(
                        e - s,
                        st.buffered + st.held + out_lost as usize,
                        "#{}: {} emitted {} and sent {}: buffered {}, held {}, discarded {:?}",
                        i,
                        st.id,
                        e,
                        s,
                        st.buffered,
                        st.held,
                        d
                    );
                }
                if st.id != P {
                    let (a, h) = (len(&arrived, st.id), len(&handled, st.id));
                    prop_assert_eq!(
                        st.stats.events_in as usize,
                        a - num(&arrived_stopped, st.id),
                        "#{}: {} events in",
                        i,
                        st.id
                    );
                    prop_assert_eq!(
                        a - h,
                        st.queued + in_lost as usize,
                        "#{}: {} got {} and handled {}: queued {}, discarded {:?}",
                        i,
                        st.id,
                        a,
                        h,
                        st.queued,
                        d
                    );
                }
            }
            for from in [P, PC, RAW] {
                prop_assert_eq!(
                    num(&sent, from) - num(&arrived_from, from),
                    snap.in_flight.get(&from).copied().unwrap_or(0),
                    "#{}: events from {} in flight",
                    i,
                    from
                );
            }
        }
        let Some(j) = run.journal.get(i) else { break };
        match j {
            J::Cb {
                at,
                cb: Cb::Emitted(ids),
            } => {
                let set = emitted.entry(*at).or_default();
                for id in ids {
                    prop_assert!(set.insert(*id), "#{i}: {id} emitted twice");
                }
            }
            J::Out {
                at,
                rec: Record::Events(sub, ids),
            } => {
                prop_assert_eq!(sub.producer, *at);
                prop_assert!(!ids.is_empty(), "#{i}: an empty events message");
                if *at == RAW {
                    emitted.entry(RAW).or_default().extend(ids.iter().copied());
                }
                let mine = emitted.entry(*at).or_default();
                for id in ids {
                    prop_assert!(mine.contains(id), "#{i}: {at} sent {id}, never emitted");
                    prop_assert!(sent_ids.insert(*id), "#{i}: {id} sent twice");
                }
                *sent.entry(*at).or_default() += ids.len();
            }
            J::In {
                at,
                wire: Wire::Events(sub, ids),
            } => {
                let set = arrived.entry(*at).or_default();
                for id in ids {
                    prop_assert!(set.insert(*id), "#{i}: {id} arrived twice at {at}");
                }
                *arrived_from.entry(sub.producer).or_default() += ids.len();
                if stopped.contains(at) {
                    *arrived_stopped.entry(*at).or_default() += ids.len();
                }
            }
            J::Cb {
                at,
                cb: Cb::Events(_, ids),
            } => {
                let got = arrived.entry(*at).or_default();
                let set = handled.entry(*at).or_default();
                for id in ids {
                    prop_assert!(got.contains(id), "#{i}: {at} handled {id}, never arrived");
                    prop_assert!(set.insert(*id), "#{i}: {at} handled {id} twice");
                }
            }
            J::Out {
                at,
                rec: Record::Output(Output::Stop(_)),
            } => {
                stopped.insert(*at);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Invariant 3. With `infos` false: per-subscription FIFO (what a producer sends on a
/// subscription, what arrives and what `handle_events` gets are in emission order), and a
/// producer_consumer handles its input in arrival order across all its producers. With `infos`
/// true: info markers keep their place (each info is handled after every event emitted or
/// queued before it was given has been sent or handled), and infos are handled in order.
fn check_fifo(run: &Run, infos: bool) -> Result<(), TestCaseError> {
    let mut last_sent: HashMap<SubId, Ev> = HashMap::new();
    let mut last_arrived: HashMap<SubId, Ev> = HashMap::new();
    let mut last_handled: HashMap<SubId, Ev> = HashMap::new();
    // For the info checks: where each event was emitted, sent, arrived and handled.
    let mut emitted_at: Vec<(Ev, StageId, usize)> = Vec::new();
    let mut sent_at: HashMap<Ev, usize> = HashMap::new();
    let mut arrived_pc: Vec<(Ev, usize)> = Vec::new();
    let mut handled_pc: HashMap<Ev, usize> = HashMap::new();
    let mut issued: Vec<(StageId, u32, usize)> = Vec::new();
    let mut info_handled: HashMap<u32, usize> = HashMap::new();
    let mut handled_infos: HashMap<StageId, Vec<u32>> = HashMap::new();
    // accumulating[i]: positions ≤ i at which the producer was accumulating.
    let mut accumulating: Vec<usize> = Vec::with_capacity(run.journal.len());
    let mut acc = run.cfg.accumulate;
    let mut pc_arrival_index: HashMap<Ev, usize> = HashMap::new();
    let mut last_pc_arrival_index: Option<usize> = None;
    for (i, j) in run.journal.iter().enumerate() {
        match j {
            J::Mode { at, accumulate } if *at == P => acc = *accumulate,
            J::Cb {
                at,
                cb: Cb::Emitted(ids),
            } => emitted_at.extend(ids.iter().map(|&e| (e, *at, i))),
            J::Out {
                at,
                rec: Record::Events(sub, ids),
            } => {
                for &e in ids {
                    if let Some(&prev) = last_sent.get(sub) {
                        prop_assert!(
                            infos || prev < e,
                            "#{i}: {at} sent {e} after {prev} on {sub}"
                        );
                    }
                    last_sent.insert(*sub, e);
                    sent_at.insert(e, i);
                }
            }
            J::In {
                at,
                wire: Wire::Events(sub, ids),
            } => {
                for &e in ids {
                    if let Some(&prev) = last_arrived.get(sub) {
                        prop_assert!(infos || prev < e, "#{i}: {e} arrived after {prev} on {sub}");
                    }
                    last_arrived.insert(*sub, e);
                    if *at == PC {
                        pc_arrival_index.insert(e, arrived_pc.len());
                        arrived_pc.push((e, i));
                    }
                }
            }
            J::Cb {
                at,
                cb: Cb::Events(sub, ids),
            } => {
                for &e in ids {
                    if let Some(&prev) = last_handled.get(sub) {
                        prop_assert!(
                            infos || prev < e,
                            "#{i}: {at} handled {e} after {prev} from {sub}"
                        );
                    }
                    last_handled.insert(*sub, e);
                    if *at == PC {
                        // Across all its producers, in arrival order (spec §16.3, §20.4).
                        let k = pc_arrival_index[&e];
                        if let Some(prev) = last_pc_arrival_index {
                            prop_assert!(
                                infos || prev < k,
                                "#{i}: the producer_consumer handled {e} out of arrival order"
                            );
                        }
                        last_pc_arrival_index = Some(k);
                        handled_pc.insert(e, i);
                    }
                }
            }
            J::InfoIssued { at, id } => issued.push((*at, *id, i)),
            J::Cb {
                at,
                cb: Cb::Info(id),
            } => {
                info_handled.insert(*id, i);
                handled_infos.entry(*at).or_default().push(*id);
            }
            _ => {}
        }
        let before = accumulating.last().copied().unwrap_or(0);
        accumulating.push(before + usize::from(acc));
    }
    if !infos {
        return Ok(());
    }
    let accumulating_within =
        |a: usize, b: usize| accumulating[b] - if a == 0 { 0 } else { accumulating[a - 1] } > 0;
    for &(at, id, t) in &issued {
        let Some(&h) = info_handled.get(&id) else {
            continue;
        };
        // Every event emitted before the info was given is sent before it is handled, unless
        // it was never sent (discarded, or still buffered) or it may have been held by
        // accumulate mode, which infos do not wait for (spec §8.5, Q10).
        for &(e, x, pe) in emitted_at.iter().take_while(|&&(_, _, pe)| pe < t) {
            if x != at {
                continue;
            }
            if let Some(&ps) = sent_at.get(&e)
                && ps > h
                && !(at == P && accumulating_within(pe, h))
            {
                prop_assert!(
                    false,
                    "#{h}: info {id} handled at {at} before event {e} (emitted #{pe}, before the \
                     info was given at #{t}) was sent at #{ps}"
                );
            }
        }
        // At a producer_consumer, every event queued before the info is handled before it.
        if at == PC {
            for &(e, pa) in arrived_pc.iter().take_while(|&&(_, pa)| pa < t) {
                if let Some(&ph) = handled_pc.get(&e) {
                    prop_assert!(
                        ph < h,
                        "#{h}: info {id} handled before event {e} (arrived #{pa}, before the info \
                         was given at #{t}) was handled at #{ph}"
                    );
                }
            }
        }
    }
    // Infos are handled in the order they were given (and none is skipped).
    for (at, got) in &handled_infos {
        let given: Vec<u32> = issued
            .iter()
            .filter(|(x, _, _)| x == at)
            .map(|&(_, id, _)| id)
            .collect();
        prop_assert!(
            given.starts_with(got),
            "{at}: infos given {given:?}, handled {got:?}"
        );
    }
    Ok(())
}

/// Invariant 5: once `handle_cancel` ran for a subscription, its consumer's `handle_events`
/// never sees it again, and its producer sends nothing more on it; once a stage stopped, none
/// of its callbacks runs and it outputs nothing.
fn check_nothing_after_cancel(run: &Run) -> Result<(), TestCaseError> {
    let mut cancelled: HashSet<(StageId, SubId)> = HashSet::new();
    let mut stopped: HashSet<StageId> = HashSet::new();
    for (i, j) in run.journal.iter().enumerate() {
        match j {
            J::Cb { at, cb } => {
                prop_assert!(
                    !stopped.contains(at),
                    "#{i}: {at} ran {cb:?} after it stopped"
                );
                match cb {
                    Cb::Cancel(sub, _) => {
                        prop_assert!(
                            cancelled.insert((*at, *sub)),
                            "#{i}: {at} handle_cancel twice for {sub}"
                        );
                    }
                    Cb::Events(sub, ids) => prop_assert!(
                        !cancelled.contains(&(*at, *sub)),
                        "#{i}: {at} handle_events({ids:?}) from {sub} after its handle_cancel"
                    ),
                    _ => {}
                }
            }
            J::Out { at, rec } => {
                prop_assert!(
                    !stopped.contains(at),
                    "#{i}: {at} output {rec:?} after it stopped"
                );
                match rec {
                    Record::Events(sub, ids) => prop_assert!(
                        !cancelled.contains(&(*at, *sub)),
                        "#{i}: {at} sent {ids:?} on {sub} after its handle_cancel"
                    ),
                    Record::Output(Output::Stop(_)) => {
                        stopped.insert(*at);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The same scenarios in the simulator (for determinism)
// ---------------------------------------------------------------------------------------------

type PHandle = Handle<ProducerStage<Src, Msg>>;
type MHandle = Handle<ProducerConsumerStage<Mid, Msg>>;
type CHandle = Handle<ConsumerStage<Sink, Msg>>;

#[derive(Clone, Copy)]
enum Role {
    Mid(MHandle),
    Sink(CHandle),
}

fn run_sim(cfg: &Config, ops: &[Op], seed: u64) -> (Vec<TraceEntry>, Vec<J>, Vec<Msg>) {
    let w: Shared = Rc::default();
    let mut sim = Sim::new(seed);
    let mut popts = ProducerOptions::new()
        .buffer_keep(cfg.keep)
        .demand(if cfg.accumulate {
            DemandMode::Accumulate
        } else {
            DemandMode::Forward
        });
    if let Some(n) = cfg.buffer {
        popts = popts.buffer_size(n);
    }
    let id = sim.next_id();
    let src = Src {
        w: w.clone(),
        me: id,
        deltas: cfg.deltas.clone(),
        calls: 0,
        budget: cfg.budget,
        cancel_emit: cfg.cancel_emit,
    };
    let p: PHandle = sim.add(ProducerStage::new(id, src, popts).expect("valid options"));
    let mid: Option<MHandle> = cfg.mid.as_ref().map(|m| {
        let mut o = ProducerOptions::new().buffer_keep(m.keep);
        if let Some(n) = m.buffer {
            o = o.buffer_size(n);
        }
        let id = sim.next_id();
        let b = Mid {
            w: w.clone(),
            me: id,
            fanout: m.fanout.clone(),
            handled: 0,
            next_manual: m.sub.manual,
            cancel_emit: m.cancel_emit,
        };
        sim.add(ProducerConsumerStage::new(id, b, o).expect("valid options"))
    });
    let sinks: Vec<CHandle> = (0..cfg.sinks)
        .map(|_| {
            let id = sim.next_id();
            let b = Sink {
                w: w.clone(),
                me: id,
                next_manual: false,
            };
            sim.add(ConsumerStage::new(id, b))
        })
        .collect();
    if let (Some(h), Some(m)) = (mid, &cfg.mid) {
        sim.subscribe(h, p, m.sub.opts()).expect("subscribes");
    }
    for (&h, &(target, sub)) in sinks.iter().zip(&cfg.initial) {
        sim.stage_mut(h).behaviour_mut().next_manual = sub.manual;
        match mid {
            Some(m) if target.is_multiple_of(2) => sim.subscribe(h, m, sub.opts()),
            _ => sim.subscribe(h, p, sub.opts()),
        }
        .expect("subscribes");
    }
    let mut roles: Vec<Role> = mid.into_iter().map(Role::Mid).collect();
    roles.extend(sinks.iter().copied().map(Role::Sink));
    let mut next_info = 0;
    let subs_of = |sim: &Sim, r: Role| -> Vec<SubId> {
        match r {
            Role::Mid(h) => sim.stage(h).subscriptions().collect(),
            Role::Sink(h) => sim.stage(h).subscriptions().collect(),
        }
    };
    let live = |sim: &Sim, r: Role| match r {
        Role::Mid(h) => sim.stopped(h).is_none(),
        Role::Sink(h) => sim.stopped(h).is_none(),
    };
    for op in ops {
        match *op {
            Op::Subscribe { who, target, sub } => {
                let r = roles[usize::from(who) % roles.len()];
                if !live(&sim, r) {
                    continue;
                }
                match (r, mid) {
                    (Role::Mid(h), _) => {
                        sim.stage_mut(h).behaviour_mut().next_manual = sub.manual;
                        sim.subscribe(h, p, sub.opts()).expect("subscribes");
                    }
                    (Role::Sink(h), m) => {
                        sim.stage_mut(h).behaviour_mut().next_manual = sub.manual;
                        match m {
                            Some(m) if target.is_multiple_of(2) => sim.subscribe(h, m, sub.opts()),
                            _ => sim.subscribe(h, p, sub.opts()),
                        }
                        .expect("subscribes");
                    }
                }
            }
            Op::Resubscribe { .. } | Op::Raw { .. } => {}
            Op::Ask { who, pick, n } => {
                let r = roles[usize::from(who) % roles.len()];
                let subs = subs_of(&sim, r);
                if subs.is_empty() || !live(&sim, r) {
                    continue;
                }
                let s = subs[usize::from(pick) % subs.len()];
                match r {
                    Role::Mid(h) => {
                        let _ = sim.with(h, |st, o| st.ask(s, n, o));
                    }
                    Role::Sink(h) => {
                        let _ = sim.with(h, |st, o| st.ask(s, n, o));
                    }
                }
            }
            Op::Cancel { who, pick, reason } => {
                let r = roles[usize::from(who) % roles.len()];
                let subs = subs_of(&sim, r);
                if subs.is_empty() || !live(&sim, r) {
                    continue;
                }
                let s = subs[usize::from(pick) % subs.len()];
                match r {
                    Role::Mid(h) => {
                        let _ = sim.with(h, |st, o| st.cancel(s, reason, o));
                    }
                    Role::Sink(h) => {
                        let _ = sim.with(h, |st, o| st.cancel(s, reason, o));
                    }
                }
            }
            Op::Crash { who, reason } => {
                let h = sinks[usize::from(who) % sinks.len()];
                if sim.stopped(h).is_none() {
                    let _ = sim.with(h, |st, o| st.info(Msg::Stop(reason), o));
                }
            }
            Op::StopStage { mid: m, .. } | Op::Emit { mid: m, .. } if m && mid.is_some() => {
                let h = mid.expect("checked");
                if sim.stopped(h).is_some() {
                    continue;
                }
                let msg = match *op {
                    Op::Emit {
                        n, via: Via::Info, ..
                    } => {
                        next_info += 1;
                        Some(Msg::Info {
                            id: next_info,
                            emit: n,
                        })
                    }
                    Op::Emit { n, via, .. } => {
                        let now = matches!(via, Via::CallNow);
                        let _ = sim.with(h, |st, o| st.call(Msg::Call { emit: n, now }, o));
                        None
                    }
                    _ => Some(Msg::Stop(reason_of(op))),
                };
                if let Some(msg) = msg {
                    sim.with(h, |st, o| st.info(msg, o)).expect("taken");
                }
            }
            Op::StopStage { .. } | Op::Emit { .. } => {
                if sim.stopped(p).is_some() {
                    continue;
                }
                let msg = match *op {
                    Op::Emit {
                        n, via: Via::Info, ..
                    } => {
                        next_info += 1;
                        Some(Msg::Info {
                            id: next_info,
                            emit: n,
                        })
                    }
                    Op::Emit { n, via, .. } => {
                        let now = matches!(via, Via::CallNow);
                        let _ = sim.with(p, |st, o| st.call(Msg::Call { emit: n, now }, o));
                        None
                    }
                    _ => Some(Msg::Stop(reason_of(op))),
                };
                if let Some(msg) = msg {
                    sim.with(p, |st, o| st.info(msg, o)).expect("taken");
                }
            }
            Op::Mode { accumulate } => {
                if sim.stopped(p).is_none() {
                    let mode = if accumulate {
                        DemandMode::Accumulate
                    } else {
                        DemandMode::Forward
                    };
                    sim.with(p, |st, o| st.set_demand_mode(mode, o));
                }
            }
            Op::Deliver { count, .. } => {
                for _ in 0..count {
                    sim.step();
                }
            }
            Op::Flush => {
                for _ in 0..FLUSH_STEPS {
                    if !sim.step() {
                        break;
                    }
                }
            }
        }
    }
    for _ in 0..FLUSH_STEPS {
        if !sim.step() {
            break;
        }
    }
    let replies = sim.take_replies::<Msg>();
    let journal = std::mem::take(&mut w.borrow_mut().journal);
    (sim.trace().to_vec(), journal, replies)
}

fn reason_of(op: &Op) -> Reason {
    match op {
        Op::StopStage { reason, .. } => *reason,
        _ => Reason::Normal,
    }
}

// ---------------------------------------------------------------------------------------------
// Focused models
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum BufOp {
    Push(u32),
    Marker,
    Pop,
    Released,
}

fn buf_op() -> impl Strategy<Value = BufOp> {
    prop_oneof![
        5 => any::<u32>().prop_map(BufOp::Push),
        2 => Just(BufOp::Marker),
        3 => Just(BufOp::Pop),
        2 => Just(BufOp::Released),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Event(u32),
    Marker(u64),
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// Invariant 1.
    #[test]
    fn no_over_delivery((cfg, ops) in scenario()) {
        check_no_over_delivery(&run(&cfg, &ops))?;
    }

    /// Invariant 2.
    #[test]
    fn conservation((cfg, ops) in scenario()) {
        check_conservation(&run(&cfg, &ops))?;
    }

    /// Invariant 3.
    #[test]
    fn per_subscription_fifo((cfg, ops) in scenario()) {
        check_fifo(&run(&cfg, &ops), false)?;
    }

    /// Invariant 3, info markers.
    #[test]
    fn info_markers_keep_their_place((cfg, ops) in scenario()) {
        check_fifo(&run(&cfg, &ops), true)?;
    }

    /// Invariant 4.
    #[test]
    fn demand_accounting((cfg, ops) in scenario()) {
        check_demand(&run(&cfg, &ops), Checks { asks: true, excess: false, outstanding: true })?;
    }

    /// Invariant 5.
    #[test]
    fn nothing_after_cancel((cfg, ops) in scenario()) {
        check_nothing_after_cancel(&run(&cfg, &ops))?;
    }

    /// Invariant 6: the same operations give the same journal and counters, through the
    /// router and through the simulator.
    #[test]
    fn determinism((cfg, ops) in scenario(), seed in any::<u64>()) {
        let (a, b) = (run(&cfg, &ops), run(&cfg, &ops));
        prop_assert_eq!(&a.journal, &b.journal);
        prop_assert_eq!(&a.snaps, &b.snaps);
        prop_assert_eq!(run_sim(&cfg, &ops, seed), run_sim(&cfg, &ops, seed));
    }

    /// The buffer against a `VecDeque` model: capacity counts events only, keep-first drops the
    /// incoming event, keep-last pushes out the oldest, and a marker is released once every
    /// event before it has left (taken or pushed out).
    #[test]
    fn buffer_matches_a_vecdeque_model(
        cap in prop::option::of(1usize..=5),
        keep in keep(),
        ops in prop::collection::vec(buf_op(), 0..60),
    ) {
        let mut b: Buffer<u32, Heap> = Buffer::new(cap, keep);
        let mut m: VecDeque<Slot> = VecDeque::new();
        let mut next = 0u64;
        for op in ops {
            let events = m.iter().filter(|s| matches!(s, Slot::Event(_))).count();
            let first_event = m.iter().position(|s| matches!(s, Slot::Event(_)));
            match op {
                BufOp::Push(e) => {
                    let dropped = if cap.is_some_and(|c| events >= c) {
                        if keep == Keep::Last {
                            m.remove(first_event.expect("full, so not empty"));
                            m.push_back(Slot::Event(e));
                        }
                        1
                    } else {
                        m.push_back(Slot::Event(e));
                        0
                    };
                    prop_assert_eq!(b.push(e), dropped);
                }
                BufOp::Marker => {
                    let id = MarkerId(next);
                    next += 1;
                    let want = if events == 0 {
                        Err(id)
                    } else {
                        m.push_back(Slot::Marker(id.0));
                        Ok(())
                    };
                    prop_assert_eq!(b.push_marker(id), want);
                }
                BufOp::Pop => {
                    let want = first_event.map(|i| match m.remove(i) {
                        Some(Slot::Event(e)) => e,
                        other => unreachable!("{other:?}"),
                    });
                    prop_assert_eq!(b.pop(), want);
                }
                BufOp::Released => {
                    let want = match m.front() {
                        Some(&Slot::Marker(id)) => {
                            m.pop_front();
                            Some(MarkerId(id))
                        }
                        _ => None,
                    };
                    prop_assert_eq!(b.pop_released(), want);
                }
            }
            let events = m.iter().filter(|s| matches!(s, Slot::Event(_))).count();
            let run_len = m.iter().take_while(|s| matches!(s, Slot::Event(_))).count();
            let markers = m.len() - events;
            prop_assert_eq!(b.len(), events);
            prop_assert_eq!(b.is_empty(), events == 0);
            prop_assert_eq!(b.run_len(), run_len);
            prop_assert_eq!(b.markers(), markers);
        }
    }

    /// `AutoDemand` against the reference model of spec §5.
    #[test]
    fn auto_demand_matches_the_reference_model(
        max in 1usize..=20,
        min in 0usize..20,
        messages in prop::collection::vec(0usize..=45, 0..20),
    ) {
        let min = min % max;
        let mut d = AutoDemand::new(max, min);
        let mut model = max;
        for n in messages {
            let got: Vec<Step> = d
                .plan(n)
                .flat_map(|c| {
                    let mut s = Vec::new();
                    if c.excess > 0 {
                        s.push(Step::Excess(c.excess));
                    }
                    s.push(Step::Chunk(c.len));
                    if c.ask > 0 {
                        s.push(Step::Ask(c.ask));
                    }
                    s
                })
                .collect();
            prop_assert_eq!(got, reference_chunks(max, min, &mut model, n));
            prop_assert_eq!(d.outstanding(), model);
            prop_assert!(d.outstanding() <= max);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shrunk cases, kept as plain tests (proptest's saved seeds go stale when strategies change)
// ---------------------------------------------------------------------------------------------

fn spec(max: usize, min: usize, manual: bool, cancel: CancelMode) -> SubSpec {
    SubSpec {
        max,
        min,
        manual,
        cancel,
    }
}

/// One producer with no buffer limit (keep first, forward), `deltas` [0], no producer_consumer,
/// and consumers with no initial subscription.
fn plain(sinks: usize) -> Config {
    Config {
        sinks,
        buffer: None,
        keep: Keep::First,
        accumulate: false,
        deltas: vec![0],
        budget: 150,
        cancel_emit: 0,
        mid: None,
        initial: Vec::new(),
    }
}

fn emit_op(n: usize, via: Via) -> Op {
    Op::Emit { mid: false, n, via }
}

fn subscribe_to_p(who: u8, max: usize) -> Op {
    Op::Subscribe {
        who,
        target: 1,
        sub: spec(max, 0, false, CancelMode::Temporary),
    }
}

fn deliver(count: u8) -> Op {
    Op::Deliver { pick: 0, count }
}

fn accumulate(on: bool) -> Op {
    Op::Mode { accumulate: on }
}

fn fifo(cfg: &Config, ops: &[Op]) -> Result<(), TestCaseError> {
    check_fifo(&run(cfg, ops), false)
}

/// Back to forward, a held demand's `handle_demand` ran before held events emitted earlier
/// were dispatched, and its events overtook them (consumer got 0, 2, 1).
#[test]
fn replayed_demand_does_not_overtake_older_held_events() -> Result<(), TestCaseError> {
    let ops = [
        accumulate(true),
        emit_op(1, Via::Info),
        subscribe_to_p(0, 1),
        deliver(2),
        emit_op(1, Via::Info),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// While accumulating, events taken from the buffer were held behind events emitted after
/// them (consumer got 1, 0).
#[test]
fn events_taken_from_the_buffer_replay_before_newer_held_events() -> Result<(), TestCaseError> {
    let ops = [
        subscribe_to_p(0, 1),
        emit_op(1, Via::Info),
        accumulate(true),
        emit_op(1, Via::Call),
        deliver(2),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// Two takes from the buffer while accumulating keep their order (a first version of the fix
/// above sent 4 before 0).
#[test]
fn events_taken_from_the_buffer_twice_replay_in_order() -> Result<(), TestCaseError> {
    let ops = [
        emit_op(4, Via::Info),
        subscribe_to_p(0, 4),
        emit_op(1, Via::Call),
        subscribe_to_p(0, 1),
        accumulate(true),
        deliver(4),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// Held events taken from the buffer are older than what the buffer kept (with a dispatch
/// that serves the buffer before newly emitted events, the consumer got 0 after 8).
#[test]
fn held_events_replay_before_what_the_buffer_kept() -> Result<(), TestCaseError> {
    let ops = [
        emit_op(3, Via::Info),
        emit_op(6, Via::Call),
        subscribe_to_p(0, 1),
        accumulate(true),
        deliver(2),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// A consumer leaves with unmet demand (the producer ran out), which the DemandDispatcher keeps
/// as `pending`; `handle_cancel` emits event 150, which is buffered. The next asks are absorbed
/// by `pending`, so the buffer is not served although two subscriptions now have demand, and
/// events emitted later go straight to them: consumer #2 gets 152, then 150.
#[test]
fn pending_demand_does_not_reorder_a_producers_events() -> Result<(), TestCaseError> {
    let cfg = Config {
        sinks: 3,
        cancel_emit: 1,
        ..plain(3)
    };
    let one = spec(1, 0, false, CancelMode::Temporary);
    let ops = [
        Op::Subscribe {
            who: 2,
            target: 1,
            sub: spec(6, 2, false, CancelMode::Temporary),
        },
        Op::Flush,
        Op::Resubscribe {
            who: 2,
            pick: 0,
            reason: Reason::Normal,
            sub: one,
        },
        Op::Subscribe {
            who: 0,
            target: 1,
            sub: one,
        },
        Op::Flush,
        emit_op(4, Via::Call),
    ];
    fifo(&cfg, &ops)
}

/// The same at a producer_consumer: its consumer #2 resubscribes and then goes down with
/// demand outstanding, which becomes `pending`; event 7 is buffered; consumer #5's next ask is
/// absorbed by `pending` and the output buffer is not served, so events made from later input
/// (10, 11, 14) reach #5 before 7.
#[test]
fn pending_demand_does_not_reorder_a_producer_consumers_events() -> Result<(), TestCaseError> {
    let cfg = Config {
        sinks: 4,
        deltas: vec![1],
        mid: Some(MidConfig {
            buffer: Some(3),
            keep: Keep::First,
            fanout: vec![1],
            cancel_emit: 0,
            sub: spec(1, 0, false, CancelMode::Temporary),
        }),
        initial: vec![
            (58, spec(1, 0, false, CancelMode::Permanent)),
            (0, spec(1, 0, false, CancelMode::Temporary)),
            (0, spec(1, 0, true, CancelMode::Temporary)),
            (62, spec(3, 0, false, CancelMode::Temporary)),
        ],
        ..plain(4)
    };
    let ops = [Op::Resubscribe {
        who: 1,
        pick: 0,
        reason: Reason::Normal,
        sub: spec(4, 0, false, CancelMode::Temporary),
    }];
    fifo(&cfg, &ops)
}
