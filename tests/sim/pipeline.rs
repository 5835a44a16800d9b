//! The 4-stage pipeline the sweeps run: a finite source → an identity producer_consumer →
//! two consumers, with options, dispatcher and cancel modes drawn from the seed. Every stage
//! is restartable: a restarted source makes its events again under a new origin, so the
//! oracles still tell every event apart.

use genstage::dispatcher::{BroadcastDispatcher, DemandDispatcher, PartitionDispatcher};
use genstage::rng::SplitMix64;
use genstage::runtime::*;
use genstage::sim::{Chaos, EventKey, Handle, Mode, NotIdle, Sim};
use genstage::storage::Heap;
use genstage::*;
use std::cell::RefCell;
use std::rc::Rc;

/// The flag of an info marker: `MARK | maker << 32 | k` is the marker the `handle_info` of
/// info `k` emits, `maker` 0 for the source and 1 for the producer_consumer. Its key's
/// origin is `1 << 31 | maker`, apart from every source's.
pub const MARK: u64 = 1 << 63;

/// Whether `e` is an info marker.
pub fn is_mark(e: &u64) -> bool {
    e & MARK != 0
}

/// Events are `origin << 32 | seq`.
pub fn key(e: &u64) -> EventKey {
    EventKey {
        origin: e >> 32,
        seq: e & 0xFFFF_FFFF,
    }
}

/// A finite producer of `next..end`, each event `origin << 32 | seq`.
pub struct Source {
    pub origin: u64,
    pub next: u64,
    pub end: u64,
    pub drain: bool,
}

impl Source {
    /// A fresh source of `0..end` from `origin`.
    pub fn new(origin: u64, end: u64, drain: bool) -> Self {
        Source {
            origin,
            next: 0,
            end,
            drain,
        }
    }
}

impl Producer<u64> for Source {
    type Event = u64;
    /// Info `k`: the marker of info `k`.
    fn handle_info(&mut self, k: u64, out: &mut Emit<'_, u64>) -> Flow {
        let _ = out.push(MARK | k);
        Flow::Continue
    }
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let n = (demand as u64).min(self.end - self.next);
        let o = self.origin << 32;
        self.next += out.extend((self.next..self.next + n).map(|s| o | s)) as u64;
        if self.next < self.end {
            Flow::Continue
        } else if self.drain {
            Flow::StopWhenDrained(Reason::Normal)
        } else {
            Flow::Stop(Reason::Normal)
        }
    }
}

/// An identity producer_consumer counting what it handled.
#[derive(Default)]
pub struct Pass {
    pub handled: u64,
}

impl ProducerConsumer<u64> for Pass {
    type In = u64;
    type Out = u64;
    /// Info `k`: the marker of info `k`.
    fn handle_info(&mut self, k: u64, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.push(MARK | 1 << 32 | k);
        Flow::Continue
    }
    /// Call `k`: the marker of info `k`, at once (what a stage that ran its infos at once,
    /// ignoring what it holds, would do: the info-in-place sabotage uses it).
    fn handle_call(&mut self, k: u64, reply: &mut Reply<u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.push(MARK | 1 << 32 | k);
        reply.reply(k);
        Flow::Continue
    }
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let n = events.len();
        let taken = out.extend(events);
        assert_eq!(taken, n, "growable storage takes everything");
        self.handled += n as u64;
        Flow::Continue
    }
}

/// A consumer recording what it got.
#[derive(Default)]
pub struct Sink {
    pub seen: Vec<u64>,
}

impl Consumer for Sink {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.seen.extend(events);
        Flow::Continue
    }
}

pub type Src = ProducerStage<Source, u64, Heap, DemandDispatcher<Heap>>;
pub type Cons = ConsumerStage<Sink, (), Heap>;

/// The producer_consumer, with one of the three dispatchers.
#[derive(Clone, Copy)]
pub enum Mid {
    Demand(Handle<ProducerConsumerStage<Pass, u64, Heap, DemandDispatcher<Heap>>>),
    Broadcast(Handle<ProducerConsumerStage<Pass, u64, Heap, BroadcastDispatcher<u64, Heap>>>),
    Partition(Handle<ProducerConsumerStage<Pass, u64, Heap, PartitionDispatcher<u64, Heap>>>),
}

macro_rules! on_mid {
    ($m:expr, |$h:ident| $body:expr) => {
        match $m {
            Mid::Demand($h) => $body,
            Mid::Broadcast($h) => $body,
            Mid::Partition($h) => $body,
        }
    };
}

fn by_value(e: u64) -> Option<(u64, usize)> {
    Some((e, (e % 2) as usize))
}

/// How a run is set up, all drawn from the seed.
#[derive(Clone, Debug)]
pub struct Setup {
    pub events: u64,
    pub drain: bool,
    /// 0 demand, 1 broadcast, 2 partition.
    pub dispatcher: u8,
    pub up: (usize, usize),
    pub down: [(usize, usize); 2],
    pub modes: [CancelMode; 3],
    pub buffer: Option<usize>,
    /// Each consumer's selector, on a broadcast producer_consumer: 0 none, 1 even sequence
    /// numbers, 2 sequence numbers not divisible by 3.
    pub selectors: [u8; 2],
}

/// Whether selector `which` (see [`Setup::selectors`]) lets event `e` through.
pub fn selects(which: u8, e: u64) -> bool {
    let seq = e & 0xFFFF_FFFF;
    match which {
        1 => seq.is_multiple_of(2),
        2 => !seq.is_multiple_of(3),
        _ => true,
    }
}

fn even(e: &u64) -> bool {
    selects(1, *e)
}

fn not_thirds(e: &u64) -> bool {
    selects(2, *e)
}

impl Setup {
    pub fn draw(seed: u64) -> Self {
        let mut r = SplitMix64::new(seed);
        let window = |r: &mut SplitMix64| {
            let max = 1 + r.below(30);
            (max, r.below(max))
        };
        let up = window(&mut r);
        let down = [window(&mut r), window(&mut r)];
        let modes = [0; 3].map(|_| match r.below(3) {
            0 => CancelMode::Permanent,
            1 => CancelMode::Transient,
            _ => CancelMode::Temporary,
        });
        let events = r.below(400) as u64;
        let drain = r.below(2) == 0;
        let dispatcher = r.below(3) as u8;
        // A producer_consumer handles whole batches, and a broadcast one serves its consumers
        // in lockstep: a buffer as large as every window never overflows, so a run without
        // faults delivers everything.
        let widest = up.0.max(down[0].0).max(down[1].0);
        let buffer = (r.below(2) == 0).then(|| widest.max(1 + r.below(100)));
        let selectors = [r.below(3) as u8, r.below(3) as u8];
        Setup {
            events,
            drain,
            dispatcher,
            up,
            down,
            modes,
            buffer,
            selectors,
        }
    }
}

/// A built pipeline.
pub struct Pipeline {
    pub sim: Sim,
    pub setup: Setup,
    pub src: Handle<Src>,
    pub mid: Mid,
    pub sinks: [Handle<Cons>; 2],
    /// The place of each info sent so far (see [`Pipeline::info`]), by number.
    pub places: Rc<RefCell<Vec<EventKey>>>,
}

/// Builds the pipeline of `seed` under `mode`, oracles on.
pub fn build(seed: u64, mode: Mode) -> Pipeline {
    build_with(Setup::draw(seed), seed, mode)
}

/// Builds the pipeline of `setup` in a simulator of seed `seed` under `mode`, oracles on.
pub fn build_with(setup: Setup, seed: u64, mode: Mode) -> Pipeline {
    let mut sim = Sim::new(seed);
    sim.set_mode(mode);
    sim.check_invariants(true);
    sim.event_keys(key);
    let (events, drain) = (setup.events, setup.drain);
    let source = move |id, origin| {
        let s = Source::new(origin, events, drain);
        Src::with_dispatcher(id, s, ProducerOptions::new(), DemandDispatcher::new()).unwrap()
    };
    let src = sim.add(source(sim.next_id(), 0));
    let mut incarnation = 0;
    sim.restartable(src, move |id| {
        incarnation += 1;
        source(id, incarnation)
    });
    let opts = match setup.buffer {
        Some(n) => ProducerOptions::new().buffer_size(n),
        None => ProducerOptions::new().unbounded_buffer(),
    };
    let id = sim.next_id();
    let mid = match setup.dispatcher {
        0 => {
            let make = move |id| {
                let d = DemandDispatcher::new();
                ProducerConsumerStage::with_dispatcher(id, Pass::default(), opts, d).unwrap()
            };
            let h = sim.add(make(id));
            sim.restartable(h, make);
            Mid::Demand(h)
        }
        1 => {
            let make = move |id| {
                let d = BroadcastDispatcher::new();
                ProducerConsumerStage::with_dispatcher(id, Pass::default(), opts, d).unwrap()
            };
            let h = sim.add(make(id));
            sim.restartable(h, make);
            Mid::Broadcast(h)
        }
        _ => {
            let make = move |id| {
                let d = PartitionDispatcher::new(2, by_value).unwrap();
                ProducerConsumerStage::with_dispatcher(id, Pass::default(), opts, d).unwrap()
            };
            let h = sim.add(make(id));
            sim.restartable(h, make);
            Mid::Partition(h)
        }
    };
    let sinks = [sim.consumer(Sink::default()), sim.consumer(Sink::default())];
    for c in sinks {
        sim.restartable(c, |id| Cons::new(id, Sink::default()));
    }
    for (i, c) in sinks.iter().enumerate() {
        let (max, min) = setup.down[i];
        let mut s = Subscribe::new()
            .max_demand(max)
            .min_demand(min)
            .cancel(setup.modes[1 + i]);
        match mid {
            Mid::Partition(_) => s = s.partition(i),
            Mid::Broadcast(_) => match setup.selectors[i] {
                1 => s = s.selector(even),
                2 => s = s.selector(not_thirds),
                _ => {}
            },
            Mid::Demand(_) => {}
        }
        on_mid!(mid, |h| sim.subscribe(*c, h, s)).unwrap();
    }
    // The consumers' subscriptions reach the producer_consumer before any event can: a
    // broadcast consumer that subscribes late misses what went out before (spec §13).
    sim.run_until_idle();
    let (max, min) = setup.up;
    let s = Subscribe::new()
        .max_demand(max)
        .min_demand(min)
        .cancel(setup.modes[0]);
    on_mid!(mid, |h| sim.subscribe(h, src, s)).unwrap();
    let places: Rc<RefCell<Vec<EventKey>>> = Rc::default();
    let table = places.clone();
    sim.info_marks(move |e: &u64| is_mark(e).then(|| table.borrow()[(e & 0xFFFF_FFFF) as usize]));
    Pipeline {
        sim,
        setup,
        src,
        mid,
        sinks,
        places,
    }
}

impl Pipeline {
    /// The producer_consumer's id.
    pub fn mid_id(&self) -> StageId {
        on_mid!(self.mid, |h| h.id())
    }

    /// Over every incarnation of the producer_consumer: events in, handled, still queued,
    /// discarded on input, and out.
    fn mid_totals(&self) -> [u64; 5] {
        let input = |d: &Discards| d.unknown_subscription + d.stopped + d.input_queue_full;
        on_mid!(self.mid, |h| {
            let all = self.sim.retired(h).chain([self.sim.stage(h)]);
            all.fold([0; 5], |t, st| {
                let s = st.summary();
                [
                    t[0] + s.stats.events_in,
                    t[1] + st.behaviour().handled,
                    t[2] + s.queued as u64,
                    t[3] + input(&s.stats.discarded),
                    t[4] + s.stats.events_out,
                ]
            })
        })
    }

    fn mid_lost(&self) -> u64 {
        on_mid!(self.mid, |h| self.sim.lost_in_flight(h))
    }

    /// Sends an info to the source (`to_mid` false) or the producer_consumer, if it is live,
    /// recording where it was sent: behind every event the source had made, or behind
    /// every event of the source's current origin the producer_consumer had received.
    pub fn info(&mut self, to_mid: bool) {
        let mid = self.mid_id();
        let sim = &mut self.sim;
        let source = sim.stage(self.src).behaviour();
        let origin = source.origin;
        let place = if to_mid {
            EventKey {
                origin,
                seq: sim.received_below(mid, origin),
            }
        } else {
            EventKey {
                origin,
                seq: source.next,
            }
        };
        // Recorded first: an info the stage can handle at once emits its marker right away.
        let k = self.places.borrow().len() as u64;
        self.places.borrow_mut().push(place);
        let sent = if to_mid {
            on_mid!(self.mid, |h| sim.info(h, k).is_ok())
        } else {
            sim.info(self.src, k).is_ok()
        };
        if !sent {
            self.places.borrow_mut().pop();
        }
    }

    /// Runs at most `limit` steps, sending an info to the source or the producer_consumer
    /// after one step in 8, drawn from `seed`.
    pub fn run_with_infos(&mut self, seed: u64, limit: u64) -> Result<u64, NotIdle> {
        let mut r = SplitMix64::new(seed ^ 0x1F0_5EED);
        for n in 0..limit {
            if !self.sim.step() {
                return Ok(n);
            }
            if r.below(8) == 0 {
                self.info(r.below(2) == 0);
            }
        }
        self.sim.run_bounded(0)
    }

    /// Turns seeded faults on.
    pub fn chaos(&mut self, chaos: Chaos) {
        self.sim.set_chaos(chaos);
    }

    /// Gives every stage a processing cost on the virtual clock, drawn from `seed`: 0 to 4
    /// ticks per event and 0 to 2 per message.
    pub fn timed(&mut self, seed: u64) {
        let mut r = SplitMix64::new(seed ^ 0xC105_C0DE);
        let ids = [
            self.src.id(),
            self.mid_id(),
            self.sinks[0].id(),
            self.sinks[1].id(),
        ];
        for id in ids {
            let (per_event, per_message) = (r.below(5) as u64, r.below(3) as u64);
            self.sim.cost(id, per_event, per_message);
        }
    }

    /// After the run went idle: every event delivered or counted, end to end, and nothing
    /// waiting that could move; with no fault, everything stopped and everything delivered.
    pub fn check_settled(&self) {
        let sim = &self.sim;
        assert_eq!(sim.pending(), 0);
        let report = sim.report();
        // Every count adds up over each stage's incarnations (restarts keep the old ones).
        let src_out: u64 = sim
            .retired(self.src)
            .chain([sim.stage(self.src)])
            .map(|s| s.stats().events_out)
            .sum();
        let [mid_in, handled, queued, mid_input_discards, mid_out] = self.mid_totals();
        // The wire from the source to the producer_consumer.
        assert_eq!(
            src_out,
            mid_in + self.mid_lost(),
            "source out = producer_consumer in + lost in flight\n{report}"
        );
        assert_eq!(
            mid_in,
            handled + queued + mid_input_discards,
            "producer_consumer in = handled + queued + discarded on input\n{report}"
        );
        let mut arrived = 0;
        for c in self.sinks {
            for st in sim.retired(c).chain([sim.stage(c)]) {
                let seen = st.behaviour().seen.len() as u64;
                assert_eq!(
                    st.stats().events_in,
                    seen + st.stats().discarded.total(),
                    "consumer in = handled + discarded\n{report}"
                );
                arrived += st.stats().events_in;
            }
            arrived += sim.lost_in_flight(c);
        }
        assert_eq!(
            mid_out, arrived,
            "producer_consumer out = consumers in + lost in flight\n{report}"
        );
        // Nothing waits that could move: on an open subscription between live stages where
        // the producer still owes events, it has none buffered and is not a source (which
        // emits what it is asked or stops).
        // A partition no consumer has taken holds its events for the consumer to come, and
        // they used up demand the other partitions' consumers gave (docs/behaviour.md,
        // "Orphaned partitions"): after a restart whose consumers did not all come back, that
        // is waiting by design, not stuck.
        let unclaimed = match self.mid {
            Mid::Partition(h) => {
                let d = sim.stage(h).dispatcher();
                (0..d.partitions()).any(|i| d.subscriber(i).is_none() && d.queued(i) > 0)
            }
            _ => false,
        };
        let summary = |id: StageId| report.stages[id.0 as usize].summary;
        for sub in sim.open_subscriptions() {
            let (p, c) = (summary(sub.producer), summary(sub.consumer));
            if p.stopped.is_some() || c.stopped.is_some() || sim.owed(sub) == 0 {
                continue;
            }
            if unclaimed && sub.producer == self.mid_id() {
                continue;
            }
            assert!(
                p.buffered == 0 && p.kind != StageKind::Producer,
                "stuck: {sub} is owed demand and its producer could serve it\n{report}"
            );
        }
        if sim.faults_injected() == 0 {
            // A finite pipeline ends: every stage has stopped, or holds nothing and has only
            // producers that are done (a transient or temporary subscription outlives its
            // producer's normal stop, and the stage then waits for a new producer).
            let open: Vec<_> = sim.open_subscriptions().collect();
            let stages = &report.stages;
            let mut done: Vec<bool> = stages.iter().map(|s| s.summary.stopped.is_some()).collect();
            for _ in 0..stages.len() {
                for (i, s) in stages.iter().enumerate() {
                    let s = s.summary;
                    let empty = s.buffered + s.held + s.queued == 0;
                    let has_upstream = s.kind != StageKind::Producer;
                    let ups_done = open
                        .iter()
                        .filter(|sub| sub.consumer == s.id)
                        .all(|sub| done[sub.producer.0 as usize]);
                    if empty && has_upstream && ups_done {
                        done[i] = true;
                    }
                }
            }
            assert!(
                done.iter().all(|d| *d),
                "a finite pipeline did not end\n{report}"
            );
            let n = self.setup.events;
            for (i, c) in self.sinks.into_iter().enumerate() {
                let seen: Vec<u64> = sim
                    .stage(c)
                    .behaviour()
                    .seen
                    .iter()
                    .copied()
                    .filter(|e| !is_mark(e))
                    .collect();
                assert!(seen.windows(2).all(|w| w[0] < w[1]));
                if let Mid::Broadcast(_) = self.mid {
                    // Every event its selector lets through, and none other.
                    let wanted = (0..n).filter(|&e| selects(self.setup.selectors[i], e));
                    assert!(seen.iter().copied().eq(wanted), "{report}");
                }
            }
            if !matches!(self.mid, Mid::Broadcast(_)) {
                let total: usize = self
                    .sinks
                    .iter()
                    .map(|&c| {
                        let seen = &sim.stage(c).behaviour().seen;
                        seen.iter().filter(|e| !is_mark(e)).count()
                    })
                    .sum();
                assert_eq!(total as u64, n, "{report}");
            }
        }
    }
}
