//! Restart and resubscribe: a crashed stage built afresh from its factory, under the same id
//! or a new one, subscribing again as it had; the oracles across restarts, in chosen and
//! seeded faults, in safety and liveness sweeps.

use crate::harness::sweep;
use crate::pipeline::{Cons, Sink, Source, Src, build, key};
use crate::sabotage::{Rule, Sabotage};
use genstage::dispatcher::DemandDispatcher;
use genstage::runtime::*;
use genstage::sim::{Chaos, Mode, RestartError, Sim, TraceKind};
use genstage::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

const BOUND: u64 = 200_000;

fn source(id: StageId, origin: u64, end: u64) -> Src {
    let s = Source::new(origin, end, true);
    Src::with_dispatcher(id, s, ProducerOptions::new(), DemandDispatcher::new()).unwrap()
}

fn checked(seed: u64) -> Sim {
    let mut sim = Sim::seeded(seed);
    sim.check_invariants(true);
    sim.event_keys(key);
    sim
}

#[test]
fn a_restart_under_the_same_id_builds_a_fresh_stage_that_subscribes_again() {
    let mut p = build(4, Mode::Seeded);
    for _ in 0..20 {
        p.sim.step();
    }
    let mid = p.mid_id();
    p.sim.restart(mid, Reason::Custom("restart")).unwrap();
    assert_eq!(p.sim.restarts(mid), 1);
    assert!(!p.sim.is_stopped(mid), "the fresh stage is live");
    assert!(
        p.sim
            .trace()
            .iter()
            .any(|e| e.to_string().ends_with("fault restart (restart) as #1")),
        "the trace says so"
    );
    p.sim.run_bounded(BOUND).unwrap();
    // It subscribed to the source again: the producer took a new subscription from it.
    let again: Vec<SubId> = p
        .sim
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::ToProducer {
                sub,
                kind: genstage::sim::ToProducerKind::Subscribe,
            } if sub.consumer == mid => Some(sub),
            _ => None,
        })
        .collect();
    assert_eq!(
        again.len(),
        2,
        "first, then again after the restart: {again:?}"
    );
    p.check_settled();
}

#[test]
fn messages_on_their_way_to_the_old_incarnation_are_dropped_and_counted() {
    // A consumer restarted while a batch is on its way to it: the batch is dropped and
    // counted, and the fresh consumer, whose subscription has the same id as the old one
    // (it numbers them afresh), receives only what it asked for itself.
    let mut sim = checked(0);
    sim.set_mode(Mode::Fifo);
    let p = sim.add(source(sim.next_id(), 0, 100));
    let c = sim.consumer(Sink::default());
    sim.restartable(c, |id| Cons::new(id, Sink::default()));
    let sub = sim
        .subscribe(c, p, Subscribe::new().max_demand(10).min_demand(5))
        .unwrap();
    while sim.events_in_flight() == 0 {
        assert!(sim.step());
    }
    let in_flight = sim.events_in_flight() as u64;
    sim.restart(c.id(), Reason::Killed).unwrap();
    sim.run_bounded(BOUND).unwrap();
    assert_eq!(sim.lost_in_flight(c), in_flight);
    let fresh = sim.stage(c);
    assert_eq!(fresh.stats().events_in, fresh.behaviour().seen.len() as u64);
    assert_eq!(
        fresh.behaviour().seen.first().map(|e| e & 0xFFFF_FFFF),
        Some(in_flight),
        "the fresh consumer starts where the lost batch ended"
    );
    let old = sim.retired(c).next().expect("the old incarnation");
    assert_eq!(old.stats().events_in, 0, "the crash came first");
    // Everything the source made is accounted for: delivered to the fresh one, or lost.
    assert_eq!(
        sim.stage(p).stats().events_out,
        fresh.stats().events_in + sim.lost_in_flight(c)
    );
    assert!(sim.trace().iter().any(|e| e.stage == c.id()
        && e.kind
            == TraceKind::Dropped {
                events: in_flight as usize
            }));
    assert!(
        sim.trace().iter().any(|e| matches!(
            e.kind,
            TraceKind::ToProducer { sub: s, kind: genstage::sim::ToProducerKind::Subscribe } if s == sub
        ) && e.step > 1),
        "the same id, subscribed again"
    );
}

#[test]
fn a_restart_as_a_new_id_keeps_the_old_stage_stopped_and_subscribes_the_new_one() {
    let mut sim = checked(3);
    let p = sim.add(source(sim.next_id(), 0, 200));
    let c = sim.consumer(Sink::default());
    sim.restartable(c, |id| Cons::new(id, Sink::default()));
    sim.subscribe(c, p, Subscribe::new().max_demand(7)).unwrap();
    for _ in 0..8 {
        sim.step();
    }
    let next = sim.next_id();
    let c2 = sim.restart_as_new(c, Reason::Shutdown).unwrap();
    assert_eq!(c2.id(), next);
    assert_eq!(sim.stopped(c), Some(Reason::Shutdown));
    sim.run_bounded(BOUND).unwrap();
    // The source finished normally; the new consumer's permanent subscription ended it.
    assert_eq!(sim.stopped(c2), Some(Reason::Normal));
    let (old, new) = (
        &sim.stage(c).behaviour().seen,
        &sim.stage(c2).behaviour().seen,
    );
    assert!(!new.is_empty());
    assert_eq!(
        sim.stage(p).stats().events_out,
        (old.len() + new.len()) as u64 + sim.lost_in_flight(c) + sim.lost_in_flight(c2)
    );
    // Its factory went with it: the new one restarts too, the old one no more.
    assert_eq!(
        sim.restart_as_new(c, Reason::Killed).unwrap_err(),
        RestartError::NotRestartable
    );
    assert!(sim.restart(c2.id(), Reason::Killed).is_ok());
}

#[test]
fn only_a_stage_with_a_factory_restarts() {
    let mut sim = checked(0);
    let p = sim.add(source(sim.next_id(), 0, 10));
    assert_eq!(
        sim.restart(p.id(), Reason::Killed),
        Err(RestartError::NotRestartable)
    );
    assert_eq!(
        sim.restart(StageId(7), Reason::Killed),
        Err(RestartError::NoSuchStage)
    );
    assert!(RestartError::NotRestartable.to_string().contains("factory"));
    assert_eq!(sim.restarts(p.id()), 0);
}

#[test]
fn a_restarted_source_makes_its_events_again_under_a_new_origin() {
    let mut p = build(8, Mode::Seeded);
    p.sim.run_bounded(BOUND).unwrap();
    let src = p.src.id();
    let first = p.sim.stage(p.src).stats().events_out;
    p.sim.restart(src, Reason::Killed).unwrap();
    assert_eq!(p.sim.stage(p.src).behaviour().origin, 1);
    assert_eq!(p.sim.retired(p.src).count(), 1);
    assert_eq!(
        p.sim.retired(p.src).next().unwrap().stats().events_out,
        first
    );
    p.sim.run_bounded(BOUND).unwrap();
    p.check_settled();
}

#[test]
fn sweep_four_stage_pipeline_safety_mode_with_restarts_oracles_hold() {
    sweep(
        "sweep_four_stage_pipeline_safety_mode_with_restarts_oracles_hold",
        100,
        |seed| {
            let mut p = build(seed, Mode::Seeded);
            p.chaos(
                Chaos::new()
                    .restart_one_in(40)
                    .crash_one_in(300)
                    .cancel_one_in(150)
                    .max_faults(40),
            );
            if seed % 2 == 0 {
                p.timed(seed);
            }
            p.sim.run_bounded(BOUND).unwrap();
            p.check_settled();
        },
    );
}

#[test]
fn sweep_four_stage_pipeline_liveness_mode_with_restarts_settles() {
    sweep(
        "sweep_four_stage_pipeline_liveness_mode_with_restarts_settles",
        100,
        |seed| {
            let mut p = build(seed, Mode::Seeded);
            p.chaos(
                Chaos::new()
                    .restart_one_in(30)
                    .cancel_one_in(100)
                    .until(10 + seed % 150),
            );
            if seed % 2 == 1 {
                p.timed(seed);
            }
            p.sim.run_bounded(BOUND).unwrap();
            p.check_settled();
        },
    );
}

#[test]
fn seeded_restarts_happen_and_replay_from_the_seed() {
    let run = |seed| {
        let mut p = build(seed, Mode::Seeded);
        p.chaos(Chaos::new().restart_one_in(20).max_faults(4));
        p.sim.run_bounded(BOUND).unwrap();
        let restarts: u32 = (0..4).map(|i| p.sim.restarts(StageId(i))).sum();
        (restarts, p.sim.trace_hash())
    };
    let mut restarted = 0;
    for seed in crate::harness::seeds(30) {
        let (n, hash) = run(seed);
        assert_eq!(run(seed), (n, hash), "seed {seed}");
        restarted += n;
    }
    assert!(restarted > 0, "some seeds restart something");
}

/// Source (restartable, its second incarnation breaking `rule` when given) → two consumers,
/// restarted mid-run; returns the panic message, if any.
fn restarted_source(seed: u64, rule: Option<Rule>) -> Option<String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut sim = checked(seed);
        let p = sim.add(Sabotage::new(source(sim.next_id(), 0, 300), Rule::None));
        sim.restartable(p, move |id| {
            Sabotage::new(source(id, 1, 300), rule.unwrap_or(Rule::None))
        });
        for _ in 0..2 {
            let c = sim.consumer(Sink::default());
            sim.subscribe(
                c,
                p,
                Subscribe::new()
                    .max_demand(7)
                    .min_demand(3)
                    .cancel(CancelMode::Transient),
            )
            .unwrap();
        }
        for _ in 0..30 {
            sim.step();
        }
        sim.restart(p.id(), Reason::Killed).unwrap();
        // The consumers (transient: a kill ends their subscriptions, and them) are gone; a
        // fresh one subscribes to the fresh source.
        let c = sim.consumer(Sink::default());
        sim.subscribe(c, p, Subscribe::new().max_demand(7).min_demand(3))
            .unwrap();
        sim.run_bounded(100_000).unwrap();
    }));
    r.err().map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn the_oracles_still_catch_a_restarted_stage_breaking_a_rule() {
    for seed in crate::harness::seeds(20) {
        assert_eq!(restarted_source(seed, None), None, "seed {seed}: honest");
        for (rule, oracle) in [
            (Rule::AskOneMore, "over-delivery"),
            (Rule::DropOne, "conservation"),
            (Rule::MiscountOut, "stats"),
        ] {
            let msg = restarted_source(seed, Some(rule))
                .unwrap_or_else(|| panic!("seed {seed}: {rule:?} after a restart was not caught"));
            assert!(
                msg.contains(&format!("invariant {oracle} violated")),
                "seed {seed}: {rule:?} gave {msg}"
            );
        }
    }
}

#[test]
fn a_down_notice_of_the_old_incarnation_ends_a_subscription_made_before_it_arrived() {
    // Down notices name a stage id: one still on its way when a consumer subscribes to the
    // restarted producer (under the same id) ends that subscription on the consumer's side
    // too. The producer, which took it, sends what was asked; the consumer counts those
    // events as arriving on a subscription it does not know.
    let mut sim = checked(0);
    sim.set_mode(Mode::Fifo);
    let p = sim.add(source(sim.next_id(), 0, 1_000));
    let mut origin = 0;
    sim.restartable(p, move |id| {
        origin += 1;
        source(id, origin, 1_000)
    });
    let c = sim.consumer(Sink::default());
    let temporary = Subscribe::new().max_demand(5).cancel(CancelMode::Temporary);
    sim.subscribe(c, p, temporary.clone()).unwrap();
    sim.run_bounded(6).unwrap_err();
    sim.restart(p.id(), Reason::Killed).unwrap();
    sim.subscribe(c, p, temporary).unwrap();
    sim.run_bounded(BOUND).unwrap();
    assert!(
        sim.stopped(c).is_none(),
        "temporary: the consumer keeps running"
    );
    assert_eq!(sim.open_subscriptions().count(), 0);
    let st = sim.stage(c).stats();
    assert_eq!(st.discarded.unknown_subscription, 5, "{st:?}");
}
