//! Steady state allocates nothing: a counting global allocator shows that, once a pipeline has
//! warmed up, moving a million events through it allocates a constant number of times (not
//! once per event, not once per batch), on the simulator and on threads (a thread per stage,
//! and the stages as tasks on 2 and on 1 workers), at `max_demand` 1000 and 10, and through
//! `threads::stream` into the calling thread.
//!
//! A binary of its own (the allocator is global), with one test that runs every case in turn,
//! so that nothing else in the process allocates meanwhile. The consumer reads the allocation
//! counter itself as its event count crosses each mark, so the windows are defined by events,
//! not by time: the test means the same on a loaded machine.

use genstage::sim::Sim;
use genstage::threads::Runtime;
use genstage::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counts every allocation and reallocation of the process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Events before the first mark: long enough for every buffer, pool and queue to reach its
/// working size.
const WARM_UP: u64 = 200_000;
/// Events between two marks.
const WINDOW: u64 = 1_000_000;
/// The marks: the end of the warm-up, then two windows of a million events.
const MARKS: [u64; 3] = [WARM_UP, WARM_UP + WINDOW, WARM_UP + 2 * WINDOW];
/// Events in all: some after the last mark, so that the pipeline's end (its stops and down
/// notices) falls outside the windows.
const EVENTS: u64 = MARKS[2] + 10_000;
/// Allocations allowed in a window: a few for a container that reaches its working size
/// late. A batch is at most 1000 events, so one allocation per batch would be at least 1000
/// per window (100 000 at `max_demand` 10), one per event a million.
const MOST_PER_WINDOW: u64 = 8;

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

struct AddOne;

impl ProducerConsumer for AddOne {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.extend(events.map(|x| x + 1));
        Flow::Continue
    }
}

/// Sums; reads the allocation counter when its count reaches each mark.
struct Sum {
    count: u64,
    sum: u64,
    /// Allocations so far, read at each mark (shared with the test on threads).
    seen: Arc<Mutex<[u64; 3]>>,
}

impl Sum {
    fn new(seen: Arc<Mutex<[u64; 3]>>) -> Self {
        Self {
            count: 0,
            sum: 0,
            seen,
        }
    }
}

impl Consumer for Sum {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        let before = self.count;
        self.count += events.len() as u64;
        self.sum += events.sum::<u64>();
        for (i, mark) in MARKS.iter().enumerate() {
            if before < *mark && self.count >= *mark {
                let now = allocations();
                // An uncontended lock of a `Mutex` that already exists allocates nothing.
                self.seen.lock().expect("no panic")[i] = now;
            }
        }
        Flow::Continue
    }
}

/// Every event of the run arrived, plus one each.
fn check_sum(count: u64, sum: u64) {
    let n = EVENTS;
    assert_eq!(count, n);
    assert_eq!(sum, n * (n - 1) / 2 + n);
}

/// Allocations in each window between marks.
fn windows(seen: &Mutex<[u64; 3]>) -> [u64; 2] {
    let seen = *seen.lock().expect("no panic");
    [seen[1] - seen[0], seen[2] - seen[1]]
}

fn on_the_simulator(demand: usize) -> [u64; 2] {
    let seen = Arc::new(Mutex::new([0; 3]));
    let mut sim = Sim::new(1);
    sim.set_tracing(false);
    let p = sim.producer(Numbers { next: 0, n: EVENTS });
    let d = sim.producer_consumer(AddOne);
    let c = sim.consumer(Sum::new(seen.clone()));
    sim.subscribe(c, d, Subscribe::new().max_demand(demand))
        .unwrap();
    sim.subscribe(d, p, Subscribe::new().max_demand(demand))
        .unwrap();
    sim.run_until_idle();
    let sum = sim.stage(c).behaviour();
    check_sum(sum.count, sum.sum);
    windows(&seen)
}

/// On threads: a thread per stage (`workers` `None`), or the stages as tasks on workers.
fn on_threads(demand: usize, workers: Option<usize>) -> [u64; 2] {
    let seen = Arc::new(Mutex::new([0; 3]));
    let (tx, rx) = std::sync::mpsc::channel();
    struct Report(Sum, std::sync::mpsc::Sender<(u64, u64)>);
    impl Consumer for Report {
        type Event = u64;
        fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
            self.0.handle_events(events, ctx)
        }
    }
    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.1.send((self.0.count, self.0.sum));
        }
    }
    let rt = workers.map_or_else(Runtime::new, Runtime::with_workers);
    let p = rt
        .spawn_producer(Numbers { next: 0, n: EVENTS }, ProducerOptions::new())
        .unwrap();
    let d = rt
        .spawn_producer_consumer(AddOne, ProducerOptions::new())
        .unwrap();
    let c = rt.spawn_consumer(Report(Sum::new(seen.clone()), tx));
    c.subscribe(&d, Subscribe::new().max_demand(demand))
        .unwrap();
    d.subscribe(&p, Subscribe::new().max_demand(demand))
        .unwrap();
    let exits = threads::join_all([p.any(), d.any(), c.any()]);
    assert!(
        exits.iter().all(|e| e.reason == Reason::Normal),
        "{exits:?}"
    );
    let (count, sum) = rx.recv().unwrap();
    check_sum(count, sum);
    windows(&seen)
}

/// The producer drained into this thread through `threads::stream`: the iterator's chunks
/// take turns in two buffers.
fn through_a_stream(demand: usize) -> [u64; 2] {
    let seen = Mutex::new([0; 3]);
    let rt = Runtime::new();
    let p = rt
        .spawn_producer(Numbers { next: 0, n: EVENTS }, ProducerOptions::new())
        .unwrap();
    let events = threads::StreamBuilder::new()
        .runtime(&rt)
        .from(
            &p,
            Subscribe::new()
                .max_demand(demand)
                .cancel(CancelMode::Transient),
        )
        .unwrap()
        .start()
        .unwrap();
    let (mut count, mut sum) = (0u64, 0u64);
    for e in events {
        count += 1;
        sum += e + 1;
        if let Some(i) = MARKS.iter().position(|m| *m == count) {
            seen.lock().expect("no panic")[i] = allocations();
        }
    }
    assert_eq!(p.join(), Reason::Normal);
    check_sum(count, sum);
    windows(&seen)
}

#[test]
fn after_warm_up_a_million_events_allocate_a_constant_number_of_times_sim_and_threads() {
    let mut report = String::new();
    let mut worst = 0;
    for demand in [1000, 10] {
        for (runtime, windows) in [
            ("simulator", on_the_simulator(demand)),
            ("threads", on_threads(demand, None)),
            ("threads, 2 workers", on_threads(demand, Some(2))),
            ("threads, 1 worker", on_threads(demand, Some(1))),
            ("threads::stream", through_a_stream(demand)),
        ] {
            report += &format!(
                "{runtime}, max_demand {demand}: {} then {} allocations per million events\n",
                windows[0], windows[1]
            );
            worst = worst.max(windows[0]).max(windows[1]);
        }
    }
    println!("{report}");
    assert!(
        worst <= MOST_PER_WINDOW,
        "steady state allocates (at most {MOST_PER_WINDOW} per window allowed):\n{report}"
    );
}
