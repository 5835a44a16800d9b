//! Lucy's chocolate factory, with back-pressure, on real threads.
//!
//! A machine makes chocolates as fast as it is asked, a wrapper wraps them (slower), and Lucy
//! boxes them by hand, slowest of all. Each runs on its own thread. Without back-pressure the
//! belt would pile up with chocolates; here every stage asks only for what it can take, so the
//! number of chocolates anywhere between the machine and the boxes stays bounded, and so does
//! the program's memory, however many are made.
//!
//! `cargo run --release --example lucy [chocolates] [--sim] [--workers N]`: 10 million by
//! default; `--sim` runs the same three behaviours on the single-threaded simulator instead,
//! on its virtual clock (the machine 1 tick a chocolate, the wrapper 2, Lucy 5); `--workers N`
//! runs the three stages as tasks on N worker threads instead of a thread each.

use genstage::sim::Sim;
use genstage::threads;
use genstage::*;
use indicatif::{ProgressBar, ProgressStyle};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One chocolate, numbered as it leaves the machine.
struct Chocolate(u64);

/// A chocolate in its wrapper.
struct Wrapped {
    number: u64,
    foil: u64,
}

/// Makes chocolates, exactly as many as asked, until the order is filled; then the line
/// shuts down behind the last one.
struct Machine {
    made: u64,
    order: u64,
}

impl Producer for Machine {
    type Event = Chocolate;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Chocolate>) -> Flow {
        let end = (self.made + demand as u64).min(self.order);
        self.made += out.extend((self.made..end).map(Chocolate)) as u64;
        if self.made == self.order {
            Flow::DONE
        } else {
            Flow::Continue
        }
    }
}

/// A little work on each item: `rounds` steps of a multiplicative hash.
fn work(x: u64, rounds: u32) -> u64 {
    let mut x = x;
    for _ in 0..rounds {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    x
}

/// Wraps each chocolate (some work, less than Lucy's).
struct Wrapper;

impl ProducerConsumer for Wrapper {
    type In = Chocolate;
    type Out = Wrapped;
    fn handle_events(
        &mut self,
        chocolates: Batch<'_, Chocolate>,
        out: &mut Relay<'_, Wrapped>,
    ) -> Flow {
        let offered = chocolates.len();
        let taken = out.extend(chocolates.map(|c| Wrapped {
            number: c.0,
            foil: work(c.0, 40) % 7,
        }));
        debug_assert_eq!(taken, offered, "growable storage takes every chocolate");
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
            self.checksum ^= work(w.number ^ w.foil, 120); // careful, slow work
            self.boxed += 1;
            if self.boxed.is_multiple_of(12) {
                self.boxes += 1;
            }
        }
        Flow::Continue
    }
}

impl Drop for Lucy {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            println!(
                "lucy: {} chocolates boxed in {} boxes (checksum {:x})",
                self.boxed, self.boxes, self.checksum
            );
        }
    }
}

/// The wrapper takes up to 500 at a time; Lucy, slower, up to 100.
const WRAPPER_DEMAND: usize = 500;
const LUCY_DEMAND: usize = 100;

fn main() {
    let (mut sim, mut workers, mut order) = (false, None, 10_000_000u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sim" => sim = true,
            "--workers" => {
                let n = args.next().and_then(|n| n.parse::<usize>().ok());
                workers = Some(n.filter(|n| *n > 0).unwrap_or_else(|| {
                    usage("--workers takes a number of worker threads, 1 or more")
                }));
            }
            n => {
                order = n
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("not a number of chocolates: {n:?}")))
            }
        }
    }
    if sim {
        on_the_simulator(order);
    } else {
        let rt = workers.map_or_else(
            || threads::Runtime::global().clone(),
            threads::Runtime::with_workers,
        );
        on_threads(order, &rt);
    }
}

/// Says what went wrong and how to call the program, and exits.
fn usage(problem: &str) -> ! {
    eprintln!("{problem}");
    eprintln!("usage: lucy [chocolates] [--sim] [--workers N]");
    std::process::exit(2)
}

fn bar(order: u64) -> ProgressBar {
    let bar = ProgressBar::new(order);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} boxed {per_sec}  {msg}",
        )
        .expect("a valid template"),
    );
    bar
}

fn on_threads(order: u64, rt: &threads::Runtime) {
    match rt.workers() {
        Some(n) => println!("Lucy's factory on {n} worker threads: {order} chocolates"),
        None => println!("Lucy's factory on threads, one per stage: {order} chocolates"),
    }
    let machine = rt
        .builder()
        .name("machine")
        .spawn_producer(Machine { made: 0, order }, ProducerOptions::default())
        .expect("valid options");
    let wrapper = rt
        .builder()
        .name("wrapper")
        .spawn_producer_consumer(Wrapper, ProducerOptions::default())
        .expect("valid options");
    let lucy = rt.builder().name("lucy").spawn_consumer(Lucy {
        boxed: 0,
        boxes: 0,
        checksum: 0,
    });
    let started = Instant::now();
    // From the end of the line: the wrapper asks the machine as soon as it subscribes.
    lucy.subscribe(&wrapper, Subscribe::new().max_demand(LUCY_DEMAND))
        .expect("valid options");
    wrapper
        .subscribe(&machine, Subscribe::new().max_demand(WRAPPER_DEMAND))
        .expect("valid options");

    // The live display: each stage publishes its counters as it goes.
    let bar = bar(order);
    let mut most_between = 0u64;
    let mut peak_at_tenth = None;
    while lucy.join_timeout(Duration::from_millis(100)).is_none() {
        let (m, w, l) = (machine.stats(), wrapper.stats(), lucy.stats());
        let between = m.events_out.saturating_sub(l.events_in);
        most_between = most_between.max(between);
        if peak_at_tenth.is_none() && l.events_in >= order / 10 {
            peak_at_tenth = peak_memory_kib();
        }
        bar.set_position(l.events_in);
        bar.set_message(format!(
            "machine {}  wrapper {}  lucy {}  between machine and boxes {between:>3} (most {most_between})",
            m.events_out, w.events_out, l.events_in
        ));
    }
    let exits = threads::join_all([machine.any(), wrapper.any(), lucy.any()]);
    let elapsed = started.elapsed();
    let l = lucy.stats();
    bar.set_position(l.events_in);
    bar.finish_with_message("done");

    println!();
    println!("made     {:>10}", machine.stats().events_out);
    println!("wrapped  {:>10}", wrapper.stats().events_out);
    println!("boxed    {:>10}", l.events_in);
    println!(
        "{:.2?}: {:.1} M chocolates/s",
        elapsed,
        l.events_in as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "most chocolates ever between the machine and the boxes (sampled): {most_between} \
         (bounded by the demand asked: wrapper {WRAPPER_DEMAND}, Lucy {LUCY_DEMAND}, plus what \
         the wrapper holds for her; not by how many are made)"
    );
    println!(
        "the line shut down in order: machine {}, wrapper {}, lucy {}; lost in flight {}",
        exits[0].reason,
        exits[1].reason,
        exits[2].reason,
        machine.lost_in_flight() + wrapper.lost_in_flight() + lucy.lost_in_flight()
    );
    if let (Some(tenth), Some(peak)) = (peak_at_tenth, peak_memory_kib()) {
        println!(
            "peak memory of the whole program: {tenth} KiB after a tenth of the order, \
             {peak} KiB at the end"
        );
    }
    assert_eq!(l.events_in, order, "every chocolate made was boxed");
    assert!(exits.iter().all(|e| e.reason == Reason::Normal));
}

fn on_the_simulator(order: u64) {
    println!("Lucy's factory on the simulator: {order} chocolates");
    let mut sim = Sim::new(1);
    // Nobody reads the trace of this long run: without it, memory stays flat.
    sim.set_tracing(false);
    let machine = sim.producer(Machine { made: 0, order });
    let wrapper = sim.producer_consumer(Wrapper);
    let lucy = sim.consumer(Lucy {
        boxed: 0,
        boxes: 0,
        checksum: 0,
    });
    sim.subscribe(
        wrapper,
        machine,
        Subscribe::new().max_demand(WRAPPER_DEMAND),
    )
    .expect("valid options");
    sim.subscribe(lucy, wrapper, Subscribe::new().max_demand(LUCY_DEMAND))
        .expect("valid options");
    // On the virtual clock: the machine takes 1 tick a chocolate, the wrapper 2, Lucy 5.
    sim.cost(machine.id(), 1, 0);
    sim.cost(wrapper.id(), 2, 0);
    sim.cost(lucy.id(), 5, 0);

    let bar = bar(order);
    let started = Instant::now();
    let mut most_between = 0usize;
    let mut steps = 0u64;
    let mut peak_at_tenth = None;
    while sim.step() {
        steps += 1;
        // Chocolates anywhere between the machine and Lucy's hands.
        let between = sim.stage(machine).buffered_count()
            + sim.stage(wrapper).queued_count()
            + sim.stage(wrapper).buffered_count()
            + sim.events_in_flight();
        most_between = most_between.max(between);
        if steps.is_multiple_of(4096) {
            let boxed = sim.stage(lucy).behaviour().boxed;
            if peak_at_tenth.is_none() && boxed >= order / 10 {
                peak_at_tenth = peak_memory_kib();
            }
            bar.set_message(format!(
                "made {}  between machine and boxes {between:>3} (most {most_between})",
                sim.stage(machine).behaviour().made
            ));
            bar.set_position(boxed);
        }
    }
    let elapsed = started.elapsed();
    let boxed = sim.stage(lucy).behaviour().boxed;
    bar.set_position(boxed);
    bar.finish_with_message("done");
    println!();
    println!("made     {:>10}", sim.stage(machine).behaviour().made);
    println!("boxed    {:>10}", boxed);
    println!(
        "{:.2?}: {:.1} M chocolates/s ({steps} messages)",
        elapsed,
        boxed as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!("most chocolates ever between the machine and the boxes: {most_between}");
    println!(
        "virtual time: {} ticks (Lucy alone needs {}: she asks again only once a whole \
         delivery is boxed, and waits for the wrapper); most waiting for Lucy at once: {}",
        sim.now(),
        5 * boxed,
        sim.backlog_high_water(lucy.id())
    );
    println!(
        "the line shut down with: machine {:?}, wrapper {:?}, lucy {:?}",
        sim.stopped(machine),
        sim.stopped(wrapper),
        sim.stopped(lucy)
    );
    if let (Some(tenth), Some(peak)) = (peak_at_tenth, peak_memory_kib()) {
        println!(
            "peak memory of the whole program: {tenth} KiB after a tenth of the order, \
             {peak} KiB at the end"
        );
    }
    assert_eq!(boxed, order, "every chocolate made was boxed");
}

/// The process's peak resident memory, where the system tells it (Linux `VmHWM`).
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
