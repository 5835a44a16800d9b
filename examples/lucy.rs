//! Lucy's chocolate factory, with back-pressure.
//!
//! A machine makes chocolates as fast as it is asked, a wrapper wraps them, and Lucy boxes them
//! by hand, slowly. Without back-pressure the belt would pile up with chocolates; here every
//! stage asks only for what it can take, so the number of chocolates anywhere between the
//! machine and the boxes stays bounded however many are made.
//!
//! Runs on the single-threaded simulator: `cargo run --release --example lucy [chocolates]`.

use genstage::sim::Sim;
use genstage::*;
use indicatif::{ProgressBar, ProgressStyle};
use std::hint::black_box;
use std::time::Instant;

/// One chocolate, numbered as it leaves the machine.
struct Chocolate(u64);

/// A chocolate in its wrapper.
struct Wrapped {
    number: u64,
    foil: u64,
}

/// Makes chocolates, exactly as many as asked, until the order is filled.
struct Machine {
    made: u64,
    order: u64,
}

impl Producer for Machine {
    type Event = Chocolate;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Chocolate>) -> Flow {
        if self.made == self.order {
            return Flow::Stop(Reason::Normal); // order filled: the line shuts down behind it
        }
        let end = (self.made + demand as u64).min(self.order);
        self.made += out.extend((self.made..end).map(Chocolate)) as u64;
        Flow::Continue
    }
}

/// Wraps each chocolate.
struct Wrapper {
    wrapped: u64,
}

impl ProducerConsumer for Wrapper {
    type In = Chocolate;
    type Out = Wrapped;
    fn handle_events(
        &mut self,
        chocolates: Batch<'_, Chocolate>,
        out: &mut Emit<'_, Wrapped>,
    ) -> Flow {
        let offered = chocolates.len();
        let taken = out.extend(chocolates.map(|c| Wrapped {
            number: c.0,
            foil: c.0 % 7,
        }));
        // Growable storage takes every chocolate; count what was wrapped all the same.
        self.wrapped += taken as u64;
        debug_assert_eq!(taken, offered);
        Flow::Continue
    }
}

/// Lucy: boxes chocolates, twelve to a box, and takes her time over each one.
struct Lucy {
    boxed: u64,
    boxes: u64,
    checksum: u64,
}

impl Consumer for Lucy {
    type Event = Wrapped;
    fn handle_events(&mut self, batch: Batch<'_, Wrapped>, _: &mut Ctx<'_>) -> Flow {
        for w in batch {
            // Careful, slow work on every chocolate.
            let mut x = w.number ^ w.foil;
            for _ in 0..1000 {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            self.checksum ^= x;
            self.boxed += 1;
            if self.boxed.is_multiple_of(12) {
                self.boxes += 1;
            }
        }
        Flow::Continue
    }
}

fn main() {
    let order: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);

    let mut sim = Sim::new(1);
    // Nobody reads the trace of this long run: without it, memory stays flat however many
    // chocolates are ordered.
    sim.set_tracing(false);
    let machine = sim.producer(Machine { made: 0, order });
    let wrapper = sim.producer_consumer(Wrapper { wrapped: 0 });
    let lucy = sim.consumer(Lucy {
        boxed: 0,
        boxes: 0,
        checksum: 0,
    });
    // The wrapper takes up to 50 at a time; Lucy, slower, up to 10.
    sim.subscribe(wrapper, machine, Subscribe::new().max_demand(50))
        .expect("valid options");
    sim.subscribe(lucy, wrapper, Subscribe::new().max_demand(10))
        .expect("valid options");

    let bar = ProgressBar::new(order);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} boxed  {msg}",
        )
        .expect("a valid template"),
    );

    let started = Instant::now();
    let mut largest_held = 0usize;
    let mut steps = 0u64;
    while sim.step() {
        steps += 1;
        // Chocolates anywhere between the machine and Lucy's hands.
        let held = sim.stage(machine).buffered_count()
            + sim.stage(wrapper).queued_count()
            + sim.stage(wrapper).buffered_count()
            + sim.events_in_flight();
        largest_held = largest_held.max(held);
        if steps.is_multiple_of(4096) {
            bar.set_message(format!(
                "made {}  on the belt now {held:>3}  most ever {largest_held}",
                sim.stage(machine).behaviour().made
            ));
            bar.set_position(sim.stage(lucy).behaviour().boxed);
        }
    }
    let l = sim.stage(lucy).behaviour();
    bar.set_position(l.boxed);
    bar.finish_with_message("done");

    let elapsed = started.elapsed();
    println!();
    println!("made     {:>10}", sim.stage(machine).behaviour().made);
    println!("wrapped  {:>10}", sim.stage(wrapper).behaviour().wrapped);
    println!("boxed    {:>10}  in {} boxes", l.boxed, l.boxes);
    println!("largest number of chocolates ever on the belt: {largest_held}");
    println!(
        "(bounded by the demand the stages ask for, wrapper 50 and Lucy 10, not by how many are made; checksum {:x})",
        l.checksum
    );
    println!(
        "{} messages in {:.2?}; the line shut down with: machine {:?}, wrapper {:?}, lucy {:?}",
        steps,
        elapsed,
        sim.stopped(machine),
        sim.stopped(wrapper),
        sim.stopped(lucy)
    );
    if let Some(peak) = peak_memory_kib() {
        println!("peak memory of the whole program: {peak} KiB");
    }
    assert_eq!(l.boxed, order, "every chocolate made was boxed");
}

/// The process's peak resident memory, where the system tells it (Linux `VmHWM`).
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
