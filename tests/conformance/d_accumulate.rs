//! D. Accumulate mode: demand and emitted events are held, in order, until forward (spec §8).

use crate::common::*;
use genstage::error::*;
use genstage::runtime::*;
use genstage::*;

/// A raw consumer X.
const X: StageId = StageId(100);

#[test]
fn d1_accumulate_on_init_then_forward() {
    let mut net = Net::new();
    let p = net.producer(
        counter(0),
        ProducerOptions::new().demand(DemandMode::Accumulate),
    );
    let c = net.consumer(recorder());
    assert_eq!(net.stage(p).demand_mode(), DemandMode::Accumulate);
    let opts = Subscribe::new().max_demand(4).min_demand(0);
    let s = net.subscribe(c, p, opts.clone()).unwrap();
    net.run();
    // The ask reached the producer, but nothing is consumed.
    assert_trace(
        &net.take(),
        &[
            subscribe(s, opts),
            handle_subscribe(c, s),
            ask(s, 4),
            handle_subscribe(p, s),
        ],
    );
    net.set_demand_mode(p, DemandMode::Forward);
    assert_eq!(net.stage(p).demand_mode(), DemandMode::Forward);
    net.run_until_logged(&handle_events(s, ns(0..4)));
    assert_trace(
        &net.take(),
        &[
            handle_demand(p, 4),
            events(s, ns(0..4)),
            handle_events(s, ns(0..4)),
            ask(s, 4),
        ],
    );
}

#[test]
fn d3_buffered_events_and_new_events_are_held_while_accumulating() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    net.call(p, Msg::Emit(ls("abc")));
    assert_eq!(net.stage(p).buffered_count(), 3);
    net.set_demand_mode(p, DemandMode::Accumulate);
    let s = sub_id(p, X, 0);
    net.send(subscribe_msg(s, Subscribe::new()));
    net.send(ask_msg(s, 5));
    net.run();
    net.call(p, Msg::Emit(ls("d")));
    // X receives nothing; the buffered events moved into the held log, so the estimate is 0.
    assert_trace(
        &net.take(),
        &[
            handle_call(p, Msg::Emit(ls("abc"))),
            reply(p, Msg::Ok),
            subscribe(s, Subscribe::new()),
            ask(s, 5),
            handle_subscribe(p, s),
            handle_call(p, Msg::Emit(ls("d"))),
            reply(p, Msg::Ok),
        ],
    );
    assert_eq!(net.stage(p).buffered_count(), 0);
    assert_eq!(net.stage(p).held_count(), 4);

    net.set_demand_mode(p, DemandMode::Forward);
    assert_trace(
        &net.take(),
        &[
            events(s, ls("abc")),
            handle_demand(p, 2),
            events(s, ls("d")),
        ],
    );
    assert_eq!(net.stage(p).held_count(), 0);
    assert_eq!(net.stage(p).buffered_count(), 0);
}

#[test]
fn d4_info_messages_bypass_accumulate_mode() {
    // Spec §21 Q10, kept as GenStage does it: infos are not held by accumulate mode.
    let mut net = Net::new();
    let p = net.producer(
        silent(),
        ProducerOptions::new().demand(DemandMode::Accumulate),
    );
    let s = sub_id(p, X, 0);
    net.send(subscribe_msg(s, Subscribe::new()));
    net.send(ask_msg(s, 5));
    net.run();
    net.call(p, Msg::Emit(ls("ab")));
    net.info(p, Msg::Info("inf"));
    // handle_info(inf) runs at once, before forward.
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            ask(s, 5),
            handle_subscribe(p, s),
            handle_call(p, Msg::Emit(ls("ab"))),
            reply(p, Msg::Ok),
            handle_info(p, Msg::Info("inf")),
        ],
    );
    net.set_demand_mode(p, DemandMode::Forward);
    assert_trace(&net.take(), &[handle_demand(p, 5), events(s, ls("ab"))]);
}

/// Spec §8.6 / §21 Q7: GenStage's `demand(pc)` query crashes the producer_consumer; here it
/// answers forward, and asking a producer_consumer to accumulate is a typed error that changes
/// nothing.
#[test]
fn d_q7_a_producer_consumer_reports_forward_and_refuses_accumulate() {
    struct Pass;
    impl ProducerConsumer for Pass {
        type In = u8;
        type Out = u8;
        fn handle_events(&mut self, e: Batch<'_, u8>, out: &mut Relay<'_, u8>) -> Flow {
            let _ = out.extend(e);
            Flow::Continue
        }
    }
    let mut pc: ProducerConsumerStage<Pass> =
        ProducerConsumerStage::new(StageId(0), Pass, ProducerOptions::new()).unwrap();
    assert_eq!(pc.demand_mode(), DemandMode::Forward);
    assert_eq!(pc.set_demand_mode(DemandMode::Forward), Ok(()));
    assert_eq!(
        pc.set_demand_mode(DemandMode::Accumulate),
        Err(OptionsError::DemandModeNotSupported)
    );
    assert_eq!(pc.demand_mode(), DemandMode::Forward);
    // Nor can one be built accumulating.
    assert_eq!(
        ProducerConsumerStage::<Pass>::new(
            StageId(0),
            Pass,
            ProducerOptions::new().demand(DemandMode::Accumulate)
        )
        .err(),
        Some(OptionsError::DemandModeNotSupported)
    );
}

/// Spec §8.3: each emit held in accumulate mode replays as its own dispatch. Four single-event
/// emits held while two consumers each have demand 10 go out one dispatch at a time, each to
/// the consumer with the most demand left — two and two — not all four to the first consumer
/// in one message.
#[test]
fn d_each_held_emit_replays_as_its_own_dispatch() {
    let mut net = Net::new();
    let p = net.producer(
        silent(),
        ProducerOptions::new().demand(DemandMode::Accumulate),
    );
    let a = sub_id(p, X, 0);
    let b = sub_id(p, StageId(101), 0);
    for s in [a, b] {
        net.send(subscribe_msg(s, Subscribe::new().max_demand(10)));
        net.send(ask_msg(s, 10));
    }
    net.run();
    for e in ["e1", "e2", "e3", "e4"] {
        net.call(p, Msg::Emit(vec![Ev::T(e)]));
    }
    net.run();
    net.take();
    net.set_demand_mode(p, DemandMode::Forward);
    net.run();
    let sent: Vec<Entry> = net
        .take()
        .into_iter()
        .filter(|e| matches!(e, Entry::Out(_, Record::Events(..))))
        .collect();
    assert_eq!(
        sent,
        [
            events(a, vec![Ev::T("e1")]),
            events(b, vec![Ev::T("e2")]),
            events(a, vec![Ev::T("e3")]),
            events(b, vec![Ev::T("e4")]),
        ]
    );
}
