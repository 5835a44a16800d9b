//! Whole pipelines on threads: the dispatchers under load, finite pipelines that end by
//! themselves, and shutdown by dropping handles.

use crate::common::{PATIENCE, all_joined, joined};
use genstage::dispatcher::PartitionDispatcher;
use genstage::dispatcher::*;
use genstage::*;
use std::sync::mpsc::{Sender, channel};

/// Emits `0..n`, then stops when drained.
pub(crate) struct Numbers {
    pub(crate) next: u64,
    pub(crate) n: u64,
}

impl Producer for Numbers {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.next + demand as u64).min(self.n);
        self.next += out.extend(self.next..end) as u64;
        if self.next == self.n {
            Flow::StopWhenDrained(Reason::Normal)
        } else {
            Flow::Continue
        }
    }
}

/// Collects everything it gets and hands it over when dropped (on its own thread, before
/// its exit is published).
pub(crate) struct Collect {
    got: Vec<u64>,
    out: Sender<Vec<u64>>,
}

impl Consumer for Collect {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.got.extend(events);
        Flow::Continue
    }
}

impl Drop for Collect {
    fn drop(&mut self) {
        let _ = self.out.send(core::mem::take(&mut self.got));
    }
}

pub(crate) fn collect(tx: &Sender<Vec<u64>>) -> Collect {
    Collect {
        got: Vec::new(),
        out: tx.clone(),
    }
}

#[test]
fn demand_dispatcher_four_consumers_a_million_events_each_exactly_once_in_fifo_order() {
    const N: u64 = 1_000_000;
    let rt = crate::common::runtime();
    // Accumulate until all four have subscribed: otherwise, on a loaded machine, the first
    // ones could take every event and the producer stop before the last one subscribes.
    let p = rt
        .spawn_producer(
            Numbers { next: 0, n: N },
            ProducerOptions::new().demand(DemandMode::Accumulate),
        )
        .unwrap();
    let (tx, rx) = channel();
    let consumers: Vec<_> = (0..4)
        .map(|i| {
            let c = rt
                .builder()
                .name(format!("sink-{i}"))
                .spawn_consumer(collect(&tx));
            c.subscribe(&p, Subscribe::new().max_demand(100 + 50 * i))
                .unwrap();
            c
        })
        .collect();
    drop(tx);
    p.set_demand_mode(DemandMode::Forward).unwrap();
    assert_eq!(joined(&p), Reason::Normal);
    for c in &consumers {
        assert_eq!(joined(c), Reason::Normal);
    }
    let mut all = Vec::with_capacity(N as usize);
    for got in rx.iter() {
        // Per-consumer FIFO: each consumer sees increasing numbers.
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        assert!(!got.is_empty(), "every consumer got work");
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all.len() as u64, N, "each event exactly once");
    assert!(all.iter().copied().eq(0..N));
    all_joined(&rt);
}

#[test]
fn broadcast_pipeline_delivers_every_event_to_every_consumer() {
    let rt = crate::common::runtime();
    broadcast_to_three(&rt, 100_000);
    all_joined(&rt);
}

/// A broadcast producer of `0..n` and three consumers on `rt`: every consumer gets every
/// event, in order, and every stage ends `Normal`.
pub(crate) fn broadcast_to_three(rt: &genstage::threads::Runtime, n: u64) {
    // Accumulate until every consumer has subscribed (the broadcast late-subscriber remedy).
    let p = rt
        .spawn_producer_with(
            Numbers { next: 0, n },
            ProducerOptions::new().demand(DemandMode::Accumulate),
            BroadcastDispatcher::<u64>::new(),
        )
        .unwrap();
    let (tx, rx) = channel();
    let consumers: Vec<_> = (0..3)
        .map(|i| {
            let c = rt.spawn_consumer(collect(&tx));
            c.subscribe(&p, Subscribe::new().max_demand(64 * (i + 1)))
                .unwrap();
            c
        })
        .collect();
    drop(tx);
    p.set_demand_mode(DemandMode::Forward).unwrap();
    for c in &consumers {
        assert_eq!(joined(c), Reason::Normal);
    }
    assert_eq!(joined(&p), Reason::Normal);
    let all: Vec<Vec<u64>> = rx.iter().collect();
    assert_eq!(all.len(), 3);
    for got in all {
        assert!(got.iter().copied().eq(0..n));
    }
}

#[test]
fn partition_pipeline_routes_each_event_to_its_partition_in_order() {
    const N: u64 = 200_000;
    let rt = crate::common::runtime();
    let dispatcher =
        PartitionDispatcher::<u64>::new(4, |e: u64| Some((e, (e % 4) as usize))).unwrap();
    let p = rt
        .spawn_producer_with(
            Numbers { next: 0, n: N },
            ProducerOptions::new(),
            dispatcher,
        )
        .unwrap();
    let (tx, rx) = channel();
    let mut consumers = Vec::new();
    for part in 0..4usize {
        let (ptx, prx) = channel();
        let c = rt.spawn_consumer(collect(&ptx));
        c.subscribe(&p, Subscribe::new().max_demand(200).partition(part))
            .unwrap();
        consumers.push(c);
        let tx = tx.clone();
        std::thread::spawn(move || {
            let got = prx.recv().unwrap();
            tx.send((part, got)).unwrap();
        });
    }
    drop(tx);
    for c in &consumers {
        assert_eq!(joined(c), Reason::Normal);
    }
    let mut total = 0;
    for (part, got) in rx.iter() {
        assert!(got.iter().all(|e| e % 4 == part as u64));
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        total += got.len();
    }
    assert_eq!(total as u64, N);
    all_joined(&rt);
}

pub(crate) struct Double;
impl ProducerConsumer for Double {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.extend(events.map(|e| e * 2));
        Flow::Continue
    }
}

#[test]
fn a_finite_pipeline_ends_with_every_stage_joined_in_order() {
    let rt = crate::common::runtime();
    let p = rt
        .spawn_producer(Numbers { next: 0, n: 10_000 }, ProducerOptions::new())
        .unwrap();
    let d = rt
        .spawn_producer_consumer(Double, ProducerOptions::new())
        .unwrap();
    let (tx, rx) = channel();
    let c = rt.spawn_consumer(collect(&tx));
    // From the end of the line: `d` asks `p` as soon as it subscribes, and a source that
    // runs dry before `c` arrives would take `d` down with what it holds.
    c.subscribe(&d, Subscribe::new().max_demand(10)).unwrap();
    d.subscribe(&p, Subscribe::new().max_demand(50)).unwrap();
    let exits = genstage::threads::join_all([p.any(), d.any(), c.any()]);
    assert!(
        exits.iter().all(|e| e.reason == Reason::Normal),
        "{exits:?}"
    );
    let got = rx.recv_timeout(PATIENCE).unwrap();
    assert!(got.iter().copied().eq((0..10_000).map(|e| e * 2)));
    // Nothing lost, nothing left anywhere.
    for s in [p.summary(), d.summary(), c.summary()] {
        assert_eq!(s.stats.discarded.total(), 0, "{s:?}");
        assert_eq!((s.buffered, s.held, s.queued), (0, 0, 0));
    }
    assert_eq!(
        p.lost_in_flight() + d.lost_in_flight() + c.lost_in_flight(),
        0
    );
    rt.wait();
    assert_eq!(rt.live(), 0);
}

/// Emits for ever.
pub(crate) struct Endless(pub(crate) u64);
impl Producer for Endless {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        self.0 += out.extend(self.0..self.0 + demand as u64) as u64;
        Flow::Continue
    }
}

#[test]
fn dropping_every_handle_of_a_running_pipeline_ends_every_thread() {
    let rt = crate::common::runtime();
    let p = rt
        .spawn_producer(Endless(0), ProducerOptions::new())
        .unwrap();
    let d = rt
        .spawn_producer_consumer(Double, ProducerOptions::new())
        .unwrap();
    let (tx, rx) = channel();
    let c = rt.spawn_consumer(collect(&tx));
    d.subscribe(&p, Subscribe::new().max_demand(50)).unwrap();
    c.subscribe(&d, Subscribe::new().max_demand(10)).unwrap();
    assert_eq!(rt.live(), 3);
    // The producer and the producer_consumer are kept alive by their subscribers.
    drop(p);
    drop(d);
    drop(c);
    all_joined(&rt);
    // The consumer got a prefix of the endless stream, in order.
    let got = rx.recv_timeout(PATIENCE).unwrap();
    assert!(got.iter().copied().eq((0..got.len() as u64).map(|e| e * 2)));
}

#[test]
fn dropping_the_handles_of_idle_stages_ends_their_threads() {
    let rt = crate::common::runtime();
    let p = rt
        .spawn_producer(Endless(0), ProducerOptions::new())
        .unwrap();
    let (tx, _rx) = channel();
    let c = rt.spawn_consumer(collect(&tx));
    let clone = c.clone();
    drop(c);
    // A clone still owns it: it answers a subscribe after the first handle went.
    assert!(clone.subscribe(&p, Subscribe::new().max_demand(5)).is_ok());
    drop(clone);
    drop(p);
    all_joined(&rt);
}

/// Hands over the time each of its callbacks saw.
struct Times {
    seen: Vec<u64>,
    out: Sender<Vec<u64>>,
}

impl Consumer for Times {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
        drop(events);
        self.seen.push(ctx.now());
        Flow::Continue
    }
}

impl Drop for Times {
    fn drop(&mut self) {
        let _ = self.out.send(core::mem::take(&mut self.seen));
    }
}

#[test]
fn callbacks_read_the_runtime_clock_in_nanoseconds_since_it_started_never_going_back() {
    let rt = crate::common::runtime();
    let p = rt
        .spawn_producer(Numbers { next: 0, n: 5_000 }, ProducerOptions::new())
        .unwrap();
    let (tx, rx) = channel();
    let c = rt.spawn_consumer(Times {
        seen: Vec::new(),
        out: tx,
    });
    c.subscribe(&p, Subscribe::new().max_demand(10)).unwrap();
    assert_eq!(joined(&c), Reason::Normal);
    let seen = rx.recv().unwrap();
    let end = rt.now();
    assert_eq!(seen.len(), 500 * 2, "one callback per chunk of 5");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "monotonic: {seen:?}");
    assert!(*seen.last().unwrap() <= end);
    all_joined(&rt);
}
