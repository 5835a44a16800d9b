//! Whole simulated pipelines with faults, from arbitrary bytes: the setup, the scheduler's
//! seed and the fault plan all come from the input, and the simulator's oracles check every
//! step (a violation panics).

use crate::setup::{Setup, build_with};
use arbitrary::{Arbitrary, Unstructured};
use genstage::sim::{Chaos, Mode};

#[derive(Arbitrary, Debug)]
struct Input {
    setup_seed: u64,
    sim_seed: u64,
    crash_one_in: u8,
    cancel_one_in: u8,
    until: Option<u16>,
    slow: u8,
    round_robin: bool,
    /// Costs on the virtual clock, drawn from this seed.
    costs: Option<u64>,
    restart_one_in: u8,
    /// Infos to the source and the producer_consumer, drawn from this seed.
    infos: Option<u64>,
}

/// Runs one input; panics if an oracle fails, or if a run whose faults stopped does not
/// settle.
pub fn run(data: &[u8]) {
    let Ok(i) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let mode = if i.round_robin {
        Mode::RoundRobin
    } else {
        Mode::Seeded
    };
    let mut setup = Setup::draw(i.setup_seed);
    if i.infos.is_some() {
        // Markers are events no demand asked for: a bounded buffer could drop others.
        setup.buffer = None;
    }
    let mut p = build_with(setup, i.sim_seed, mode);
    p.sim.set_tracing(false);
    let mut chaos = Chaos::new()
        .crash_one_in(u32::from(i.crash_one_in))
        .cancel_one_in(u32::from(i.cancel_one_in))
        .restart_one_in(u32::from(i.restart_one_in))
        // Restarts can keep a finite pipeline going for ever (a restarted source makes its
        // events again): a bounded number of faults.
        .max_faults(40);
    if let Some(u) = i.until {
        chaos = chaos.until(u64::from(u));
    }
    p.chaos(chaos);
    p.sim.slow(p.sinks[0].id(), u32::from(i.slow % 8));
    if let Some(c) = i.costs {
        p.timed(c);
    }
    let ran = match i.infos {
        Some(seed) => p.run_with_infos(seed, 1_000_000),
        None => p.sim.run_bounded(1_000_000),
    };
    ran.expect("a pipeline of a few hundred events goes idle");
    p.check_settled();
}
