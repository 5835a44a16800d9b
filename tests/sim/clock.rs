//! The virtual clock: per-stage costs, the clock jumping to the next due message, the time
//! callbacks read, the backlog gauge, and how time composes with the scheduler's modes and
//! with replay.

use crate::pipeline::{Sink, key};
use genstage::runtime::*;
use genstage::sim::{Handle, Mode, Schedule, Sim, TraceKind};
use genstage::*;

/// Makes `0..n`, exactly as many as asked, then finishes.
struct Maker {
    made: u64,
    n: u64,
}

impl Producer for Maker {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.made + demand as u64).min(self.n);
        self.made += out.extend(self.made..end) as u64;
        if self.made == self.n {
            Flow::DONE
        } else {
            Flow::Continue
        }
    }
}

/// Boxes what it gets, noting the time of each callback.
#[derive(Default)]
struct Boxer {
    boxed: u64,
    times: Vec<u64>,
}

impl Consumer for Boxer {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
        self.times.push(ctx.now());
        self.boxed += events.len() as u64;
        Flow::Continue
    }
}

type Boxers = ConsumerStage<Boxer>;
type Makers = ProducerStage<Maker>;

/// A maker and a boxer with these costs (ticks per event), the boxer asking 10 at a time
/// and again after every 5; `n` events; FIFO delivery.
fn line(n: u64, maker: u64, boxer: u64) -> (Sim, Handle<Makers>, Handle<Boxers>) {
    line_in(Sim::new(0), n, maker, boxer)
}

fn line_in(mut sim: Sim, n: u64, maker: u64, boxer: u64) -> (Sim, Handle<Makers>, Handle<Boxers>) {
    sim.check_invariants(true);
    sim.event_keys(key);
    let m = sim.producer(Maker { made: 0, n });
    let b = sim.consumer(Boxer::default());
    assert!(sim.cost(m.id(), maker, 0));
    assert!(sim.cost(b.id(), boxer, 0));
    sim.subscribe(b, m, Subscribe::new().max_demand(10).min_demand(5))
        .unwrap();
    (sim, m, b)
}

#[test]
fn a_slow_boxer_and_a_fast_maker_end_at_the_time_arithmetic_predicts() {
    // The maker makes the first 10 by t=10; the boxer boxes them by t=60 (5 ticks each) and
    // asks 5 twice; the maker answers at 65 and 70. From 65 on the boxer never waits: each
    // chunk of 5 takes it 25 ticks, and the maker (5 ticks a chunk) is always ahead. So the
    // last event is boxed at 65 + 5 * (n - 10) = 15 + 5n.
    const N: u64 = 1_000;
    let (mut sim, m, b) = line(N, 1, 5);
    sim.run_until_idle();
    assert_eq!(sim.stage(b).behaviour().boxed, N);
    assert_eq!(sim.now(), 15 + 5 * N);
    let times = &sim.stage(b).behaviour().times;
    let mut expected = vec![10, 10];
    expected.extend((0..(N - 10) / 5).map(|i| 65 + 25 * i));
    assert_eq!(times, &expected, "each chunk starts when the boxer is free");
    // Back-pressure: however much faster the maker is, no more than the boxer's max_demand
    // ever waits for it, and the maker's buffer never holds anything.
    assert_eq!(sim.backlog_high_water(b.id()), 10);
    assert_eq!(sim.backlog_high_water(m.id()), 0);
    assert_eq!(sim.stopped(b), Some(Reason::Normal));
}

#[test]
fn a_slow_maker_and_a_fast_boxer_end_at_the_time_arithmetic_predicts() {
    // The maker takes 50 ticks for the first 10, the boxer 10 ticks to box them; it asks 5
    // twice at 60 and the maker, busy from then on, makes 5 every 25 ticks: the last chunk is
    // made at 60 + 5 * (n - 10) and boxed 5 ticks later, at 5n + 15.
    const N: u64 = 1_000;
    let (mut sim, m, b) = line(N, 5, 1);
    sim.run_until_idle();
    assert_eq!(sim.stage(b).behaviour().boxed, N);
    assert_eq!(sim.now(), 5 * N + 15);
    assert_eq!(sim.busy_until(m.id()), 5 * N + 10);
    assert_eq!(sim.backlog_high_water(b.id()), 10);
}

#[test]
fn a_cost_per_message_is_charged_for_every_message_handed_to_the_stage() {
    // A free maker answers at once: the boxer, 3 ticks a message, is busy without a break
    // from t=0, so the run ends at 3 ticks times the messages it was handed.
    let (mut sim, _, b) = line(200, 0, 0);
    assert!(sim.cost(b.id(), 0, 3));
    sim.run_until_idle();
    let handed = sim
        .trace()
        .iter()
        .filter(|e| {
            e.stage == b.id() && matches!(e.kind, TraceKind::Events { .. } | TraceKind::Down { .. })
        })
        .count() as u64;
    assert_eq!(
        handed,
        1 + 190 / 5 + 1,
        "10, then 5 at a time, then the maker's down"
    );
    assert_eq!(sim.now(), 3 * handed);
}

#[test]
fn without_costs_time_stays_at_zero_and_callbacks_see_zero() {
    let (mut sim, m, b) = line(100, 0, 0);
    sim.run_until_idle();
    assert_eq!(sim.now(), 0);
    assert!(sim.trace().iter().all(|e| e.at == 0));
    assert!(sim.stage(b).behaviour().times.iter().all(|&t| t == 0));
    assert_eq!(sim.busy_until(m.id()), 0);
    assert!(!sim.cost(StageId(99), 1, 1), "no such stage");
}

#[test]
fn trace_lines_carry_the_time_and_it_never_goes_back() {
    let (mut sim, _, b) = line(100, 1, 5);
    sim.run_until_idle();
    let trace = sim.trace();
    assert!(trace.windows(2).all(|w| w[0].at <= w[1].at));
    let first_boxing = trace
        .iter()
        .find(|e| e.stage == b.id() && matches!(e.kind, TraceKind::Events { .. }))
        .unwrap();
    assert_eq!(first_boxing.at, 10);
    assert!(first_boxing.to_string().contains(" @10 "), "{first_boxing}");
}

/// A maker feeding two boxers of the given costs, under `mode`.
fn fan(seed: u64, mode: Mode, costs: [u64; 2]) -> Sim {
    let mut sim = Sim::new(seed);
    sim.set_mode(mode);
    sim.check_invariants(true);
    sim.event_keys(key);
    let m = sim.producer(Maker { made: 0, n: 300 });
    sim.cost(m.id(), 1, 1);
    for (i, cost) in costs.into_iter().enumerate() {
        let c = sim.consumer(Sink::default());
        sim.cost(c.id(), cost, 2);
        let opts = Subscribe::new().max_demand(4 + 3 * i).min_demand(1);
        sim.subscribe(c, m, opts).unwrap();
    }
    sim.run_until_idle();
    sim
}

#[test]
fn the_seeded_scheduler_chooses_only_among_messages_due_at_the_same_time() {
    // In a line of two stages, messages due together go to different stages, so the order
    // the seed picks among them cannot change when anything happens: every seed boxes at
    // the times the FIFO run does. Were a message delivered before it was due (or its
    // receiver free), or later than it had to be, the times would differ.
    let timing = |sim: Sim| {
        let (mut sim, _, b) = line_in(sim, 300, 1, 5);
        sim.run_until_idle();
        let times = sim.stage(b).behaviour().times.clone();
        (times, sim.now(), sim.trace_hash())
    };
    let (times, end, _) = timing(Sim::new(0));
    let mut interleavings = std::collections::BTreeSet::new();
    for seed in crate::harness::seeds(40) {
        let (t, e, hash) = timing(Sim::seeded(seed));
        assert_eq!((&t, e), (&times, end), "seed {seed}");
        interleavings.insert(hash);
    }
    assert!(interleavings.len() > 1 || crate::harness::seeds(40).len() == 1);
    // With two consumers the seed also decides which of two messages due together goes
    // first; the schedule it records replays the same run, times included.
    let mut runs = std::collections::BTreeSet::new();
    for seed in crate::harness::seeds(40) {
        let sim = fan(seed, Mode::Seeded, [3, 3]);
        runs.insert(sim.trace_hash());
        let replay: Schedule = sim.schedule().to_string().parse().unwrap();
        let again = fan(seed, Mode::Replay(replay), [3, 3]);
        assert_eq!(again.trace(), sim.trace(), "seed {seed}");
        assert_eq!(again.now(), sim.now());
    }
    // One seed alone (`GENSTAGE_SEED`, a replay) cannot show variety.
    assert!(
        runs.len() > 1 || crate::harness::seeds(40).len() == 1,
        "seeds vary the order among messages due together"
    );
}

#[test]
fn fifo_and_round_robin_modes_keep_time_too() {
    for mode in [Mode::Fifo, Mode::RoundRobin] {
        let a = fan(1, mode.clone(), [2, 7]);
        let b = fan(2, mode, [2, 7]);
        assert_eq!(a.trace_hash(), b.trace_hash(), "no seed in these modes");
        assert!(a.now() > 0);
        assert!(a.trace().windows(2).all(|w| w[0].at <= w[1].at));
    }
}

#[test]
fn a_cheaper_consumer_takes_a_bigger_share_of_a_demand_dispatcher() {
    let share = |costs| {
        let sim = fan(0, Mode::Fifo, costs);
        let got = |id: u32| {
            sim.trace()
                .iter()
                .filter(|e| e.stage == StageId(id))
                .map(|e| match e.kind {
                    TraceKind::Events { len, .. } => len,
                    _ => 0,
                })
                .sum::<usize>()
        };
        (got(1), got(2))
    };
    let (fast, slow) = share([1, 20]);
    assert_eq!(fast + slow, 300);
    assert!(fast > 3 * slow, "fast {fast}, slow {slow}");
}
