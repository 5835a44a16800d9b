//! Throughput of whole pipelines, genstage against the Rust baselines, side by side in one
//! process.
//!
//! `cargo bench -p genstage-bench --bench pipelines` (about 2–4 minutes on 2 cores);
//! `BENCH_QUICK=1 cargo bench -p genstage-bench --bench pipelines` runs a small version in
//! seconds (the CI smoke test); `BENCH_RUNS=n` sets the number of interleaved runs (at least 5
//! are made). `BENCH_ONLY=text` keeps the rows whose `workload | system` contains `text`.
//!
//! Four workloads of `u64` events:
//!
//! - **pipeline**: a producer of `0..n` → a producer_consumer adding 1 → a consumer summing;
//! - **broadcast**: a producer → 4 consumers, each gets every event and sums them;
//! - **partition**: a producer → 4 consumers, event `x` to consumer `x % 4`;
//! - **work sharing**: a producer → 4 consumers, each event to one of them.
//!
//! Each workload runs on:
//!
//! - genstage's thread runtime (`threads`), both ways it runs stages: as tasks on 2 workers
//!   (`Runtime::with_workers(2)`, one per core: the reference row of each workload) and on a
//!   thread each (`Runtime::new`), `max_demand` 1000 (for the pipeline also 10, and, a thread
//!   each, 4000: as many events in flight per link as the hand-batched 4 slots of 1000); and,
//!   for the pipeline, genstage's single-threaded simulator;
//! - per-item channels: `std::sync::mpsc::sync_channel`, `crossbeam-channel` and `flume`,
//!   bounded to 1000 (and to 10, to compare with `max_demand` 10), one thread per stage, one
//!   send per event per consumer (work sharing: one shared channel; for std, whose receiver
//!   cannot be shared, behind a mutex);
//! - hand-batched crossbeam: `Vec`s of 1000 events through channels of 4 slots, and (pipeline)
//!   `Vec`s of 500 through 1 slot, GenStage's window at its default `max_demand`. Buffers go
//!   back to the producer for reuse; broadcast shares each batch behind an `Arc`.
//!
//! genstage's behaviours are the ones a user would write: the producer emits with
//! `out.extend(range)`, the producer_consumer with `out.extend_map(events, |x| x + 1)` (the
//! bulk way to transform a batch), the consumers fold the batch (`events.sum()`); partition
//! names each event's partition with `PartitionDispatcher::by(4, |e| e % 4)` (one more row
//! uses the general hash, `PartitionDispatcher::new(4, |e| Some((e, e % 4)))`).
//!
//! Every run checks its result (sums, counts, partition membership), so no system can skip
//! work. Runs are interleaved (run 1 of every row, then run 2, …) and each figure is the
//! median; events/s counts the events the producer made (a broadcast delivers each 4 times).
//! The last column is genstage's figure on 2 workers for the workload (`max_demand` 10 for the
//! rows with a window of 10) divided by the row's: above 1, genstage is faster.

use genstage::dispatcher::{BroadcastDispatcher, PartitionDispatcher};
use genstage::sim::Sim;
use genstage::threads::Runtime;
use genstage::*;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// genstage behaviours

/// Emits `0..n`, then stops once drained.
struct Numbers {
    next: u64,
    n: u64,
}

impl Producer for Numbers {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.next + demand as u64).min(self.n);
        self.next += out.extend(self.next..end) as u64;
        if self.next == self.n {
            Flow::DONE
        } else {
            Flow::Continue
        }
    }
}

/// Adds 1 to every event.
struct AddOne;

impl ProducerConsumer for AddOne {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.extend_map(events, |x| x + 1);
        Flow::Continue
    }
}

/// What a summing consumer saw: how many events, their sum, and how many did not belong to
/// its partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    sum: u64,
    misplaced: u64,
}

/// Sums what it gets; reports its tally when dropped (on its own thread, before its exit is
/// published).
struct Sum {
    tally: Tally,
    /// `Some(p)`: events must be `p` modulo 4.
    part: Option<u64>,
    report: Option<Sender<Tally>>,
}

impl Sum {
    fn new(part: Option<u64>, report: Sender<Tally>) -> Self {
        Self {
            tally: Tally::default(),
            part,
            report: Some(report),
        }
    }
}

impl Consumer for Sum {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.tally.count += events.len() as u64;
        match self.part {
            None => self.tally.sum += events.sum::<u64>(),
            Some(p) => {
                for e in events {
                    self.tally.sum += e;
                    self.tally.misplaced += (e % 4 != p) as u64;
                }
            }
        }
        Flow::Continue
    }
}

impl Drop for Sum {
    fn drop(&mut self) {
        if let Some(r) = self.report.take() {
            let _ = r.send(self.tally);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Expected results

fn sum_below(n: u64) -> u64 {
    n * (n - 1) / 2
}

/// The pipeline's answer: every event plus one.
fn check_pipeline(n: u64, t: Tally) {
    assert_eq!(t.count, n, "pipeline: every event arrives");
    assert_eq!(t.sum, sum_below(n) + n, "pipeline: the sum of x + 1");
}

/// Four consumers each got every event.
fn check_broadcast(n: u64, ts: &[Tally]) {
    assert_eq!(ts.len(), 4);
    for t in ts {
        assert_eq!(
            (t.count, t.sum),
            (n, sum_below(n)),
            "broadcast: all to each"
        );
    }
}

/// Four partitions, each with its quarter and nothing else.
fn check_partition(n: u64, ts: &[Tally]) {
    assert_eq!(ts.len(), 4);
    for t in ts {
        assert_eq!(t.count, n / 4, "partition: a quarter each");
        assert_eq!(t.misplaced, 0, "partition: x to consumer x % 4");
    }
    assert_eq!(ts.iter().map(|t| t.sum).sum::<u64>(), sum_below(n));
}

/// Four consumers shared the events, each exactly once.
fn check_shared(n: u64, ts: &[Tally]) {
    assert_eq!(ts.len(), 4);
    assert_eq!(
        ts.iter().map(|t| t.count).sum::<u64>(),
        n,
        "work sharing: all"
    );
    assert_eq!(ts.iter().map(|t| t.sum).sum::<u64>(), sum_below(n));
}

fn tallies(rx: std::sync::mpsc::Receiver<Tally>) -> Vec<Tally> {
    let mut ts: Vec<Tally> = rx.iter().collect();
    ts.sort_by_key(|t| (t.count, t.sum));
    ts
}

// ---------------------------------------------------------------------------------------
// genstage on threads

/// A thread per stage (`None`), or `Some(workers)` running the stages as tasks.
fn runtime(workers: Option<usize>) -> Runtime {
    workers.map_or_else(Runtime::new, Runtime::with_workers)
}

fn gs_pipeline(n: u64, demand: usize, workers: Option<usize>) -> Duration {
    let rt = runtime(workers);
    let (tx, rx) = channel();
    let start = Instant::now();
    let p = rt
        .spawn_producer(Numbers { next: 0, n }, ProducerOptions::new())
        .expect("valid options");
    let d = rt
        .spawn_producer_consumer(AddOne, ProducerOptions::new())
        .expect("valid options");
    let c = rt.spawn_consumer(Sum::new(None, tx));
    c.subscribe(&d, Subscribe::new().max_demand(demand))
        .expect("valid options");
    d.subscribe(&p, Subscribe::new().max_demand(demand))
        .expect("valid options");
    let exits = threads::join_all([p.any(), d.any(), c.any()]);
    let took = start.elapsed();
    assert!(
        exits.iter().all(|e| e.reason == Reason::Normal),
        "{exits:?}"
    );
    check_pipeline(n, rx.recv().expect("the consumer reports"));
    took
}

/// `moving_hash`: partition with `PartitionDispatcher::new` (a hash the event moves through,
/// which may rewrite or drop it) instead of `PartitionDispatcher::by` (a function that reads
/// the partition off the event).
fn gs_fan_out(n: u64, workload: Fan, workers: Option<usize>, moving_hash: bool) -> Duration {
    let rt = runtime(workers);
    let (tx, rx) = channel();
    let start = Instant::now();
    let numbers = Numbers { next: 0, n };
    // Accumulate until every consumer has subscribed: all four start together (and a late
    // broadcast subscriber would miss events).
    let opts = ProducerOptions::new().demand(DemandMode::Accumulate);
    let p = match workload {
        Fan::Broadcast => rt.spawn_producer_with(numbers, opts, BroadcastDispatcher::<u64>::new()),
        Fan::Partition => rt.spawn_producer_with(
            numbers,
            opts,
            if moving_hash {
                PartitionDispatcher::<u64>::new(4, |e: u64| Some((e, (e % 4) as usize)))
            } else {
                PartitionDispatcher::<u64>::by(4, |e: &u64| (e % 4) as usize)
            }
            .expect("4 partitions"),
        ),
        Fan::Share => rt.spawn_producer(numbers, opts),
    }
    .expect("valid options");
    let consumers: Vec<_> = (0..4u64)
        .map(|i| {
            let part = (workload == Fan::Partition).then_some(i);
            let c = rt.spawn_consumer(Sum::new(part, tx.clone()));
            let mut opts = Subscribe::new().max_demand(1000);
            if let Some(part) = part {
                opts = opts.partition(part as usize);
            }
            c.subscribe(&p, opts).expect("valid options");
            c.any()
        })
        .collect();
    drop(tx);
    p.set_demand_mode(DemandMode::Forward).expect("a producer");
    let exits = threads::join_all(consumers.into_iter().chain([p.any()]));
    let took = start.elapsed();
    assert!(
        exits.iter().all(|e| e.reason == Reason::Normal),
        "{exits:?}"
    );
    workload.check(n, &tallies(rx));
    took
}

/// The pipeline on the simulator, in this thread.
fn sim_pipeline(n: u64, demand: usize) -> Duration {
    let (tx, rx) = channel();
    let start = Instant::now();
    let mut sim = Sim::new(0);
    sim.set_tracing(false);
    let p = sim.producer(Numbers { next: 0, n });
    let d = sim.producer_consumer(AddOne);
    let c = sim.consumer(Sum::new(None, tx));
    sim.subscribe(c, d, Subscribe::new().max_demand(demand))
        .expect("valid options");
    sim.subscribe(d, p, Subscribe::new().max_demand(demand))
        .expect("valid options");
    sim.run_until_idle();
    let took = start.elapsed();
    assert_eq!(sim.stopped(c), Some(Reason::Normal));
    drop(sim);
    check_pipeline(n, rx.recv().expect("the consumer reports"));
    took
}

// ---------------------------------------------------------------------------------------
// Per-item channels: one trait over the three libraries

trait Chan: Send + 'static {
    type Tx: Clone + Send + 'static;
    type Rx: Send + 'static;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, v: u64);
    fn recv(rx: &Self::Rx) -> Option<u64>;
    /// A receiver several threads can take from (work sharing).
    type Shared: Clone + Send + 'static;
    fn share(rx: Self::Rx) -> Self::Shared;
    fn recv_shared(rx: &Self::Shared) -> Option<u64>;
}

struct Std;
impl Chan for Std {
    type Tx = std::sync::mpsc::SyncSender<u64>;
    type Rx = std::sync::mpsc::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        std::sync::mpsc::sync_channel(cap)
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).expect("the receiver lives");
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
    type Shared = Arc<Mutex<Self::Rx>>;
    fn share(rx: Self::Rx) -> Self::Shared {
        Arc::new(Mutex::new(rx))
    }
    fn recv_shared(rx: &Self::Shared) -> Option<u64> {
        rx.lock().expect("no panic").recv().ok()
    }
}

struct Crossbeam;
impl Chan for Crossbeam {
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).expect("the receiver lives");
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
    type Shared = Self::Rx;
    fn share(rx: Self::Rx) -> Self::Shared {
        rx
    }
    fn recv_shared(rx: &Self::Shared) -> Option<u64> {
        rx.recv().ok()
    }
}

struct Flume;
impl Chan for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).expect("the receiver lives");
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
    type Shared = Self::Rx;
    fn share(rx: Self::Rx) -> Self::Shared {
        rx
    }
    fn recv_shared(rx: &Self::Shared) -> Option<u64> {
        rx.recv().ok()
    }
}

/// A consumer thread summing what one receiver gives until it closes.
fn summer<C: Chan>(rx: C::Rx, part: Option<u64>) -> thread::JoinHandle<Tally> {
    thread::spawn(move || {
        let mut t = Tally::default();
        while let Some(e) = C::recv(&rx) {
            t.count += 1;
            t.sum += e;
            if let Some(p) = part {
                t.misplaced += (e % 4 != p) as u64;
            }
        }
        t
    })
}

fn join_all(hs: Vec<thread::JoinHandle<Tally>>) -> Vec<Tally> {
    let mut ts: Vec<Tally> = hs
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .collect();
    ts.sort_by_key(|t| (t.count, t.sum));
    ts
}

fn chan_pipeline<C: Chan>(n: u64, cap: usize) -> Duration {
    let start = Instant::now();
    let (tx1, rx1) = C::bounded(cap);
    let (tx2, rx2) = C::bounded(cap);
    let p = thread::spawn(move || {
        for i in 0..n {
            C::send(&tx1, i);
        }
    });
    let m = thread::spawn(move || {
        while let Some(e) = C::recv(&rx1) {
            C::send(&tx2, e + 1);
        }
    });
    let c = summer::<C>(rx2, None);
    p.join().expect("no panic");
    m.join().expect("no panic");
    let t = c.join().expect("no panic");
    let took = start.elapsed();
    check_pipeline(n, t);
    took
}

fn chan_fan_out<C: Chan>(n: u64, workload: Fan) -> Duration {
    let start = Instant::now();
    let consumers = match workload {
        Fan::Broadcast | Fan::Partition => {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| C::bounded(1000)).unzip();
            let p = thread::spawn(move || {
                for i in 0..n {
                    if workload == Fan::Broadcast {
                        for tx in &txs {
                            C::send(tx, i);
                        }
                    } else {
                        C::send(&txs[(i % 4) as usize], i);
                    }
                }
            });
            let hs = rxs
                .into_iter()
                .enumerate()
                .map(|(k, rx)| summer::<C>(rx, (workload == Fan::Partition).then_some(k as u64)))
                .collect();
            p.join().expect("no panic");
            hs
        }
        Fan::Share => {
            let (tx, rx) = C::bounded(1000);
            let rx = C::share(rx);
            let hs = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    thread::spawn(move || {
                        let mut t = Tally::default();
                        while let Some(e) = C::recv_shared(&rx) {
                            t.count += 1;
                            t.sum += e;
                        }
                        t
                    })
                })
                .collect();
            drop(rx);
            for i in 0..n {
                C::send(&tx, i);
            }
            drop(tx);
            hs
        }
    };
    let ts = join_all(consumers);
    let took = start.elapsed();
    workload.check(n, &ts);
    took
}

// ---------------------------------------------------------------------------------------
// Hand-batched crossbeam: Vecs through channels of a few slots, buffers recycled

type Batch64 = Vec<u64>;

/// A recycled buffer, or a new one.
fn buffer(spares: &crossbeam_channel::Receiver<Batch64>, size: usize) -> Batch64 {
    spares
        .try_recv()
        .unwrap_or_else(|_| Vec::with_capacity(size))
}

fn batched_pipeline(n: u64, size: usize, slots: usize) -> Duration {
    let start = Instant::now();
    let (tx1, rx1) = crossbeam_channel::bounded::<Batch64>(slots);
    let (tx2, rx2) = crossbeam_channel::bounded::<Batch64>(slots);
    let (back, spares) = crossbeam_channel::unbounded::<Batch64>();
    let p = thread::spawn(move || {
        let mut i = 0;
        while i < n {
            let end = (i + size as u64).min(n);
            let mut b = buffer(&spares, size);
            b.extend(i..end);
            i = end;
            tx1.send(b).expect("the receiver lives");
        }
    });
    let m = thread::spawn(move || {
        while let Ok(mut b) = rx1.recv() {
            for e in b.iter_mut() {
                *e += 1;
            }
            tx2.send(b).expect("the receiver lives");
        }
    });
    let c = thread::spawn(move || {
        let mut t = Tally::default();
        while let Ok(mut b) = rx2.recv() {
            t.count += b.len() as u64;
            t.sum += b.iter().sum::<u64>();
            b.clear();
            let _ = back.send(b);
        }
        t
    });
    p.join().expect("no panic");
    m.join().expect("no panic");
    let t = c.join().expect("no panic");
    let took = start.elapsed();
    check_pipeline(n, t);
    took
}

fn batched_fan_out(n: u64, workload: Fan) -> Duration {
    const SIZE: usize = 1000;
    const SLOTS: usize = 4;
    let start = Instant::now();
    let (back, spares) = crossbeam_channel::unbounded::<Batch64>();
    let sum_batch = |t: &mut Tally, b: &[u64], part: Option<u64>| {
        t.count += b.len() as u64;
        t.sum += b.iter().sum::<u64>();
        if let Some(p) = part {
            t.misplaced += b.iter().filter(|&&e| e % 4 != p).count() as u64;
        }
    };
    let hs: Vec<thread::JoinHandle<Tally>> = match workload {
        Fan::Broadcast => {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..4)
                .map(|_| crossbeam_channel::bounded::<Arc<Batch64>>(SLOTS))
                .unzip();
            thread::spawn(move || {
                let mut i = 0;
                while i < n {
                    let end = (i + SIZE as u64).min(n);
                    let b: Arc<Batch64> = Arc::new((i..end).collect());
                    i = end;
                    for tx in &txs {
                        tx.send(b.clone()).expect("the receiver lives");
                    }
                }
            });
            rxs.into_iter()
                .map(|rx| {
                    thread::spawn(move || {
                        let mut t = Tally::default();
                        while let Ok(b) = rx.recv() {
                            sum_batch(&mut t, &b, None);
                        }
                        t
                    })
                })
                .collect()
        }
        Fan::Partition => {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..4)
                .map(|_| crossbeam_channel::bounded::<Batch64>(SLOTS))
                .unzip();
            thread::spawn(move || {
                let mut parts: Vec<Batch64> = (0..4).map(|_| buffer(&spares, SIZE)).collect();
                for i in 0..n {
                    let k = (i % 4) as usize;
                    parts[k].push(i);
                    if parts[k].len() == SIZE {
                        let full = std::mem::replace(&mut parts[k], buffer(&spares, SIZE));
                        txs[k].send(full).expect("the receiver lives");
                    }
                }
                for (k, b) in parts.into_iter().enumerate() {
                    if !b.is_empty() {
                        txs[k].send(b).expect("the receiver lives");
                    }
                }
            });
            rxs.into_iter()
                .enumerate()
                .map(|(k, rx)| {
                    let back = back.clone();
                    thread::spawn(move || {
                        let mut t = Tally::default();
                        while let Ok(mut b) = rx.recv() {
                            sum_batch(&mut t, &b, Some(k as u64));
                            b.clear();
                            let _ = back.send(b);
                        }
                        t
                    })
                })
                .collect()
        }
        Fan::Share => {
            let (tx, rx) = crossbeam_channel::bounded::<Batch64>(SLOTS);
            thread::spawn(move || {
                let mut i = 0;
                while i < n {
                    let end = (i + SIZE as u64).min(n);
                    let mut b = buffer(&spares, SIZE);
                    b.extend(i..end);
                    i = end;
                    tx.send(b).expect("the receiver lives");
                }
            });
            (0..4)
                .map(|_| {
                    let (rx, back) = (rx.clone(), back.clone());
                    thread::spawn(move || {
                        let mut t = Tally::default();
                        while let Ok(mut b) = rx.recv() {
                            sum_batch(&mut t, &b, None);
                            b.clear();
                            let _ = back.send(b);
                        }
                        t
                    })
                })
                .collect()
        }
    };
    drop(back);
    let ts = join_all(hs);
    let took = start.elapsed();
    workload.check(n, &ts);
    took
}

// ---------------------------------------------------------------------------------------
// The table

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fan {
    Broadcast,
    Partition,
    Share,
}

impl Fan {
    fn check(self, n: u64, ts: &[Tally]) {
        match self {
            Self::Broadcast => check_broadcast(n, ts),
            Self::Partition => check_partition(n, ts),
            Self::Share => check_shared(n, ts),
        }
    }
}

/// One row: a workload on one system.
struct Row {
    workload: &'static str,
    system: &'static str,
    /// Events per run.
    events: u64,
    /// Whether this row compares with genstage at `max_demand` 10.
    window10: bool,
    /// The genstage row its ratio refers to.
    reference: bool,
    run: Box<dyn Fn(u64) -> Duration>,
    times: Vec<Duration>,
}

fn rows(quick: bool) -> Vec<Row> {
    // Events per run: enough for a run of roughly 0.1–1 s on 2 cores; the slow rows do fewer.
    let scale = |full: u64| if quick { (full / 100).max(4_000) } else { full };
    let fast = scale(20_000_000);
    let item = scale(4_000_000);
    let slow = scale(1_000_000);
    let mut rows = Vec::new();
    let mut row =
        |workload, system, events, window10, reference, run: Box<dyn Fn(u64) -> Duration>| {
            rows.push(Row {
                workload,
                system,
                events,
                window10,
                reference,
                run,
                times: Vec::new(),
            })
        };
    let p = "pipeline";
    row(
        p,
        "genstage 2 workers, max_demand 1000",
        fast,
        false,
        true,
        Box::new(|n| gs_pipeline(n, 1000, Some(2))),
    );
    row(
        p,
        "genstage thread per stage, max_demand 1000",
        fast,
        false,
        false,
        Box::new(|n| gs_pipeline(n, 1000, None)),
    );
    // The same window as the hand-batched 4 slots of 1000: what the handoff costs once the
    // protocol allows as many events in flight.
    row(
        p,
        "genstage thread per stage, max_demand 4000",
        fast,
        false,
        false,
        Box::new(|n| gs_pipeline(n, 4000, None)),
    );
    row(
        p,
        "genstage 2 workers, max_demand 10",
        slow,
        true,
        true,
        Box::new(|n| gs_pipeline(n, 10, Some(2))),
    );
    row(
        p,
        "genstage thread per stage, max_demand 10",
        slow,
        true,
        false,
        Box::new(|n| gs_pipeline(n, 10, None)),
    );
    row(
        p,
        "genstage sim (1 thread), max_demand 1000",
        fast,
        false,
        false,
        Box::new(|n| sim_pipeline(n, 1000)),
    );
    row(
        p,
        "genstage sim (1 thread), max_demand 10",
        slow,
        true,
        false,
        Box::new(|n| sim_pipeline(n, 10)),
    );
    row(
        p,
        "std sync_channel(1000), per item",
        item,
        false,
        false,
        Box::new(|n| chan_pipeline::<Std>(n, 1000)),
    );
    row(
        p,
        "crossbeam bounded(1000), per item",
        item,
        false,
        false,
        Box::new(|n| chan_pipeline::<Crossbeam>(n, 1000)),
    );
    row(
        p,
        "flume bounded(1000), per item",
        item,
        false,
        false,
        Box::new(|n| chan_pipeline::<Flume>(n, 1000)),
    );
    row(
        p,
        "std sync_channel(10), per item",
        slow,
        true,
        false,
        Box::new(|n| chan_pipeline::<Std>(n, 10)),
    );
    row(
        p,
        "crossbeam bounded(10), per item",
        slow,
        true,
        false,
        Box::new(|n| chan_pipeline::<Crossbeam>(n, 10)),
    );
    row(
        p,
        "flume bounded(10), per item",
        slow,
        true,
        false,
        Box::new(|n| chan_pipeline::<Flume>(n, 10)),
    );
    row(
        p,
        "crossbeam hand-batched, Vec 1000 x 4 slots",
        fast,
        false,
        false,
        Box::new(|n| batched_pipeline(n, 1000, 4)),
    );
    row(
        p,
        "crossbeam hand-batched, Vec 500 x 1 slot",
        fast,
        false,
        false,
        Box::new(|n| batched_pipeline(n, 500, 1)),
    );
    for (w, fan) in [
        ("broadcast to 4", Fan::Broadcast),
        ("partition into 4", Fan::Partition),
        ("work sharing over 4", Fan::Share),
    ] {
        // Broadcast makes four deliveries per event.
        let (fast, item) = if fan == Fan::Broadcast {
            (fast / 4, item / 4)
        } else {
            (fast, item)
        };
        row(
            w,
            "genstage 2 workers, max_demand 1000",
            fast,
            false,
            true,
            Box::new(move |n| gs_fan_out(n, fan, Some(2), false)),
        );
        if fan == Fan::Partition {
            row(
                w,
                "genstage 2 workers, max_demand 1000, hash through new()",
                fast,
                false,
                false,
                Box::new(move |n| gs_fan_out(n, fan, Some(2), true)),
            );
        }
        row(
            w,
            "genstage thread per stage, max_demand 1000",
            fast,
            false,
            false,
            Box::new(move |n| gs_fan_out(n, fan, None, false)),
        );
        row(
            w,
            "std sync_channel(1000), per item",
            item,
            false,
            false,
            Box::new(move |n| chan_fan_out::<Std>(n, fan)),
        );
        row(
            w,
            "crossbeam bounded(1000), per item",
            item,
            false,
            false,
            Box::new(move |n| chan_fan_out::<Crossbeam>(n, fan)),
        );
        row(
            w,
            "flume bounded(1000), per item",
            item,
            false,
            false,
            Box::new(move |n| chan_fan_out::<Flume>(n, fan)),
        );
        row(
            w,
            "crossbeam hand-batched, Vec 1000 x 4 slots",
            fast,
            false,
            false,
            Box::new(move |n| batched_fan_out(n, fan)),
        );
    }
    rows
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    t[t.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; cargo test may pass other flags: nothing to parse.
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v != "0");
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(5);
    let only = std::env::var("BENCH_ONLY").ok();
    let mut rows = rows(quick);
    if let Some(word) = &only {
        rows.retain(|r| format!("{} | {}", r.workload, r.system).contains(word.as_str()));
    }
    let started = Instant::now();
    eprintln!(
        "pipelines: {} rows x {runs} interleaved runs{}",
        rows.len(),
        if quick {
            " (BENCH_QUICK: small sizes)"
        } else {
            ""
        }
    );
    for run in 0..runs {
        for r in rows.iter_mut() {
            let t = (r.run)(r.events);
            r.times.push(t);
        }
        eprintln!("  run {}/{runs} done at {:.1?}", run + 1, started.elapsed());
    }

    let rate = |r: &Row| r.events as f64 / median(&r.times).as_secs_f64();
    println!();
    println!("| workload | system | events/run | median events/s | genstage ÷ this |");
    println!("|---|---|---:|---:|---:|");
    for r in &rows {
        let reference = rows
            .iter()
            .find(|g| g.workload == r.workload && g.reference && g.window10 == r.window10);
        let ratio = match reference {
            Some(g) => format!("{:.2}", rate(g) / rate(r)),
            None => "–".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            r.workload,
            r.system,
            r.events,
            human(rate(r)),
            ratio
        );
    }
    println!();
    println!(
        "({runs} interleaved runs per row, median; {:.0?} in all)",
        started.elapsed()
    );
}

/// `123.4 M` style.
fn human(rate: f64) -> String {
    if rate >= 1e9 {
        format!("{:.2} G", rate / 1e9)
    } else if rate >= 1e6 {
        format!("{:.1} M", rate / 1e6)
    } else {
        format!("{:.0} k", rate / 1e3)
    }
}
