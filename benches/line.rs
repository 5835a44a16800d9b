//! The cost of back-pressure in one thread: 100 000 numbers pass from a producer to a consumer
//! that sums them, with at most `window` numbers between the two.
//!
//! - `genstage`: the core's producer and consumer stages wired directly (no runtime), the
//!   consumer subscribed with `max_demand = window`; messages and event batches are moved by a
//!   loop, and batch buffers are reused.
//! - `crossbeam_bounded` / `std_sync_channel`: a bounded channel of capacity `window`, filled
//!   until full, then drained, item by item: what a Rust program does today for the same
//!   bound.
//!
//! All three do the same work (the sum is checked), in one thread, so the figures compare the
//! bookkeeping alone. Run: `cargo bench --bench line`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use genstage::runtime::*;
use genstage::storage::Heap;
use genstage::*;
use std::hint::black_box;

const EVENTS: u64 = 100_000;
const WINDOWS: [usize; 3] = [10, 100, 1000];

struct Count {
    next: u64,
}

impl Producer for Count {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.next + demand as u64).min(EVENTS);
        self.next += out.extend(self.next..end) as u64;
        Flow::Continue
    }
}

struct Sum(u64);

impl Consumer for Sum {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.0 += events.sum::<u64>();
        Flow::Continue
    }
}

/// Moves messages between the two stages; batch buffers are recycled.
#[derive(Default)]
struct Wire {
    up: Vec<ToProducer<u64>>,
    down: Vec<(SubId, Vec<u64>)>,
    spare: Vec<Vec<u64>>,
}

impl Outbox<u64, u64, ()> for Wire {
    fn push(&mut self, output: Output<u64, ()>) {
        if let Output::ToProducer(m) = output {
            self.up.push(m);
        }
    }
    fn events<I: ExactSizeIterator<Item = u64>>(&mut self, sub: SubId, events: I) {
        let mut batch = self.spare.pop().unwrap_or_default();
        batch.extend(events);
        self.down.push((sub, batch));
    }
}

fn genstage_line(window: usize) -> u64 {
    let mut p = ProducerStage::<Count, (), Heap>::new(
        StageId(0),
        Count { next: 0 },
        ProducerOptions::new(),
    )
    .expect("valid options");
    let mut c = ConsumerStage::<Sum, (), Heap>::new(StageId(1), Sum(0));
    let mut wire = Wire::default();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    c.subscribe(p.id(), Subscribe::new().max_demand(window), &mut wire)
        .expect("valid options");
    while !wire.up.is_empty() || !wire.down.is_empty() {
        std::mem::swap(&mut up, &mut wire.up);
        for m in up.drain(..) {
            p.handle_to_producer(m, &mut wire);
        }
        std::mem::swap(&mut down, &mut wire.down);
        for (sub, mut batch) in down.drain(..) {
            c.handle_events(sub, batch.drain(..), &mut wire);
            wire.spare.push(batch);
        }
    }
    c.behaviour().0
}

fn crossbeam_line(window: usize) -> u64 {
    let (tx, rx) = crossbeam_channel::bounded(window);
    let (mut next, mut sum) = (0u64, 0u64);
    while next < EVENTS {
        while next < EVENTS && tx.try_send(next).is_ok() {
            next += 1;
        }
        while let Ok(v) = rx.try_recv() {
            sum += v;
        }
    }
    sum
}

fn std_line(window: usize) -> u64 {
    let (tx, rx) = std::sync::mpsc::sync_channel(window);
    let (mut next, mut sum) = (0u64, 0u64);
    while next < EVENTS {
        while next < EVENTS && tx.try_send(next).is_ok() {
            next += 1;
        }
        while let Ok(v) = rx.try_recv() {
            sum += v;
        }
    }
    sum
}

fn line(c: &mut Criterion) {
    let want = EVENTS * (EVENTS - 1) / 2;
    for window in WINDOWS {
        assert_eq!(genstage_line(window), want);
        assert_eq!(crossbeam_line(window), want);
        assert_eq!(std_line(window), want);
    }
    let mut g = c.benchmark_group("line_100k");
    g.throughput(Throughput::Elements(EVENTS));
    for window in WINDOWS {
        g.bench_with_input(BenchmarkId::new("genstage", window), &window, |b, &w| {
            b.iter(|| genstage_line(black_box(w)))
        });
        g.bench_with_input(
            BenchmarkId::new("crossbeam_bounded", window),
            &window,
            |b, &w| b.iter(|| crossbeam_line(black_box(w))),
        );
        g.bench_with_input(
            BenchmarkId::new("std_sync_channel", window),
            &window,
            |b, &w| b.iter(|| std_line(black_box(w))),
        );
    }
    g.finish();
}

criterion_group!(benches, line);
criterion_main!(benches);
