//! A. Consumer-side automatic demand: split into chunks of `max − min`, refill to `max` after
//! the chunk that crosses `min` (spec §5).

use crate::common::*;
use genstage::runtime::*;
use genstage::*;

/// A raw producer X.
const X: StageId = StageId(100);

#[test]
fn a1_default_max_min_chunking() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let c = net.consumer(recorder());
    // `subscribe_to: [P]`: the defaults, max 1000 and min 500.
    let s = net.subscribe(c, p, Subscribe::new()).unwrap();
    assert_eq!(s, sub_id(p, c, 0));
    net.steps(3); // Subscribe, Ask(1000), Events(0..999)
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            handle_subscribe(c, s),
            ask(s, 1000),
            handle_subscribe(p, s),
            handle_demand(p, 1000),
            events(s, ns(0..1000)),
            handle_events(s, ns(0..500)),
            ask(s, 500),
            handle_events(s, ns(500..1000)),
            ask(s, 500),
        ],
    );
    assert_eq!(net.stage(c).outstanding(s), Some(1000));
    // Each refill reaches the producer as its own demand.
    net.steps(2);
    assert_trace(
        &net.take(),
        &[
            handle_demand(p, 500),
            events(s, ns(1000..1500)),
            handle_demand(p, 500),
            events(s, ns(1500..2000)),
        ],
    );
}

#[test]
fn a2_80_percent_min_demand_many_small_refills() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let c = net.consumer(recorder());
    let opts = Subscribe::new().max_demand(100).min_demand(80);
    let s = net.subscribe(c, p, opts.clone()).unwrap();
    let last = handle_events(s, ns(1000..1020));
    net.run_until_logged(&last);

    let mut want = vec![
        subscribe(s, opts),
        handle_subscribe(c, s),
        ask(s, 100),
        handle_subscribe(p, s),
        handle_demand(p, 100),
        events(s, ns(0..100)),
    ];
    // One message of 100 becomes five chunks of 20, each followed by Ask(20).
    for b in (0..100).step_by(20) {
        want.extend([handle_events(s, ns(b..b + 20)), ask(s, 20)]);
    }
    // From then on, in FIFO order: the producer answers the five asks in a row (five
    // handle_demand(20) calls, five messages), then the consumer handles the five messages
    // in a row, each one chunk followed by Ask(20).
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
    assert_eq!(net.stage(c).outstanding(s), Some(100));
}

#[test]
fn a4_max_1_min_0_one_event_per_call() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    let c = net.consumer(recorder());
    let opts = Subscribe::new().max_demand(1).min_demand(0);
    let s = net.subscribe(c, p, opts.clone()).unwrap();
    net.steps(1 + 2 * 4); // Subscribe, then (Ask(1), Events([k])) four times
    let mut want = vec![
        subscribe(s, opts),
        handle_subscribe(c, s),
        ask(s, 1),
        handle_subscribe(p, s),
    ];
    for k in 0..4 {
        want.extend([
            handle_demand(p, 1),
            events(s, ns([k])),
            handle_events(s, ns([k])),
            ask(s, 1),
        ]);
    }
    assert_trace(&net.take(), &want);
    assert_eq!(net.stage(c).outstanding(s), Some(1));
}

#[test]
fn a6_excess_events_are_delivered_logged_and_do_not_reduce_demand() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    let opts = Subscribe::new().max_demand(10); // min 5
    let s = net.subscribe(c, X, opts.clone()).unwrap();
    net.run();
    net.send_events(s, ns(1..=15));
    net.run();
    assert_trace(
        &net.take(),
        &[
            subscribe(s, opts),
            handle_subscribe(c, s),
            ask(s, 10),
            events(s, ns(1..=15)),
            handle_events(s, ns(1..=5)),
            ask(s, 5),
            handle_events(s, ns(6..=10)),
            ask(s, 5),
            // The excess check runs before the chunk is handled (spec §5.3 a then c).
            report(c, Report::Excess { sub: s, excess: 5 }),
            handle_events(s, ns(11..=15)),
        ],
    );
    assert_eq!(net.stage(c).outstanding(s), Some(10));
    assert_eq!(net.stage(c).stats().excess, 5);
    assert_eq!(net.stopped(c), None);
}

#[test]
fn a7_empty_events_list_in_automatic_mode() {
    let mut net = Net::new();
    let c = net.consumer(recorder());
    let s = net.subscribe(c, X, Subscribe::new()).unwrap();
    net.run();
    net.take();
    net.send_events(s, vec![]);
    net.run();
    // X's own send, and nothing from C: no handle_events, no Ask.
    assert_trace(&net.take(), &[events(s, vec![])]);
    assert_eq!(net.stage(c).outstanding(s), Some(1000));
}
