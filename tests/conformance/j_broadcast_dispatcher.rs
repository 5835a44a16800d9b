//! J. BroadcastDispatcher (genstage-scenarios.md §J, and G5; spec §13, §21 Q12, Q15, Q16).
//!
//! J1–J7 drive the dispatcher alone, with [`Recorded`] as its context, and check each returned
//! upstream demand and the state `(entries, waiting, requested)` as the scenarios show it.
//! G5 and the Q15/Q16 tests run a producer stage with the dispatcher in the simulator.
//!
//! Where the port departs from GenStage on purpose (Q16: leftovers pay `requested` down and
//! are asked back), the test says so next to the line that differs.

use genstage::dispatcher::{BroadcastDispatcher, DispatchContext, Dispatcher, Recorded};
use genstage::runtime::*;
use genstage::sim::{Sim, ToProducerKind, TraceKind};
use genstage::storage::Deque;
use genstage::*;
use std::collections::VecDeque;

const P: StageId = StageId(0);

/// The subscription of raw peer `X<n>` (stage id `n`) to `P`.
fn s(n: u32) -> SubId {
    SubId::new(P, StageId(n), 0)
}

fn opts<E>() -> SubscribeOptions<E> {
    Subscribe::new().validate().unwrap()
}

type Bcast<E> = BroadcastDispatcher<E>;

/// `(entries, waiting, requested)`, as the scenarios write the state.
fn state<E>(d: &Bcast<E>) -> (Vec<(usize, SubId)>, usize, usize) {
    (d.entries().collect(), d.waiting(), d.requested())
}

fn chars(s: &str) -> VecDeque<char> {
    s.chars().collect()
}

#[test]
fn j1_subscribe_ask_cancel() {
    let s1 = s(1);
    let mut ctx = Recorded::<u32>::default();
    let mut d = Bcast::<u32>::new();
    assert_eq!(d.subscribe(s1, &opts(), &mut ctx), Ok(0));
    assert_eq!(state(&d), (vec![(0, s1)], 0, 0));
    assert_eq!(d.ask(s1, 10, &mut ctx), 10);
    assert_eq!(state(&d), (vec![(0, s1)], 10, 10));
    assert_eq!(d.cancel(s1, &mut ctx), 0);
    assert_eq!(state(&d), (vec![], 0, 10));

    let mut events: VecDeque<u32> = [1, 2, 3].into();
    d.dispatch(&mut events, &mut ctx);
    assert_eq!(events, [1, 2, 3], "all left over");
    assert!(ctx.sent.is_empty());
    // Q16: the three events reached the dispatcher, so they pay `requested` down (GenStage
    // keeps 10), and they are counted as buffered.
    assert_eq!(state(&d), (vec![], 0, 7));
    assert_eq!(d.buffered(), 3);
}

#[test]
fn j1_continuation_requested_demand_is_reused_by_a_new_subscriber() {
    let (s1, s2) = (s(1), s(2));
    let mut ctx = Recorded::<char>::default();
    let mut d = Bcast::<char>::new();
    d.subscribe(s1, &opts(), &mut ctx).unwrap();
    d.ask(s1, 10, &mut ctx);
    d.cancel(s1, &mut ctx);
    let mut leftovers = chars("123");
    d.dispatch(&mut leftovers, &mut ctx);

    assert_eq!(d.subscribe(s2, &opts(), &mut ctx), Ok(0));
    // Q16: GenStage returns 0 here (7 is in flight, 10 requested) and leaves the three
    // buffered events where they are. The port asks them back first: 3.
    assert_eq!(d.ask(s2, 5, &mut ctx), 3);
    assert_eq!(state(&d), (vec![(0, s2)], 5, 10));
    assert_eq!(d.buffered(), 0);
    let mut events = chars("abc");
    d.dispatch(&mut events, &mut ctx);
    assert_eq!(ctx.sent, vec![(s2, vec!['a', 'b', 'c'])]);
    // The same state as GenStage's from here on: 2 waiting, 7 still in flight.
    assert_eq!(state(&d), (vec![(0, s2)], 2, 7));
}

#[test]
fn j2_early_demand_then_a_second_subscriber() {
    let (s1, s2) = (s(1), s(2));
    let mut ctx = Recorded::<u32>::default();
    let mut d = Bcast::<u32>::new();
    d.subscribe(s1, &opts(), &mut ctx).unwrap();
    assert_eq!(d.ask(s1, 10, &mut ctx), 10);
    assert_eq!(state(&d), (vec![(0, s1)], 10, 10));
    assert_eq!(d.subscribe(s2, &opts(), &mut ctx), Ok(0));
    assert_eq!(state(&d), (vec![(0, s2), (10, s1)], 0, 10));
    assert_eq!(d.cancel(s1, &mut ctx), 0);
    assert_eq!(state(&d), (vec![(0, s2)], 0, 10));
    assert_eq!(d.ask(s2, 10, &mut ctx), 0, "10 is already requested");
    assert_eq!(state(&d), (vec![(0, s2)], 10, 10));
}

#[test]
fn j3_late_demand_released_by_cancelling_the_blocker() {
    let (s1, s2) = (s(1), s(2));
    let mut ctx = Recorded::<u32>::default();
    let mut d = Bcast::<u32>::new();
    d.subscribe(s1, &opts(), &mut ctx).unwrap();
    d.subscribe(s2, &opts(), &mut ctx).unwrap();
    assert_eq!(d.ask(s1, 10, &mut ctx), 0);
    assert_eq!(state(&d), (vec![(10, s1), (0, s2)], 0, 0));
    assert_eq!(d.cancel(s2, &mut ctx), 10);
    assert_eq!(state(&d), (vec![(0, s1)], 10, 10));
    assert_eq!(d.ask(s1, 10, &mut ctx), 10);
    assert_eq!(state(&d), (vec![(0, s1)], 20, 20));
}

#[test]
fn j5_repeats() {
    let (s1, s2) = (s(1), s(2));
    let mut ctx = Recorded::<char>::default();
    let mut d = Bcast::<char>::new();
    d.subscribe(s1, &opts(), &mut ctx).unwrap();
    assert_eq!(d.ask(s1, 10, &mut ctx), 10);
    let mut events = chars("abc");
    d.dispatch(&mut events, &mut ctx);
    assert!(events.is_empty());
    assert_eq!(ctx.sent, vec![(s1, vec!['a', 'b', 'c'])]);
    assert_eq!(state(&d), (vec![(0, s1)], 7, 7));

    assert_eq!(d.subscribe(s2, &opts(), &mut ctx), Ok(0));
    assert_eq!(state(&d), (vec![(0, s2), (7, s1)], 0, 7));
    assert_eq!(d.ask(s2, 20, &mut ctx), 0);
    assert_eq!(state(&d), (vec![(13, s2), (0, s1)], 7, 7));

    ctx.sent.clear();
    let mut events = chars("defghij");
    d.dispatch(&mut events, &mut ctx);
    assert!(events.is_empty());
    let seven: Vec<char> = "defghij".chars().collect();
    assert_eq!(ctx.sent, vec![(s2, seven.clone()), (s1, seven)]);
    assert_eq!(state(&d), (vec![(13, s2), (0, s1)], 0, 0));
    assert_eq!(d.outstanding(s2), Some(13));
    assert!(ctx.self_asks.is_empty());
}

#[test]
fn j7_selector_filtering_and_self_asks() {
    let (s1, s2) = (s(1), s(2));
    let mut ctx = Recorded::<&'static str>::default();
    let mut d = Bcast::<&'static str>::new();
    let pre = Subscribe::new()
        .selector(|k: &&'static str| k.starts_with("pre"))
        .validate()
        .unwrap();
    let pref = Subscribe::new()
        .selector(|k: &&'static str| k.starts_with("pref"))
        .validate()
        .unwrap();
    d.subscribe(s1, &pre, &mut ctx).unwrap();
    d.subscribe(s2, &pref, &mut ctx).unwrap();
    assert_eq!(d.ask(s2, 4, &mut ctx), 0);
    assert_eq!(d.ask(s1, 4, &mut ctx), 4);

    let mut events: VecDeque<&'static str> =
        ["pref-1234", "pref-5678", "pre0000", "foo0000"].into();
    d.dispatch(&mut events, &mut ctx);
    assert_eq!(
        ctx.sent,
        vec![
            (s1, vec!["pref-1234", "pref-5678", "pre0000"]),
            (s2, vec!["pref-1234", "pref-5678"]),
        ]
    );
    assert_eq!(ctx.self_asks, vec![(s1, 1), (s2, 2)]);
    assert!(events.is_empty(), "no leftovers");

    // The self-asks, handled like asks from the consumers, restore the demand: s2 can take 2
    // more and s1 1, so one more event may go to both.
    assert_eq!(d.ask(s1, 1, &mut ctx), 0);
    assert_eq!(d.ask(s2, 2, &mut ctx), 1);
    assert_eq!(state(&d), (vec![(1, s2), (0, s1)], 1, 1));
}

/// Q12: when a selector rejects every event of a dispatch, that consumer gets no message (an
/// empty one in GenStage), but its demand still comes back through a self-ask.
#[test]
fn j7_a_selector_that_rejects_everything_gets_no_empty_message_but_its_demand_back() {
    let (s1, s2) = (s(1), s(2));
    let mut ctx = Recorded::<&'static str>::default();
    let mut d = Bcast::<&'static str>::new();
    let pref = Subscribe::new()
        .selector(|k: &&'static str| k.starts_with("pref"))
        .validate()
        .unwrap();
    d.subscribe(s1, &opts(), &mut ctx).unwrap();
    d.subscribe(s2, &pref, &mut ctx).unwrap();
    d.ask(s1, 2, &mut ctx);
    assert_eq!(d.ask(s2, 2, &mut ctx), 2);
    let mut events: VecDeque<&'static str> = ["foo1", "foo2"].into();
    d.dispatch(&mut events, &mut ctx);
    assert_eq!(ctx.sent, vec![(s1, vec!["foo1", "foo2"])]);
    assert_eq!(ctx.self_asks, vec![(s2, 2)]);
}

/// Q15, unit level: a refused duplicate changes nothing, cancelling it (as GenStage's producer
/// does) changes nothing, and a third subscribe from the same consumer is refused too.
#[test]
fn j_q15_refusing_a_duplicate_leaves_the_live_subscription_alone() {
    let first = SubId::new(P, StageId(1), 0);
    let second = SubId::new(P, StageId(1), 1);
    let third = SubId::new(P, StageId(1), 2);
    let mut ctx = Recorded::<u32>::default();
    let mut d = Bcast::<u32>::new();
    assert_eq!(d.subscribe(first, &opts(), &mut ctx), Ok(0));
    assert_eq!(d.ask(first, 4, &mut ctx), 4);
    assert_eq!(
        d.subscribe(second, &opts(), &mut ctx),
        Err(Reason::AlreadySubscribed)
    );
    assert_eq!(state(&d), (vec![(0, first)], 4, 4));
    assert_eq!(d.cancel(second, &mut ctx), 0);
    assert_eq!(state(&d), (vec![(0, first)], 4, 4));
    assert!(d.is_subscribed(StageId(1)));
    assert_eq!(
        d.subscribe(third, &opts(), &mut ctx),
        Err(Reason::AlreadySubscribed)
    );
    assert_eq!(state(&d), (vec![(0, first)], 4, 4));
    // Once the live subscription is gone, the consumer may subscribe again.
    assert_eq!(d.cancel(first, &mut ctx), 0);
    assert!(!d.is_subscribed(StageId(1)));
    assert_eq!(d.subscribe(third, &opts(), &mut ctx), Ok(0));
}

// ----- stage level -----

/// What the test stages record.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cb {
    Subscribe(SubId),
    Demand(usize),
    Cancel(Cancellation, SubId),
    Events(SubId, Vec<u32>),
}

/// A producer whose `handle_demand` records the demand and emits nothing; a call emits the
/// events it carries.
#[derive(Default)]
struct Silent {
    log: Vec<Cb>,
}

impl Producer<Vec<u32>> for Silent {
    type Event = u32;
    fn handle_demand(&mut self, demand: usize, _out: &mut Emit<'_, u32>) -> Flow {
        self.log.push(Cb::Demand(demand));
        Flow::Continue
    }
    fn handle_subscribe(&mut self, sub: SubId, _opts: &SubscribeOptions<u32>) -> Flow {
        self.log.push(Cb::Subscribe(sub));
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _out: &mut Emit<'_, u32>) -> Flow {
        self.log.push(Cb::Cancel(how, sub));
        Flow::Continue
    }
    fn handle_call(
        &mut self,
        request: Vec<u32>,
        reply: &mut Reply<Vec<u32>>,
        out: &mut Emit<'_, u32>,
    ) -> Flow {
        let _ = out.extend(request);
        reply.reply(Vec::new());
        Flow::Continue
    }
}

/// A consumer that records its callbacks.
#[derive(Default)]
struct Rec {
    log: Vec<Cb>,
}

impl Rec {
    fn events(&self) -> Vec<u32> {
        self.log
            .iter()
            .flat_map(|c| match c {
                Cb::Events(_, e) => e.clone(),
                _ => vec![],
            })
            .collect()
    }
}

impl Consumer<Vec<u32>> for Rec {
    type Event = u32;
    fn handle_events(&mut self, events: Batch<'_, u32>, _ctx: &mut Ctx<'_>) -> Flow {
        let from = events.sub();
        self.log.push(Cb::Events(from, events.collect()));
        Flow::Continue
    }
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _opts: &SubscribeOptions<u32>,
        _ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        self.log.push(Cb::Subscribe(sub));
        Subscribed::Automatic
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _ctx: &mut Ctx<'_>) -> Flow {
        self.log.push(Cb::Cancel(how, sub));
        Flow::Continue
    }
}

type Prod<D> = ProducerStage<Silent, Vec<u32>, storage::Heap, D>;

fn producer<D: Dispatcher<u32> + 'static>(sim: &mut Sim, d: D) -> sim::Handle<Prod<D>> {
    let stage =
        ProducerStage::with_dispatcher(sim.next_id(), Silent::default(), ProducerOptions::new(), d)
            .unwrap();
    sim.add(stage)
}

fn emit<D: Dispatcher<u32> + 'static>(sim: &mut Sim, p: sim::Handle<Prod<D>>, events: Vec<u32>) {
    sim.with(p, |stage, out| stage.call(events, out))
        .expect("the producer is live");
    sim.run_until_idle();
}

fn refused(sub: SubId) -> TraceKind {
    TraceKind::Report(Report::SubscribeRefused {
        sub,
        reason: Reason::AlreadySubscribed,
    })
}

#[test]
fn g5_broadcast_rejects_a_second_subscription_from_the_same_consumer() {
    let mut sim = Sim::new(0);
    let p = producer(&mut sim, Bcast::<u32>::new());
    let c = sim.consumer::<Rec, Vec<u32>>(Rec::default());

    let first = sim.subscribe(c, p, Subscribe::new()).unwrap();
    sim.run_until_idle();
    assert_eq!(sim.stage(c).behaviour().log, vec![Cb::Subscribe(first)]);
    assert_eq!(
        sim.stage(p).behaviour().log,
        vec![Cb::Subscribe(first), Cb::Demand(1000)]
    );

    let trace_from = sim.trace().len();
    let second = sim.subscribe(c, p, Subscribe::new()).unwrap();
    sim.run_until_idle();
    let already = Cancellation::Cancel(Reason::AlreadySubscribed);
    assert_eq!(
        sim.stage(c).behaviour().log,
        vec![
            Cb::Subscribe(first),
            Cb::Subscribe(second),
            Cb::Cancel(already, second),
        ]
    );
    assert_eq!(
        sim.stage(p).behaviour().log,
        vec![
            Cb::Subscribe(first),
            Cb::Demand(1000),
            Cb::Subscribe(second),
            Cb::Cancel(already, second),
        ]
    );
    // The exact exchange: subscribe, refused (reported, as GenStage logs it) and cancelled; the
    // consumer's automatic ask on the refused subscription reaches the producer after the
    // refusal and is answered as unknown (as in GenStage); the consumer has already dropped
    // that subscription and ignores the answer.
    let kinds: Vec<TraceKind> = sim.trace()[trace_from..]
        .iter()
        .map(|t| t.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            TraceKind::ToProducer {
                sub: second,
                kind: ToProducerKind::Subscribe
            },
            refused(second),
            TraceKind::ToProducer {
                sub: second,
                kind: ToProducerKind::Ask(1000)
            },
            TraceKind::Report(Report::UnknownSubscription { sub: second }),
            TraceKind::ToConsumer {
                sub: second,
                reason: Reason::AlreadySubscribed
            },
            TraceKind::ToConsumer {
                sub: second,
                reason: Reason::UnknownSubscription
            },
        ]
    );
    // The consumer stays alive (its permanent subscription does not stop it on this reason)
    // and the producer still has exactly one consumer.
    assert_eq!(sim.stopped(c), None);
    assert_eq!(sim.stage(c).subscriptions().collect::<Vec<_>>(), [first]);
    assert_eq!(sim.stage(p).consumers().collect::<Vec<_>>(), [first]);
    assert_eq!(sim.stage(p).dispatcher().len(), 1);

    // Q15: a third subscribe is refused as well; the first keeps working.
    let third = sim.subscribe(c, p, Subscribe::new()).unwrap();
    sim.run_until_idle();
    assert!(sim.trace().iter().any(|t| t.kind == refused(third)));
    assert_eq!(sim.stage(p).consumers().collect::<Vec<_>>(), [first]);
    assert_eq!(sim.stopped(c), None);
    emit(&mut sim, p, vec![7, 8, 9]);
    assert_eq!(sim.stage(c).behaviour().events(), [7, 8, 9]);
    assert_eq!(sim.stage(p).dispatcher().outstanding(first), Some(997));
}

/// GenStage v1.3.2's BroadcastDispatcher, transcribed (spec §13), for the Q15 and Q16
/// comparisons: `requested` is kept when the last consumer leaves and only delivered events pay
/// it down; the set of subscribed consumers is kept apart from the entries and a cancel
/// removes the consumer from it whatever the subscription.
#[derive(Default)]
struct GenStageBroadcast {
    entries: Vec<(usize, SubId)>,
    waiting: usize,
    requested: usize,
    subscribed: Vec<StageId>,
}

impl GenStageBroadcast {
    fn sync(&mut self) -> usize {
        if let Some(min) = self.entries.iter().map(|e| e.0).min() {
            for e in &mut self.entries {
                e.0 -= min;
            }
            self.waiting += min;
        }
        let u = self.waiting.saturating_sub(self.requested);
        self.requested += u;
        u
    }
}

impl Dispatcher<u32> for GenStageBroadcast {
    fn subscribe<C: DispatchContext<u32>>(
        &mut self,
        sub: SubId,
        _opts: &SubscribeOptions<u32>,
        _ctx: &mut C,
    ) -> Result<usize, Reason> {
        if self.subscribed.contains(&sub.consumer) {
            return Err(Reason::AlreadySubscribed);
        }
        for e in &mut self.entries {
            e.0 += self.waiting;
        }
        self.waiting = 0;
        self.entries.insert(0, (0, sub));
        self.subscribed.push(sub.consumer);
        Ok(0)
    }
    fn ask<C: DispatchContext<u32>>(&mut self, sub: SubId, demand: usize, _ctx: &mut C) -> usize {
        let Some(i) = self.entries.iter().position(|e| e.1 == sub) else {
            return 0;
        };
        let (d, _) = self.entries.remove(i);
        self.entries.insert(0, (d + demand, sub));
        self.sync()
    }
    fn cancel<C: DispatchContext<u32>>(&mut self, sub: SubId, _ctx: &mut C) -> usize {
        self.subscribed.retain(|c| *c != sub.consumer);
        self.entries.retain(|e| e.1 != sub);
        if self.entries.is_empty() {
            self.waiting = 0;
            return 0;
        }
        self.sync()
    }
    fn dispatch<Q: Deque<u32>, C: DispatchContext<u32>>(&mut self, events: &mut Q, ctx: &mut C) {
        let now = events.len().min(self.waiting);
        let batch: Vec<u32> = (0..now).filter_map(|i| events.get(i).copied()).collect();
        for _ in 0..now {
            events.pop_front();
        }
        for e in &self.entries {
            ctx.deliver(e.1, batch.clone().into_iter());
        }
        self.waiting -= now;
        self.requested -= now;
    }
}

/// The Q16 scenario: a consumer asks 10 and leaves before the (slow) producer emits; the
/// producer then emits the 10 events it owed, which nobody can take, so they are buffered; a
/// new consumer subscribes and asks 3. Returns what it received and what stayed buffered.
fn q16_scenario<D: Dispatcher<u32> + 'static>(d: D) -> (Vec<u32>, usize, Vec<Cb>) {
    let mut sim = Sim::new(0);
    let p = producer(&mut sim, d);
    let c1 = sim.consumer::<Rec, Vec<u32>>(Rec::default());
    let c2 = sim.consumer::<Rec, Vec<u32>>(Rec::default());
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    let first = sim
        .subscribe(c1, p, temporary.clone().max_demand(10))
        .unwrap();
    sim.run_until_idle();
    sim.with(c1, |c, out| c.cancel(first, Reason::Normal, out))
        .unwrap();
    sim.run_until_idle();
    emit(&mut sim, p, (0..10).collect());
    assert_eq!(sim.stage(p).buffered_count(), 10, "nobody could take them");
    sim.subscribe(c2, p, temporary.max_demand(3)).unwrap();
    sim.run_until_idle();
    (
        sim.stage(c2).behaviour().events(),
        sim.stage(p).buffered_count(),
        sim.stage(p).behaviour().log.clone(),
    )
}

#[test]
fn j_q16_genstage_stalls_when_the_last_consumer_leaves_with_demand_in_flight() {
    let (received, buffered, _) = q16_scenario(GenStageBroadcast::default());
    // The new consumer's ask of 3 is covered by the 10 "still requested", so nothing is asked
    // upstream, nothing is served from the buffer, and the pipeline is idle for good.
    assert_eq!(received, Vec::<u32>::new());
    assert_eq!(buffered, 10);
}

#[test]
fn j_q16_the_port_reconciles_requested_and_does_not_stall() {
    let (received, buffered, log) = q16_scenario(Bcast::<u32>::new());
    // The ten buffered events paid the demand in flight off and were asked back: the new
    // consumer gets all of them, in order,.
    assert_eq!(received, (0..10).collect::<Vec<_>>());
    assert_eq!(buffered, 0);
    // Only then is new demand passed to the producer (none was asked twice before).
    let demands: Vec<usize> = log
        .iter()
        .filter_map(|c| match c {
            Cb::Demand(n) => Some(*n),
            _ => None,
        })
        .collect();
    // The buffer served the consumer's first 10; only the 3 it still waits for reach the
    // producer as new demand.
    assert_eq!(demands, [10, 3]);
}

/// Q15 with GenStage's bookkeeping: the cancel of the refused duplicate forgets the consumer,
/// so a third subscribe gets in. The port refuses it (see `g5_...` above).
#[test]
fn j_q15_genstage_accepts_a_third_subscription_after_refusing_the_second() {
    let mut sim = Sim::new(0);
    let mut faithful = GenStageBroadcast::default();
    let mut ctx = Recorded::<u32>::default();
    let (first, second, third) = (
        SubId::new(P, StageId(1), 0),
        SubId::new(P, StageId(1), 1),
        SubId::new(P, StageId(1), 2),
    );
    faithful.subscribe(first, &opts(), &mut ctx).unwrap();
    assert_eq!(
        faithful.subscribe(second, &opts(), &mut ctx),
        Err(Reason::AlreadySubscribed)
    );
    faithful.cancel(second, &mut ctx); // what GenStage's producer does with the refusal
    assert_eq!(faithful.subscribe(third, &opts(), &mut ctx), Ok(0));
    assert_eq!(
        faithful.entries.len(),
        2,
        "two live subscriptions, one consumer"
    );

    // The port, through a real producer stage.
    let p = producer(&mut sim, Bcast::<u32>::new());
    let c = sim.consumer::<Rec, Vec<u32>>(Rec::default());
    for _ in 0..3 {
        sim.subscribe(c, p, Subscribe::new()).unwrap();
        sim.run_until_idle();
    }
    assert_eq!(sim.stage(p).dispatcher().len(), 1);
    assert_eq!(sim.stage(p).consumers().count(), 1);
}

/// J7 at stage level: the self-ask for rejected events runs after the step, through the
/// producer's own queue, and its demand comes back to the dispatcher without counting as
/// demand the consumer asked: the subscription's counters agree with what the consumer sees
/// (asked 10, got 5, 5 outstanding).
#[test]
fn j7_stage_level_rejected_events_give_demand_back_without_counting_as_asked() {
    let mut p: Prod<Bcast<u32>> =
        ProducerStage::with_dispatcher(P, Silent::default(), ProducerOptions::new(), Bcast::new())
            .unwrap();
    let mut out: Recorder<u32, u32, Vec<u32>> = Recorder::new();
    let sub = s(1);
    let evens = Subscribe::new()
        .selector(|e: &u32| e.is_multiple_of(2))
        .validate()
        .unwrap();
    p.handle_to_producer(
        ToProducer::Subscribe {
            sub,
            previous: None,
            opts: evens,
        },
        &mut out,
    );
    p.handle_to_producer(ToProducer::Ask { sub, demand: 10 }, &mut out);
    p.call((0..10).collect(), &mut out)
        .expect("the producer is live");
    assert_eq!(
        out.take(),
        vec![
            Record::Events(sub, vec![0, 2, 4, 6, 8]),
            // The odd ones went to nobody: counted, not silently lost (docs/behaviour.md).
            Record::Output(Output::Report(Report::Discarded {
                count: 5,
                reason: DiscardReason::Dispatcher,
                log: true,
            })),
            Record::Output(Output::Reply(vec![])),
        ]
    );
    assert_eq!(p.stats().discarded.dispatcher, 5);
    // The five rejected events came back as demand; the producer owed 10 and got 10, so the
    // 5 are asked anew.
    assert_eq!(
        p.behaviour().log,
        vec![Cb::Subscribe(sub), Cb::Demand(10), Cb::Demand(5)]
    );
    assert_eq!(p.dispatcher().outstanding(sub), Some(5));
    let stats = p.subscription_stats(sub).unwrap();
    assert_eq!((stats.asked, stats.events, stats.outstanding), (10, 5, 5));
    assert_eq!(p.stats().demand_received, 10);
}
