//! Property tests of the DemandDispatcher and the BroadcastDispatcher: random subscribe / ask /
//! dispatch / cancel / info sequences, checked after every operation. Case counts follow
//! `PROPTEST_CASES`.
//!
//! **Demand, unit level** (the dispatcher alone, with and without the first-dispatch shuffle):
//! each event goes to at most one consumer, in one message per consumer and dispatch; no
//! consumer receives more than it asked for; every dispatch's leftovers are the undelivered
//! tail, so leftovers + delivered = dispatched; every entry's demand is what its consumer asked
//! minus what it received; upstream demand never exceeds what was asked; infos are released at
//! once.
//!
//! **Broadcast, unit level**, driven the way a producer drives it (a FIFO buffer for the
//! leftovers served first by every upstream demand, self-asks handled after each step, and a
//! producer that emits on demand at once or later, or spontaneously): every consumer receives
//! exactly the events its selector accepts, in emission order, from the events dispatched
//! after it subscribed until it left, never an empty message; the dispatched events followed by
//! the buffer are exactly the emitted events in order; no consumer receives more than it asked;
//! `waiting` is the minimum outstanding demand; new demand is requested upstream only up to the
//! minimum outstanding demand minus what is in flight (so no demand is requested twice);
//! `requested` and `buffered` match what the producer owes and buffers; a duplicate subscribe
//! is refused and changes nothing; and nothing stalls: events stay buffered only while some
//! consumer has no demand, and demand that the buffer cannot serve is in flight.
//!
//! **Stage level**: a producer stage with each dispatcher, consumers as raw peers (subscribe,
//! ask, cancel, go down), a producer that emits on demand or later, and infos. The same
//! guarantees end to end, plus: an info reaches `handle_info` exactly when every event emitted
//! before it has left the buffer (broadcast), and events and buffer always add up to what was
//! emitted.

use genstage::dispatcher::{BroadcastDispatcher, DemandDispatcher, DemandOptions};
use genstage::dispatcher::{Dispatcher, Recorded};
use genstage::runtime::*;
use genstage::*;
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};

const P: StageId = StageId(0);
const CONSUMERS: usize = 4;

/// The selectors a subscription may carry.
type SelectorFn = fn(&u64) -> bool;
const SELECTORS: [Option<SelectorFn>; 4] = [
    None,
    Some(|e: &u64| e.is_multiple_of(2)),
    Some(|e: &u64| e % 2 == 1),
    Some(|e: &u64| e.is_multiple_of(3)),
];

fn accepts(sel: usize, e: u64) -> bool {
    SELECTORS[sel].is_none_or(|f| f(&e))
}

fn sub_opts(sel: usize) -> SubscribeOptions<u64> {
    let s = Subscribe::new();
    match SELECTORS[sel] {
        Some(f) => s.selector(f),
        None => s,
    }
    .validate()
    .unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    /// Consumer stage `c` subscribes with selector `sel` (refused if it already is, for
    /// broadcast).
    Subscribe(usize, usize),
    /// Consumer `c` asks for `n` more.
    Ask(usize, usize),
    /// Consumer `c` cancels.
    Cancel(usize),
    /// Consumer `c` goes down (stage level; a cancel at unit level).
    Down(usize),
    /// The producer emits `k` new events on its own.
    Emit(usize),
    /// A lazy producer emits up to `k` of the events it owes.
    Flush(usize),
    /// An info message.
    Info,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CONSUMERS;
    prop_oneof![
        2 => (c.clone(), 0..SELECTORS.len()).prop_map(|(c, s)| Op::Subscribe(c, s)),
        5 => (c.clone(), 0usize..12).prop_map(|(c, n)| Op::Ask(c, n)),
        1 => c.clone().prop_map(Op::Cancel),
        1 => c.prop_map(Op::Down),
        2 => (0usize..15).prop_map(Op::Emit),
        3 => (0usize..15).prop_map(Op::Flush),
        1 => Just(Op::Info),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 0..80)
}

// ===================================================================================== demand

mod demand_unit {
    use super::*;

    /// One subscription as the test sees it.
    struct Sub {
        sub: SubId,
        asked: usize,
        received: Vec<u64>,
        live: bool,
    }

    pub fn run(ops: &[Op], shuffle: Option<u64>) -> Result<(), TestCaseError> {
        let mut d: DemandDispatcher = match shuffle {
            Some(seed) => DemandDispatcher::with_options(
                DemandOptions::new().shuffle_demands_on_first_dispatch(seed),
            )
            .unwrap(),
            None => DemandDispatcher::new(),
        };
        let mut ctx = Recorded::<u64>::default();
        let mut subs: Vec<Sub> = Vec::new();
        let mut live: [Option<usize>; CONSUMERS] = [None; CONSUMERS];
        let mut seq = [0u32; CONSUMERS];
        let mut next = 0u64;
        let mut seen: HashSet<u64> = HashSet::new();
        let (mut asked_total, mut upstream_total) = (0usize, 0usize);
        let mut markers = 0u64;
        // Spec §12.7: a cancelled consumer's outstanding demand was requested already; asks
        // and leftovers pay it off.
        let mut pending = 0usize;

        for op in ops {
            match *op {
                Op::Subscribe(c, sel) => {
                    if live[c].is_some() {
                        continue; // one live subscription per consumer in this model
                    }
                    let sub = SubId::new(P, StageId(c as u32 + 1), seq[c]);
                    seq[c] += 1;
                    // The DemandDispatcher refuses selectors (it would ignore them).
                    let _ = sel;
                    prop_assert_eq!(d.subscribe(sub, &sub_opts(0), &mut ctx), Ok(0));
                    live[c] = Some(subs.len());
                    subs.push(Sub {
                        sub,
                        asked: 0,
                        received: Vec::new(),
                        live: true,
                    });
                }
                Op::Ask(c, n) => {
                    let Some(i) = live[c] else { continue };
                    let u = Dispatcher::<u64>::ask(&mut d, subs[i].sub, n, &mut ctx);
                    let paid = pending.min(n);
                    pending -= paid;
                    prop_assert_eq!(u, n - paid, "the ask minus what was already requested");
                    subs[i].asked += n;
                    asked_total += n;
                    upstream_total += u;
                }
                Op::Cancel(c) | Op::Down(c) => {
                    let Some(i) = live[c].take() else { continue };
                    prop_assert_eq!(Dispatcher::<u64>::cancel(&mut d, subs[i].sub, &mut ctx), 0);
                    subs[i].live = false;
                    pending += subs[i].asked - subs[i].received.len();
                }
                Op::Emit(k) | Op::Flush(k) => {
                    let batch: Vec<u64> = (next..next + k as u64).collect();
                    next += k as u64;
                    let mut q: VecDeque<u64> = batch.iter().copied().collect();
                    let before = ctx.sent.len();
                    d.dispatch(&mut q, &mut ctx);
                    let new = &ctx.sent[before..];
                    let delivered: Vec<u64> = new.iter().flat_map(|m| m.1.clone()).collect();
                    // Leftovers + delivered = dispatched, and leftovers are the tail.
                    prop_assert_eq!(delivered.len() + q.len(), k);
                    prop_assert_eq!(&delivered[..], &batch[..delivered.len()]);
                    prop_assert_eq!(
                        q.iter().copied().collect::<Vec<_>>(),
                        &batch[delivered.len()..]
                    );
                    pending -= pending.min(q.len());
                    let mut once: HashSet<SubId> = HashSet::new();
                    for (sub, events) in new {
                        prop_assert!(!events.is_empty());
                        prop_assert!(once.insert(*sub), "one message per consumer");
                        let i = subs.iter().position(|s| s.sub == *sub && s.live);
                        prop_assert!(i.is_some(), "sent to a live subscription");
                        subs[i.unwrap()].received.extend(events);
                        for e in events {
                            prop_assert!(seen.insert(*e), "event {} delivered twice", e);
                        }
                    }
                }
                Op::Info => {
                    Dispatcher::<u64>::info(&mut d, MarkerId(markers), &mut ctx);
                    prop_assert_eq!(ctx.released.last(), Some(&MarkerId(markers)));
                    markers += 1;
                }
            }
            // After every operation.
            prop_assert!(upstream_total <= asked_total);
            prop_assert_eq!(d.pending(), pending);
            let mut entries: Vec<(usize, SubId)> = d.entries().to_vec();
            entries.sort_by_key(|e| e.1);
            let mut model: Vec<(usize, SubId)> = subs
                .iter()
                .filter(|s| s.live)
                .map(|s| {
                    assert!(s.received.len() <= s.asked, "never more than asked");
                    (s.asked - s.received.len(), s.sub)
                })
                .collect();
            model.sort_by_key(|e| e.1);
            prop_assert_eq!(entries, model);
            if !d.shuffle_pending() {
                // Sorted by descending demand once the shuffle is over... except right after
                // it; what must hold always is that no zero-demand entry precedes one with
                // demand (dispatch stops at the first zero).
                let e = d.entries();
                let first_zero = e.iter().position(|x| x.0 == 0).unwrap_or(e.len());
                prop_assert!(e[first_zero..].iter().all(|x| x.0 == 0));
            }
        }
        prop_assert!(ctx.self_asks.is_empty());
        Ok(())
    }
}

// ================================================================================== broadcast

mod broadcast_unit {
    use super::*;

    struct Sub {
        sub: SubId,
        sel: usize,
        /// Broadcast position when it subscribed, and when it left.
        start: usize,
        end: Option<usize>,
        asked: usize,
        self_asked: usize,
        received: Vec<u64>,
    }

    /// A producer around the dispatcher, as `ProducerStage` drives it.
    struct Harness {
        d: BroadcastDispatcher<u64>,
        ctx: Recorded<u64>,
        eager: bool,
        next: u64,
        /// Events dispatched to the consumers so far: they must be `0..sent`.
        sent: usize,
        buffer: VecDeque<u64>,
        owed: usize,
        subs: Vec<Sub>,
        live: [Option<usize>; CONSUMERS],
        seq: [u32; CONSUMERS],
        selfq: VecDeque<(SubId, usize)>,
    }

    impl Harness {
        fn state(&self) -> (Vec<(usize, SubId)>, usize, usize, usize) {
            (
                self.d.entries().collect(),
                self.d.waiting(),
                self.d.requested(),
                self.d.buffered(),
            )
        }

        fn dispatch(
            &mut self,
            events: Vec<u64>,
            from_buffer: bool,
        ) -> Result<usize, TestCaseError> {
            let (sent_before, asks_before) = (self.ctx.sent.len(), self.ctx.self_asks.len());
            let mut q: VecDeque<u64> = events.iter().copied().collect();
            self.d.dispatch(&mut q, &mut self.ctx);
            let now = events.len() - q.len();
            let prefix = &events[..now];
            // Emission order: what goes out next is exactly the next events emitted.
            let expected: Vec<u64> = (self.sent as u64..(self.sent + now) as u64).collect();
            prop_assert_eq!(prefix, &expected[..], "dispatched out of emission order");
            prop_assert_eq!(&q.iter().copied().collect::<Vec<_>>()[..], &events[now..]);
            self.sent += now;
            let messages: Vec<(SubId, Vec<u64>)> = self.ctx.sent[sent_before..].to_vec();
            let asks: Vec<(SubId, usize)> = self.ctx.self_asks[asks_before..].to_vec();
            for (sub, batch) in &messages {
                prop_assert!(!batch.is_empty(), "no empty message (Q12)");
                prop_assert_eq!(messages.iter().filter(|m| m.0 == *sub).count(), 1);
                let i = self
                    .subs
                    .iter()
                    .position(|s| s.sub == *sub && s.end.is_none());
                prop_assert!(i.is_some(), "sent to a live subscription");
            }
            for i in self.live.iter().flatten().copied() {
                let s = &mut self.subs[i];
                let want: Vec<u64> = prefix
                    .iter()
                    .copied()
                    .filter(|e| accepts(s.sel, *e))
                    .collect();
                let got = messages.iter().find(|m| m.0 == s.sub).map(|m| m.1.clone());
                prop_assert_eq!(got.clone().unwrap_or_default(), want.clone());
                s.received.extend(want.iter().copied());
                let rejected = now - want.len();
                let ask = asks.iter().find(|a| a.0 == s.sub).map(|a| a.1);
                prop_assert_eq!(ask, (rejected > 0).then_some(rejected), "self-ask");
            }
            prop_assert_eq!(
                asks.len(),
                asks.iter().map(|a| a.0).collect::<HashSet<_>>().len()
            );
            self.selfq.extend(asks);
            let left = q.len();
            if from_buffer {
                while let Some(e) = q.pop_back() {
                    self.buffer.push_front(e);
                }
            } else {
                self.buffer.extend(q);
            }
            Ok(left)
        }

        /// The producer emits `k` new events; they pay off what it owes.
        fn produce(&mut self, k: usize) -> Result<usize, TestCaseError> {
            let events: Vec<u64> = (self.next..self.next + k as u64).collect();
            self.next += k as u64;
            self.owed -= self.owed.min(k);
            self.dispatch(events, false)
        }

        /// Upstream demand `u`: the buffer first, then the producer.
        fn demand(&mut self, u: usize) -> Result<(), TestCaseError> {
            let k = u.min(self.buffer.len());
            if k > 0 {
                let events: Vec<u64> = self.buffer.drain(..k).collect();
                self.dispatch(events, true)?;
            }
            let rest = u - k;
            if rest > 0 {
                self.owed += rest;
                // New production is asked only up to what every consumer can take, counting
                // what is in flight: no demand is requested twice.
                prop_assert!(
                    self.owed <= self.d.waiting(),
                    "owed {} > waiting {}",
                    self.owed,
                    self.d.waiting()
                );
                if self.eager {
                    let left = self.produce(rest)?;
                    prop_assert_eq!(left, 0, "events made on demand are never left over");
                }
            }
            Ok(())
        }

        fn settle(&mut self) -> Result<(), TestCaseError> {
            while let Some((sub, k)) = self.selfq.pop_front() {
                let Some(i) = self
                    .subs
                    .iter()
                    .position(|s| s.sub == sub && s.end.is_none())
                else {
                    continue;
                };
                self.subs[i].self_asked += k;
                let u = self.d.ask(sub, k, &mut self.ctx);
                self.demand(u)?;
            }
            Ok(())
        }

        fn check(&self, owed_before: usize) -> Result<(), TestCaseError> {
            let d = &self.d;
            prop_assert_eq!(
                d.requested(),
                self.owed,
                "requested is what the producer owes"
            );
            prop_assert_eq!(d.buffered(), self.buffer.len(), "buffered is the buffer");
            let rest: Vec<u64> = (self.sent as u64..self.next).collect();
            prop_assert_eq!(
                self.buffer.iter().copied().collect::<Vec<_>>(),
                rest,
                "dispatched ++ buffer = emitted"
            );
            let mut outstanding = Vec::new();
            for s in &self.subs {
                let end = s.end.unwrap_or(self.sent);
                let want: Vec<u64> = (s.start as u64..end as u64)
                    .filter(|e| accepts(s.sel, *e))
                    .collect();
                prop_assert_eq!(&s.received, &want, "exactly the accepted events, in order");
                if s.end.is_none() {
                    prop_assert!(s.received.len() <= s.asked, "never more than asked");
                    let o = s.asked + s.self_asked - (self.sent - s.start);
                    prop_assert_eq!(d.outstanding(s.sub), Some(o));
                    outstanding.push(o);
                }
            }
            // `waiting` is the minimum outstanding demand.
            prop_assert_eq!(outstanding.iter().copied().min().unwrap_or(0), d.waiting());
            // No stall: events stay buffered only while some consumer has no demand, and
            // demand the buffer cannot serve is in flight.
            if !self.buffer.is_empty() {
                prop_assert_eq!(d.waiting(), 0, "buffered events while everyone has demand");
            }
            prop_assert!(
                d.waiting() <= self.owed,
                "demand neither served nor in flight"
            );
            prop_assert!(self.owed <= owed_before.max(d.waiting()));
            Ok(())
        }
    }

    pub fn run(ops: &[Op], eager: bool) -> Result<(), TestCaseError> {
        let mut h = Harness {
            d: BroadcastDispatcher::new(),
            ctx: Recorded::default(),
            eager,
            next: 0,
            sent: 0,
            buffer: VecDeque::new(),
            owed: 0,
            subs: Vec::new(),
            live: [None; CONSUMERS],
            seq: [0; CONSUMERS],
            selfq: VecDeque::new(),
        };
        let mut markers = 0;
        for op in ops {
            let owed_before = h.owed;
            match *op {
                Op::Subscribe(c, sel) => {
                    let sub = SubId::new(P, StageId(c as u32 + 1), h.seq[c]);
                    h.seq[c] += 1;
                    let before = h.state();
                    let r = h.d.subscribe(sub, &sub_opts(sel), &mut h.ctx);
                    if h.live[c].is_some() {
                        prop_assert_eq!(r, Err(Reason::AlreadySubscribed));
                        prop_assert_eq!(h.state(), before.clone(), "a refusal changes nothing");
                        // The producer does not tell the dispatcher about the refused one; if
                        // anything did, it would change nothing either (Q15).
                        prop_assert_eq!(h.d.cancel(sub, &mut h.ctx), 0);
                        prop_assert_eq!(h.state(), before);
                    } else {
                        prop_assert_eq!(r, Ok(0));
                        h.live[c] = Some(h.subs.len());
                        h.subs.push(Sub {
                            sub,
                            sel,
                            start: h.sent,
                            end: None,
                            asked: 0,
                            self_asked: 0,
                            received: Vec::new(),
                        });
                    }
                }
                Op::Ask(c, n) => {
                    let Some(i) = h.live[c] else { continue };
                    h.subs[i].asked += n;
                    let u = h.d.ask(h.subs[i].sub, n, &mut h.ctx);
                    h.demand(u)?;
                }
                Op::Cancel(c) | Op::Down(c) => {
                    let Some(i) = h.live[c].take() else { continue };
                    h.subs[i].end = Some(h.sent);
                    let u = h.d.cancel(h.subs[i].sub, &mut h.ctx);
                    h.demand(u)?;
                }
                Op::Emit(k) => {
                    h.produce(k)?;
                }
                Op::Flush(k) => {
                    let k = k.min(h.owed);
                    h.produce(k)?;
                }
                Op::Info => {
                    Dispatcher::<u64>::info(&mut h.d, MarkerId(markers), &mut h.ctx);
                    prop_assert_eq!(h.ctx.released.last(), Some(&MarkerId(markers)));
                    markers += 1;
                }
            }
            h.settle()?;
            h.check(owed_before)?;
        }
        Ok(())
    }
}

// ============================================================================== stage level

mod stage {
    use super::*;
    use genstage::storage::Heap;

    #[derive(Clone, Debug, PartialEq)]
    pub enum Cmd {
        Emit(usize),
        Flush(usize),
        Info(u64),
        Ok,
    }

    /// Emits on demand at once (eager) or when told (lazy), and on its own when told.
    pub struct Source {
        next: u64,
        owed: usize,
        eager: bool,
        infos: Vec<u64>,
    }

    impl Source {
        fn emit(&mut self, k: usize, out: &mut Emit<'_, u64>) {
            let n = out.extend(self.next..self.next + k as u64);
            self.next += n as u64;
            self.owed -= self.owed.min(n);
        }
    }

    impl Producer<Cmd> for Source {
        type Event = u64;
        fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
            self.owed += demand;
            if self.eager {
                self.emit(demand, out);
            }
            Flow::Continue
        }
        fn handle_call(
            &mut self,
            request: Cmd,
            reply: &mut Reply<Cmd>,
            out: &mut Emit<'_, u64>,
        ) -> Flow {
            match request {
                Cmd::Emit(k) => self.emit(k, out),
                Cmd::Flush(k) => {
                    let k = k.min(self.owed);
                    self.emit(k, out);
                }
                _ => {}
            }
            reply.reply(Cmd::Ok);
            Flow::Continue
        }
        fn handle_info(&mut self, msg: Cmd, _out: &mut Emit<'_, u64>) -> Flow {
            if let Cmd::Info(i) = msg {
                self.infos.push(i);
            }
            Flow::Continue
        }
    }

    /// What a test needs from a dispatcher besides the trait.
    pub trait Inspect: Dispatcher<u64> + 'static {
        const BROADCAST: bool;
        fn make() -> Self;
        /// What `sub` may still receive.
        fn outstanding(&self, sub: SubId) -> Option<usize>;
        fn check(&self, _owed: usize, _buffered: usize) -> Result<(), TestCaseError> {
            Ok(())
        }
    }

    impl Inspect for DemandDispatcher {
        const BROADCAST: bool = false;
        fn make() -> Self {
            DemandDispatcher::new()
        }
        fn outstanding(&self, sub: SubId) -> Option<usize> {
            self.entries().iter().find(|e| e.1 == sub).map(|e| e.0)
        }
    }

    impl Inspect for BroadcastDispatcher<u64> {
        const BROADCAST: bool = true;
        fn make() -> Self {
            BroadcastDispatcher::new()
        }
        fn outstanding(&self, sub: SubId) -> Option<usize> {
            BroadcastDispatcher::outstanding(self, sub)
        }
        fn check(&self, owed: usize, buffered: usize) -> Result<(), TestCaseError> {
            prop_assert_eq!(self.requested(), owed);
            prop_assert_eq!(self.buffered(), buffered);
            if buffered > 0 {
                prop_assert_eq!(
                    self.waiting(),
                    0,
                    "buffered events while everyone has demand"
                );
            }
            prop_assert!(
                self.waiting() <= owed,
                "demand neither served nor in flight"
            );
            Ok(())
        }
    }

    struct Sub {
        sub: SubId,
        sel: usize,
        start: usize,
        end: Option<usize>,
        asked: usize,
        received: Vec<u64>,
    }

    pub fn run<D: Inspect>(ops: &[Op], eager: bool) -> Result<(), TestCaseError> {
        let source = Source {
            next: 0,
            owed: 0,
            eager,
            infos: Vec::new(),
        };
        let mut p: ProducerStage<Source, Cmd, Heap, D> = ProducerStage::with_dispatcher(
            P,
            source,
            ProducerOptions::new().unbounded_buffer(),
            D::make(),
        )
        .unwrap();
        let mut out: Recorder<u64, u64, Cmd> = Recorder::new();
        let mut subs: Vec<Sub> = Vec::new();
        let mut live: [Option<usize>; CONSUMERS] = [None; CONSUMERS];
        let mut seq = [0u32; CONSUMERS];
        let mut refused: Vec<SubId> = Vec::new();
        let mut infos: Vec<(u64, usize)> = Vec::new(); // (id, events emitted before it)
        let mut seen: HashSet<u64> = HashSet::new();

        // Where the broadcast stands: every event not buffered has been dispatched.
        let position = |p: &ProducerStage<Source, Cmd, Heap, D>| {
            p.behaviour().next as usize - p.buffered_count()
        };
        for op in ops {
            let before = position(&p);
            match *op {
                Op::Subscribe(c, sel) => {
                    // Only the broadcast dispatcher takes selectors; the others refuse them.
                    let sel = if D::BROADCAST { sel } else { 0 };
                    if !D::BROADCAST && live[c].is_some() {
                        continue; // one live subscription per consumer in this model
                    }
                    // Selectors are a broadcast option; the demand dispatcher ignores them.
                    let sel = if D::BROADCAST { sel } else { 0 };
                    let sub = SubId::new(P, StageId(c as u32 + 1), seq[c]);
                    seq[c] += 1;
                    if live[c].is_some() {
                        refused.push(sub);
                    } else {
                        live[c] = Some(subs.len());
                        subs.push(Sub {
                            sub,
                            sel,
                            start: before,
                            end: None,
                            asked: 0,
                            received: Vec::new(),
                        });
                    }
                    let msg = ToProducer::Subscribe {
                        sub,
                        previous: None,
                        opts: sub_opts(sel),
                    };
                    p.handle_to_producer(msg, &mut out);
                }
                Op::Ask(c, n) => {
                    let Some(i) = live[c] else { continue };
                    subs[i].asked += n;
                    let sub = subs[i].sub;
                    p.handle_to_producer(ToProducer::Ask { sub, demand: n }, &mut out);
                }
                Op::Cancel(c) => {
                    let Some(i) = live[c].take() else { continue };
                    subs[i].end = Some(before);
                    let sub = subs[i].sub;
                    let reason = Reason::Normal;
                    p.handle_to_producer(ToProducer::Cancel { sub, reason }, &mut out);
                }
                Op::Down(c) => {
                    let Some(i) = live[c].take() else { continue };
                    subs[i].end = Some(before);
                    p.handle_down(StageId(c as u32 + 1), Reason::Killed, &mut out);
                }
                Op::Emit(k) => p.call(Cmd::Emit(k), &mut out).unwrap(),
                Op::Flush(k) => p.call(Cmd::Flush(k), &mut out).unwrap(),
                Op::Info => {
                    let id = infos.len() as u64;
                    infos.push((id, p.behaviour().next as usize));
                    prop_assert!(p.info(Cmd::Info(id), &mut out).is_ok());
                }
            }
            // Route what came out.
            for r in out.take() {
                match r {
                    Record::Events(sub, batch) => {
                        prop_assert!(!batch.is_empty());
                        let i = subs.iter().position(|s| s.sub == sub && s.end.is_none());
                        prop_assert!(i.is_some(), "events for a subscription that has ended");
                        let s = &mut subs[i.unwrap()];
                        s.received.extend(&batch);
                        for e in batch {
                            prop_assert!(accepts(s.sel, e), "the selector rejected {}", e);
                            if !D::BROADCAST {
                                prop_assert!(seen.insert(e), "event {} delivered twice", e);
                            }
                        }
                    }
                    Record::Output(Output::ToConsumer(ToConsumer::Cancel { sub, reason })) => {
                        if let Some(k) = refused.iter().position(|r| *r == sub) {
                            prop_assert_eq!(reason, Reason::AlreadySubscribed);
                            refused.remove(k);
                        } else {
                            prop_assert_eq!(reason, Reason::Normal, "a confirmed cancel");
                        }
                    }
                    Record::Output(Output::Stop(r)) => {
                        prop_assert!(false, "the producer stopped: {:?}", r);
                    }
                    _ => {}
                }
            }
            let now = position(&p);
            let live_subs: Vec<SubId> = live.iter().flatten().map(|i| subs[*i].sub).collect();
            prop_assert!(refused.is_empty(), "every refused duplicate was cancelled");

            // Checks.
            let emitted = p.behaviour().next as usize;
            let buffered = p.buffered_count();
            prop_assert_eq!(p.held_count(), 0);
            let consumers: Vec<SubId> = p.consumers().collect();
            prop_assert_eq!(consumers.len(), live_subs.len());
            for s in &subs {
                prop_assert!(s.received.len() <= s.asked, "never more than asked");
                if s.end.is_none() {
                    // Rejected events give their demand back: what is left is what was asked
                    // minus what was received.
                    let left = s.asked - s.received.len();
                    prop_assert_eq!(p.dispatcher().outstanding(s.sub), Some(left));
                }
            }
            if D::BROADCAST {
                for s in &subs {
                    let end = s.end.unwrap_or(now);
                    let want: Vec<u64> = (s.start as u64..end as u64)
                        .filter(|e| accepts(s.sel, *e))
                        .collect();
                    prop_assert_eq!(&s.received, &want, "exactly the accepted events, in order");
                }
                // An info passes exactly when every event emitted before it has left the buffer.
                let released: Vec<u64> = infos
                    .iter()
                    .filter(|(_, before)| *before <= now)
                    .map(|(id, _)| *id)
                    .collect();
                prop_assert_eq!(&p.behaviour().infos, &released);
            } else {
                let delivered: usize = subs.iter().map(|s| s.received.len()).sum();
                prop_assert_eq!(
                    delivered + buffered,
                    emitted,
                    "delivered + buffered = emitted"
                );
                if buffered == 0 {
                    prop_assert_eq!(p.behaviour().infos.len(), infos.len());
                }
            }
            p.dispatcher().check(p.behaviour().owed, buffered)?;
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn demand_dispatcher_unit(ops in ops(), shuffle in proptest::option::of(any::<u64>())) {
        demand_unit::run(&ops, shuffle)?;
    }

    #[test]
    fn broadcast_dispatcher_unit(ops in ops(), eager in any::<bool>()) {
        broadcast_unit::run(&ops, eager)?;
    }

    #[test]
    fn demand_dispatcher_in_a_producer(ops in ops(), eager in any::<bool>()) {
        stage::run::<DemandDispatcher>(&ops, eager)?;
    }

    #[test]
    fn broadcast_dispatcher_in_a_producer(ops in ops(), eager in any::<bool>()) {
        stage::run::<BroadcastDispatcher<u64>>(&ops, eager)?;
    }
}
