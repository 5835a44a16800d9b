//! Infos keep their place (spec §10.6): the marker a `handle_info` emits goes out behind
//! every event that was ahead of its info, whatever the dispatcher, the interleaving, the
//! faults or the clock; and a stage that runs an info at once, ahead of what it holds, is
//! caught.

use crate::harness::sweep;
use crate::pipeline::{Cons, MARK, Pass, Setup, Sink, Source, Src, build_with, is_mark, key};
use crate::sabotage::{Rule, Sabotage};
use genstage::dispatcher::DemandDispatcher;
use genstage::runtime::*;
use genstage::sim::{Chaos, EventKey, Mode, Sim};
use genstage::storage::Heap;
use genstage::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

const BOUND: u64 = 200_000;

type Mid = ProducerConsumerStage<Pass, u64, Heap, DemandDispatcher<Heap>>;

#[test]
fn sweep_four_stage_pipeline_with_infos_keeps_every_marker_in_place() {
    let markers = std::cell::Cell::new(0usize);
    sweep(
        "sweep_four_stage_pipeline_with_infos_keeps_every_marker_in_place",
        100,
        |seed| {
            // Markers are events no demand asked for: with a bounded buffer they could push
            // others out, and a run without faults would not deliver everything.
            let setup = Setup {
                buffer: None,
                ..Setup::draw(seed)
            };
            let mut p = build_with(setup, seed, Mode::Seeded);
            match seed % 4 {
                0 => {}
                1 => p.chaos(
                    Chaos::new()
                        .crash_one_in(300)
                        .cancel_one_in(150)
                        .restart_one_in(100)
                        .max_faults(20),
                ),
                2 => p.timed(seed),
                _ => {
                    p.timed(seed);
                    p.chaos(Chaos::new().restart_one_in(60).until(200));
                }
            }
            p.run_with_infos(seed, BOUND).unwrap();
            p.check_settled();
            for c in p.sinks {
                let seen = &p.sim.stage(c).behaviour().seen;
                markers.set(markers.get() + seen.iter().filter(|e| is_mark(e)).count());
            }
        },
    );
    assert!(markers.get() > 0, "markers went out and were checked");
}

/// Source → producer_consumer (sabotaged with `rule` when given) → consumer asking 2 at a
/// time, so that the producer_consumer holds input; an info sent to it then, and the
/// consumer's record; or the oracle's message.
fn info_behind_queued_input(seed: u64, rule: Option<Rule>) -> Result<Vec<u64>, String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut sim = Sim::seeded(seed);
        sim.check_invariants(true);
        sim.event_keys(key);
        let place = EventKey { origin: 0, seq: 0 };
        let places = std::rc::Rc::new(std::cell::Cell::new(place));
        let at = places.clone();
        sim.info_marks(move |e: &u64| is_mark(e).then(|| at.get()));
        let src = Src::with_dispatcher(
            sim.next_id(),
            Source::new(0, 200, true),
            ProducerOptions::new(),
            DemandDispatcher::new(),
        )
        .unwrap();
        let src = sim.add(src);
        let mid = Mid::with_dispatcher(
            sim.next_id(),
            Pass::default(),
            ProducerOptions::new(),
            DemandDispatcher::new(),
        )
        .unwrap();
        let mid = sim.add(Sabotage::new(mid, rule.unwrap_or(Rule::None)));
        let sink = sim.add(Cons::new(sim.next_id(), Sink::default()));
        sim.subscribe(sink, mid, Subscribe::new().max_demand(2).min_demand(0))
            .unwrap();
        sim.subscribe(mid, src, Subscribe::new().max_demand(20).min_demand(10))
            .unwrap();
        while sim.stage(mid).inner.queued_count() < 10 {
            assert!(sim.step(), "the producer_consumer queues input");
        }
        places.set(EventKey {
            origin: 0,
            seq: sim.received_below(mid.id(), 0),
        });
        sim.info(mid, 0).unwrap();
        sim.run_bounded(BOUND).unwrap();
        sim.stage(sink).behaviour().seen.clone()
    }));
    r.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn an_info_to_a_producer_consumer_waits_behind_its_queued_input() {
    for seed in crate::harness::seeds(20) {
        let seen = info_behind_queued_input(seed, None).unwrap();
        let at = seen
            .iter()
            .position(|&e| e == MARK | 1 << 32)
            .expect("the marker");
        let data = |s: &[u64]| s.iter().filter(|e| !is_mark(e)).count();
        assert!(data(&seen[..at]) >= 10, "seed {seed}: {seen:?}");
        assert_eq!(data(&seen), 200);
    }
}

#[test]
fn oracle_info_in_place_catches_a_stage_running_an_info_at_once() {
    for seed in crate::harness::seeds(20) {
        assert!(info_behind_queued_input(seed, None).is_ok(), "seed {seed}");
        let msg = info_behind_queued_input(seed, Some(Rule::InfoAsCall))
            .expect_err("an info run ahead of the queued input is caught");
        assert!(
            msg.contains("invariant info-in-place violated"),
            "seed {seed}: {msg}"
        );
        assert!(msg.contains(&format!("seed {seed}")), "{msg}");
    }
}
