//! Section G of genstage-scenarios.md (cancellation) and spec §15's table, on threads.

use crate::common::*;
use genstage::dispatcher::*;
use genstage::runtime::*;
use genstage::threads::{RawPeer, Received, Runtime};
use genstage::*;

const MODES: [CancelMode; 3] = [
    CancelMode::Permanent,
    CancelMode::Transient,
    CancelMode::Temporary,
];

/// G1: C subscribes to Counter P with `mode`, then cancels with `reason`.
fn g1(mode: CancelMode, reason: Reason) -> Option<Reason> {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0));
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c.subscribe(&p, Subscribe::new().cancel(mode)).unwrap();
    c.cancel(s, reason).unwrap();
    log.wait_for("p", Cb::Cancel(Cancellation::Cancel(reason), s));
    log.wait_for("c", Cb::Cancel(Cancellation::Cancel(reason), s));
    // handle_cancel ran first, whatever the mode.
    assert_eq!(log.of("c")[0], Cb::Subscribe(s));
    ping(&p);
    if mode.stops_on(&reason) {
        Some(joined(&c))
    } else {
        ping(&c);
        None
    }
}

#[test]
fn g1_temporary_stays_alive_whatever_the_reason() {
    for reason in [Reason::Normal, Reason::Custom("boom"), Reason::Killed] {
        assert_eq!(g1(CancelMode::Temporary, reason), None);
    }
}

#[test]
fn g1_transient_with_normal_stays_alive() {
    assert_eq!(g1(CancelMode::Transient, Reason::Normal), None);
}

#[test]
fn g1_transient_with_an_abnormal_reason_exits_with_that_reason() {
    let boom = Reason::Custom("boom");
    assert_eq!(g1(CancelMode::Transient, boom), Some(boom));
}

#[test]
fn g1_permanent_exits_with_the_reason_itself() {
    let boom = Reason::Custom("boom");
    assert_eq!(g1(CancelMode::Permanent, boom), Some(boom));
    assert_eq!(
        g1(CancelMode::Permanent, Reason::Normal),
        Some(Reason::Normal)
    );
}

/// G2 and spec §15's table: the producer exits with `reason`; a consumer and a
/// producer_consumer subscribed with `mode` each run `handle_cancel(Down(reason))` and then
/// stop with the reason or keep running.
fn producer_exits(mode: CancelMode, reason: Reason) {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let pc = producer_consumer(&rt, doubler(&log, "pc"));
    let s = c.subscribe(&p, Subscribe::new().cancel(mode)).unwrap();
    let s2 = pc.subscribe(&p, Subscribe::new().cancel(mode)).unwrap();
    log.wait_for("p", Cb::Demand(1000));
    p.stop(reason);
    assert_eq!(joined(&p), reason);
    log.wait_for("c", Cb::Cancel(Cancellation::Down(reason), s));
    log.wait_for("pc", Cb::Cancel(Cancellation::Down(reason), s2));
    if mode.stops_on(&reason) {
        assert_eq!(joined(&c), reason, "{mode:?} {reason:?}");
        assert_eq!(joined(&pc), reason, "{mode:?} {reason:?}");
    } else {
        ping(&c);
        ping(&pc);
    }
}

#[test]
fn g2_producer_killed_temporary_stays_alive() {
    producer_exits(CancelMode::Temporary, Reason::Killed);
}

#[test]
fn g2_producer_killed_transient_exits_with_killed() {
    producer_exits(CancelMode::Transient, Reason::Killed);
}

#[test]
fn g2_producer_killed_permanent_exits_with_killed() {
    producer_exits(CancelMode::Permanent, Reason::Killed);
}

#[test]
fn g2_producer_shutdown_transient_stays_alive() {
    producer_exits(CancelMode::Transient, Reason::Shutdown);
    producer_exits(CancelMode::Transient, Reason::ShutdownWith("bye"));
}

#[test]
fn spec_15_table_every_mode_and_exit_reason() {
    for reason in [
        Reason::Normal,
        Reason::Shutdown,
        Reason::ShutdownWith("x"),
        Reason::Killed,
        Reason::Custom("boom"),
        Reason::Panicked,
    ] {
        for mode in MODES {
            producer_exits(mode, reason);
        }
    }
}

#[test]
fn spec_15_table_already_subscribed_never_stops_the_consumer() {
    // G5: a broadcast producer refuses a second subscription from the same consumer.
    for mode in MODES {
        let rt = crate::common::runtime();
        let mut log = Log::new();
        let p = rt
            .spawn_producer_with(
                silent(&log, "p"),
                ProducerOptions::new(),
                BroadcastDispatcher::<u64>::new(),
            )
            .unwrap();
        let c = consumer(&rt, recorder(&log, "c"));
        let s1 = c.subscribe(&p, Subscribe::new().cancel(mode)).unwrap();
        let s2 = c.subscribe(&p, Subscribe::new().cancel(mode)).unwrap();
        let refused = Reason::AlreadySubscribed;
        log.wait_for("p", Cb::Cancel(Cancellation::Cancel(refused), s2));
        log.wait_for("c", Cb::Cancel(Cancellation::Cancel(refused), s2));
        ping(&c);
        assert_eq!(log.of("p")[..2], [Cb::Subscribe(s1), Cb::Demand(1000)]);
        // P still has exactly one consumer: what it emits reaches C once.
        assert_eq!(p.call(Msg::Emit(vec![7]), PATIENCE), Ok(Msg::Ok));
        log.wait_for("c", Cb::Events(s1, vec![7]));
        ping(&c);
        assert!(!log.of("c").contains(&Cb::Events(s2, vec![7])));
    }
}

fn g3_setup() -> (Runtime, Log, P, C, SubId) {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c
        .subscribe(&p, Subscribe::new().cancel(CancelMode::Temporary))
        .unwrap();
    log.wait_for("p", Cb::Demand(1000));
    (rt, log, p, c, s)
}

#[test]
fn g3_consumer_cancels_producer_sees_handle_cancel() {
    let (_rt, mut log, p, c, s) = g3_setup();
    let oops = Reason::Custom("oops");
    c.cancel(s, oops).unwrap();
    log.wait_for("p", Cb::Cancel(Cancellation::Cancel(oops), s));
    log.wait_for("c", Cb::Cancel(Cancellation::Cancel(oops), s));
    ping(&p);
    ping(&c);
}

#[test]
fn g3_consumer_killed_producer_sees_handle_cancel_down() {
    let (_rt, mut log, p, c, s) = g3_setup();
    c.stop(Reason::Killed);
    assert_eq!(joined(&c), Reason::Killed);
    log.wait_for("p", Cb::Cancel(Cancellation::Down(Reason::Killed), s));
    ping(&p);
}

#[test]
fn g4_events_emitted_in_a_producers_handle_cancel_never_reach_the_departing_consumer() {
    // Port stance (spec §21 Q6): they are buffered, not sent to the departing consumer.
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let mut b = silent(&log, "p");
    b.cancel_emits = vec![99];
    let p = producer(&rt, b);
    let mut x = RawPeer::<u64>::new();
    let s = SubId::new(p.id(), x.id(), 0);
    let opts = Subscribe::new().validate().unwrap();
    x.send_to_producer(
        &p,
        ToProducer::Subscribe {
            sub: s,
            previous: None,
            opts,
        },
    );
    x.send_to_producer(&p, ToProducer::Ask { sub: s, demand: 5 });
    let bye = Reason::Custom("bye");
    x.send_to_producer(
        &p,
        ToProducer::Cancel {
            sub: s,
            reason: bye,
        },
    );
    assert_eq!(
        x.recv(PATIENCE),
        Some(Received::ToConsumer(ToConsumer::Cancel {
            sub: s,
            reason: bye
        }))
    );
    log.wait_for("p", Cb::Cancel(Cancellation::Cancel(bye), s));
    ping(&p);
    assert_eq!(p.estimate_buffered_count(), 1);
    assert_eq!(p.stats().events_out, 0);
}

/// G7: a finite source (10 items, then stop when drained) and a consumer with `mode`.
fn g7(mode: CancelMode) -> (C, Log) {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0).limit(10));
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c.subscribe(&p, Subscribe::new().cancel(mode)).unwrap();
    assert_eq!(joined(&p), Reason::Normal);
    log.wait_for("c", Cb::Cancel(Cancellation::Down(Reason::Normal), s));
    let events: Vec<u64> = log
        .of("c")
        .into_iter()
        .filter_map(|cb| match cb {
            Cb::Events(_, e) => Some(e),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(events, (0..10).collect::<Vec<_>>());
    (c, log)
}

#[test]
fn g7_finite_source_exits_normally_transient_consumer_stays_alive() {
    let (c, _) = g7(CancelMode::Transient);
    ping(&c);
}

#[test]
fn g7_finite_source_exits_normally_permanent_consumer_exits_normally() {
    let (c, _) = g7(CancelMode::Permanent);
    assert_eq!(joined(&c), Reason::Normal);
}
