//! F. Subscription protocol and validation (spec §3, §4, §17).

use crate::common::*;
use genstage::dispatcher::DemandOptions;
use genstage::dispatcher::*;
use genstage::error::*;
use genstage::runtime::*;
use genstage::sim::{Sim, TraceKind};
use genstage::*;

/// Raw peers.
const X: StageId = StageId(100);
const X3: StageId = StageId(103);

/// The options error of a refused subscribe.
fn options_error(r: Result<SubId, SubscribeError>) -> OptionsError {
    match r {
        Err(SubscribeError::Options(e)) => e,
        other => panic!("expected an options error, got {other:?}"),
    }
}

#[test]
fn f1_bad_max_demand() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    let bad = Subscribe::new().max_demand(0);
    let e = options_error(net.subscribe(c, X, bad.clone()));
    assert_eq!(e, OptionsError::MaxDemandZero);
    // GenStage's message, without the colon before the option name.
    assert_eq!(
        e.to_string(),
        "expected max_demand to be equal to or greater than 1, got: 0"
    );
    // The resubscribe variant returns the same.
    let e = options_error(net.resubscribe(c, sub_id(X, c, 0), Reason::Normal, X, bad));
    assert_eq!(e, OptionsError::MaxDemandZero);
    // Nothing was sent, no callback ran, and C keeps running with no subscription.
    assert_trace(&net.take(), &[]);
    assert_eq!(net.stopped(c), None);
    assert_eq!(net.stage(c).subscriptions().count(), 0);
    // It still subscribes with good options.
    let s = net.subscribe(c, X, Subscribe::new()).unwrap();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            handle_subscribe(c, s),
            ask(s, 1000),
        ],
    );
}

#[test]
fn f2_min_demand_bound_is_max_minus_1() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    let e = options_error(net.subscribe(c, X, Subscribe::new().min_demand(2000)));
    assert_eq!(
        e,
        OptionsError::MinDemandTooLarge {
            min: 2000,
            max: 1000
        }
    );
    assert_eq!(
        e.to_string(),
        "expected min_demand to be equal to or less than 999, got: 2000"
    );
    // min_demand == max_demand is rejected.
    let e = options_error(net.subscribe(c, X, Subscribe::new().max_demand(10).min_demand(10)));
    assert_eq!(e, OptionsError::MinDemandTooLarge { min: 10, max: 10 });
    assert_eq!(
        e.to_string(),
        "expected min_demand to be equal to or less than 9, got: 10"
    );
    // And max − 1 is accepted.
    assert!(
        net.subscribe(c, X, Subscribe::new().max_demand(10).min_demand(9))
            .is_ok()
    );
}

/// F3 in the sim: C subscribes with `mode` to a producer that has already stopped.
///
/// The port has no registered names, so (a)/(b) "a name that resolves to no process" and
/// (c)/(d) "the pid of a stopped producer" are the same case: a handle to a stage that has
/// stopped. It takes the path of (c)/(d): the subscribe returns the new id, the subscribe
/// message finds no stage and is answered with a down of reason `NoProc` (the monitor fires
/// at once), `handle_cancel(Down(NoProc))` runs, then the cancel mode decides.
fn f3(mode: CancelMode) -> (Sim, Vec<Cb>, Option<Reason>) {
    let mut sim = Sim::new(0);
    let p = sim.producer(silent());
    let c = sim.consumer(recorder());
    sim.with(p, |stage, out| stage.call(Msg::Stop(Reason::Normal), out))
        .expect("the producer is live");
    sim.run_until_idle();
    assert_eq!(sim.stopped(p), Some(Reason::Normal));

    let s = sim.subscribe(c, p, Subscribe::new().cancel(mode)).unwrap();
    assert_eq!(s, SubId::new(p.id(), c.id(), 0)); // {:ok, tag}
    // The consumer's handle_subscribe ran before subscribe returned (spec §21 Q14).
    assert_eq!(sim.stage(c).behaviour().calls(), [Cb::Subscribe(s)]);
    let seen = sim.trace().len();
    sim.run_until_idle();
    let kinds: Vec<(StageId, TraceKind)> = sim.trace()[seen..]
        .iter()
        .map(|e| (e.stage, e.kind.clone()))
        .collect();
    let stops = mode != CancelMode::Temporary;
    let mut want = vec![
        (p.id(), TraceKind::Dropped { events: 0 }), // Subscribe
        (p.id(), TraceKind::Dropped { events: 0 }), // Ask(1000)
        (
            c.id(),
            TraceKind::Down {
                stage: p.id(),
                reason: Reason::NoProc,
            },
        ),
    ];
    if stops {
        want.push((c.id(), TraceKind::Stopped(Reason::NoProc)));
    }
    assert_eq!(kinds, want);
    let calls = sim.stage(c).behaviour().calls().to_vec();
    assert_eq!(
        calls,
        [
            Cb::Subscribe(s),
            Cb::Cancel(Cancellation::Down(Reason::NoProc), s)
        ]
    );
    let stopped = sim.stopped(c);
    (sim, calls, stopped)
}

#[test]
fn f3_producer_not_alive_permanent_consumer_exits_with_noproc() {
    let (_, _, stopped) = f3(CancelMode::Permanent);
    assert_eq!(stopped, Some(Reason::NoProc));
}

#[test]
fn f3_producer_not_alive_transient_consumer_exits_with_noproc() {
    let (_, _, stopped) = f3(CancelMode::Transient);
    assert_eq!(stopped, Some(Reason::NoProc));
}

#[test]
fn f3_producer_not_alive_temporary_consumer_stays_alive() {
    let (_, _, stopped) = f3(CancelMode::Temporary);
    assert_eq!(stopped, None);
}

#[test]
fn f4_duplicate_tag_is_cancelled_and_the_first_subscription_stays() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let t = sub_id(p, X, 0);
    net.send(subscribe_msg(t, Subscribe::new()));
    net.send(subscribe_msg(t, Subscribe::new()));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(t, Subscribe::new()),
            subscribe(t, Subscribe::new()),
            handle_subscribe(p, t),
            report(p, Report::DuplicatedSubscription { sub: t }),
            cancel_down(t, Reason::DuplicatedSubscription),
        ],
    );
    assert_eq!(net.stage(p).consumers().collect::<Vec<_>>(), [t]);
    net.send(ask_msg(t, 10));
    net.run();
    assert_trace(&net.take(), &[ask(t, 10), handle_demand(p, 10)]);
}

#[test]
fn f4_ask_for_an_unknown_tag_is_answered_with_a_cancel() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let t2 = sub_id(p, X, 2);
    net.send(ask_msg(t2, 10));
    net.run();
    assert_trace(
        &net.take(),
        &[
            ask(t2, 10),
            report(p, Report::UnknownSubscription { sub: t2 }),
            cancel_down(t2, Reason::UnknownSubscription),
        ],
    );
    assert_eq!(net.stopped(p), None);
}

#[test]
fn f4_events_for_an_unknown_tag_are_dropped_and_cancelled_upstream() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    let t3 = sub_id(X3, c, 7);
    net.send_events(t3, ns(1..=3));
    net.run();
    assert_trace(
        &net.take(),
        &[
            events(t3, ns(1..=3)),
            report(c, Report::UnknownSubscription { sub: t3 }),
            // A producer-bound message, from C.
            cancel_up(t3, Reason::UnknownSubscription),
        ],
    );
    assert_eq!(net.stage(c).stats().discarded.unknown_subscription, 3);
    assert_eq!(net.stopped(c), None);
}

#[test]
fn f4_subscribe_sent_to_a_consumer_is_reported_and_not_answered() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    let t = sub_id(c, X, 0);
    net.send(subscribe_msg(t, Subscribe::new()));
    net.run();
    // No reply to X; a report (GenStage's error log).
    assert_trace(
        &net.take(),
        &[
            subscribe(t, Subscribe::new()),
            report(c, Report::WrongKind { sub: t }),
        ],
    );
    assert_eq!(net.stopped(c), None);
    assert_eq!(net.stage(c).subscriptions().count(), 0);
}

#[test]
fn f4_a_producer_cannot_act_as_a_consumer() {
    // `sync_subscribe(P, to: other)` where P is a producer: in the port a producer has no
    // subscribe method (`ConsumerRole` is not implemented for it), and its callbacks get an
    // `Emit` with no `ask` or `cancel` (a compile_fail doctest on `Emit` pins that), so neither
    // compiles. What remains reachable at run time is a consumer-bound message reaching a
    // producer (from a raw peer): it is reported as `WrongKind`, nothing is sent back, and
    // the producer keeps running (GenStage answers `{:error, :not_a_consumer}`).
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let sub = sub_id(StageId(7), p, 0);
    net.send_cancel(sub, Reason::Normal);
    net.run();
    let log = net.take();
    assert!(
        log.contains(&Entry::Out(
            p.id(),
            Record::Output(Output::Report(Report::WrongKind { sub }))
        )),
        "{log:?}"
    );
    assert_eq!(
        log.len(),
        2,
        "the raw send and the report, nothing else: {log:?}"
    );
    assert_eq!(net.stopped(p), None);
}

#[test]
fn f6_resubscribe_from_a_temporary_subscription() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let c = net.consumer(recorder());
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    let t1 = net.subscribe(c, p, temporary.clone()).unwrap();
    let why = Reason::Custom("resubscribe");
    let t2 = net.resubscribe(c, t1, why, p, Subscribe::new()).unwrap();
    assert_eq!((t1, t2), (sub_id(p, c, 0), sub_id(p, c, 1)));
    net.steps(9);
    assert_trace(
        &net.take(),
        &[
            subscribe(t1, temporary),
            handle_subscribe(c, t1),
            ask(t1, 1000),
            resubscribe(t2, (t1, why), Subscribe::new()),
            handle_subscribe(c, t2), // before resubscribe returned {:ok, t2}
            ask(t2, 1000),
            // P:
            handle_subscribe(p, t1),
            handle_demand(p, 1000),
            events(t1, ns(0..1000)),
            // P cancels t1 first, then takes t2.
            cancel_down(t1, why),
            handle_cancel(p, Cancellation::Cancel(why), t1),
            handle_subscribe(p, t2),
            handle_demand(p, 1000),
            events(t2, ns(1000..2000)),
            // C: the events in flight on t1, then P's cancel.
            handle_events(t1, ns(0..500)),
            ask(t1, 500),
            handle_events(t1, ns(500..1000)),
            ask(t1, 500),
            handle_cancel(c, Cancellation::Cancel(why), t1),
            handle_events(t2, ns(1000..1500)),
            ask(t2, 500),
            handle_events(t2, ns(1500..2000)),
            ask(t2, 500),
            // P: asks on the old subscription are unknown now.
            report(p, Report::UnknownSubscription { sub: t1 }),
            cancel_down(t1, Reason::UnknownSubscription),
            report(p, Report::UnknownSubscription { sub: t1 }),
            cancel_down(t1, Reason::UnknownSubscription),
        ],
    );
    assert_eq!(net.stopped(c), None);
    assert_eq!(net.stage(c).subscriptions().collect::<Vec<_>>(), [t2]);
}

#[test]
fn f6_resubscribe_with_an_unknown_old_tag() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let c = net.consumer(recorder());
    let t1 = net.subscribe(c, p, Subscribe::new()).unwrap();
    net.run();
    net.take();
    let unknown = sub_id(p, c, 42);
    let t2 = net
        .resubscribe(c, unknown, Reason::Normal, p, Subscribe::new())
        .unwrap();
    assert_eq!(t2, sub_id(p, c, 1));
    net.run();
    assert_trace(
        &net.take(),
        &[
            resubscribe(t2, (unknown, Reason::Normal), Subscribe::new()),
            handle_subscribe(c, t2),
            ask(t2, 1000),
            // The unknown old tag is a no-op at the producer.
            handle_subscribe(p, t2),
            handle_demand(p, 1000),
        ],
    );
    assert_eq!(net.stopped(c), None);
    assert_eq!(net.stage(c).subscriptions().collect::<Vec<_>>(), [t1, t2]);
}

#[test]
fn f7_resubscribe_from_a_permanent_subscription_stops_the_consumer() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let c = net.consumer(recorder());
    let t1 = net.subscribe(c, p, Subscribe::new()).unwrap();
    net.run();
    net.take();
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    let t2 = net
        .resubscribe(c, t1, Reason::Normal, p, temporary.clone())
        .unwrap();
    net.run();
    assert_trace(
        &net.take(),
        &[
            resubscribe(t2, (t1, Reason::Normal), temporary),
            handle_subscribe(c, t2), // the new subscription is created
            ask(t2, 1000),
            cancel_down(t1, Reason::Normal),
            handle_cancel(p, Cancellation::Cancel(Reason::Normal), t1),
            handle_subscribe(p, t2),
            // Ask(t2, 1000) brings no handle_demand: t1's 1000 were already requested
            // upstream and went to the dispatcher's pending demand (spec §12.7).
            handle_cancel(c, Cancellation::Cancel(Reason::Normal), t1),
            // t1's permanent mode applies: C exits with :normal.
            stop(c, Reason::Normal),
            handle_cancel(p, Cancellation::Down(Reason::Normal), t2),
        ],
    );
    assert_eq!(net.stopped(c), Some(Reason::Normal));
    assert_eq!(net.stopped(p), None);
}

#[test]
fn f8_buffer_size_zero_is_rejected_at_construction() {
    // GenStage: `buffer_size: -1` fails init with {:bad_opts, ..}. A usize cannot be
    // negative; the port's invalid value is 0, rejected up front (spec §21 Q3, where
    // GenStage passes validation and then crashes init).
    let e = ProducerStage::<TestProducer, Msg>::new(
        StageId(0),
        silent(),
        ProducerOptions::new().buffer_size(0),
    )
    .err();
    assert_eq!(e, Some(OptionsError::BufferSizeZero));
    assert_eq!(
        OptionsError::BufferSizeZero.to_string(),
        "expected buffer_size to be equal to or greater than 1, got: 0"
    );
    let e = ProducerConsumerStage::<TestPc, Msg>::new(
        StageId(0),
        doubler(),
        ProducerOptions::new().buffer_size(0),
    )
    .err();
    assert_eq!(e, Some(OptionsError::BufferSizeZero));
    let mut sim = Sim::new(0);
    let e = sim
        .producer_with(silent(), ProducerOptions::new().buffer_size(0))
        .err();
    assert_eq!(e, Some(OptionsError::BufferSizeZero));
    // A producer_consumer has no demand mode (GenStage does not accept `demand:` there).
    let e = ProducerConsumerStage::<TestPc, Msg>::new(
        StageId(0),
        doubler(),
        ProducerOptions::new().demand(DemandMode::Accumulate),
    )
    .err();
    assert_eq!(e, Some(OptionsError::DemandModeNotSupported));
}

#[test]
fn f8_bad_dispatcher_options_are_rejected_at_construction() {
    // GenStage: `dispatcher: 0` fails with {:bad_opts, "expected :dispatcher to be an atom
    // or a {atom, list}, got: 0"}. The port's dispatcher is a typed value, so that case
    // does not compile; what remains is a dispatcher's own options being out of range.
    let e = DemandDispatcher::<genstage::storage::Heap>::with_options(
        DemandOptions::new().max_demand(0),
    )
    .err();
    assert_eq!(e, Some(OptionsError::DispatcherMaxDemandZero));
    assert_eq!(
        OptionsError::DispatcherMaxDemandZero.to_string(),
        "expected max_demand to be equal to or greater than 1, got: 0"
    );
    assert_eq!(
        e.unwrap().to_string(),
        "expected max_demand to be equal to or greater than 1, got: 0"
    );
}

#[test]
fn f8_producer_handle_subscribe_stop_stops_the_producer() {
    // GenStage: a producer's handle_subscribe returning :manual stops it with
    // {:bad_return_value, {:manual, state}}. `Producer::handle_subscribe` returns a `Flow`,
    // which has no `Manual`; the typed equivalent of a refusing callback is `Flow::Stop`.
    let mut net = Net::new();
    let p = net.producer(
        silent().stop_on_subscribe(Reason::Custom("manual")),
        ProducerOptions::new(),
    );
    let s = sub_id(p, X, 0);
    net.send(subscribe_msg(s, Subscribe::new()));
    net.send(ask_msg(s, 5));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            ask(s, 5),
            handle_subscribe(p, s),
            stop(p, Reason::Custom("manual")),
            // The ask reaches a stopped stage: nothing more happens.
        ],
    );
    assert_eq!(net.stopped(p), Some(Reason::Custom("manual")));
    assert_eq!(net.stage(p).stopped(), Some(Reason::Custom("manual")));
}

#[test]
fn f8_consumer_handle_subscribe_stop_stops_the_consumer() {
    // GenStage: a consumer's handle_subscribe returning :unknown stops it with
    // {:bad_return_value, ..}. `Subscribed` has exactly Automatic, Manual and Stop, so a bad
    // value does not compile; `Subscribed::Stop` is the typed way to stop there. The
    // subscribe itself returns the id (the Subscribe message went out first, spec §4.7),
    // the stage stops and asks nothing, and the producer sees it go down.
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let c = net.consumer(recorder().stop_on_subscribe(Reason::Custom("unknown")));
    let s = net.subscribe(c, p, Subscribe::new()).unwrap();
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            handle_subscribe(c, s),
            stop(c, Reason::Custom("unknown")),
            handle_subscribe(p, s),
            handle_cancel(p, Cancellation::Down(Reason::Custom("unknown")), s),
        ],
    );
    assert_eq!(net.stopped(c), Some(Reason::Custom("unknown")));
    assert_eq!(net.stopped(p), None);
    assert_eq!(net.stage(p).consumers().count(), 0);
}

#[test]
fn f8_invalid_subscription_options_are_refused_and_the_stage_keeps_running() {
    // GenStage: a consumer whose `subscribe_to` has an entry with max_demand 0 still
    // starts; it logs the error and skips the entry. The port has no subscribe_to: the
    // entries are subscribe calls made after construction, and a bad one is an `Err` that
    // changes nothing, so the following entries go through.
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let c = net.consumer(recorder());
    let entries = [
        Subscribe::new().max_demand(0),
        Subscribe::new().max_demand(10),
    ];
    let results: Vec<_> = entries
        .iter()
        .map(|opts| net.subscribe(c, p, opts.clone()))
        .collect();
    let s = sub_id(p, c, 0);
    assert_eq!(
        results,
        [
            Err(SubscribeError::Options(OptionsError::MaxDemandZero)),
            Ok(s)
        ]
    );
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, entries[1].clone()),
            handle_subscribe(c, s),
            ask(s, 10),
            handle_subscribe(p, s),
            handle_demand(p, 10),
        ],
    );
    assert_eq!(net.stopped(c), None);
    // Not portable, because the type system rules them out: unknown option keys (the
    // option builders have fixed methods), init returning a bad value, :ignore or {:stop, _}
    // (a behaviour is a value built before the stage; construction errors are
    // `OptionsError`s, tested above), and a consumer returning events (consumer callbacks
    // get a `Ctx`, which has no way to emit).
}
