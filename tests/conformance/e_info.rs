//! E. Info ordering: an info is handled after every event buffered or queued before it was
//! dispatched (spec §10).

use crate::common::*;
use genstage::runtime::*;
use genstage::*;

/// A raw consumer X.
const X: StageId = StageId(100);

#[test]
fn e1_info_to_a_consumer_is_delivered_at_once_in_call_order() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    // sync_info and async_info are the same call here: the core takes the message at once.
    net.info(c, Msg::Info("sync"));
    net.info(c, Msg::Info("async"));
    assert_trace(
        &net.take(),
        &[
            handle_info(c, Msg::Info("sync")),
            handle_info(c, Msg::Info("async")),
        ],
    );
}

#[test]
fn e1_info_to_a_producer_with_no_buffer_is_delivered_at_once() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    net.info(p, Msg::Info("sync"));
    net.info(p, Msg::Info("async"));
    assert_trace(
        &net.take(),
        &[
            handle_info(p, Msg::Info("sync")),
            handle_info(p, Msg::Info("async")),
        ],
    );
    assert_eq!(net.pending(), 0);
}

/// E1 on a Silent producer with this buffer: `buffered` events emitted, then an info, then a
/// consumer subscribes.
fn e1_waits_behind_buffer(opts: ProducerOptions, buffered: &str) {
    let mut net = Net::new();
    let p = net.producer(silent(), opts);
    let c = net.consumer(recorder());
    net.call(p, Msg::Emit(ls(buffered)));
    net.info(p, Msg::Info("sync"));
    net.run();
    // Not delivered before a subscription.
    assert_trace(
        &net.take(),
        &[handle_call(p, Msg::Emit(ls(buffered))), reply(p, Msg::Ok)],
    );
    let s = net.subscribe(c, p, Subscribe::new()).unwrap();
    net.run();
    let n = buffered.len();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            handle_subscribe(c, s),
            ask(s, 1000),
            handle_subscribe(p, s),
            events(s, ls(buffered)),
            // The rest of this ask is handled first; the released info is a message the
            // stage sent itself, handled after the current one.
            handle_demand(p, 1000 - n),
            handle_info(p, Msg::Info("sync")),
            handle_events(s, ls(buffered)),
        ],
    );
}

#[test]
fn e1_info_to_a_producer_waits_behind_an_infinite_buffer() {
    e1_waits_behind_buffer(ProducerOptions::new().unbounded_buffer(), "abc");
}

#[test]
fn e1_info_to_a_producer_waits_behind_a_buffer_of_3_with_1_2_or_3_events() {
    for buffered in ["a", "ab", "abc"] {
        e1_waits_behind_buffer(ProducerOptions::new().buffer_size(3), buffered);
    }
}

#[test]
fn e2_moving_buffer() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new().buffer_size(3));
    let s = sub_id(p, X, 0);
    net.send(subscribe_msg(s, Subscribe::new()));
    net.run();
    net.call(p, Msg::Emit(ls("abc")));
    net.info(p, Msg::Info("sync1"));
    net.send(ask_msg(s, 2));
    net.run();
    // [a,b] go out; sync1 waits behind c.
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            handle_subscribe(p, s),
            handle_call(p, Msg::Emit(ls("abc"))),
            reply(p, Msg::Ok),
            ask(s, 2),
            events(s, ls("ab")),
        ],
    );
    net.call(p, Msg::Emit(ls("de")));
    net.info(p, Msg::Info("sync2"));
    net.send(ask_msg(s, 1));
    net.send(ask_msg(s, 2));
    net.run();
    assert_trace(
        &net.take(),
        &[
            handle_call(p, Msg::Emit(ls("de"))),
            reply(p, Msg::Ok),
            ask(s, 1),
            ask(s, 2),
            events(s, ls("c")),
            handle_info(p, Msg::Info("sync1")),
            events(s, ls("de")),
            handle_info(p, Msg::Info("sync2")),
        ],
    );
    assert_eq!(net.stage(p).buffered_count(), 0);
    assert_eq!(net.stage(p).stats().discarded.total(), 0);
}

#[test]
fn e5_info_on_a_producer_consumer_with_queued_input_waits_for_downstream_demand() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let pc = net.producer_consumer(doubler(), ProducerOptions::new());
    let c = net.consumer(recorder());
    let s = net.subscribe(pc, p, Subscribe::new()).unwrap();
    net.run();
    net.call(p, Msg::Emit(ns(1..=10)));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            handle_subscribe(pc, s),
            ask(s, 1000),
            handle_subscribe(p, s),
            handle_demand(p, 1000),
            handle_call(p, Msg::Emit(ns(1..=10))),
            events(s, ns(1..=10)),
            reply(p, Msg::Ok),
        ],
    );
    assert_eq!(net.stage(pc).queued_count(), 10);

    net.info(pc, Msg::Info("sync"));
    net.info(pc, Msg::Info("async"));
    assert_trace(&net.take(), &[]); // neither info is delivered yet

    let d = net.subscribe(c, pc, Subscribe::new()).unwrap();
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(d, Subscribe::new()),
            handle_subscribe(c, d),
            ask(d, 1000),
            handle_subscribe(pc, d),
            handle_events(s, ns(1..=10)),
            events(d, doubled(&ns(1..=10))),
            handle_info(pc, Msg::Info("sync")),
            handle_info(pc, Msg::Info("async")),
            handle_events(d, doubled(&ns(1..=10))),
        ],
    );
}
