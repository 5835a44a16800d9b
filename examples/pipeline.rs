//! The 3-stage pipeline of the benchmarks (a producer of `0..n` → a producer_consumer adding 1
//! → a consumer summing, `u64` events), alone in a process: on the single-threaded simulator
//! (the default) or on threads (`--threads`). `benches/callgrind.sh` runs the simulator's under
//! callgrind at two sizes and divides the difference in instructions by the difference in
//! events, so the fixed cost of starting up cancels out.
//!
//! The producer_consumer emits with [`Emit::extend_map`], the bulk way to transform a batch;
//! `--map` makes it write `out.extend(events.map(..))` instead, which is one event at a time.
//!
//! `cargo run --release --example pipeline [events] [max_demand] [--threads] [--map]`
//! (1 000 000 and 1000 by default); it checks the sum and prints the time taken.

use genstage::sim::Sim;
use genstage::threads;
use genstage::*;
use std::time::Instant;

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

/// Adds 1 to every event; `per_event` emits through `extend(events.map(..))`.
struct AddOne {
    per_event: bool,
}

impl ProducerConsumer for AddOne {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = if self.per_event {
            out.extend(events.map(|x| x + 1))
        } else {
            out.extend_map(events, |x| x + 1)
        };
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args.iter().any(|a| a == "--threads");
    let per_event = args.iter().any(|a| a == "--map");
    let mut numbers = args.iter().filter_map(|a| a.parse::<u64>().ok());
    let n = numbers.next().unwrap_or(1_000_000);
    let demand = numbers.next().unwrap_or(1000) as usize;
    let started = Instant::now();
    let add = AddOne { per_event };
    let sum = if threads {
        on_threads(n, demand, add)
    } else {
        on_the_simulator(n, demand, add)
    };
    let took = started.elapsed();
    assert_eq!(sum, n * (n + 1) / 2, "every event, plus one, summed");
    println!(
        "{n} events, max_demand {demand}, {}{}: sum {sum}, {took:.2?} ({:.1} M events/s)",
        if threads { "threads" } else { "simulator" },
        if per_event { ", extend(map)" } else { "" },
        n as f64 / took.as_secs_f64() / 1e6
    );
}

fn on_the_simulator(n: u64, demand: usize, add: AddOne) -> u64 {
    let mut sim = Sim::new(0);
    sim.set_tracing(false);
    let p = sim.producer(Numbers { next: 0, n });
    let d = sim.producer_consumer(add);
    let c = sim.consumer(Sum(0));
    sim.subscribe(c, d, Subscribe::new().max_demand(demand))
        .expect("valid options");
    sim.subscribe(d, p, Subscribe::new().max_demand(demand))
        .expect("valid options");
    sim.run_until_idle();
    assert_eq!(sim.stopped(c), Some(Reason::Normal));
    sim.stage(c).behaviour().0
}

fn on_threads(n: u64, demand: usize, add: AddOne) -> u64 {
    /// Reports its sum when dropped, on its own thread.
    struct Report(Sum, std::sync::mpsc::Sender<u64>);
    impl Consumer for Report {
        type Event = u64;
        fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
            self.0.handle_events(events, ctx)
        }
    }
    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.1.send(self.0.0);
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let p = threads::spawn_producer(Numbers { next: 0, n }, ProducerOptions::new())
        .expect("valid options");
    let d = threads::spawn_producer_consumer(add, ProducerOptions::new()).expect("valid options");
    let c = threads::spawn_consumer(Report(Sum(0), tx));
    c.subscribe(&d, Subscribe::new().max_demand(demand))
        .expect("valid options");
    d.subscribe(&p, Subscribe::new().max_demand(demand))
        .expect("valid options");
    let exits = threads::join_all([p.any(), d.any(), c.any()]);
    assert!(exits.iter().all(|e| e.reason == Reason::Normal));
    rx.recv().expect("the consumer reports")
}
