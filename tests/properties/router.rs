//! The hand-written router: one FIFO channel per ordered pair of stages, delivery from a
//! picked channel, a raw peer that is not a stage, the [`Tap`] outbox through which every
//! stage's output is journalled and routed, and counters snapshotted after every operation.
//! [`run`] plays a scenario through it; [`run_sim`] plays the same scenario in the simulator.

use crate::journal::{Ev, J, Mid, Msg, Shared, Sink, Src, Wire};
use crate::model::{Config, Op, SubSpec, Via};
use genstage::runtime::{
    Outbox, Output, Record, StageStats, SubscriptionStats, ToConsumer, ToProducer,
};
use genstage::sim::{Handle, Sim, TraceEntry};
use genstage::{
    ConsumerRole, ConsumerStage, DemandMode, ProducerConsumerStage, ProducerOptions, ProducerStage,
    Reason, Stage, StageId, SubId,
};
use std::collections::BTreeMap;
use std::rc::Rc;

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
            rec: Record::Output(output.clone()),
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
// The router
// ---------------------------------------------------------------------------------------------

pub(crate) const P: StageId = StageId(0);
pub(crate) const PC: StageId = StageId(1);
pub(crate) const RAW: StageId = StageId(9);
const FLUSH_STEPS: usize = 300;

fn sink_id(i: usize) -> StageId {
    StageId(2 + i as u32)
}

/// Counters of one stage after an operation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StageSnap {
    pub(crate) id: StageId,
    pub(crate) stats: StageStats,
    pub(crate) buffered: usize,
    pub(crate) held: usize,
    pub(crate) queued: usize,
    /// Its subscriptions to producers, with their counters.
    pub(crate) subs: Vec<(SubId, SubscriptionStats)>,
    pub(crate) stopped: Option<Reason>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Snap {
    /// Journal length when taken.
    pub(crate) at: usize,
    pub(crate) stages: Vec<StageSnap>,
    /// Events in undelivered messages, by sender.
    pub(crate) in_flight: BTreeMap<StageId, usize>,
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

pub(crate) struct Run {
    pub(crate) cfg: Config,
    pub(crate) journal: Vec<J>,
    pub(crate) snaps: Vec<Snap>,
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

pub(crate) fn run(cfg: &Config, ops: &[Op]) -> Run {
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

pub(crate) fn run_sim(cfg: &Config, ops: &[Op], seed: u64) -> (Vec<TraceEntry>, Vec<J>, Vec<Msg>) {
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
