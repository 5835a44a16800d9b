//! The simulator's own tests: the seeded scheduler, its record and replay, the oracles (each
//! shown able to fail), faults in safety and liveness mode, and sweeps of a 4-stage pipeline
//! over many seeds.
//!
//! Every sweep honours `GENSTAGE_SEEDS=k` (sweep seeds `0..k`) and `GENSTAGE_SEED=n` (rerun
//! one seed); a failing sweep prints the one command that replays its seed.

mod clock;
mod harness;
mod infos;
mod oracles;
mod pipeline;
mod restart;
mod sabotage;
mod stream;

use genstage::sim::{Chaos, Mode, Schedule, Sim, TraceKind};
use harness::sweep;
use pipeline::build;

/// The liveness bound: a pipeline of a few hundred events goes idle well within it.
const BOUND: u64 = 200_000;

/// One seed's run: faults (restarts among them), half the seeds on the virtual clock with
/// costs drawn from the seed, a third with infos.
fn run_seeded(seed: u64) -> (u64, Schedule, u64) {
    let mut p = build(seed, Mode::Seeded);
    p.chaos(
        Chaos::new()
            .crash_one_in(300)
            .cancel_one_in(200)
            .restart_one_in(250),
    );
    if seed % 2 == 1 {
        p.timed(seed);
    }
    if seed.is_multiple_of(3) {
        p.run_with_infos(seed, BOUND).expect("goes idle");
    } else {
        p.sim.run_bounded(BOUND).expect("goes idle");
    }
    (p.sim.trace_hash(), p.sim.schedule().clone(), p.sim.now())
}

#[test]
fn determinism_200_seeds_twice_give_equal_trace_hashes() {
    let mut distinct = std::collections::BTreeSet::new();
    for seed in harness::seeds(200) {
        let (a, sa, ta) = run_seeded(seed);
        let (b, sb, tb) = run_seeded(seed);
        assert_eq!(ta, tb, "seed {seed}: two runs end at different times");
        assert_eq!(
            a,
            b,
            "seed {seed}: two runs differ; replay: {}",
            harness::replay_command("determinism_200_seeds_twice_give_equal_trace_hashes", seed)
        );
        assert_eq!(sa, sb, "seed {seed}: two schedules differ");
        distinct.insert(a);
    }
    // Different seeds explore different runs.
    assert!(distinct.len() > 1 || harness::seeds(200).len() == 1);
}

#[test]
fn determinism_the_trace_hash_is_stable_across_builds_and_machines() {
    // Pinned: a change in the trace, its hash or the scheduling shows here.
    let sim = Sim::new(0);
    assert_eq!(
        sim.trace_hash(),
        0xcbf2_9ce4_8422_2325,
        "nothing traced yet"
    );
    let mut p = build(3, Mode::Fifo);
    p.sim.run_bounded(BOUND).unwrap();
    assert_eq!(p.sim.trace_hash(), PINNED, "{:#x}", p.sim.trace_hash());
    // Entry by entry, the same.
    let entries = p.sim.trace().to_vec();
    assert_eq!(genstage::sim::TraceHash::of(&entries), p.sim.trace_hash());
    // One delivery told differently hashes differently.
    let mut changed = entries.clone();
    let at = changed
        .iter()
        .position(|e| matches!(e.kind, TraceKind::Events { .. }))
        .expect("events were delivered");
    if let TraceKind::Events { len, .. } = &mut changed[at].kind {
        *len += 1;
    }
    assert_ne!(
        genstage::sim::TraceHash::of(&changed),
        genstage::sim::TraceHash::of(&entries)
    );
}

/// The trace hash of `build(3, Mode::Fifo)` run to the end.
const PINNED: u64 = 0x2ef9_594c_0ef0_bffc;

#[test]
fn fifo_is_the_default_mode() {
    assert_eq!(*Sim::new(1).mode(), Mode::Fifo);
    assert_eq!(*Sim::seeded(1).mode(), Mode::Seeded);
}

#[test]
fn scheduler_seeds_vary_the_interleaving_of_one_setup_and_fifo_does_not() {
    let setup = pipeline::Setup::draw(11);
    let hash = |seed, mode| {
        let mut p = pipeline::build_with(setup.clone(), seed, mode);
        p.sim.run_bounded(BOUND).unwrap();
        p.check_settled();
        p.sim.trace_hash()
    };
    assert_eq!(hash(1, Mode::Fifo), hash(2, Mode::Fifo));
    assert_eq!(hash(1, Mode::Seeded), hash(1, Mode::Seeded));
    let hashes: std::collections::BTreeSet<u64> = (0..20).map(|s| hash(s, Mode::Seeded)).collect();
    assert!(
        hashes.len() > 10,
        "only {} distinct runs of 20",
        hashes.len()
    );
}

#[test]
fn a_recorded_schedule_prints_parses_and_replays_the_same_run() {
    for seed in harness::seeds(20) {
        let mut a = build(seed, Mode::Seeded);
        a.sim.run_bounded(BOUND).unwrap();
        let printed = a.sim.schedule().to_string();
        let parsed: Schedule = printed.parse().unwrap();
        assert_eq!(&parsed, a.sim.schedule());
        let mut b = build(seed, Mode::Replay(parsed));
        b.sim.run_bounded(BOUND).unwrap();
        assert_eq!(a.sim.trace(), b.sim.trace(), "seed {seed}");
        assert_eq!(a.sim.trace_hash(), b.sim.trace_hash());
    }
}

#[test]
fn a_schedule_that_does_not_parse_says_which_word() {
    let e = "0>1 x>2".parse::<Schedule>().unwrap_err();
    assert!(e.to_string().contains("x>2"), "{e}");
}

#[test]
#[should_panic(expected = "diverged")]
fn a_replay_that_diverges_says_so() {
    let mut p = build(5, Mode::Replay("7>7".parse().unwrap()));
    p.sim.run_bounded(BOUND).unwrap();
}

#[test]
fn round_robin_runs_finish_and_keep_every_invariant() {
    sweep(
        "round_robin_runs_finish_and_keep_every_invariant",
        50,
        |seed| {
            let mut p = build(seed, Mode::RoundRobin);
            p.sim.run_bounded(BOUND).unwrap();
            p.check_settled();
        },
    );
}

#[test]
fn sweep_four_stage_pipeline_seeded_without_faults_delivers_everything() {
    sweep(
        "sweep_four_stage_pipeline_seeded_without_faults_delivers_everything",
        100,
        |seed| {
            let mut p = build(seed, Mode::Seeded);
            p.sim.set_tracing(false);
            if seed % 2 == 1 {
                p.timed(seed);
            }
            p.sim.run_bounded(BOUND).unwrap();
            p.check_settled();
        },
    );
}

#[test]
fn sweep_four_stage_pipeline_safety_mode_faults_anywhere_oracles_hold() {
    sweep(
        "sweep_four_stage_pipeline_safety_mode_faults_anywhere_oracles_hold",
        100,
        |seed| {
            let mut p = build(seed, Mode::Seeded);
            p.chaos(Chaos::new().crash_one_in(150).cancel_one_in(60));
            p.sim
                .slow(p.sinks[seed as usize % 2].id(), 1 + (seed % 5) as u32);
            if seed % 3 == 0 {
                p.timed(seed);
            }
            p.sim.run_bounded(BOUND).unwrap();
        },
    );
}

#[test]
fn sweep_four_stage_pipeline_liveness_mode_settles_after_the_faults_stop() {
    sweep(
        "sweep_four_stage_pipeline_liveness_mode_settles_after_the_faults_stop",
        100,
        |seed| {
            let mut p = build(seed, Mode::Seeded);
            let until = 20 + seed % 200;
            p.chaos(
                Chaos::new()
                    .crash_one_in(100)
                    .cancel_one_in(50)
                    .until(until),
            );
            p.sim.slow(p.mid_id(), 1 + (seed % 3) as u32);
            if seed % 3 == 1 {
                p.timed(seed);
            }
            p.sim.run_bounded(BOUND).unwrap();
            p.check_settled();
        },
    );
}

#[test]
fn a_slow_stage_is_delivered_to_less_often() {
    // The same pipeline with its first consumer slow: the other one gets a larger share of
    // the early deliveries under a demand dispatcher.
    let seed = (0..100)
        .find(|&s| {
            pipeline::Setup::draw(s).dispatcher == 0 && pipeline::Setup::draw(s).events > 200
        })
        .unwrap();
    let share = |slow: u32| {
        let mut p = build(seed, Mode::Seeded);
        p.sim.slow(p.sinks[0].id(), slow);
        p.sim.run_bounded(BOUND).unwrap();
        let first = p
            .sim
            .trace()
            .iter()
            .filter(|e| e.stage == p.sinks[0].id())
            .count();
        let second = p
            .sim
            .trace()
            .iter()
            .filter(|e| e.stage == p.sinks[1].id())
            .count();
        (first, second)
    };
    let (f1, s1) = share(1);
    let (f8, s8) = share(8);
    assert!(
        f8 * s1 < f1 * s8 || f8 < f1,
        "slow {f8}/{s8} vs normal {f1}/{s1}"
    );
}

#[test]
fn a_crash_at_a_chosen_step_stops_the_stage_and_its_permanent_consumers() {
    let mut p = build(1, Mode::Seeded);
    for _ in 0..10 {
        p.sim.step();
    }
    assert!(
        p.sim
            .kill_stage(p.mid_id(), genstage::Reason::Custom("crash"))
    );
    assert!(
        !p.sim.kill_stage(p.mid_id(), genstage::Reason::Killed),
        "already stopped"
    );
    p.sim.run_bounded(BOUND).unwrap();
    let has_fault = p
        .sim
        .trace()
        .iter()
        .any(|e| e.to_string().contains("fault crash (crash)"));
    assert!(has_fault);
    p.check_settled();
}

#[test]
fn a_cancel_mid_flight_ends_the_subscription_and_late_events_are_discarded() {
    let mut p = build(2, Mode::Seeded);
    for _ in 0..15 {
        p.sim.step();
    }
    let sub = p
        .sim
        .open_subscriptions()
        .next()
        .expect("an open subscription");
    p.sim.cancel(sub, genstage::Reason::Shutdown).unwrap();
    p.sim.run_bounded(BOUND).unwrap();
    assert!(p.sim.open_subscriptions().all(|s| s != sub));
    p.check_settled();
}

mod property {
    //! The whole-pipeline property, with shrinking: any setup of the 4-stage pipeline (every
    //! dispatcher, windows, cancel modes, buffers), any scheduler seed, any fault plan. In
    //! safety mode the oracles hold; when the faults stop, the pipeline settles.
    use super::BOUND;
    use crate::pipeline::{Setup, build_with};
    use genstage::CancelMode;
    use genstage::sim::{Chaos, Mode};
    use proptest::prelude::*;

    fn window() -> impl Strategy<Value = (usize, usize)> {
        (1usize..40).prop_flat_map(|max| (Just(max), 0..max))
    }

    fn mode() -> impl Strategy<Value = CancelMode> {
        prop_oneof![
            Just(CancelMode::Permanent),
            Just(CancelMode::Transient),
            Just(CancelMode::Temporary)
        ]
    }

    fn setup() -> impl Strategy<Value = Setup> {
        (
            0u64..400,
            any::<bool>(),
            0u8..3,
            window(),
            [window(), window()],
            [mode(), mode(), mode()],
            proptest::option::of(1usize..100),
            [0u8..3, 0u8..3],
        )
            .prop_map(
                |(events, drain, dispatcher, up, down, modes, buffer, selectors)| {
                    let widest = up.0.max(down[0].0).max(down[1].0);
                    Setup {
                        events,
                        drain,
                        dispatcher,
                        up,
                        down,
                        modes,
                        buffer: buffer.map(|b| b.max(widest)),
                        selectors,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_setup_seed_and_fault_plan_keeps_the_invariants_and_settles_once_faults_stop(
            setup in setup(),
            seed in any::<u64>(),
            crash in 0u32..300,
            cancel in 0u32..300,
            until in proptest::option::of(0u64..400),
            round_robin in any::<bool>(),
            costs in proptest::option::of(any::<u64>()),
            restart in 0u32..300,
        ) {
            let mode = if round_robin { Mode::RoundRobin } else { Mode::Seeded };
            let mut p = build_with(setup, seed, mode);
            // Restarts can keep a finite pipeline going for ever (a restarted source makes
            // its events again): a bounded number of faults.
            let mut chaos = Chaos::new()
                .crash_one_in(crash)
                .cancel_one_in(cancel)
                .restart_one_in(restart)
                .max_faults(40);
            if let Some(u) = until {
                chaos = chaos.until(u);
            }
            p.chaos(chaos);
            if let Some(c) = costs {
                p.timed(c);
            }
            p.sim.set_tracing(false);
            prop_assert!(p.sim.run_bounded(BOUND).is_ok());
            p.check_settled();
        }
    }
}
