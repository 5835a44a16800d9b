//! A runtime's workers are threads of their own, started with it and ended once it is gone
//! (every clone, and every stage it started). A binary of its own, so that no other test's
//! workers are counted; Linux only (it reads the thread names in `/proc/self/task`).
#![cfg(all(target_os = "linux", feature = "std-threads"))]

use genstage::threads::Runtime;
use genstage::*;
use std::time::{Duration, Instant};

/// Threads of this process named as workers are (`genstage-worker-<i>`; the kernel keeps the
/// first 15 bytes of a name).
fn workers_alive() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("genstage-worker"))
        .count()
}

/// Waits (at most 30 s) until `n` workers are alive.
fn until_alive(n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alive = workers_alive();
        if alive == n || Instant::now() > deadline {
            return alive;
        }
        std::thread::yield_now();
    }
}

struct Sum(std::sync::mpsc::Sender<u64>, u64);
impl Consumer for Sum {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.1 += events.sum::<u64>();
        Flow::Continue
    }
}
impl Drop for Sum {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

#[test]
fn workers_start_with_their_runtime_and_end_once_it_and_its_stages_are_gone_and_zero_means_one_per_core()
 {
    assert_eq!(workers_alive(), 0);
    let rt = Runtime::with_workers(3);
    assert_eq!(until_alive(3), 3);
    let (tx, total) = std::sync::mpsc::channel();
    let p = rt
        .spawn_producer(FromIter::new(0..10_000u64), ProducerOptions::default())
        .unwrap();
    let c = rt.spawn_consumer(Sum(tx, 0));
    c.subscribe(&p, Subscribe::new()).unwrap();
    assert_eq!(c.join(), Reason::Normal);
    assert_eq!(total.recv().unwrap(), (0..10_000).sum::<u64>());
    // The stages are over, but a clone of the runtime still lives: so do its workers.
    let clone = rt.clone();
    drop((rt, p, c));
    assert_eq!(until_alive(3), 3);
    drop(clone);
    assert_eq!(until_alive(0), 0, "the workers end with their runtime");

    // Zero workers means one per core (in this test: the count above must not see them).
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let rt = Runtime::with_workers(0);
    assert_eq!(rt.workers(), Some(cores));
    assert_eq!(until_alive(cores), cores);
    drop(rt);
    assert_eq!(until_alive(0), 0);
    assert_eq!(Runtime::new().workers(), None);
}
