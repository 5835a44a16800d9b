//! Stages as tasks on workers (`Runtime::with_workers`): what holds only there. Every other
//! test of this target also runs on workers when `GENSTAGE_WORKERS` is set (`.ci/run` runs the
//! target with 1 and with 2); these run on workers always.

use crate::common::{PATIENCE, all_joined, joined};
use crate::pipelines::{Collect, Double, Endless, Numbers, broadcast_to_three, collect};
use genstage::dispatcher::PartitionDispatcher;
use genstage::threads::Runtime;
use genstage::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};

const N: u64 = 100_000;

/// Everything each consumer of a finished pipeline collected.
fn gathered(rx: Receiver<Vec<u64>>) -> Vec<Vec<u64>> {
    rx.iter().collect()
}

#[test]
fn on_one_and_on_two_workers_finite_pipelines_of_every_dispatcher_deliver_everything_and_end_normal()
 {
    for workers in [1, 2] {
        let rt = Runtime::with_workers(workers);
        assert_eq!(rt.workers(), Some(workers));

        // Demand: producer -> producer_consumer -> 3 consumers, each event exactly once.
        let p = rt
            .spawn_producer(Numbers { next: 0, n: N }, ProducerOptions::new())
            .unwrap();
        let d = rt
            .spawn_producer_consumer(Double, ProducerOptions::new())
            .unwrap();
        let (tx, rx) = channel();
        let cs: Vec<_> = (0..3)
            .map(|i| {
                let c = rt.spawn_consumer(collect(&tx));
                c.subscribe(&d, Subscribe::new().max_demand(10 + 40 * i))
                    .unwrap();
                c
            })
            .collect();
        drop(tx);
        // Only now does the data flow: a producer_consumer whose source ends before it has
        // any consumer stops with what it holds (a consumer subscribing later gets `NoProc`).
        d.subscribe(&p, Subscribe::new().max_demand(100)).unwrap();
        for c in &cs {
            assert_eq!(joined(c), Reason::Normal, "{workers} workers");
        }
        assert_eq!((joined(&p), joined(&d)), (Reason::Normal, Reason::Normal));
        let mut all: Vec<u64> = gathered(rx).into_iter().flatten().collect();
        all.sort_unstable();
        assert!(
            all.iter().copied().eq((0..N).map(|e| e * 2)),
            "{workers} workers"
        );

        // Broadcast: every consumer gets every event, in order.
        broadcast_to_three(&rt, N);

        // Partition: each event to its partition, in order.
        let p = rt
            .spawn_producer_with(
                Numbers { next: 0, n: N },
                ProducerOptions::new(),
                PartitionDispatcher::<u64>::new(2, |e: u64| Some((e, (e % 2) as usize))).unwrap(),
            )
            .unwrap();
        let (tx0, rx0) = channel();
        let (tx1, rx1) = channel();
        let c0 = rt.spawn_consumer(collect(&tx0));
        let c1 = rt.spawn_consumer(collect(&tx1));
        c0.subscribe(&p, Subscribe::new().max_demand(64).partition(0))
            .unwrap();
        c1.subscribe(&p, Subscribe::new().max_demand(64).partition(1))
            .unwrap();
        drop((tx0, tx1));
        assert_eq!((joined(&c0), joined(&c1)), (Reason::Normal, Reason::Normal));
        for (part, rx) in [(0, rx0), (1, rx1)] {
            let got = rx.recv_timeout(PATIENCE).unwrap();
            assert!(got.iter().copied().eq((part..N).step_by(2)));
        }
        // Nothing was lost on the way.
        for s in [p.summary(), c0.summary(), c1.summary()] {
            assert_eq!(s.stats.discarded.total(), 0, "{s:?}");
        }
        drop((p, c0, c1, d, cs));
        all_joined(&rt);
    }
}

/// Counts what it gets.
struct Count(Arc<AtomicU64>);
impl Consumer for Count {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.0.fetch_add(events.len() as u64, Ordering::Relaxed);
        Flow::Continue
    }
}

/// A stage with inputs left after its turns goes to the back of the queue: an endless
/// pipeline on the only worker does not starve a finite one started after it.
#[test]
fn on_one_worker_an_endless_pipeline_does_not_starve_a_finite_one() {
    let rt = Runtime::with_workers(1);
    let endless = rt
        .spawn_producer(Endless(0), ProducerOptions::new())
        .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let busy = rt.spawn_consumer(Count(seen.clone()));
    busy.subscribe(&endless, Subscribe::new().max_demand(1000))
        .unwrap();
    let p = rt
        .spawn_producer(Numbers { next: 0, n: N }, ProducerOptions::new())
        .unwrap();
    let (tx, rx) = channel();
    let c = rt.spawn_consumer(collect(&tx));
    c.subscribe(&p, Subscribe::new().max_demand(10)).unwrap();
    assert_eq!(joined(&c), Reason::Normal);
    assert!(rx.recv().unwrap().into_iter().eq(0..N));
    // The endless one ran meanwhile, and runs on.
    let before = seen.load(Ordering::Relaxed);
    assert!(before > 0);
    assert_eq!(busy.summary().stopped, None);
    drop((endless, busy, p, c));
    all_joined(&rt);
}

/// Panics on its first batch.
struct Fails;
impl Consumer for Fails {
    type Event = u64;
    fn handle_events(&mut self, _: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        panic!("a consumer on a worker fails");
    }
}

#[test]
fn a_panicking_stage_on_the_only_worker_stops_alone_and_the_worker_runs_on() {
    let rt = Runtime::with_workers(1);
    let p = rt
        .spawn_producer(Numbers { next: 0, n: N }, ProducerOptions::new())
        .unwrap();
    let bad = rt.spawn_consumer(Fails);
    bad.subscribe(&p, Subscribe::new().cancel(CancelMode::Temporary))
        .unwrap();
    let exit = bad.join_exit();
    assert_eq!(exit.reason, Reason::Panicked);
    assert_eq!(exit.panic.as_deref(), Some("a consumer on a worker fails"));
    // The producer lived through it (a temporary subscription) and serves a new consumer
    // on the same worker, to the end.
    let (tx, rx) = channel();
    let good = rt.spawn_consumer(collect(&tx));
    good.subscribe(&p, Subscribe::new().max_demand(100))
        .unwrap();
    assert_eq!(joined(&good), Reason::Normal);
    assert_eq!(joined(&p), Reason::Normal);
    let got = rx.recv().unwrap();
    // The failed consumer's batch was taken from the producer; the rest came here in order.
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(got.last(), Some(&(N - 1)));
    drop((p, bad, good));
    all_joined(&rt);
}

/// Blocks in its first callback until the test opens the gate.
struct Gated(Arc<Mutex<Receiver<()>>>, Collect);
impl Consumer for Gated {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
        self.0.lock().unwrap().recv_timeout(PATIENCE).unwrap();
        self.1.handle_events(events, ctx)
    }
}

/// The stance for blocking stages: on their own thread they hold no worker.
#[test]
fn a_stage_on_its_own_thread_may_block_while_the_only_worker_runs_the_rest() {
    let rt = Runtime::with_workers(1);
    let (gate, wait) = channel();
    let (tx, rx) = channel();
    let p1 = rt
        .spawn_producer(Numbers { next: 0, n: 1_000 }, ProducerOptions::new())
        .unwrap();
    let blocked = rt
        .builder()
        .own_thread()
        .name("gated")
        .spawn_consumer(Gated(Arc::new(Mutex::new(wait)), collect(&tx)));
    blocked
        .subscribe(&p1, Subscribe::new().max_demand(10))
        .unwrap();
    // While it blocks in a callback, a whole pipeline runs on the worker.
    let p2 = rt
        .spawn_producer(Numbers { next: 0, n: N }, ProducerOptions::new())
        .unwrap();
    let (tx2, rx2) = channel();
    let c2 = rt.spawn_consumer(collect(&tx2));
    c2.subscribe(&p2, Subscribe::new().max_demand(50)).unwrap();
    assert_eq!(joined(&c2), Reason::Normal);
    assert_eq!(rx2.recv().unwrap().len() as u64, N);
    assert_eq!(blocked.summary().stopped, None);
    // Opened, it takes its events (one callback per chunk of 5) and ends normally.
    for _ in 0..200 {
        gate.send(()).unwrap();
    }
    assert_eq!(joined(&blocked), Reason::Normal);
    assert!(rx.recv().unwrap().into_iter().eq(0..1_000));
    drop((p1, p2, blocked, c2));
    all_joined(&rt);
}
