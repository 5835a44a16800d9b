//! 100,000 events through the simulator: one producer with a PartitionDispatcher (default
//! hash, 4 partitions) and one consumer per partition. Every event must reach the consumer of
//! its partition, in order, and nothing may be lost, duplicated or left behind.

use genstage::dispatcher::PartitionDispatcher;
use genstage::dispatcher::partition::default_partition;
use genstage::runtime::*;
use genstage::sim::{Handle, Sim};
use genstage::storage::{Fixed, Heap, Storage};
use genstage::*;

const EVENTS: u64 = 100_000;
const PARTITIONS: usize = 4;

/// Emits 0, 1, 2, ... up to `EVENTS`, then nothing (it does not stop, so nothing in flight
/// is cut short).
struct Numbers(u64);

impl Producer for Numbers {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.0 + demand as u64).min(EVENTS);
        let taken = out.extend(self.0..end);
        self.0 += taken as u64;
        Flow::Continue
    }
}

/// Keeps every event it gets, and the batch sizes.
#[derive(Default)]
struct Collect {
    events: Vec<u64>,
    batches: usize,
}

impl Consumer for Collect {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.batches += 1;
        self.events.extend(events);
        Flow::Continue
    }
}

type Source<S> = ProducerStage<Numbers, (), S, PartitionDispatcher<u64, S>>;
type Sink<S> = ConsumerStage<Collect, (), S>;
/// The sim, the producer and the consumers (one per partition).
type Pipeline<S> = (Sim, Handle<Source<S>>, Vec<Handle<Sink<S>>>);

/// Builds the pipeline on storage `S`, runs it until idle; returns the sim and the handles.
fn run<S: Storage>(max_demands: [usize; PARTITIONS]) -> Pipeline<S> {
    let mut sim = Sim::new(0);
    let dispatcher = PartitionDispatcher::<u64, S>::with_default_hash(PARTITIONS).unwrap();
    let producer = Source::<S>::with_dispatcher(
        sim.next_id(),
        Numbers(0),
        ProducerOptions::new(),
        dispatcher,
    )
    .unwrap();
    let p = sim.add(producer);
    let mut sinks = Vec::new();
    for (partition, max) in max_demands.into_iter().enumerate() {
        let c = sim.add(Sink::<S>::with_storage(sim.next_id(), Collect::default()));
        sim.subscribe(c, p, Subscribe::new().partition(partition).max_demand(max))
            .unwrap();
        sinks.push(c);
    }
    sim.run_until_idle();
    (sim, p, sinks)
}

fn check<S: Storage>(sim: &Sim, p: Handle<Source<S>>, sinks: &[Handle<Sink<S>>]) {
    let mut expected: Vec<Vec<u64>> = vec![Vec::new(); PARTITIONS];
    for x in 0..EVENTS {
        expected[default_partition(&x, PARTITIONS)].push(x);
    }
    // The default hash spreads the events: every partition gets close to a quarter.
    for e in &expected {
        assert!((24_000..26_000).contains(&e.len()), "{}", e.len());
    }
    for (partition, &c) in sinks.iter().enumerate() {
        let got = &sim.stage(c).behaviour().events;
        assert_eq!(
            got.len(),
            expected[partition].len(),
            "count on partition {partition}"
        );
        assert!(
            *got == expected[partition],
            "partition {partition}: every event of the partition, in order"
        );
        assert_eq!(sim.stopped(c), None);
    }
    let producer = sim.stage(p);
    assert_eq!(producer.behaviour().0, EVENTS);
    assert_eq!(producer.stats().events_out, EVENTS);
    assert_eq!(producer.stats().discarded.total(), 0);
    assert_eq!(producer.buffered_count(), 0);
    assert_eq!(producer.dispatcher().queued_total(), 0);
    assert_eq!(producer.dispatcher().discards().total(), 0);
    assert_eq!(sim.stopped(p), None);
    assert_eq!(sim.pending(), 0);
}

#[test]
fn hundred_thousand_events_reach_their_partitions_in_order() {
    let (sim, p, sinks) = run::<Heap>([50, 10, 100, 1000]);
    check(&sim, p, &sinks);
    // Demand-sized batches: many messages, never one per event.
    let batches: usize = sinks
        .iter()
        .map(|&c| sim.stage(c).behaviour().batches)
        .sum();
    assert!(batches < EVENTS as usize / 4, "{batches} batches");
}

#[test]
fn hundred_thousand_events_on_fixed_storage() {
    // No allocator inside the stages: every container holds at most 64 items.
    let (sim, p, sinks) = run::<Fixed<64, 64>>([16, 8, 32, 16]);
    check(&sim, p, &sinks);
}

#[test]
fn the_pipeline_is_deterministic() {
    let (a, _, _) = run::<Heap>([50, 10, 100, 1000]);
    let (b, _, _) = run::<Heap>([50, 10, 100, 1000]);
    assert!(!a.trace().is_empty());
    assert!(a.trace() == b.trace(), "same inputs, same trace");
}
