//! The protocol rules suite: one test per applicable Reactive Streams rule (numbered as in
//! the Reactive Streams JVM specification 1.0.4), each driving stages directly through the
//! one driving surface with a recording outbox.
//!
//! GenStage's protocol maps onto Reactive Streams: a consumer's ask is `request(n)`, a
//! producer's events are `onNext`, a cancel is `cancel()`, and a stop with a reason is
//! `onComplete` (normal) or `onError` (any other reason), told to peers by a down notice.
//!
//! Rules that do **not** apply, and why:
//!
//! * 1.3, 2.7, 3.1, 3.4 (signals are serial, thread safety of `request`/`cancel`): a stage is
//!   a state machine driven one input at a time by `&mut self`; the borrow checker makes
//!   concurrent signals unrepresentable.
//! * 1.9, 2.13, 3.16 and the `null` rules: there are no `null`s or exceptions in Rust; every
//!   message is a typed value and every method returns normally (a panicking user callback
//!   is a runtime matter: the simulator's `catch_panics`).
//! * 1.10, 2.5 about subscribing the same `Subscriber` twice: GenStage allows a consumer
//!   many subscriptions, each with its own id; a duplicated *id* is refused (tested below).
//! * 3.3 (recursion bounds between `request` and `onNext`): outputs go to an outbox, never
//!   into a call on the peer, so there is no recursion.
//! * 3.10, 3.11 (synchronous `request`): requests are messages; the runtime delivers them.
//! * 3.13 (drop references on cancel): memory is owned, freed when the subscription ends.
//! * 3.9 says a request of 0 or less is an error signalled to the subscriber: here a demand is
//!   a `usize`, so a negative one is unrepresentable, and an ask of 0 is a no-op that sends
//!   nothing (GenStage's behaviour), tested below.

use genstage::runtime::*;
use genstage::*;

type Rec = Recorder<u64, u64, ()>;

/// Emits `factor` times what is asked (a producer that tries to over-deliver).
struct Greedy {
    next: u64,
    factor: usize,
}
impl Producer for Greedy {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let n = demand.min(1000).saturating_mul(self.factor) as u64;
        self.next += out.extend(self.next..self.next + n) as u64;
        Flow::Continue
    }
}

#[derive(Default)]
struct Sink(Vec<u64>);
impl Consumer for Sink {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.0.extend(events);
        Flow::Continue
    }
}

fn producer(factor: usize) -> ProducerStage<Greedy> {
    ProducerStage::new(
        StageId(0),
        Greedy { next: 0, factor },
        ProducerOptions::new(),
    )
    .unwrap()
}

const SUB: SubId = SubId::new(StageId(0), StageId(1), 0);

fn subscribe(p: &mut ProducerStage<Greedy>, out: &mut Rec) {
    let opts = Subscribe::new().max_demand(100).validate().unwrap();
    p.handle_to_producer(
        ToProducer::Subscribe {
            sub: SUB,
            previous: None,
            opts,
        },
        out,
    );
}

fn ask(p: &mut ProducerStage<Greedy>, demand: usize, out: &mut Rec) {
    p.handle_to_producer(ToProducer::Ask { sub: SUB, demand }, out);
}

fn events_sent(log: &[Record<u64, u64, ()>]) -> usize {
    log.iter()
        .map(|r| match r {
            Record::Events(_, e) => e.len(),
            _ => 0,
        })
        .sum()
}

fn stops(log: &[Record<u64, u64, ()>]) -> usize {
    log.iter()
        .filter(|r| matches!(r, Record::Output(Output::Stop(_))))
        .count()
}

#[test]
fn rule_3_8_demand_is_additive() {
    let mut p = producer(1);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    ask(&mut p, 3, &mut out);
    ask(&mut p, 4, &mut out);
    let log = out.take();
    assert_eq!(events_sent(&log), 7, "3 then 4 asked: 7 sent");
}

#[test]
fn rule_1_1_a_producer_never_signals_more_than_requested() {
    let mut p = producer(3);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    ask(&mut p, 5, &mut out);
    let log = out.take();
    assert_eq!(events_sent(&log), 5, "the behaviour made 15, 5 were asked");
    assert_eq!(p.summary().buffered, 10, "the rest waits in the buffer");
    ask(&mut p, 10, &mut out);
    assert_eq!(events_sent(&out.take()), 10);
}

#[test]
fn rule_3_6_no_signal_after_cancel() {
    let mut p = producer(1);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    ask(&mut p, 2, &mut out);
    p.handle_to_producer(
        ToProducer::Cancel {
            sub: SUB,
            reason: Reason::Normal,
        },
        &mut out,
    );
    out.take();
    ask(&mut p, 5, &mut out);
    assert_eq!(
        events_sent(&out.take()),
        0,
        "nothing on a cancelled subscription"
    );

    // The consumer side: events that arrive after the producer's cancel reach no user code.
    let mut c: ConsumerStage<Sink> = ConsumerStage::new(StageId(1), Sink::default());
    let mut cout = Rec::new();
    let sub = c
        .subscribe(
            StageId(0),
            Subscribe::new().cancel(CancelMode::Temporary),
            &mut cout,
        )
        .unwrap();
    c.handle_events(sub, vec![1, 2], &mut cout);
    c.handle_to_consumer(
        ToConsumer::Cancel {
            sub,
            reason: Reason::Normal,
        },
        &mut cout,
    );
    c.handle_events(sub, vec![3, 4], &mut cout);
    assert_eq!(c.behaviour().0, [1, 2]);
    assert_eq!(
        c.stats().discarded.unknown_subscription,
        2,
        "counted, not handed over"
    );
}

#[test]
fn rule_3_5_cancel_is_idempotent() {
    let mut p = producer(1);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    let cancel = ToProducer::Cancel {
        sub: SUB,
        reason: Reason::Normal,
    };
    p.handle_to_producer(cancel.clone(), &mut out);
    let first = out.take();
    p.handle_to_producer(cancel, &mut out);
    let second = out.take();
    assert!(!first.is_empty(), "the first cancel is confirmed");
    assert!(
        !second
            .iter()
            .any(|r| matches!(r, Record::Output(Output::ToConsumer(_) | Output::Stop(_)))),
        "a second cancel sends nothing: {second:?}"
    );
    assert!(p.stopped().is_none());
}

#[test]
fn rule_3_17_demand_saturates_instead_of_overflowing() {
    let mut p = producer(1);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    ask(&mut p, usize::MAX, &mut out);
    ask(&mut p, usize::MAX, &mut out);
    ask(&mut p, 1, &mut out);
    assert!(
        events_sent(&out.take()) > 0,
        "the producer serves a saturated demand"
    );
    assert!(p.stopped().is_none());
    // A consumer asking usize::MAX by hand does not overflow either.
    let mut c: ConsumerStage<Sink> = ConsumerStage::new(StageId(1), Sink::default());
    let mut cout = Rec::new();
    let sub = c
        .subscribe(StageId(0), Subscribe::new(), &mut cout)
        .unwrap();
    let _ = c.ask(sub, usize::MAX, &mut cout);
    let _ = c.ask(sub, usize::MAX, &mut cout);
    assert!(c.stopped().is_none());
}

#[test]
fn rule_3_9_a_zero_or_invalid_request_is_rejected_or_unrepresentable() {
    // An ask of 0 on the wire: nothing happens.
    let mut p = producer(1);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    out.take();
    ask(&mut p, 0, &mut out);
    assert_eq!(events_sent(&out.take()), 0);
    assert!(p.stopped().is_none());
    // Windows that would ask 0 or less are refused with a typed error before anything is
    // sent; a negative demand does not type-check (`usize`).
    assert!(Subscribe::<u64>::new().max_demand(0).validate().is_err());
    assert!(
        Subscribe::<u64>::new()
            .max_demand(5)
            .min_demand(5)
            .validate()
            .is_err()
    );
    let mut c: ConsumerStage<Sink> = ConsumerStage::new(StageId(1), Sink::default());
    let mut cout = Rec::new();
    assert!(
        c.subscribe(StageId(0), Subscribe::new().max_demand(0), &mut cout)
            .is_err()
    );
    assert!(cout.is_empty(), "nothing sent for refused options");
}

#[test]
fn rule_1_7_a_failed_stage_signals_once() {
    let mut p = producer(1);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    p.stop(Reason::Custom("boom"), &mut out);
    p.stop(Reason::Killed, &mut out);
    ask(&mut p, 5, &mut out);
    p.handle_down(StageId(1), Reason::Normal, &mut out);
    let log = out.take();
    assert_eq!(stops(&log), 1, "one stop, whatever follows: {log:?}");
    assert_eq!(p.stopped(), Some(Reason::Custom("boom")));
    assert_eq!(events_sent(&log), 0, "nothing after the stop");
}

#[test]
fn rule_2_5_a_duplicated_subscription_id_is_refused() {
    let mut p = producer(1);
    let mut out = Rec::new();
    subscribe(&mut p, &mut out);
    out.take();
    subscribe(&mut p, &mut out);
    let log = out.take();
    assert!(
        log.iter().any(|r| matches!(
            r,
            Record::Output(Output::Report(Report::DuplicatedSubscription { .. }))
        )),
        "{log:?}"
    );
}
