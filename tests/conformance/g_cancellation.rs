//! G. Cancellation semantics (spec §15).

use crate::common::*;
use genstage::dispatcher::*;
use genstage::error::*;
use genstage::runtime::*;
use genstage::*;

/// A raw consumer X.
const X: StageId = StageId(100);

/// G1: C subscribes to Counter P with `mode`, then `cancel((P, tag), reason)`.
fn g1(mode: CancelMode, reason: Reason) -> (Net, H<C>) {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let c = net.consumer(recorder());
    let opts = Subscribe::new().cancel(mode);
    let s = net.subscribe(c, p, opts.clone()).unwrap();
    net.cancel(c, s, reason).unwrap();
    net.run();
    let stops = mode.stops_on(&reason);
    let mut want = vec![
        subscribe(s, opts),
        handle_subscribe(c, s),
        ask(s, 1000),
        cancel_up(s, reason),
        handle_subscribe(p, s),
        handle_demand(p, 1000),
        events(s, ns(0..1000)),
        cancel_down(s, reason),
        handle_cancel(p, Cancellation::Cancel(reason), s),
        // The events were in flight before the cancel.
        handle_events(s, ns(0..500)),
        ask(s, 500),
        handle_events(s, ns(500..1000)),
        ask(s, 500),
        // handle_cancel always runs first; then the mode decides.
        handle_cancel(c, Cancellation::Cancel(reason), s),
    ];
    if stops {
        // The raw reason, not {:cancel, reason} (spec §21 Q2).
        want.push(stop(c, reason));
    }
    // P no longer knows s (C ignores the answers, or is gone).
    for _ in 0..2 {
        want.extend([
            report(p, Report::UnknownSubscription { sub: s }),
            cancel_down(s, Reason::UnknownSubscription),
        ]);
    }
    assert_trace(&net.take(), &want);
    assert_eq!(net.stopped(p), None);
    (net, c)
}

#[test]
fn g1_temporary_stays_alive_whatever_the_reason() {
    for reason in [Reason::Normal, Reason::Custom("boom"), Reason::Killed] {
        let (net, c) = g1(CancelMode::Temporary, reason);
        assert_eq!(net.stopped(c), None);
    }
}

#[test]
fn g1_transient_with_normal_stays_alive() {
    let (net, c) = g1(CancelMode::Transient, Reason::Normal);
    assert_eq!(net.stopped(c), None);
}

#[test]
fn g1_transient_with_an_abnormal_reason_exits_with_that_reason() {
    let (net, c) = g1(CancelMode::Transient, Reason::Custom("boom"));
    assert_eq!(net.stopped(c), Some(Reason::Custom("boom")));
}

#[test]
fn g1_permanent_exits_with_the_reason_itself() {
    let (net, c) = g1(CancelMode::Permanent, Reason::Custom("boom"));
    assert_eq!(net.stopped(c), Some(Reason::Custom("boom")));
    let (net, c) = g1(CancelMode::Permanent, Reason::Normal);
    assert_eq!(net.stopped(c), Some(Reason::Normal));
}

/// G2: C (a consumer) subscribed to a Silent P with `mode`; P is killed with `reason`.
fn g2_consumer(mode: CancelMode, reason: Reason) -> Option<Reason> {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let c = net.consumer(recorder());
    let s = net.subscribe(c, p, Subscribe::new().cancel(mode)).unwrap();
    net.run();
    net.take();
    net.kill(p, reason);
    net.run();
    // A killed stage stops itself first (it has nothing to count), then its peers hear it.
    let mut want = vec![
        stop(p, reason),
        handle_cancel(c, Cancellation::Down(reason), s),
    ];
    if mode.stops_on(&reason) {
        want.push(stop(c, reason));
    }
    assert_trace(&net.take(), &want);
    net.stopped(c)
}

/// G2 with a producer_consumer (a Doubler) in the consumer's place.
fn g2_producer_consumer(mode: CancelMode, reason: Reason) -> Option<Reason> {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let pc = net.producer_consumer(doubler(), ProducerOptions::new());
    let s = net.subscribe(pc, p, Subscribe::new().cancel(mode)).unwrap();
    net.run();
    net.take();
    net.kill(p, reason);
    net.run();
    let mut want = vec![
        stop(p, reason),
        handle_cancel(pc, Cancellation::Down(reason), s),
    ];
    if mode.stops_on(&reason) {
        want.push(stop(pc, reason));
    }
    assert_trace(&net.take(), &want);
    net.stopped(pc)
}

#[test]
fn g2_producer_killed_temporary_stays_alive() {
    assert_eq!(g2_consumer(CancelMode::Temporary, Reason::Killed), None);
    assert_eq!(
        g2_producer_consumer(CancelMode::Temporary, Reason::Killed),
        None
    );
}

#[test]
fn g2_producer_killed_transient_exits_with_killed() {
    assert_eq!(
        g2_consumer(CancelMode::Transient, Reason::Killed),
        Some(Reason::Killed)
    );
    assert_eq!(
        g2_producer_consumer(CancelMode::Transient, Reason::Killed),
        Some(Reason::Killed)
    );
}

#[test]
fn g2_producer_killed_permanent_exits_with_killed() {
    assert_eq!(
        g2_consumer(CancelMode::Permanent, Reason::Killed),
        Some(Reason::Killed)
    );
    assert_eq!(
        g2_producer_consumer(CancelMode::Permanent, Reason::Killed),
        Some(Reason::Killed)
    );
}

#[test]
fn g2_producer_shutdown_transient_stays_alive() {
    assert_eq!(g2_consumer(CancelMode::Transient, Reason::Shutdown), None);
    assert_eq!(
        g2_producer_consumer(CancelMode::Transient, Reason::Shutdown),
        None
    );
    assert_eq!(
        g2_consumer(CancelMode::Transient, Reason::ShutdownWith("bye")),
        None
    );
}

/// G3's setup: Silent P, C subscribed temporary.
fn g3_setup() -> (Net, H<P>, H<C>, SubId) {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let c = net.consumer(recorder());
    let s = net
        .subscribe(c, p, Subscribe::new().cancel(CancelMode::Temporary))
        .unwrap();
    net.run();
    net.take();
    (net, p, c, s)
}

#[test]
fn g3_consumer_cancels_producer_sees_handle_cancel() {
    let (mut net, p, c, s) = g3_setup();
    let oops = Reason::Custom("oops");
    net.cancel(c, s, oops).unwrap();
    net.run();
    assert_trace(
        &net.take(),
        &[
            cancel_up(s, oops),
            cancel_down(s, oops),
            handle_cancel(p, Cancellation::Cancel(oops), s),
            handle_cancel(c, Cancellation::Cancel(oops), s),
        ],
    );
    assert_eq!(net.stopped(p), None);
    assert_eq!(net.stopped(c), None);
    assert_eq!(net.stage(p).consumers().count(), 0);
}

#[test]
fn g3_consumer_killed_producer_sees_handle_cancel_down() {
    let (mut net, p, c, s) = g3_setup();
    net.kill(c, Reason::Killed);
    net.run();
    assert_trace(
        &net.take(),
        &[
            stop(c, Reason::Killed),
            handle_cancel(p, Cancellation::Down(Reason::Killed), s),
        ],
    );
    assert_eq!(net.stopped(p), None);
    assert_eq!(net.stage(p).consumers().count(), 0);
}

#[test]
fn g4_events_emitted_in_a_producers_handle_cancel_never_reach_the_departing_consumer() {
    // Port stance (spec §21 Q6): the dispatcher forgets the departing consumer before
    // handle_cancel runs, so its events are buffered (or go to other consumers). GenStage
    // sends them to X after the Cancel, where they are lost; here X receives the Cancel only
    // and the event waits in the buffer.
    let mut net = Net::new();
    let from_cancel = Ev::T("from_cancel");
    let p = net.producer(
        silent().cancel_emits(vec![from_cancel]),
        ProducerOptions::new(),
    );
    let s = sub_id(p, X, 0);
    net.send(subscribe_msg(s, Subscribe::new()));
    net.send(ask_msg(s, 5));
    net.run();
    net.take();
    let bye = Reason::Custom("bye");
    net.send(cancel_msg(s, bye));
    net.run();
    let trace = net.take();
    assert_trace(
        &trace,
        &[
            cancel_up(s, bye),
            cancel_down(s, bye),
            handle_cancel(p, Cancellation::Cancel(bye), s),
        ],
    );
    assert_eq!(
        received_by(&trace, X),
        [Record::Output(Output::ToConsumer(ToConsumer::Cancel {
            sub: s,
            reason: bye
        }))]
    );
    assert_eq!(net.stage(p).buffered_count(), 1);
    assert_eq!(net.stage(p).stats().events_out, 0);
}

#[test]
fn g5_broadcast_rejects_a_second_subscription_from_the_same_consumer() {
    let mut net = Net::new();
    let id = net.next_id();
    let mut behaviour = silent();
    behaviour.attach(id, net.log());
    let p = net.add(
        ProducerStage::<_, Msg, genstage::storage::Heap, BroadcastDispatcher<Ev>>::with_dispatcher(
            id,
            behaviour,
            ProducerOptions::new(),
            BroadcastDispatcher::new(),
        )
        .unwrap(),
    );
    let c = net.consumer(recorder());
    let s1 = net.subscribe(c, p, Subscribe::new()).unwrap();
    let s2 = net.subscribe(c, p, Subscribe::new()).unwrap();
    net.run();
    let refused = Reason::AlreadySubscribed;
    assert_trace(
        &net.take(),
        &[
            subscribe(s1, Subscribe::new()),
            handle_subscribe(c, s1),
            ask(s1, 1000),
            subscribe(s2, Subscribe::new()),
            handle_subscribe(c, s2),
            ask(s2, 1000),
            // The first subscription works.
            handle_subscribe(p, s1),
            handle_demand(p, 1000),
            // The second: both sides' handle_subscribe ran; the dispatcher refuses it (the
            // report is GenStage's "already registered" error log) and P cancels it.
            handle_subscribe(p, s2),
            report(
                p,
                Report::SubscribeRefused {
                    sub: s2,
                    reason: refused,
                },
            ),
            cancel_down(s2, refused),
            handle_cancel(p, Cancellation::Cancel(refused), s2),
            // C's ask on s2 crossed the cancel.
            report(p, Report::UnknownSubscription { sub: s2 }),
            cancel_down(s2, Reason::UnknownSubscription),
            // :already_subscribed never stops the consumer, even on a permanent sub.
            handle_cancel(c, Cancellation::Cancel(refused), s2),
        ],
    );
    assert_eq!(net.stopped(c), None);
    assert_eq!(net.stopped(p), None);
    assert_eq!(net.stage(p).consumers().collect::<Vec<_>>(), [s1]);
    assert_eq!(net.stage(p).dispatcher().len(), 1);
    assert_eq!(net.stage(c).subscriptions().collect::<Vec<_>>(), [s1]);
}

/// GenStage's `from_enumerable` over a range: `handle_demand(n)` pulls up to n items. When
/// the range runs out it sets `done`; the streamer would then send itself an async info to
/// stop, which the test sends at that moment (the port has no self-messages from a
/// behaviour). The stop therefore waits behind any buffered events (spec §18.6).
struct Finite {
    items: std::ops::Range<u32>,
    done: bool,
    seen: Seen,
}

impl Producer<Msg> for Finite {
    type Event = Ev;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Ev>) -> Flow {
        self.seen.record(Cb::Demand(demand));
        let take = demand.min(self.items.len()) as u32;
        let from = self.items.start;
        self.items.start += take;
        let _ = out.extend(ns(from..from + take));
        self.done = self.items.is_empty();
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, _: &mut Emit<'_, Ev>) -> Flow {
        self.seen.record(Cb::Info(msg.clone()));
        match msg {
            Msg::Stop(r) => Flow::Stop(r),
            _ => Flow::Continue,
        }
    }
}

/// G7 with the consumer's `mode`.
fn g7(mode: CancelMode) -> (Net, H<C>) {
    let mut net = Net::new();
    let id = net.next_id();
    let source = Finite {
        items: 0..10,
        done: false,
        seen: Seen::attached(id, net.log()),
    };
    let p = net.add(ProducerStage::<_, Msg>::new(id, source, ProducerOptions::new()).unwrap());
    let c = net.consumer(recorder());
    let opts = Subscribe::new().cancel(mode);
    let s = net.subscribe(c, p, opts.clone()).unwrap();
    net.run_until(|net| net.stage(p).behaviour().done);
    net.info(p, Msg::Stop(Reason::Normal)); // the streamer's async_info(:stop)
    net.run();
    let mut want = vec![
        subscribe(s, opts),
        handle_subscribe(c, s),
        ask(s, 1000),
        handle_demand(p, 1000),
        events(s, ns(0..10)),
        handle_info(p, Msg::Stop(Reason::Normal)),
        stop(p, Reason::Normal),
        // All 10 events, then the source's exit.
        handle_events(s, ns(0..10)),
        handle_cancel(c, Cancellation::Down(Reason::Normal), s),
    ];
    if mode == CancelMode::Permanent {
        want.push(stop(c, Reason::Normal));
    }
    assert_trace(&net.take(), &want);
    assert_eq!(net.stopped(p), Some(Reason::Normal));
    (net, c)
}

#[test]
fn g7_finite_source_exits_normally_transient_consumer_stays_alive() {
    let (net, c) = g7(CancelMode::Transient);
    assert_eq!(net.stopped(c), None);
}

#[test]
fn g7_finite_source_exits_normally_permanent_consumer_exits_normally() {
    // GenStage's `stream` variant has no twin in the core (a stream is the calling process
    // acting as a consumer); the consumer above collecting [0..9] is its equivalent.
    let (net, c) = g7(CancelMode::Permanent);
    assert_eq!(net.stopped(c), Some(Reason::Normal));
}

// Beyond the scenarios: a consumer's own calls, infos and stops.

#[test]
fn g_a_consumer_replies_to_calls_and_stops_when_a_call_says_so() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    net.call(c, Msg::Info("ping"));
    assert_trace(
        &net.take(),
        &[handle_call(c, Msg::Info("ping")), reply(c, Msg::Ok)],
    );
    net.call(c, Msg::Stop(Reason::Shutdown));
    let trace = net.take();
    assert_eq!(
        trace[..2],
        [
            handle_call(c, Msg::Stop(Reason::Shutdown)),
            reply(c, Msg::Ok)
        ]
    );
    assert!(trace.contains(&stop(c, Reason::Shutdown)), "{trace:#?}");
    assert_eq!(net.stopped(c), Some(Reason::Shutdown));
}

#[test]
fn g_a_consumer_stopped_by_an_info_refuses_subscribes_asks_and_calls() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let c = net.consumer(recorder().manual());
    let s = net.subscribe(c, p, Subscribe::new()).unwrap();
    net.run();
    net.take();
    net.info(c, Msg::Stop(Reason::Custom("enough")));
    let trace = net.take();
    assert_eq!(
        trace[0],
        handle_info(c, Msg::Stop(Reason::Custom("enough")))
    );
    assert!(
        trace.contains(&stop(c, Reason::Custom("enough"))),
        "{trace:#?}"
    );
    net.run();
    net.take();
    assert_eq!(
        net.subscribe(c, p, Subscribe::new()),
        Err(SubscribeError::Stopped)
    );
    assert_eq!(net.ask(c, s, 1), Err(AskError::Stopped));
    assert_eq!(net.cancel(c, s, Reason::Normal), Err(AskError::Stopped));
    // Calls and infos to a stopped consumer run no callback: the message comes back with the
    // reason the stage stopped.
    let stopped = |msg| SendError::Stopped {
        msg,
        reason: Reason::Custom("enough"),
    };
    assert_eq!(
        net.try_call(c, Msg::Info("late")),
        Err(stopped(Msg::Info("late")))
    );
    assert_eq!(
        net.try_info(c, Msg::Info("late")),
        Err(stopped(Msg::Info("late")))
    );
    assert_eq!(net.take(), []);
}

/// Spec §21 Q8: a cancel that names a subscription the producer does not know is ignored, as
/// GenStage does (its protocol docs say it should be answered): no cancel goes back, no
/// callback runs, the producer keeps running.
#[test]
fn g_q8_a_cancel_for_an_unknown_subscription_is_ignored() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let stranger = sub_id(p, StageId(100), 7);
    net.send(cancel_msg(stranger, Reason::Normal));
    net.run();
    assert_trace(
        &net.take(),
        &[Entry::Out(
            StageId(100),
            Record::Output(Output::ToProducer(cancel_msg(stranger, Reason::Normal))),
        )],
    );
    assert_eq!(net.stopped(p), None);
}

/// Spec §21 Q11: a call to a behaviour without `handle_call` stops the stage with
/// `Reason::BadCall` (GenStage crashes it; its docs promise a `bad_call` default).
#[test]
fn g_q11_a_call_the_behaviour_does_not_handle_stops_it_with_bad_call() {
    struct Plain;
    impl Consumer<Msg> for Plain {
        type Event = Ev;
        fn handle_events(&mut self, _: Batch<'_, Ev>, _: &mut Ctx<'_>) -> Flow {
            Flow::Continue
        }
    }
    let mut net = Net::new();
    let c = net.add(ConsumerStage::new(net.next_id(), Plain));
    net.call(c, Msg::Ok);
    net.run();
    assert_eq!(net.stopped(c), Some(Reason::BadCall));
    assert_eq!(net.take(), [stop(c, Reason::BadCall)]);
}
