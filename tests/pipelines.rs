//! Whole pipelines through the simulator: one producer, four consumers, 100 000 events, with
//! each dispatcher. Checked per consumer: how many events it got and in what order.
//!
//! - DemandDispatcher: the consumers share the stream — their sets are disjoint, each one's
//!   events are increasing, and together they are all 100 000.
//! - BroadcastDispatcher: every consumer gets all 100 000, in order (the producer starts in
//!   accumulate mode until everyone has subscribed, the documented cure for start-up races,
//!   spec §8.7).
//! - PartitionDispatcher: see the marked section at the end.

use genstage::dispatcher::Dispatcher;
use genstage::dispatcher::*;
use genstage::runtime::*;
use genstage::sim::{Handle, Sim};
use genstage::storage::Heap;
use genstage::*;

const EVENTS: u64 = 100_000;

/// Emits `0..EVENTS` on demand, then nothing.
struct Numbers {
    next: u64,
}

impl Producer for Numbers {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.next + demand as u64).min(EVENTS);
        let n = out.extend(self.next..end);
        self.next += n as u64;
        Flow::Continue
    }
}

/// Records every event it gets, in order.
#[derive(Default)]
struct Collect {
    events: Vec<u64>,
    batches: usize,
}

impl Consumer for Collect {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _ctx: &mut Ctx<'_>) -> Flow {
        self.batches += 1;
        self.events.extend(events);
        Flow::Continue
    }
}

type Prod<D> = ProducerStage<Numbers, (), Heap, D>;

/// Max demands of the four consumers: different on purpose, so they run at different paces.
const MAX_DEMANDS: [usize; 4] = [10, 64, 250, 1000];

/// Builds the pipeline with `dispatcher`, subscribes four consumers (`opts` gives each one's
/// options), runs it to completion and returns what each consumer got.
fn run<D: Dispatcher<u64> + 'static>(
    dispatcher: D,
    mode: DemandMode,
    opts: impl Fn(usize) -> Subscribe<u64>,
) -> (Vec<Vec<u64>>, Sim, Handle<Prod<D>>) {
    let mut sim = Sim::new(1);
    let p = ProducerStage::with_dispatcher(
        sim.next_id(),
        Numbers { next: 0 },
        ProducerOptions::new().demand(mode),
        dispatcher,
    )
    .unwrap();
    let p = sim.add(p);
    let consumers: Vec<Handle<ConsumerStage<Collect>>> =
        (0..4).map(|_| sim.consumer(Collect::default())).collect();
    for (i, c) in consumers.iter().enumerate() {
        sim.subscribe(*c, p, opts(i)).unwrap();
    }
    sim.run_until_idle();
    if mode == DemandMode::Accumulate {
        sim.with(p, |stage, out| {
            stage.set_demand_mode(DemandMode::Forward, out)
        });
        sim.run_until_idle();
    }
    assert_eq!(sim.stage(p).behaviour().next, EVENTS, "the source ran dry");
    assert_eq!(sim.pending(), 0);
    let got = consumers
        .iter()
        .map(|c| {
            assert_eq!(sim.stopped(*c), None);
            sim.stage(*c).behaviour().events.clone()
        })
        .collect();
    (got, sim, p)
}

fn increasing(events: &[u64]) -> bool {
    events.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn demand_dispatcher_shares_100k_events_among_four_consumers() {
    let (got, sim, p) = run(DemandDispatcher::<Heap>::new(), DemandMode::Forward, |i| {
        Subscribe::new().max_demand(MAX_DEMANDS[i])
    });
    let mut all: Vec<u64> = Vec::new();
    for (i, events) in got.iter().enumerate() {
        assert!(increasing(events), "consumer {i} got events out of order");
        assert!(!events.is_empty(), "consumer {i} got nothing");
        all.extend(events);
    }
    assert_eq!(all.len() as u64, EVENTS, "disjoint: no event twice");
    all.sort_unstable();
    assert!(all.iter().copied().eq(0..EVENTS), "together, every event");
    let stage = sim.stage(p);
    assert_eq!(stage.buffered_count(), 0);
    assert_eq!(stage.stats().events_out, EVENTS);
    // Counts per consumer, for the record: larger max demand, larger share.
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    assert!(counts[3] > counts[0], "{counts:?}");
}

#[test]
fn demand_dispatcher_with_shuffle_shares_100k_events_among_four_consumers() {
    use genstage::dispatcher::DemandOptions;
    let d = DemandDispatcher::<Heap>::with_options(
        DemandOptions::new().shuffle_demands_on_first_dispatch(9),
    )
    .unwrap();
    let (got, _, _) = run(d, DemandMode::Forward, |_| Subscribe::new().max_demand(100));
    let mut all: Vec<u64> = got.concat();
    assert!(got.iter().all(|e| increasing(e)));
    assert_eq!(all.len() as u64, EVENTS);
    all.sort_unstable();
    assert!(all.iter().copied().eq(0..EVENTS));
}

#[test]
fn broadcast_dispatcher_gives_all_100k_events_to_each_of_four_consumers() {
    let (got, sim, p) = run(
        BroadcastDispatcher::<u64, Heap>::new(),
        DemandMode::Accumulate,
        |i| Subscribe::new().max_demand(MAX_DEMANDS[i]),
    );
    for (i, events) in got.iter().enumerate() {
        assert_eq!(events.len() as u64, EVENTS, "consumer {i}");
        assert!(
            events.iter().copied().eq(0..EVENTS),
            "consumer {i}: all, in order"
        );
    }
    let stage = sim.stage(p);
    assert_eq!(stage.buffered_count(), 0);
    assert_eq!(stage.stats().events_out, 4 * EVENTS);
    // The source ran dry: the demand the slowest consumer still has is requested and will
    // never be answered, and nothing was left over.
    let d = stage.dispatcher();
    assert_eq!((d.requested(), d.buffered()), (d.waiting(), 0));
    assert!(d.waiting() > 0);
}

#[test]
fn broadcast_dispatcher_with_selectors_gives_each_consumer_its_share_in_order() {
    const SELECTORS: [fn(&u64) -> bool; 4] = [
        |e| e.is_multiple_of(2),
        |e| e % 2 == 1,
        |e| e.is_multiple_of(3),
        |_| true,
    ];
    let (got, _, _) = run(
        BroadcastDispatcher::<u64, Heap>::new(),
        DemandMode::Accumulate,
        |i| {
            Subscribe::new()
                .max_demand(MAX_DEMANDS[i])
                .selector(SELECTORS[i])
        },
    );
    for (i, events) in got.iter().enumerate() {
        let want: Vec<u64> = (0..EVENTS).filter(|e| SELECTORS[i](e)).collect();
        assert_eq!(events.len(), want.len(), "consumer {i}");
        assert_eq!(events, &want, "consumer {i}: its events, in order");
    }
}

// ===================================================================================
// PartitionDispatcher variant: added with the PartitionDispatcher (a separate piece of
// work). It goes here, built on `run` above: one producer with a PartitionDispatcher of four
// partitions, each consumer subscribed to its own partition (`opts(i)` giving
// `Subscribe::new().partition(i)`), checking that each consumer gets exactly its partition's
// events, in increasing order, and that together they are all 100 000.
// ===================================================================================

/// A two-stage line of `EVENTS` events with tracing on or off; returns what the consumer got
/// and the sim.
fn traced_line(tracing: bool) -> (Vec<u64>, Sim) {
    let mut sim = Sim::new(0);
    sim.set_tracing(tracing);
    let p = sim.producer(Numbers { next: 0 });
    let c = sim.consumer(Collect::default());
    sim.subscribe(c, p, Subscribe::new().max_demand(100))
        .unwrap();
    sim.run_until_idle();
    let got = sim.stage(c).behaviour().events.clone();
    (got, sim)
}

#[test]
fn a_sim_without_tracing_runs_the_same_and_records_nothing() {
    let (traced, mut with) = traced_line(true);
    let (untraced, without) = traced_line(false);
    assert_eq!(traced, untraced);
    assert_eq!(traced.len() as u64, EVENTS);
    assert!(without.trace().is_empty());
    // With tracing on, every delivery is in the trace; taking it leaves an empty one.
    let trace = with.take_trace();
    assert!(trace.len() as u64 > EVENTS / 100, "{} entries", trace.len());
    assert!(trace.windows(2).all(|w| w[0].step <= w[1].step));
    assert!(with.trace().is_empty());
}
