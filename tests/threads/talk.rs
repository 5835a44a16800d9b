//! Talking to running stages: subscribe (sync and async), calls with timeouts, casts, infos
//! behind buffered events, demand modes, estimates and stats.

use crate::common::*;
use genstage::error::*;
use genstage::runtime::*;
use genstage::threads::CallError;
use genstage::*;
use std::sync::mpsc::channel;
use std::time::Duration;

#[test]
fn sync_subscribe_returns_after_the_consumer_side_ran_handle_subscribe_and_asked() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c.subscribe(&p, Subscribe::new().max_demand(7)).unwrap();
    // handle_subscribe ran before subscribe returned (spec §4.7, Q14)...
    assert_eq!(log.of("c"), [Cb::Subscribe(s)]);
    // ...and the first ask is on its way.
    assert_eq!(c.subscription_stats(s).unwrap().asked, 7);
    log.wait_for("p", Cb::Demand(7));
}

#[test]
fn async_subscribe_subscribes_when_the_stage_gets_to_it() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0));
    let c = consumer(&rt, recorder(&log, "c"));
    c.subscribe_async(&p, Subscribe::new().max_demand(3))
        .unwrap();
    let s = SubId::new(p.id(), c.id(), 0);
    // max 3, min 1: chunks of two (spec §5).
    log.wait_for("c", Cb::Events(s, vec![0, 1]));
    // Refused options are only reported: the stage keeps running.
    c.subscribe_async(&p, Subscribe::new().max_demand(0))
        .unwrap();
    ping(&c);
}

#[test]
fn subscribing_to_a_stopped_producer_gets_noproc_never_a_hang() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    p.stop(Reason::Shutdown);
    assert_eq!(joined(&p), Reason::Shutdown);
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c.subscribe(&p, Subscribe::new()).unwrap();
    log.wait_for("c", Cb::Cancel(Cancellation::Down(Reason::NoProc), s));
    assert_eq!(joined(&c), Reason::NoProc);
    all_joined(&rt);
}

#[test]
fn a_call_that_times_out_is_an_error_and_the_stage_keeps_running() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let (release, gate) = channel();
    let p = producer(&rt, silent(&log, "p").gate(gate));
    assert_eq!(
        p.call(Msg::Block, Duration::from_millis(50)),
        Err(CallError::Timeout)
    );
    release.send(()).unwrap();
    ping(&p);
    assert!(!p.is_stopped());
}

#[test]
fn a_call_without_a_reply_and_a_call_to_a_stopped_stage_are_errors() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let c = consumer(&rt, recorder(&log, "c"));
    assert_eq!(c.call(Msg::Silent, PATIENCE), Err(CallError::NoReply));
    assert_eq!(c.call(Msg::Stop(Reason::Normal), PATIENCE), Ok(Msg::Ok));
    assert_eq!(joined(&c), Reason::Normal);
    assert_eq!(
        c.call(Msg::Info("late"), PATIENCE),
        Err(CallError::Stopped {
            reason: Reason::Normal,
            msg: Some(Msg::Info("late"))
        })
    );
    assert_eq!(
        c.info(Msg::Info("late")),
        Err(SendError::Stopped {
            msg: Msg::Info("late"),
            reason: Reason::Normal
        })
    );
}

#[test]
fn cast_runs_the_call_without_waiting() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let c = consumer(&rt, recorder(&log, "c"));
    c.cast(Msg::Info("cast")).unwrap();
    log.wait_for("c", Cb::Call(Msg::Info("cast")));
}

#[test]
fn an_info_is_handled_after_the_events_buffered_before_it() {
    // E1: P buffered [1, 2, 3] with no consumer; an info waits behind them; a manual
    // consumer takes two, then one more: the info runs only after the third was dispatched.
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    assert_eq!(p.call(Msg::Emit(vec![1, 2, 3]), PATIENCE), Ok(Msg::Ok));
    assert_eq!(p.estimate_buffered_count(), 3);
    p.sync_info(Msg::Info("after 3")).unwrap();
    let c = consumer(&rt, recorder(&log, "c").manual());
    let s = c.subscribe(&p, Subscribe::new()).unwrap();
    c.ask(s, 2).unwrap(); // the ask is in P's mailbox before the call below
    ping(&p);
    assert!(!log.of("p").contains(&Cb::Info(Msg::Info("after 3"))));
    assert_eq!(p.estimate_buffered_count(), 1);
    c.ask(s, 1).unwrap();
    ping(&p);
    let p_calls = log.of("p");
    assert!(
        p_calls.contains(&Cb::Info(Msg::Info("after 3"))),
        "{p_calls:?}"
    );
    assert_eq!(p.estimate_buffered_count(), 0);
    log.wait_for("c", Cb::Events(s, vec![1, 2]));
    log.wait_for("c", Cb::Events(s, vec![3]));
}

#[test]
fn accumulate_mode_holds_demand_until_switched_to_forward() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer_with(
        &rt,
        counter(&log, "p", 0),
        ProducerOptions::new().demand(DemandMode::Accumulate),
    );
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c.subscribe(&p, Subscribe::new().max_demand(4)).unwrap();
    ping(&c);
    ping(&p);
    assert!(!log.of("p").contains(&Cb::Demand(4)));
    p.set_demand_mode(DemandMode::Forward).unwrap();
    log.wait_for("p", Cb::Demand(4));
    log.wait_for("c", Cb::Events(s, vec![0, 1]));
}

#[test]
fn a_producer_consumer_refuses_accumulate_mode() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let pc = producer_consumer(&rt, doubler(&log, "pc"));
    assert_eq!(
        pc.set_demand_mode(DemandMode::Accumulate),
        Err(OptionsError::DemandModeNotSupported)
    );
    assert_eq!(pc.set_demand_mode(DemandMode::Forward), Ok(()));
}

#[test]
fn stats_and_summaries_are_readable_while_it_runs() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0));
    let c = consumer(&rt, recorder(&log, "c"));
    let s = c.subscribe(&p, Subscribe::new().max_demand(10)).unwrap();
    log.wait_for("c", Cb::Events(s, (5..10).collect()));
    ping(&c);
    ping(&p);
    let sub = c.subscription_stats(s).unwrap();
    assert!(sub.events >= 10 && sub.asked >= 10, "{sub:?}");
    let on_p = p.subscription_stats(s).unwrap();
    assert!(on_p.events >= 10, "{on_p:?}");
    assert_eq!(c.summary().kind, StageKind::Consumer);
    assert!(c.stats().events_in >= 10);
    assert!(p.stats().events_out >= 10);
    assert_eq!(c.summary().stopped, None);
    assert!(c.name().starts_with("consumer-"));
    let named = rt
        .builder()
        .name("lucy")
        .spawn_consumer(recorder(&log, "lucy"));
    assert_eq!(named.name(), "lucy");
}

#[test]
fn a_stop_from_outside_is_the_exit_reason_and_events_sent_after_are_counted_as_lost() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let c = consumer(&rt, recorder(&log, "c"));
    c.stop(Reason::Custom("enough"));
    assert_eq!(joined(&c), Reason::Custom("enough"));
    let x = genstage::threads::RawPeer::<u64>::new();
    assert!(!x.send_events(&c, SubId::new(x.id(), c.id(), 0), vec![1, 2, 3]));
    assert_eq!(c.lost_in_flight(), 3);
    assert_eq!(c.summary().stopped, Some(Reason::Custom("enough")));
}
