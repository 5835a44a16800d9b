//! The core's cost per event: the 3-stage pipeline (a producer of `0..n` → a
//! producer_consumer adding 1 → a consumer summing) on the single-threaded simulator, with
//! nothing else in the process. `benches/callgrind.sh` runs it under callgrind at two sizes
//! and divides the difference in instructions by the difference in events, so the fixed cost
//! of starting up cancels out.
//!
//! `cargo run --release --example sim_pipeline [events] [max_demand]` (1 000 000 and 1000 by
//! default); it prints the sum and the time taken.

use genstage::sim::Sim;
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

struct AddOne;

impl ProducerConsumer for AddOne {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.extend(events.map(|x| x + 1));
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
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let demand: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let started = Instant::now();
    let mut sim = Sim::new(0);
    sim.set_tracing(false);
    let p = sim.producer(Numbers { next: 0, n });
    let d = sim.producer_consumer(AddOne);
    let c = sim.consumer(Sum(0));
    sim.subscribe(c, d, Subscribe::new().max_demand(demand))
        .expect("valid options");
    sim.subscribe(d, p, Subscribe::new().max_demand(demand))
        .expect("valid options");
    sim.run_until_idle();
    let took = started.elapsed();
    let sum = sim.stage(c).behaviour().0;
    assert_eq!(sum, n * (n + 1) / 2, "every event, plus one, summed");
    assert_eq!(sim.stopped(c), Some(Reason::Normal));
    println!(
        "{n} events, max_demand {demand}: sum {sum}, {took:.2?} ({:.1} M events/s)",
        n as f64 / took.as_secs_f64() / 1e6
    );
}
