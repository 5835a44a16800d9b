//! Property tests of the invariants in `DESIGN.md` ("Invariants every layer is tested against").
//!
//! Random operation sequences run one producer — alone, or with a producer_consumer after it —
//! and 1–4 consumers through a hand-written router. The router keeps one FIFO channel per
//! ordered pair of stages (as Erlang does) and delivers from a randomly picked channel, so
//! messages between different pairs interleave in every order the protocol allows. A raw peer
//! that is not a stage can also take subscriptions and send events nobody asked for.
//!
//! Everything that happens goes into one journal, in order: what the router hands to a stage,
//! what each stage outputs, and every callback its behaviour runs (behaviours write to the
//! journal themselves). Every event gets a unique id when it is emitted. Each invariant is a
//! check over that journal, plus counters snapshotted after every operation; each has its own
//! proptest below. `PROPTEST_CASES` decides the number of cases.
//!
//! The pieces: [`journal`] (events, messages, the journal and the behaviours that record into
//! it), [`router`] (the router, its snapshots, and the same scenarios in the simulator),
//! [`model`] (scenarios, their strategies, the reference models), [`invariants`] (the checks)
//! and [`regressions`] (shrunk cases kept as plain tests).

mod invariants;
mod journal;
mod model;
mod regressions;
mod router;

use genstage::Keep;
use genstage::buffer::Buffer;
use genstage::demand::AutoDemand;
use genstage::runtime::MarkerId;
use genstage::storage::Heap;
use invariants::{
    Checks, check_conservation, check_demand, check_fifo, check_no_over_delivery,
    check_nothing_after_cancel,
};
use model::{BufOp, Slot, Step, buf_op, keep, reference_chunks, scenario};
use proptest::prelude::*;
use proptest::test_runner::{FailurePersistence, FileFailurePersistence};
use router::{run, run_sim};
use std::collections::VecDeque;

/// The default config, with the seeds of past failures kept next to this file, in
/// `main.proptest-regressions` (the default `SourceParallel` stops at the first folder holding a
/// `main.rs`, so here it would use `tests/proptest-regressions/main.txt`).
/// `PROPTEST_DISABLE_FAILURE_PERSISTENCE` still turns persistence off.
fn proptest_config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let persist = default.failure_persistence.is_some();
    ProptestConfig {
        failure_persistence: persist.then(|| {
            Box::new(FileFailurePersistence::WithSource("proptest-regressions"))
                as Box<dyn FailurePersistence>
        }),
        ..default
    }
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config())]

    /// Invariant 1.
    #[test]
    fn no_over_delivery((cfg, ops) in scenario()) {
        check_no_over_delivery(&run(&cfg, &ops))?;
    }

    /// Invariant 2.
    #[test]
    fn conservation((cfg, ops) in scenario()) {
        check_conservation(&run(&cfg, &ops))?;
    }

    /// Invariant 3.
    #[test]
    fn per_subscription_fifo((cfg, ops) in scenario()) {
        check_fifo(&run(&cfg, &ops), false)?;
    }

    /// Invariant 3, info markers.
    #[test]
    fn info_markers_keep_their_place((cfg, ops) in scenario()) {
        check_fifo(&run(&cfg, &ops), true)?;
    }

    /// Invariant 4.
    #[test]
    fn demand_accounting((cfg, ops) in scenario()) {
        check_demand(&run(&cfg, &ops), Checks { asks: true, excess: false, outstanding: true })?;
    }

    /// Invariant 5.
    #[test]
    fn nothing_after_cancel((cfg, ops) in scenario()) {
        check_nothing_after_cancel(&run(&cfg, &ops))?;
    }

    /// Invariant 6: the same operations give the same journal and counters, through the
    /// router and through the simulator.
    #[test]
    fn determinism((cfg, ops) in scenario(), seed in any::<u64>()) {
        let (a, b) = (run(&cfg, &ops), run(&cfg, &ops));
        prop_assert_eq!(&a.journal, &b.journal);
        prop_assert_eq!(&a.snaps, &b.snaps);
        prop_assert_eq!(run_sim(&cfg, &ops, seed), run_sim(&cfg, &ops, seed));
    }

    /// The buffer against a `VecDeque` model: capacity counts events only, keep-first drops the
    /// incoming event, keep-last pushes out the oldest, and a marker is released once every
    /// event before it has left (taken or pushed out).
    #[test]
    fn buffer_matches_a_vecdeque_model(
        cap in prop::option::of(1usize..=5),
        keep in keep(),
        ops in prop::collection::vec(buf_op(), 0..60),
    ) {
        let mut b: Buffer<u32, Heap> = Buffer::new(cap, keep);
        let mut m: VecDeque<Slot> = VecDeque::new();
        let mut next = 0u64;
        for op in ops {
            let events = m.iter().filter(|s| matches!(s, Slot::Event(_))).count();
            let first_event = m.iter().position(|s| matches!(s, Slot::Event(_)));
            match op {
                BufOp::Push(e) => {
                    let dropped = if cap.is_some_and(|c| events >= c) {
                        if keep == Keep::Last {
                            m.remove(first_event.expect("full, so not empty"));
                            m.push_back(Slot::Event(e));
                        }
                        1
                    } else {
                        m.push_back(Slot::Event(e));
                        0
                    };
                    prop_assert_eq!(b.push(e), dropped);
                }
                BufOp::Marker => {
                    let id = MarkerId(next);
                    next += 1;
                    let want = if events == 0 {
                        Err(id)
                    } else {
                        m.push_back(Slot::Marker(id.0));
                        Ok(())
                    };
                    prop_assert_eq!(b.push_marker(id), want);
                }
                BufOp::Pop => {
                    let want = first_event.map(|i| match m.remove(i) {
                        Some(Slot::Event(e)) => e,
                        other => unreachable!("{other:?}"),
                    });
                    prop_assert_eq!(b.pop(), want);
                }
                BufOp::Released => {
                    let want = match m.front() {
                        Some(&Slot::Marker(id)) => {
                            m.pop_front();
                            Some(MarkerId(id))
                        }
                        _ => None,
                    };
                    prop_assert_eq!(b.pop_released(), want);
                }
            }
            let events = m.iter().filter(|s| matches!(s, Slot::Event(_))).count();
            let run_len = m.iter().take_while(|s| matches!(s, Slot::Event(_))).count();
            let markers = m.len() - events;
            prop_assert_eq!(b.len(), events);
            prop_assert_eq!(b.is_empty(), events == 0);
            prop_assert_eq!(b.run_len(), run_len);
            prop_assert_eq!(b.markers(), markers);
        }
    }

    /// `AutoDemand` against the reference model of spec §5.
    #[test]
    fn auto_demand_matches_the_reference_model(
        max in 1usize..=20,
        min in 0usize..20,
        messages in prop::collection::vec(0usize..=45, 0..20),
    ) {
        let min = min % max;
        let mut d = AutoDemand::new(max, min);
        let mut model = max;
        for n in messages {
            let got: Vec<Step> = d
                .plan(n)
                .flat_map(|c| {
                    let mut s = Vec::new();
                    if c.excess > 0 {
                        s.push(Step::Excess(c.excess));
                    }
                    s.push(Step::Chunk(c.len));
                    if c.ask > 0 {
                        s.push(Step::Ask(c.ask));
                    }
                    s
                })
                .collect();
            prop_assert_eq!(got, reference_chunks(max, min, &mut model, n));
            prop_assert_eq!(d.outstanding(), model);
            prop_assert!(d.outstanding() <= max);
        }
    }
}
