//! C. Producer demand and buffer (spec §7, §9).

use crate::common::*;
use genstage::runtime::*;
use genstage::*;

/// A raw consumer X.
const X: StageId = StageId(100);

#[test]
fn c1_events_emitted_before_any_consumer_are_buffered_then_drained_first() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let c = net.consumer(recorder());
    net.info(p, Msg::Emit(ls("abc"))); // from handle_info
    net.call(p, Msg::Emit(ls("de"))); // from handle_cast: a call here (no casts in the port)
    net.run();
    assert_trace(
        &net.take(),
        &[
            handle_info(p, Msg::Emit(ls("abc"))),
            handle_call(p, Msg::Emit(ls("de"))),
            reply(p, Msg::Ok),
        ],
    );
    assert_eq!(net.stage(p).buffered_count(), 5);

    let opts = Subscribe::new().max_demand(4).min_demand(0);
    let s = net.subscribe(c, p, opts.clone()).unwrap();
    net.run_until_logged(&handle_events(s, ls("e")));
    assert_eq!(net.stage(c).outstanding(s), Some(3));
    net.run_until_logged(&handle_events(s, ns(3..7)));
    assert_trace(
        &net.take(),
        &[
            subscribe(s, opts),
            handle_subscribe(c, s),
            ask(s, 4),
            handle_subscribe(p, s),
            events(s, ls("abcd")),
            handle_events(s, ls("abcd")),
            ask(s, 4),
            // [e] from the buffer, then handle_demand(3) as a separate message.
            events(s, ls("e")),
            handle_demand(p, 3),
            events(s, ns(0..3)),
            handle_events(s, ls("e")),
            handle_events(s, ns(0..3)),
            ask(s, 4),
            handle_demand(p, 4),
            events(s, ns(3..7)),
            handle_events(s, ns(3..7)),
            ask(s, 4),
        ],
    );
}

#[test]
fn c2_buffer_covers_part_of_the_demand() {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    net.call(p, Msg::Emit(ls("ab")));
    net.run();
    net.take();
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
            events(s, ls("ab")),
            handle_demand(p, 3),
        ],
    );
    assert_eq!(net.stage(p).buffered_count(), 0);
}

/// C4's steps for one `buffer_keep`: emit [a..e], emit [f,g,h], subscribe with max 4, min 0.
fn c4(keep: Keep, first: &str, second: &str) {
    let mut net = Net::new();
    let opts = ProducerOptions::new().buffer_size(5).buffer_keep(keep);
    let p = net.producer(counter(0), opts);
    let c = net.consumer(recorder());
    net.call(p, Msg::Emit(ls("abcde")));
    net.call(p, Msg::Emit(ls("fgh")));
    // The second emit discards 3 events, reported once (spec §9.4).
    assert_trace(
        &net.take(),
        &[
            handle_call(p, Msg::Emit(ls("abcde"))),
            reply(p, Msg::Ok),
            handle_call(p, Msg::Emit(ls("fgh"))),
            format_discarded(p, 3),
            report(
                p,
                Report::Discarded {
                    count: 3,
                    reason: DiscardReason::BufferFull,
                    log: true,
                },
            ),
            reply(p, Msg::Ok),
        ],
    );
    assert_eq!(net.stage(p).buffered_count(), 5);
    assert_eq!(net.stage(p).stats().discarded.buffer_full, 3);

    let sub = Subscribe::new().max_demand(4).min_demand(0);
    let s = net.subscribe(c, p, sub.clone()).unwrap();
    net.run_until_logged(&handle_events(s, ls(second)));
    assert_trace(
        &net.take(),
        &[
            subscribe(s, sub),
            handle_subscribe(c, s),
            ask(s, 4),
            handle_subscribe(p, s),
            events(s, ls(first)),
            handle_events(s, ls(first)),
            ask(s, 4),
            events(s, ls(second)),
            handle_demand(p, 3),
            events(s, ns(0..3)),
            handle_events(s, ls(second)),
        ],
    );
}

#[test]
fn c4_overflow_keep_first() {
    c4(Keep::First, "abcd", "e");
}

#[test]
fn c4_overflow_keep_last() {
    c4(Keep::Last, "defg", "h");
}

/// C5 with `format_discarded` returning `log`.
fn c5(log: bool) {
    let mut net = Net::new();
    let opts = ProducerOptions::new()
        .buffer_size(5)
        .buffer_keep(Keep::First);
    let p = net.producer(counter(0).log_discards(log), opts);
    let c = net.consumer(recorder());
    net.call(p, Msg::Emit(ls("abcdefgh")));
    assert_trace(
        &net.take(),
        &[
            handle_call(p, Msg::Emit(ls("abcdefgh"))),
            format_discarded(p, 3),
            // `log: false` is "no default warning"; the discard is reported and counted
            // either way.
            report(
                p,
                Report::Discarded {
                    count: 3,
                    reason: DiscardReason::BufferFull,
                    log,
                },
            ),
            reply(p, Msg::Ok),
        ],
    );
    let sub = Subscribe::new().max_demand(4).min_demand(0);
    let s = net.subscribe(c, p, sub).unwrap();
    net.run_until_logged(&handle_events(s, ls("e")));
    let got: Vec<_> = received_by(&net.take(), c);
    assert_eq!(
        got,
        [
            Record::Events(s, ls("abcd")),
            Record::Events(s, ls("e")),
            Record::Events(s, ns(0..3)),
        ]
    );
}

#[test]
fn c5_format_discarded_false_prevents_the_log() {
    c5(false);
}

#[test]
fn c5_format_discarded_true_allows_the_log() {
    c5(true);
}

#[test]
fn c6_infinite_buffer_and_the_buffered_count_estimate() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new().unbounded_buffer());
    let c = net.consumer(recorder());
    net.call(p, Msg::Emit(ls("abcde")));
    assert_eq!(net.stage(p).buffered_count(), 5);
    net.call(p, Msg::Emit(ls("fgh")));
    assert_eq!(net.stage(p).buffered_count(), 8);
    net.take();
    let sub = Subscribe::new().max_demand(4).min_demand(0);
    let s = net.subscribe(c, p, sub.clone()).unwrap();
    net.run_until_logged(&handle_events(s, ls("efgh")));
    assert_trace(
        &net.take(),
        &[
            subscribe(s, sub),
            handle_subscribe(c, s),
            ask(s, 4),
            handle_subscribe(p, s),
            events(s, ls("abcd")),
            handle_events(s, ls("abcd")),
            ask(s, 4),
            // The buffer covers this ask in full: no handle_demand (spec §7.2).
            events(s, ls("efgh")),
            handle_events(s, ls("efgh")),
            ask(s, 4),
        ],
    );
    assert_eq!(net.stage(p).buffered_count(), 0);
    assert_eq!(net.stage(p).stats().discarded.total(), 0);
}

/// C7's setup: a producer (Silent, so that the ask leaves demand open) with X subscribed
/// and asking 3.
fn c7_setup() -> (Net, H<P>, SubId) {
    let mut net = Net::new();
    let p = net.producer(silent(), ProducerOptions::new());
    let s = sub_id(p, X, 0);
    net.send(subscribe_msg(s, Subscribe::new()));
    net.send(ask_msg(s, 3));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            ask(s, 3),
            handle_subscribe(p, s),
            handle_demand(p, 3),
        ],
    );
    (net, p, s)
}

#[test]
fn c7_handle_call_events_are_sent_before_the_reply() {
    let (mut net, p, s) = c7_setup();
    net.call(p, Msg::Emit(ns(1..=3)));
    assert_trace(
        &net.take(),
        &[
            handle_call(p, Msg::Emit(ns(1..=3))),
            events(s, ns(1..=3)),
            reply(p, Msg::Ok),
        ],
    );
}

#[test]
fn c7_early_reply_comes_before_the_events() {
    let (mut net, p, s) = c7_setup();
    net.call(p, Msg::EmitReplyFirst(ns(1..=3)));
    assert_trace(
        &net.take(),
        &[
            handle_call(p, Msg::EmitReplyFirst(ns(1..=3))),
            reply(p, Msg::Ok),
            events(s, ns(1..=3)),
        ],
    );
}

/// C5 on a producer_consumer's output buffer (spec §16.9: the rules of §9 apply there too):
/// overflow from `handle_events` output is reported through `format_discarded`.
fn c5_producer_consumer(log: bool) {
    let mut net = Net::new();
    let opts = ProducerOptions::new()
        .buffer_size(5)
        .buffer_keep(Keep::First);
    let pc = net.producer_consumer(doubler().log_discards(log), opts);
    let s = net
        .subscribe(pc, X, Subscribe::new().max_demand(10))
        .unwrap();
    let d = sub_id(pc, StageId(110), 0);
    net.send(subscribe_msg(d, Subscribe::new()));
    net.send(ask_msg(d, 1));
    net.run();
    net.take();
    net.send_events(s, ls("abcd"));
    net.run();
    assert_trace(
        &net.take(),
        &[
            events(s, ls("abcd")),
            handle_events(s, ls("abcd")),
            events(d, ls("a")),
            // 7 left over for a buffer of 5, keep first: 2 discarded.
            format_discarded(pc, 2),
            report(
                pc,
                Report::Discarded {
                    count: 2,
                    reason: DiscardReason::BufferFull,
                    log,
                },
            ),
        ],
    );
    assert_eq!(net.stage(pc).buffered_count(), 5);
    assert_eq!(net.stage(pc).stats().discarded.buffer_full, 2);
}

#[test]
fn c5_format_discarded_on_a_producer_consumer_buffer() {
    c5_producer_consumer(false);
    c5_producer_consumer(true);
}
