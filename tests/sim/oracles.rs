//! Each oracle can fail: a stage that breaks one rule on purpose ([`Sabotage`]) is caught,
//! under every seed tried, by the oracle for that rule; the same pipeline without the
//! sabotage passes.

use crate::pipeline::{Cons, Sink, Source, Src, key};
use crate::sabotage::{Rule, Sabotage};
use genstage::dispatcher::DemandDispatcher;
use genstage::runtime::*;
use genstage::sim::{Mode, Oracle, Sim};
use genstage::storage::Heap;
use genstage::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

fn source(sim: &Sim, end: u64) -> Src {
    let s = Source::new(0, end, true);
    Src::with_dispatcher(
        sim.next_id(),
        s,
        ProducerOptions::new(),
        DemandDispatcher::new(),
    )
    .unwrap()
}

fn checked(seed: u64) -> Sim {
    let mut sim = Sim::new(seed);
    sim.set_mode(Mode::Seeded);
    sim.check_invariants(true);
    sim.event_keys(key);
    sim
}

/// Source (possibly sabotaged) → two consumers; returns the panic message, if any.
fn run_source_pipeline(seed: u64, rule: Option<Rule>) -> Option<String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut sim = checked(seed);
        let src = source(&sim, 300);
        let sinks = |sim: &mut Sim| [sim.consumer(Sink::default()), sim.consumer(Sink::default())];
        let opts = Subscribe::new().max_demand(7).min_demand(3);
        match rule {
            Some(rule) => {
                let p = sim.add(Sabotage::new(src, rule));
                for c in sinks(&mut sim) {
                    sim.subscribe(c, p, opts.clone()).unwrap();
                }
            }
            None => {
                let p = sim.add(src);
                for c in sinks(&mut sim) {
                    sim.subscribe(c, p, opts.clone()).unwrap();
                }
            }
        }
        sim.run_bounded(100_000).unwrap();
    }));
    r.err().map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn caught_by(rule: Rule, oracle: Oracle) {
    for seed in crate::harness::seeds(30) {
        assert_eq!(
            run_source_pipeline(seed, None),
            None,
            "seed {seed}: the honest run"
        );
        let msg = run_source_pipeline(seed, Some(rule))
            .unwrap_or_else(|| panic!("seed {seed}: {rule:?} was not caught"));
        let want = format!("invariant {oracle} violated");
        assert!(msg.contains(&want), "seed {seed}: {rule:?} gave {msg}");
        assert!(msg.contains(&format!("seed {seed}")), "{msg}");
        assert!(msg.contains("trace lines"), "{msg}");
    }
}

#[test]
fn oracle_over_delivery_catches_a_producer_sending_one_more_than_asked() {
    caught_by(Rule::AskOneMore, Oracle::OverDelivery);
}

#[test]
fn oracle_conservation_catches_a_producer_dropping_one_event() {
    caught_by(Rule::DropOne, Oracle::Conservation);
}

#[test]
fn oracle_fifo_catches_two_events_swapped() {
    caught_by(Rule::Swap, Oracle::Fifo);
}

#[test]
fn oracle_stats_catches_a_miscounted_events_out() {
    caught_by(Rule::MiscountOut, Oracle::Stats);
}

/// A broadcast source whose two consumers both reject odd sequence numbers (one of them
/// multiples of 3 too): the odd events go to nobody, and conservation holds only because
/// they are counted as discarded by the dispatcher. Returns the panic message, if any.
fn broadcast_with_selectors(seed: u64, rule: Option<Rule>) -> Option<String> {
    fn even(e: &u64) -> bool {
        e.is_multiple_of(2)
    }
    fn even_not_thirds(e: &u64) -> bool {
        e.is_multiple_of(2) && !e.is_multiple_of(3)
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut sim = checked(seed);
        let s = Source::new(0, 300, true);
        let opts = ProducerOptions::new().demand(DemandMode::Accumulate);
        let d = genstage::dispatcher::BroadcastDispatcher::<u64, Heap>::new();
        let p =
            ProducerStage::<_, u64, Heap, _>::with_dispatcher(sim.next_id(), s, opts, d).unwrap();
        let p = sim.add(Sabotage::new(p, rule.unwrap_or(Rule::None)));
        for sel in [even as fn(&u64) -> bool, even_not_thirds] {
            let c = sim.consumer(Sink::default());
            let opts = Subscribe::new().max_demand(9).min_demand(2).selector(sel);
            sim.subscribe(c, p, opts).unwrap();
        }
        sim.run_until_idle();
        sim.with(p, |st, o| {
            st.inner.set_demand_mode(DemandMode::Forward, o);
            st.sync();
        });
        sim.run_bounded(100_000).unwrap();
        assert_eq!(
            sim.stage(p).stats().discarded.dispatcher,
            if rule.is_some() { 0 } else { 150 }
        );
    }));
    r.err().map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn oracle_conservation_accounts_for_events_every_broadcast_selector_rejects() {
    for seed in crate::harness::seeds(20) {
        assert_eq!(broadcast_with_selectors(seed, None), None, "seed {seed}");
        let msg =
            broadcast_with_selectors(seed, Some(Rule::ForgetDispatcherDiscards)).expect("caught");
        assert!(msg.contains("invariant conservation violated"), "{msg}");
    }
}

/// A raw producer (an id no stage has) cancels, then sends events on the cancelled
/// subscription; the consumer must discard them.
fn late_events_to(seed: u64, rule: Option<Rule>) -> Option<String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut sim = checked(seed);
        let raw = StageId(99);
        let sub = match rule {
            Some(rule) => {
                let c = sim.add(Sabotage::new(
                    Cons::new(sim.next_id(), Sink::default()),
                    rule,
                ));
                sim.subscribe_raw(c, raw, Subscribe::new(), None).unwrap()
            }
            None => {
                let c = sim.consumer(Sink::default());
                sim.subscribe_raw(c, raw, Subscribe::new(), None).unwrap()
            }
        };
        sim.send_events(sub, vec![1u64, 2]);
        sim.send_to_consumer(ToConsumer::Cancel {
            sub,
            reason: Reason::Normal,
        });
        sim.send_events(sub, vec![3u64, 4]);
        sim.run_bounded(1000).unwrap();
    }));
    r.err()
        .map(|p| p.downcast_ref::<String>().cloned().unwrap_or_default())
}

#[test]
fn oracle_after_cancel_catches_a_consumer_handing_late_events_to_user_code() {
    for seed in crate::harness::seeds(10) {
        assert_eq!(late_events_to(seed, None), None);
        let msg = late_events_to(seed, Some(Rule::IgnoreCancelFromProducer)).expect("caught");
        assert!(msg.contains("invariant after-cancel violated"), "{msg}");
    }
}

/// A raw consumer subscribes, asks, cancels, then asks again: the producer must not serve
/// the cancelled subscription.
fn ask_after_cancel(seed: u64, rule: Option<Rule>) -> Option<String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut sim = checked(seed);
        let src = source(&sim, 100);
        let p = match rule {
            Some(rule) => sim.add(Sabotage::new(src, rule)).id(),
            None => sim.add(src).id(),
        };
        let sub = SubId::new(p, StageId(99), 0);
        let opts = Subscribe::<u64>::new().max_demand(10).validate().unwrap();
        sim.send_to_producer(ToProducer::Subscribe {
            sub,
            previous: None,
            opts,
        });
        sim.send_to_producer(ToProducer::<u64>::Ask { sub, demand: 3 });
        sim.send_to_producer(ToProducer::<u64>::Cancel {
            sub,
            reason: Reason::Normal,
        });
        sim.send_to_producer(ToProducer::<u64>::Ask { sub, demand: 3 });
        sim.run_bounded(1000).unwrap();
    }));
    r.err()
        .map(|p| p.downcast_ref::<String>().cloned().unwrap_or_default())
}

#[test]
fn oracle_after_cancel_catches_a_producer_serving_a_cancelled_subscription() {
    for seed in crate::harness::seeds(10) {
        assert_eq!(ask_after_cancel(seed, None), None);
        let msg = ask_after_cancel(seed, Some(Rule::IgnoreCancelFromConsumer)).expect("caught");
        assert!(msg.contains("invariant after-cancel violated"), "{msg}");
    }
}

#[test]
fn a_violation_is_also_readable_without_a_panic_message() {
    let msg = run_source_pipeline(0, Some(Rule::AskOneMore)).unwrap();
    assert!(msg.contains("at step"), "{msg}");
    let sim = checked(0);
    assert!(sim.violation().is_none());
}
