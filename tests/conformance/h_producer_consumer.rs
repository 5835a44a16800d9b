//! H. producer_consumer: upstream asks at once, handles input only under downstream demand,
//! one FIFO input queue across producers (spec §16).

use crate::common::*;
use genstage::error::*;
use genstage::runtime::*;
use genstage::*;

/// Raw peers.
const X: StageId = StageId(100);
const X1: StageId = StageId(101);
const X2: StageId = StageId(102);
const D: StageId = StageId(110);

#[test]
fn h1_asks_upstream_at_once_but_processes_only_with_downstream_demand() {
    let mut net = Net::new();
    let pc = net.producer_consumer(doubler(), ProducerOptions::new());
    let opts = Subscribe::new().max_demand(10).min_demand(5);
    let s = net.subscribe(pc, X, opts.clone()).unwrap();
    net.run();
    // 1. X receives Subscribe and then Ask(10) immediately.
    assert_trace(
        &net.take(),
        &[subscribe(s, opts), handle_subscribe(pc, s), ask(s, 10)],
    );

    // 2. Events and an info wait in the input queue.
    net.send_events(s, ns(1..=10));
    net.run();
    net.info(pc, Msg::Info("marker"));
    assert_trace(&net.take(), &[events(s, ns(1..=10))]);
    assert_eq!(net.stage(pc).queued_count(), 10);

    // 3. D subscribes and asks 4: the whole message is processed.
    let d = sub_id(pc, D, 0);
    net.send(subscribe_msg(d, Subscribe::new()));
    net.send(ask_msg(d, 4));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(d, Subscribe::new()),
            ask(d, 4),
            handle_subscribe(pc, d),
            handle_events(s, ns(1..=5)),
            events(d, doubled(&ns(1..=2))),
            ask(s, 5),
            handle_events(s, ns(6..=10)),
            ask(s, 5),
        ],
    );
    assert_eq!(net.stage(pc).buffered_count(), 16);
    assert_eq!(net.stage(pc).queued_count(), 0);

    // 4. Ask(3) is served from the buffer; the input queue (the marker) is not touched.
    net.send(ask_msg(d, 3));
    net.run();
    assert_trace(
        &net.take(),
        &[ask(d, 3), events(d, vec![Ev::N(3), Ev::N(3), Ev::N(4)])],
    );
    assert_eq!(net.stage(pc).buffered_count(), 13);

    // 5. Ask(20): the 13 buffered events, then the leftover 7 demand reaches the marker.
    net.send(ask_msg(d, 20));
    net.run();
    let mut rest = vec![Ev::N(4)];
    rest.extend(doubled(&ns(5..=10)));
    assert_trace(
        &net.take(),
        &[
            ask(d, 20),
            // The DemandDispatcher's expected maximum is the first ask it saw, 4 (spec §12.4):
            // GenStage logs the same warning here.
            report(
                pc,
                Report::DemandAboveMax {
                    sub: d,
                    max: 4,
                    demand: 20,
                },
            ),
            events(d, rest),
            handle_info(pc, Msg::Info("marker")),
        ],
    );
    assert_eq!(net.stage(pc).downstream_demand(), 7);

    // 6. New events are handled at once; 7 go out, 3 are buffered.
    net.send_events(s, ns(11..=15));
    net.run();
    let mut out = doubled(&ns(11..=15));
    let kept = out.split_off(7);
    assert_trace(
        &net.take(),
        &[
            events(s, ns(11..=15)),
            handle_events(s, ns(11..=15)),
            events(d, out),
            ask(s, 5),
        ],
    );
    assert_eq!(kept.len(), 3);
    assert_eq!(net.stage(pc).buffered_count(), 3);
    assert_eq!(net.stage(pc).downstream_demand(), 0);
}

#[test]
fn h3_several_upstream_producers_are_merged_into_one_fifo() {
    let mut net = Net::new();
    let pc = net.producer_consumer(doubler(), ProducerOptions::new());
    let opts = Subscribe::new().max_demand(10);
    let s1 = net.subscribe(pc, X1, opts.clone()).unwrap();
    let s2 = net.subscribe(pc, X2, opts).unwrap();
    net.run();
    net.take();
    let (a1, a2, a3, b1) = (Ev::T("a1"), Ev::T("a2"), Ev::T("a3"), Ev::T("b1"));
    net.send_events(s1, vec![a1, a2]);
    net.send_events(s2, vec![b1]);
    net.send_events(s1, vec![a3]);
    net.run();
    net.take();
    let d = sub_id(pc, D, 0);
    net.send(subscribe_msg(d, Subscribe::new()));
    net.send(ask_msg(d, 100));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(d, Subscribe::new()),
            ask(d, 100),
            handle_subscribe(pc, d),
            handle_events(s1, vec![a1, a2]),
            events(d, vec![a1, a1, a2, a2]),
            handle_events(s2, vec![b1]),
            events(d, vec![b1, b1]),
            handle_events(s1, vec![a3]),
            events(d, vec![a3, a3]),
        ],
    );
}

#[test]
fn h4_a_producer_consumer_that_emits_nothing_keeps_pulling() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let pc = net.producer_consumer(discarder(), ProducerOptions::new());
    let c = net.consumer(recorder());
    let up = Subscribe::new().max_demand(100).min_demand(80);
    let down = Subscribe::new().max_demand(100).min_demand(50);
    let s = net.subscribe(pc, p, up.clone()).unwrap();
    let d = net.subscribe(c, pc, down.clone()).unwrap();
    net.run_until_logged(&handle_events(s, ns(1000..1020)));

    let mut want = vec![
        subscribe(s, up),
        handle_subscribe(pc, s),
        ask(s, 100),
        subscribe(d, down),
        handle_subscribe(c, d),
        ask(d, 100),
        handle_subscribe(p, s),
        handle_demand(p, 100),
        events(s, ns(0..100)),
        handle_subscribe(pc, d),
    ];
    // Chunks of 20, each followed by Ask(20), as for a consumer (scenario A2).
    for b in (0..100).step_by(20) {
        want.extend([handle_events(s, ns(b..b + 20)), ask(s, 20)]);
    }
    'rounds: for round in (100..).step_by(100) {
        for b in (round..round + 100).step_by(20) {
            want.extend([handle_demand(p, 20), events(s, ns(b..b + 20))]);
        }
        for b in (round..round + 100).step_by(20) {
            want.extend([handle_events(s, ns(b..b + 20)), ask(s, 20)]);
            if b == 1000 {
                break 'rounds;
            }
        }
    }
    assert_trace(&net.take(), &want);
    // Nothing was delivered, so the downstream counter never dropped.
    assert_eq!(net.stage(pc).downstream_demand(), 100);
    assert_eq!(net.stage(c).behaviour().calls(), [Cb::Subscribe(d)]);
}

#[test]
fn h6_last_producer_goes_away_under_a_non_stopping_mode() {
    let mut net = Net::new();
    let pc = net.producer_consumer(doubler(), ProducerOptions::new());
    let s = net
        .subscribe(pc, X, Subscribe::new().cancel(CancelMode::Transient))
        .unwrap();
    net.run();
    net.take();
    net.send_cancel(s, Reason::Normal);
    net.run();
    assert_trace(
        &net.take(),
        &[
            cancel_down(s, Reason::Normal),
            handle_cancel(pc, Cancellation::Cancel(Reason::Normal), s),
        ],
    );
    assert_eq!(net.stopped(pc), None);
    assert_eq!(net.stage(pc).subscriptions().count(), 0);
}

#[test]
fn h6_a_permanent_cancel_waits_behind_queued_input() {
    // Spec §16.7 [probe]: a cancel that arrives while input is queued waits behind it; the
    // PC's handle_cancel and its stop decision come when the notice is reached, which needs
    // downstream demand.
    let mut net = Net::new();
    let pc = net.producer_consumer(doubler(), ProducerOptions::new());
    let s = net
        .subscribe(pc, X, Subscribe::new().max_demand(10))
        .unwrap();
    net.run();
    net.take();
    net.send_events(s, ns(1..=4));
    net.send_cancel(s, Reason::Normal);
    net.run();
    assert_trace(
        &net.take(),
        &[events(s, ns(1..=4)), cancel_down(s, Reason::Normal)],
    );
    assert_eq!(net.stopped(pc), None);
    assert_eq!(net.stage(pc).subscriptions().count(), 0); // forgotten at once

    let d = sub_id(pc, D, 0);
    net.send(subscribe_msg(d, Subscribe::new()));
    net.send(ask_msg(d, 100));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(d, Subscribe::new()),
            ask(d, 100),
            handle_subscribe(pc, d),
            // Queued from a subscription that has ended: one chunk, no ask (spec §16.8; the
            // `from` keeps its id, spec §21 Q9).
            handle_events(s, ns(1..=4)),
            events(d, doubled(&ns(1..=4))),
            handle_cancel(pc, Cancellation::Cancel(Reason::Normal), s),
            stop(pc, Reason::Normal),
        ],
    );
    assert_eq!(net.stopped(pc), Some(Reason::Normal));
}

// Beyond the scenarios: the producer_consumer's own API and its stops.

/// A producer_consumer with consumer D subscribed (nothing asked yet), and a raw producer X.
fn pc_between(b: TestPc) -> (Net, H<ProducerConsumerStage<TestPc, Msg>>, SubId, SubId) {
    pc_with(
        b,
        ProducerOptions::new(),
        Subscribe::new().max_demand(4).min_demand(2),
    )
}

fn pc_with(
    b: TestPc,
    popts: ProducerOptions,
    up_opts: Subscribe<Ev>,
) -> (Net, H<ProducerConsumerStage<TestPc, Msg>>, SubId, SubId) {
    let mut net = Net::new();
    let pc = net.producer_consumer(b, popts);
    let up = net.subscribe(pc, X, up_opts).unwrap();
    let d = sub_id(pc, D, 0);
    net.send(subscribe_msg(d, Subscribe::new()));
    net.run();
    net.take();
    (net, pc, up, d)
}

#[test]
fn h_a_call_replies_and_its_events_are_dispatched_like_handle_events_output() {
    let (mut net, pc, _, d) = pc_between(doubler());
    net.send(ask_msg(d, 2));
    net.run();
    net.take();
    net.call(pc, Msg::Emit(ls("abc")));
    // Two go out under D's demand, the third waits in the output buffer.
    assert_trace(
        &net.take(),
        &[
            handle_call(pc, Msg::Emit(ls("abc"))),
            events(d, ls("ab")),
            reply(pc, Msg::Ok),
        ],
    );
    assert_eq!(net.stage(pc).buffered_count(), 1);
    assert_eq!(net.stage(pc).downstream_demand(), 0);
    net.call(pc, Msg::Stop(Reason::Shutdown));
    let trace = net.take();
    assert_eq!(trace[0], handle_call(pc, Msg::Stop(Reason::Shutdown)));
    assert_eq!(trace[1], reply(pc, Msg::Ok));
    assert!(trace.contains(&stop(pc, Reason::Shutdown)), "{trace:#?}");
    assert_eq!(net.stopped(pc), Some(Reason::Shutdown));
}

#[test]
fn h_manual_upstream_demand_is_asked_and_cancelled_through_the_stage() {
    let (mut net, pc, up, _) = pc_between(doubler().manual());
    let stats = net.stage(pc).subscription_stats(up).unwrap();
    assert_eq!((stats.asked, stats.outstanding, stats.events), (0, 0, 0));
    assert_eq!(net.stage(pc).subscriptions().collect::<Vec<_>>(), [up]);
    assert_eq!(
        net.stage(pc).consumers().collect::<Vec<_>>(),
        [sub_id(pc, D, 0)]
    );
    assert_eq!(net.ask(pc, up, 3), Ok(()));
    assert_trace(&net.take(), &[ask(up, 3)]);
    let stranger = sub_id(X, pc, 9);
    assert_eq!(net.ask(pc, stranger, 1), Err(AskError::UnknownSubscription));
    assert_eq!(
        net.cancel(pc, stranger, Reason::Normal),
        Err(AskError::UnknownSubscription)
    );
    assert_eq!(net.cancel(pc, up, Reason::Normal), Ok(()));
    assert_trace(&net.take(), &[cancel_up(up, Reason::Normal)]);

    net.call(pc, Msg::Stop(Reason::Shutdown));
    net.run();
    net.take();
    assert_eq!(net.stopped(pc), Some(Reason::Shutdown));
    assert_eq!(net.ask(pc, up, 1), Err(AskError::Stopped));
    assert_eq!(net.cancel(pc, up, Reason::Normal), Err(AskError::Stopped));
}

#[test]
fn h_automatic_upstream_demand_cannot_be_asked_by_hand() {
    let (mut net, pc, up, _) = pc_between(doubler());
    // The automatic subscription asked for max_demand at once.
    let stats = net.stage(pc).subscription_stats(up).unwrap();
    assert_eq!((stats.asked, stats.outstanding, stats.events), (4, 4, 0));
    assert_eq!(net.stage(pc).stats().asked, 4);
    assert_eq!(net.ask(pc, up, 1), Err(AskError::NotManual));
    assert_eq!(net.stage(pc).demand_mode(), DemandMode::Forward);
}

#[test]
fn h_a_stop_in_handle_events_drops_the_rest_of_the_message_counted() {
    let (mut net, pc, up, d) = pc_with(
        doubler().stop_on_events(Reason::Custom("seven")),
        ProducerOptions::new(),
        Subscribe::new().max_demand(4).min_demand(3),
    );
    net.send(ask_msg(d, 10));
    net.run();
    net.take();
    // Chunks of max - min = 1: the first chunk stops the stage, the other three are dropped.
    net.send_events(up, ns(1..=4));
    net.run();
    let trace = net.take();
    assert_eq!(trace[1], handle_events(up, ns(1..=1)));
    assert_eq!(trace[2], events(d, doubled(&ns(1..=1))));
    assert!(
        trace.contains(&stop(pc, Reason::Custom("seven"))),
        "{trace:#?}"
    );
    assert!(!trace.contains(&handle_events(up, ns(2..=2))));
    assert_eq!(net.stage(pc).stats().discarded.stopped, 3);
}

#[test]
fn h_a_stop_in_handle_consumer_subscribe_stops_the_stage() {
    let mut net = Net::new();
    let pc = net.producer_consumer(
        doubler().stop_on_consumer(Reason::Custom("three")),
        ProducerOptions::new(),
    );
    let d = sub_id(pc, D, 0);
    net.send(subscribe_msg(d, Subscribe::new()));
    net.run();
    let trace = net.take();
    assert!(trace.contains(&handle_subscribe(pc, d)), "{trace:#?}");
    assert!(
        trace.contains(&stop(pc, Reason::Custom("three"))),
        "{trace:#?}"
    );
    assert_eq!(net.stopped(pc), Some(Reason::Custom("three")));
}

#[test]
fn h_a_full_output_buffer_drops_what_a_call_emits_counted_and_reported() {
    let (mut net, pc, _, _) = pc_with(
        doubler(),
        ProducerOptions::new().buffer_size(1),
        Subscribe::new(),
    );
    // D asked nothing: of three events emitted by a call, the buffer keeps the last.
    net.call(pc, Msg::Emit(ls("abc")));
    assert_trace(
        &net.take(),
        &[
            handle_call(pc, Msg::Emit(ls("abc"))),
            format_discarded(pc, 2),
            report(
                pc,
                Report::Discarded {
                    count: 2,
                    reason: DiscardReason::BufferFull,
                    log: true,
                },
            ),
            reply(pc, Msg::Ok),
        ],
    );
    assert_eq!(net.stage(pc).buffered_count(), 1);
    assert_eq!(net.stage(pc).stats().discarded.buffer_full, 2);
}
