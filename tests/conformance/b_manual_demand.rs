//! B. Manual demand: no automatic asks; each message is one `handle_events` call (spec §6).

use crate::common::*;
use genstage::error::*;
use genstage::runtime::*;
use genstage::*;

#[test]
fn b1_manual_subscription_and_explicit_asks() {
    let mut net = Net::new();
    let p = net.producer(counter(0), ProducerOptions::new());
    // GenStage's `mode: manual` sub option: here the Recorder's handle_subscribe answers
    // Manual (subscription options carry no free-form keys).
    let c = net.consumer(recorder().manual());
    let s = net.subscribe(c, p, Subscribe::new()).unwrap();
    net.run();
    // No Ask at subscribe time.
    assert_trace(
        &net.take(),
        &[
            subscribe(s, Subscribe::new()),
            handle_subscribe(c, s),
            handle_subscribe(p, s),
        ],
    );

    net.ask(c, s, 50).unwrap();
    net.run();
    // One handle_events call, and no automatic Ask after it.
    assert_trace(
        &net.take(),
        &[
            ask(s, 50),
            handle_demand(p, 50),
            events(s, ns(0..50)),
            handle_events(s, ns(0..50)),
        ],
    );

    net.ask(c, s, 50).unwrap();
    net.run();
    assert_trace(
        &net.take(),
        &[
            ask(s, 50),
            handle_demand(p, 50),
            events(s, ns(50..100)),
            handle_events(s, ns(50..100)),
        ],
    );

    // Beyond the scenario: a message larger than max − min (500) is still one call on a
    // manual subscription (automatic mode would cut it into 500 + 200). Nothing on the
    // consumer side enforces max/min (spec §6.3); the producer's DemandDispatcher, whose
    // expected maximum is the first demand it saw (50), reports the larger ask (spec §12.4).
    net.ask(c, s, 700).unwrap();
    net.run();
    assert_trace(
        &net.take(),
        &[
            ask(s, 700),
            report(
                p,
                Report::DemandAboveMax {
                    sub: s,
                    max: 50,
                    demand: 700,
                },
            ),
            handle_demand(p, 700),
            events(s, ns(100..800)),
            handle_events(s, ns(100..800)),
        ],
    );
    // An ask of 0 sends nothing (spec §3.11).
    net.ask(c, s, 0).unwrap();
    assert_eq!(net.pending(), 0);
    assert_trace(&net.take(), &[]);
    // Asking on a manual subscription of someone else's is refused.
    assert_eq!(
        net.ask(c, sub_id(p, c, 9), 1),
        Err(AskError::UnknownSubscription)
    );
}

/// Spec §21 Q5: GenStage calls `handle_events([])` for an empty message on a manual
/// subscription; here an empty message calls no callback, manual or automatic, and changes
/// no counter.
#[test]
fn b_q5_an_empty_message_on_a_manual_subscription_calls_no_callback() {
    let mut net = Net::new();
    let c = net.consumer(recorder().manual());
    let raw = StageId(100);
    let s = net.subscribe(c, raw, Subscribe::new()).unwrap();
    net.ask(c, s, 5).unwrap();
    net.run();
    net.take();
    net.send_events(s, vec![]);
    net.run();
    // The log holds only the raw peer's (empty) send: no callback ran.
    assert_trace(&net.take(), &[events(s, vec![])]);
    assert_eq!(net.stage(c).stats().events_in, 0);
    assert_eq!(net.stage(c).outstanding(s), Some(5));
}
