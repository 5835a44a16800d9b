//! Section F of genstage-scenarios.md (subscription protocol and validation) on threads.

use crate::common::*;
use genstage::error::*;
use genstage::runtime::*;
use genstage::threads::{RawPeer, Received};
use genstage::*;

fn options_error(r: Result<SubId, SubscribeError>) -> OptionsError {
    match r {
        Err(SubscribeError::Options(e)) => e,
        other => panic!("expected an options error, got {other:?}"),
    }
}

#[test]
fn f1_bad_max_demand_is_an_error_and_the_consumer_keeps_running() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let bad = Subscribe::new().max_demand(0);
    assert_eq!(
        options_error(c.subscribe(&p, bad.clone())),
        OptionsError::MaxDemandZero
    );
    let old = SubId::new(p.id(), c.id(), 0);
    assert_eq!(
        options_error(c.resubscribe(old, Reason::Normal, &p, bad)),
        OptionsError::MaxDemandZero
    );
    ping(&c);
    assert_eq!(log.of("c"), [Cb::Call(Msg::Info("ping"))]); // no handle_subscribe ran
    let s = c.subscribe(&p, Subscribe::new()).unwrap();
    log.wait_for("p", Cb::Demand(1000));
    assert_eq!(log.of("c")[1], Cb::Subscribe(s));
}

#[test]
fn f2_min_demand_bound_is_max_minus_1() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let e = options_error(c.subscribe(&p, Subscribe::new().min_demand(2000)));
    assert_eq!(
        e.to_string(),
        "expected min_demand to be equal to or less than 999, got: 2000"
    );
    let e = options_error(c.subscribe(&p, Subscribe::new().max_demand(10).min_demand(10)));
    assert_eq!(e, OptionsError::MinDemandTooLarge { min: 10, max: 10 });
    assert!(
        c.subscribe(&p, Subscribe::new().max_demand(10).min_demand(9))
            .is_ok()
    );
}

/// F3: C subscribes with `mode` to a producer that has stopped: the subscribe returns its id,
/// the producer answers with a down of reason `NoProc`, `handle_cancel` runs, the mode decides.
fn f3(mode: CancelMode) -> (C, Log) {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    assert_eq!(p.call(Msg::Stop(Reason::Normal), PATIENCE), Ok(Msg::Ok));
    assert_eq!(joined(&p), Reason::Normal);
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c.subscribe(&p, Subscribe::new().cancel(mode)).unwrap();
    assert_eq!(s, SubId::new(p.id(), c.id(), 0));
    log.wait_for("c", Cb::Cancel(Cancellation::Down(Reason::NoProc), s));
    assert_eq!(
        log.of("c"),
        [
            Cb::Subscribe(s),
            Cb::Cancel(Cancellation::Down(Reason::NoProc), s)
        ]
    );
    (c, log)
}

#[test]
fn f3_producer_not_alive_permanent_consumer_exits_with_noproc() {
    let (c, _) = f3(CancelMode::Permanent);
    assert_eq!(joined(&c), Reason::NoProc);
}

#[test]
fn f3_producer_not_alive_transient_consumer_exits_with_noproc() {
    let (c, _) = f3(CancelMode::Transient);
    assert_eq!(joined(&c), Reason::NoProc);
}

#[test]
fn f3_producer_not_alive_temporary_consumer_stays_alive() {
    let (c, _) = f3(CancelMode::Temporary);
    ping(&c);
    assert!(!c.is_stopped());
}

#[test]
fn f4_duplicate_tag_is_cancelled_and_the_first_subscription_stays() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let mut x = RawPeer::<u64>::new();
    let t = SubId::new(p.id(), x.id(), 0);
    let sub = ToProducer::Subscribe {
        sub: t,
        previous: None,
        opts: Subscribe::new().validate().unwrap(),
    };
    assert!(x.send_to_producer(&p, sub.clone()));
    assert!(x.send_to_producer(&p, sub));
    assert_eq!(
        x.recv(PATIENCE),
        Some(Received::ToConsumer(ToConsumer::Cancel {
            sub: t,
            reason: Reason::DuplicatedSubscription
        }))
    );
    assert!(x.send_to_producer(&p, ToProducer::Ask { sub: t, demand: 10 }));
    log.wait_for("p", Cb::Demand(10));
    assert_eq!(log.of("p"), [Cb::Subscribe(t), Cb::Demand(10)]);
}

#[test]
fn f4_ask_for_an_unknown_tag_is_answered_with_a_cancel() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let mut x = RawPeer::<u64>::new();
    // X must be known to the producer to be answered: it subscribes on another tag first.
    let known = SubId::new(p.id(), x.id(), 0);
    let opts = Subscribe::new().validate().unwrap();
    x.send_to_producer(
        &p,
        ToProducer::Subscribe {
            sub: known,
            previous: None,
            opts,
        },
    );
    let t2 = SubId::new(p.id(), x.id(), 2);
    x.send_to_producer(
        &p,
        ToProducer::Ask {
            sub: t2,
            demand: 10,
        },
    );
    assert_eq!(
        x.recv(PATIENCE),
        Some(Received::ToConsumer(ToConsumer::Cancel {
            sub: t2,
            reason: Reason::UnknownSubscription
        }))
    );
    ping(&p);
}

#[test]
fn f4_events_for_an_unknown_tag_are_dropped_and_counted() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let c = consumer(&rt, recorder(&log, "c"));
    let x = RawPeer::<u64>::new();
    let t3 = SubId::new(x.id(), c.id(), 7);
    assert!(x.send_events(&c, t3, vec![1, 2, 3]));
    ping(&c);
    assert_eq!(c.stats().discarded.unknown_subscription, 3);
    assert_eq!(log.of("c"), [Cb::Call(Msg::Info("ping"))]);
}

#[test]
fn f4_subscribe_sent_to_a_consumer_is_not_answered() {
    // (d) X sends Subscribe to a consumer: a consumer handle has no producer port, so the
    // raw peer cannot even address it (`send_to_producer` needs an upstream handle); the
    // typed equivalent of (e), subscribing a producer, does not compile either:
    //
    // ```compile_fail
    // p.subscribe(&q, Subscribe::new()) // p: ProducerHandle — no `subscribe` method
    // ```
    //
    // What remains at run time: a consumer-role stage refuses a subscribe once stopped.
    let rt = crate::common::runtime();
    let log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    assert_eq!(c.call(Msg::Stop(Reason::Normal), PATIENCE), Ok(Msg::Ok));
    assert_eq!(joined(&c), Reason::Normal);
    assert_eq!(
        c.subscribe(&p, Subscribe::new()),
        Err(SubscribeError::Stopped)
    );
}

#[test]
fn f6_resubscribe_from_a_temporary_subscription() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let t1 = c
        .subscribe(&p, Subscribe::new().cancel(CancelMode::Temporary))
        .unwrap();
    let why = Reason::Custom("resubscribe");
    let t2 = c.resubscribe(t1, why, &p, Subscribe::new()).unwrap();
    assert_eq!(
        (t1, t2),
        (SubId::new(p.id(), c.id(), 0), SubId::new(p.id(), c.id(), 1))
    );
    let subscribes: Vec<Cb> = log
        .of("c")
        .into_iter()
        .filter(|cb| matches!(cb, Cb::Subscribe(_)))
        .collect();
    assert_eq!(subscribes, [Cb::Subscribe(t1), Cb::Subscribe(t2)]);
    log.wait_for("p", Cb::Cancel(Cancellation::Cancel(why), t1));
    log.wait_for("c", Cb::Cancel(Cancellation::Cancel(why), t1));
    log.wait_for("p", Cb::Subscribe(t2));
    ping(&c);
    assert!(!c.is_stopped());
}

#[test]
fn f6_resubscribe_with_an_unknown_old_tag() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let unknown = SubId::new(p.id(), c.id(), 42);
    let t = c
        .resubscribe(unknown, Reason::Normal, &p, Subscribe::new())
        .unwrap();
    log.wait_for("p", Cb::Demand(1000));
    assert_eq!(log.of("p"), [Cb::Subscribe(t), Cb::Demand(1000)]);
    ping(&c);
}

#[test]
fn f7_resubscribe_from_a_permanent_subscription_stops_the_consumer() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let t1 = c.subscribe(&p, Subscribe::new()).unwrap();
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    let t2 = c.resubscribe(t1, Reason::Normal, &p, temporary).unwrap();
    assert_eq!(joined(&c), Reason::Normal);
    log.wait_for("p", Cb::Cancel(Cancellation::Down(Reason::Normal), t2));
    let p_calls = log.of("p");
    let first = p_calls
        .iter()
        .position(|cb| *cb == Cb::Cancel(Cancellation::Cancel(Reason::Normal), t1))
        .expect("P cancelled t1");
    let second = p_calls
        .iter()
        .position(|cb| *cb == Cb::Cancel(Cancellation::Down(Reason::Normal), t2))
        .unwrap();
    assert!(first < second);
    assert!(
        log.of("c")
            .contains(&Cb::Cancel(Cancellation::Cancel(Reason::Normal), t1))
    );
    ping(&p);
}

#[test]
fn f8_invalid_options_are_an_err_from_spawn_not_a_panic() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let e = rt
        .spawn_producer(silent(&log, "p"), ProducerOptions::new().buffer_size(0))
        .err();
    assert_eq!(e, Some(OptionsError::BufferSizeZero));
    let e = rt
        .spawn_producer_consumer(
            doubler(&log, "pc"),
            ProducerOptions::new().demand(DemandMode::Accumulate),
        )
        .err();
    assert_eq!(e, Some(OptionsError::DemandModeNotSupported));
    // No thread was started for either.
    assert_eq!(rt.live(), 0);
}

#[test]
fn f8_consumer_handle_subscribe_stop_stops_the_consumer_and_the_producer_sees_it_go() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let why = Reason::Custom("unknown");
    let c = consumer(&rt, recorder(&log, "c").stop_on_subscribe(why));
    let s = c.subscribe(&p, Subscribe::new()).unwrap();
    assert_eq!(joined(&c), why);
    log.wait_for("p", Cb::Cancel(Cancellation::Down(why), s));
    ping(&p);
}

#[test]
fn f8_bad_subscribe_entries_are_refused_and_the_good_ones_go_through() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let results: Vec<_> = [
        Subscribe::new().max_demand(0),
        Subscribe::new().max_demand(10),
    ]
    .into_iter()
    .map(|opts| consumer(&rt, recorder(&log, "c")).subscribed_to(&p, opts))
    .map(|r| r.map(|c| c.id()))
    .collect();
    assert!(matches!(
        results[0],
        Err(SubscribeError::Options(OptionsError::MaxDemandZero))
    ));
    assert!(results[1].is_ok());
    log.wait_for("p", Cb::Demand(10));
}
