//! The single-threaded runner (feature `sim`): owns stages, routes their messages until idle
//! under a FIFO or seeded scheduler, checks invariants, injects faults, and records a trace
//! whose lines hash stably ([`TraceHash`]).
//!
//! It uses only the core's public API, as any runtime would, and drives every stage through
//! the one driving surface, [`Stage`]. Every stage gets a
//! [`StageId`]; a [`Handle`] names a stage with its full type, so that
//! subscribing checks event types at compile time and [`Sim::stage`] gives the stage (and its
//! behaviour) back. Messages a test injects by hand ([`Sim::send_to_producer`] and its
//! siblings) are checked when delivered: a payload of the wrong type is reported as
//! `Report::WrongKind` (its events counted as lost), never a panic.
//!
//! Messages sent to a stage that has stopped are dropped, except a subscribe, which is
//! answered as if the stage had gone down at once with [`Reason::NoProc`] (spec §4.6). Events
//! inside dropped messages are counted per stage ([`Sim::lost_in_flight`]) and the trace says
//! how many each dropped message carried. When a stage stops, every other live stage hears
//! `handle_down` from it, after the messages already queued.
//!
//! `run_until_idle` returns when nothing is queued, whether the pipeline finished or is stuck;
//! [`Sim::report`] tells which in one line per stage: live or stopped, events buffered,
//! queued and held, demand outstanding ([`SimReport::all_stopped`]).
//!
//! A [`Handle`] belongs to the simulator that made it: subscribing with another simulator's
//! handle is refused with [`SubscribeError::ForeignHandle`], and reaching a stage through one
//! panics with a message that says so (instead of giving whatever stage has that id).
//!
//! **Scheduling.** Every message goes from one stage to another, and messages between one
//! ordered pair of stages stay in order, as in a real mailbox. [`Sim::new`] delivers in one
//! global FIFO order ([`Mode::Fifo`]); [`Sim::seeded`] draws which pair delivers next from
//! the seed ([`Mode::Seeded`]), so one seed gives one exact run and other seeds other
//! interleavings; [`Mode::RoundRobin`] lets the pairs take turns. The choices made are
//! recorded as a [`Schedule`], which prints as one line, parses back and replays exactly
//! ([`Mode::Replay`]). [`Sim::slow`] makes a stage's mailboxes win fewer draws.
//!
//! **Time.** The simulator owns a virtual clock ([`Sim::now`]); nothing reads the machine's.
//! [`Sim::cost`] makes a stage take so many ticks per event and per message: it is busy that
//! long after each delivery, what it sends leaves when it is done, and the clock jumps to the
//! next message due (sent, and its receiver free), the scheduler choosing among those due at
//! the same time. Callbacks read the time through [`Emit::now`](genstage::Emit::now) and
//! [`Ctx::now`](genstage::Ctx::now); trace lines carry it; [`Sim::backlog_high_water`] says
//! how much ever piled up in front of a stage. With no cost anywhere, time stays at 0.
//!
//! **Oracles.** With [`Sim::check_invariants`] on, the simulator checks the design's
//! invariants after every step (see [`Oracle`]: no over-delivery, conservation, FIFO per
//! subscription with info markers in place, nothing after cancel, stats) and panics on the
//! first violation with the seed, the step and the last trace lines. [`Sim::event_keys`]
//! tells it how to tell events apart, [`Sim::info_marks`] which events mark where an info
//! ([`Sim::info`]) was handled.
//!
//! **Faults.** [`Sim::kill_stage`] crashes a stage, [`Sim::cancel`] cancels a subscription
//! mid-flight and [`Sim::restart`] brings a crashed stage back from its factory
//! ([`Sim::restartable`]), subscribed again as it was, at a step of the caller's choosing;
//! [`Chaos`] draws crashes, cancels and restarts from the seed, all along (safety mode) or
//! until a given step (liveness mode). A restart under the same id is a new incarnation:
//! messages on their way to the old one are dropped and counted, and the oracles keep its
//! books afresh.
//!
//! The trace ([`Sim::trace`]) holds one entry per delivery, report and stop, so it grows with
//! the run: a long run that does not read it calls [`Sim::set_tracing`]`(false)` or drains it
//! with [`Sim::take_trace`], and its memory stays flat.
//!
//! ```
//! use genstage::sim::Sim;
//! use genstage::*;
//!
//! struct Numbers(u64);
//! impl Producer for Numbers {
//!     type Event = u64;
//!     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
//!         if self.0 >= 100 { return Flow::Stop(Reason::Normal) }
//!         let end = (self.0 + demand as u64).min(100);
//!         self.0 += out.extend(self.0..end) as u64;
//!         Flow::Continue
//!     }
//! }
//! struct Double;
//! impl ProducerConsumer for Double {
//!     type In = u64;
//!     type Out = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
//!         let taken = out.extend(events.map(|e| e * 2));
//!         debug_assert_eq!(taken, out.len()); // growable storage takes everything
//!         Flow::Continue
//!     }
//! }
//! #[derive(Default)]
//! struct Total(u64);
//! impl Consumer for Total {
//!     type Event = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
//!         self.0 += events.sum::<u64>();
//!         Flow::Continue
//!     }
//! }
//!
//! let mut sim = Sim::new(7);
//! let n = sim.producer(Numbers(0));
//! let d = sim.producer_consumer(Double);
//! let t = sim.consumer(Total::default());
//! sim.subscribe(d, n, Subscribe::new().max_demand(10)).unwrap();
//! sim.subscribe(t, d, Subscribe::new().max_demand(5)).unwrap();
//! sim.run_until_idle();
//! assert_eq!(sim.stage(t).behaviour().0, 2 * (0..100).sum::<u64>());
//! // The source stopped when it ran dry; permanent subscriptions carried the stop downstream.
//! assert_eq!(sim.stopped(t), Some(Reason::Normal));
//! ```

mod chaos;
mod clock;
mod control;
mod handle;
mod hosting;
mod net;
mod oracle;
mod report;
mod restart;
mod running;
mod scheduler;
mod stream;
mod trace;

pub use chaos::Chaos;
pub use handle::Handle;
pub use net::{Observed, Observer, SimOutbox};
pub use oracle::{EventKey, Oracle, Violation};
pub use report::{NotIdle, SimReport, StageReport};
pub use restart::RestartError;
pub use scheduler::{BadSchedule, Mode, Pick, Schedule};
pub use stream::{Feed, FeedStage, SimStream, StreamError, TrySimStream};
pub use trace::{FaultKind, ToProducerKind, TraceEntry, TraceHash, TraceKind};

use alloc::boxed::Box;
use alloc::vec::Vec;
use genstage::dispatcher::Dispatch;
use genstage::error::{AskError, OptionsError, SubscribeError};
use genstage::runtime::{
    ConsumerRole, ConsumerStage, ProducerConsumerStage, ProducerRole, ProducerStage, Stage,
    StageId, ToConsumer, ToProducer,
};
use genstage::{Consumer, Producer, ProducerConsumer, ProducerOptions, Reason, SubId, Subscribe};
use net::{Body, Envelope, Net, Node};
use scheduler::Scheduler;

/// Cancels a subscription of a consumer-role stage of a known type.
type CancelFn = fn(&mut dyn Node, SubId, Reason, &mut Net, StageId) -> Result<(), AskError>;

fn cancel_on<C>(
    node: &mut dyn Node,
    sub: SubId,
    reason: Reason,
    net: &mut Net,
    me: StageId,
) -> Result<(), AskError>
where
    C: ConsumerRole + 'static,
    C::In: 'static,
    C::Out: 'static,
    C::Msg: 'static,
{
    let stage = node
        .as_any_mut()
        .downcast_mut::<C>()
        .expect("a slot holds the stage it was made with");
    stage.cancel(sub, reason, &mut SimOutbox { net, me })
}

struct Slot {
    node: Box<dyn Node>,
    /// How to cancel its subscriptions, once it has subscribed (a consumer-role stage).
    cancel: Option<CancelFn>,
    stopped: Option<Reason>,
    /// Events in messages dropped because the stage had stopped.
    lost: u64,
    /// What a callback panicked with, when panics are caught.
    panic: Option<alloc::string::String>,
    /// Its processing cost on the virtual clock, when it has one.
    cost: Option<clock::Cost>,
    /// The virtual time until which it is busy with its last delivery.
    busy_until: u64,
    /// How to build it afresh, when it is restartable.
    factory: Option<restart::Factory>,
    /// The subscriptions it made through the simulator, to make again after a restart.
    made: Vec<restart::Made>,
    /// Its incarnations replaced by restarts under its id, oldest first.
    retired: Vec<Box<dyn Node>>,
    /// Restarts under its id so far: messages sent to an earlier incarnation are dropped.
    generation: u32,
}

/// The single-threaded runner. See the [module docs](self).
pub struct Sim {
    slots: Vec<Slot>,
    net: Net,
    seed: u64,
    /// This simulator's identity, carried by its handles.
    me: u32,
    /// Whether a panicking callback stops only its stage (feature `std`).
    catch_panics: bool,
    /// Which message goes next.
    sched: Scheduler,
    /// Seeded faults, when on.
    chaos: Option<chaos::Runner>,
    /// How many trace lines a violation's panic message shows.
    context_lines: usize,
    /// Faults injected so far.
    faults: u64,
    /// Some stage has a cost: the scheduler looks at due times.
    timed: bool,
}

impl Sim {
    /// An empty simulation with FIFO routing ([`Mode::Fifo`]): the seed is kept for the
    /// seeded scheduler and seeded faults, which are off.
    pub fn new(seed: u64) -> Self {
        Self {
            slots: Vec::new(),
            net: Net::new(),
            seed,
            me: handle::next_sim(),
            catch_panics: false,
            sched: Scheduler::new(seed),
            chaos: None,
            context_lines: 20,
            faults: 0,
            timed: false,
        }
    }

    /// An empty simulation whose scheduler draws the interleaving from `seed`
    /// ([`Mode::Seeded`]): FIFO per pair of stages, any order across pairs.
    pub fn seeded(seed: u64) -> Self {
        let mut sim = Self::new(seed);
        sim.set_mode(Mode::Seeded);
        sim
    }

    /// Sets how the next message is picked (see [`Mode`]). The schedule recorded so far is
    /// kept.
    pub fn set_mode(&mut self, mode: Mode) {
        self.sched.set_mode(mode);
    }

    /// The scheduling mode.
    pub fn mode(&self) -> &Mode {
        self.sched.mode()
    }

    /// The choices the scheduler made so far (recorded while tracing is on): print it, or
    /// give it to [`Mode::Replay`] to run the same interleaving again.
    pub fn schedule(&self) -> &Schedule {
        &self.sched.record
    }

    /// Delivers to `stage` less often: under the seeded scheduler, a mailbox to it wins a
    /// draw only once in `factor` (1 is normal speed).
    pub fn slow(&mut self, stage: StageId, factor: u32) {
        self.sched.slow.retain(|(s, _)| *s != stage);
        if factor > 1 {
            self.sched.slow.push((stage, factor));
        }
    }

    /// Turns the oracles on or off (off in a new sim): after every step the simulator
    /// checks the invariants of the design (see [`Oracle`]) and panics on the first
    /// violation with the seed, the step and the last trace lines. Turn it on before the
    /// stages subscribe.
    pub fn check_invariants(&mut self, on: bool) {
        self.net.books.enabled = on;
    }

    /// Tells the oracles how to identify events of type `E` (its origin and its place in its
    /// origin's order), for the FIFO and conservation oracles. Call once per event type.
    pub fn event_keys<E: 'static>(&mut self, key: fn(&E) -> EventKey) {
        self.net.books.readers.push(Box::new(move |batch, keys| {
            match batch.downcast_ref::<Vec<E>>() {
                Some(events) => {
                    keys.extend(events.iter().map(key));
                    true
                }
                None => false,
            }
        }));
    }

    /// Tells the oracles which events of type `E` are info markers: events a `handle_info`
    /// emits to show where its info was handled. `mark` returns, for a marker, the place its
    /// info was sent at, "behind every event of `origin` below `seq`" that went through the
    /// stage (a producer's events emitted before the info, or a producer_consumer's received
    /// before it: see [`received_below`](Self::received_below)); `None` for other events.
    /// Once a marker has gone out on a subscription, no event of that origin below that
    /// place may follow it there ([`Oracle::InfoInPlace`]): the info kept its place (spec
    /// §10.6). Markers are events like others for the other oracles, so give them keys of
    /// their own ([`event_keys`](Self::event_keys)). Accumulate mode lets infos run at once
    /// (§8.5): do not mark infos sent to a producer in that mode.
    ///
    /// ```
    /// use genstage::sim::{EventKey, Sim};
    /// use genstage::*;
    ///
    /// /// Events `0..20` (origin 0), 3 more than asked each time (the extra wait in its
    /// /// buffer), and for info `k` the marker `1 << 32 | k` (origin 1).
    /// struct Numbers(u64);
    /// impl Producer<u64> for Numbers {
    ///     type Event = u64;
    ///     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
    ///         let end = (self.0 + demand as u64 + 3).min(20);
    ///         self.0 += out.extend(self.0..end) as u64;
    ///         if self.0 == 20 { Flow::DONE } else { Flow::Continue }
    ///     }
    ///     fn handle_info(&mut self, k: u64, out: &mut Emit<'_, u64>) -> Flow {
    ///         let _ = out.push(1 << 32 | k);
    ///         Flow::Continue
    ///     }
    /// }
    /// #[derive(Default)]
    /// struct Seen(Vec<u64>);
    /// impl Consumer for Seen {
    ///     type Event = u64;
    ///     fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
    ///         self.0.extend(events);
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let mut sim = Sim::new(0);
    /// sim.check_invariants(true);
    /// sim.event_keys(|e: &u64| EventKey { origin: e >> 32, seq: e & 0xFFFF_FFFF });
    /// let p = sim.producer(Numbers(0));
    /// let c = sim.consumer(Seen::default());
    /// sim.subscribe(c, p, Subscribe::new().max_demand(5).min_demand(0)).unwrap();
    /// sim.step(); // the subscribe
    /// sim.step(); // the ask: 0..8 made, 0..5 sent, 5..8 buffered
    /// let made = sim.stage(p).behaviour().0;
    /// sim.info_marks(move |e: &u64| (e >> 32 == 1).then_some(EventKey { origin: 0, seq: made }));
    /// sim.info(p, 0).unwrap(); // behind the buffered 5..8
    /// sim.run_until_idle();
    /// let seen = &sim.stage(c).behaviour().0;
    /// let at = seen.iter().position(|&e| e == 1 << 32).unwrap();
    /// assert_eq!(seen[..8], [0, 1, 2, 3, 4, 5, 6, 7]); // all ahead of it came first
    /// assert!(at >= 8 && seen.len() == 21);
    /// assert!(sim.violation().is_none());
    /// ```
    pub fn info_marks<E: 'static>(&mut self, mark: impl Fn(&E) -> Option<EventKey> + 'static) {
        self.net
            .books
            .mark_readers
            .push(Box::new(move |batch, marks| {
                match batch.downcast_ref::<Vec<E>>() {
                    Some(events) => {
                        marks.extend(events.iter().map(&mark));
                        true
                    }
                    None => false,
                }
            }));
    }

    /// The first invariant broken so far, when the oracles are on.
    pub fn violation(&self) -> Option<&Violation> {
        self.net.books.violation.as_ref()
    }

    /// A stable hash of every trace line so far, recorded or not (tracing off still hashes):
    /// equal runs have equal hashes on every machine.
    pub fn trace_hash(&self) -> u64 {
        self.net.hash.finish()
    }

    /// Turns seeded faults on (see [`Chaos`]): crashes and cancels drawn from the seed, in
    /// a stream apart from the scheduler's.
    pub fn set_chaos(&mut self, chaos: Chaos) {
        self.chaos = Some(chaos::Runner::new(chaos, self.seed));
    }

    /// Faults injected so far (crashes, cancels and restarts, by [`Chaos`] or by
    /// [`kill_stage`](Self::kill_stage), [`cancel`](Self::cancel),
    /// [`restart`](Self::restart) and [`restart_as_new`](Self::restart_as_new)).
    pub fn faults_injected(&self) -> u64 {
        self.faults
    }

    /// Messages delivered so far.
    pub fn steps(&self) -> u64 {
        self.net.step
    }

    /// Catches a panic in any callback a delivery runs (feature `std`): only that stage stops,
    /// with [`Reason::Panicked`], its peers hear it went down with that reason and apply their
    /// cancel modes, and the panic's message is kept ([`panic_message`](Self::panic_message)).
    /// Off by default, so that a panic in a test points at its cause. Without `std` this does
    /// nothing.
    pub fn catch_panics(&mut self, on: bool) {
        self.catch_panics = on;
    }

    /// What a stage's callback panicked with, when panics are caught.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn panic_message<T>(&self, h: Handle<T>) -> Option<&str> {
        self.slot_of(h).panic.as_deref()
    }

    /// The seed it was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// True when `h` was made by this simulator.
    pub fn owns<T>(&self, h: Handle<T>) -> bool {
        h.sim == self.me
    }

    /// The slot a handle names, refusing another simulator's handle.
    fn slot_of<T>(&self, h: Handle<T>) -> &Slot {
        assert!(
            self.owns(h),
            "{h:?} belongs to another simulator: a handle works only with the Sim that made it"
        );
        &self.slots[h.id.0 as usize]
    }

    /// Subscribes `consumer` to `producer`. The consumer's `handle_subscribe` has run when this
    /// returns; the producer hears of it when the sim runs.
    pub fn subscribe<C, P>(
        &mut self,
        consumer: Handle<C>,
        producer: Handle<P>,
        opts: Subscribe<C::In>,
    ) -> Result<SubId, SubscribeError>
    where
        C: ConsumerRole + 'static,
        P: ProducerRole<Out = C::In>,
    {
        self.subscribe_inner(consumer, producer, opts, None)
    }

    /// Resubscribes: a new subscription to `producer`, cancelling `old` with `reason` first.
    pub fn resubscribe<C, P>(
        &mut self,
        consumer: Handle<C>,
        old: SubId,
        reason: Reason,
        producer: Handle<P>,
        opts: Subscribe<C::In>,
    ) -> Result<SubId, SubscribeError>
    where
        C: ConsumerRole + 'static,
        P: ProducerRole<Out = C::In>,
    {
        self.subscribe_inner(consumer, producer, opts, Some((old, reason)))
    }

    /// Subscribes `consumer` to the stage at `producer`, named by a raw id: a stage of this
    /// simulator whose types the compiler does not check here, or a **raw peer** (an id no
    /// stage has) that a test plays by hand with [`send_events`](Self::send_events) and
    /// [`send_to_consumer`](Self::send_to_consumer). A producer of another event type answers
    /// nothing it cannot read: its messages are reported as `WrongKind`, never a panic.
    pub fn subscribe_raw<C>(
        &mut self,
        consumer: Handle<C>,
        producer: StageId,
        opts: Subscribe<C::In>,
        previous: Option<(SubId, Reason)>,
    ) -> Result<SubId, SubscribeError>
    where
        C: ConsumerRole + 'static,
    {
        if !self.owns(consumer) {
            return Err(SubscribeError::ForeignHandle);
        }
        self.subscribe_to(consumer, producer, opts, previous)
    }

    fn subscribe_inner<C, P>(
        &mut self,
        consumer: Handle<C>,
        producer: Handle<P>,
        opts: Subscribe<C::In>,
        previous: Option<(SubId, Reason)>,
    ) -> Result<SubId, SubscribeError>
    where
        C: ConsumerRole + 'static,
        P: ProducerRole<Out = C::In>,
    {
        if !self.owns(consumer) || !self.owns(producer) {
            return Err(SubscribeError::ForeignHandle);
        }
        self.subscribe_to(consumer, producer.id, opts, previous)
    }

    fn subscribe_to<C>(
        &mut self,
        consumer: Handle<C>,
        producer: StageId,
        opts: Subscribe<C::In>,
        previous: Option<(SubId, Reason)>,
    ) -> Result<SubId, SubscribeError>
    where
        C: ConsumerRole + 'static,
    {
        let slot = &mut self.slots[consumer.id.0 as usize];
        if slot.stopped.is_some() {
            return Err(SubscribeError::Stopped);
        }
        slot.cancel = Some(cancel_on::<C>);
        slot.node.set_now(self.net.now);
        let stage = slot
            .node
            .as_any_mut()
            .downcast_mut::<C>()
            .expect("a handle names a stage of its type");
        let o = &mut SimOutbox {
            net: &mut self.net,
            me: consumer.id,
        };
        let again = opts.clone();
        let r = match previous {
            None => stage.subscribe(producer, opts, o),
            Some((old, reason)) => stage.resubscribe(old, reason, producer, opts, o),
        };
        if let Ok(sub) = r {
            let made = &mut self.slots[consumer.id.0 as usize].made;
            if let Some((old, _)) = previous {
                made.retain(|m| m.sub != old);
            }
            made.push(restart::made::<C>(sub, producer, again));
        }
        self.settle_stops();
        r
    }

    /// The stage behind a handle.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn stage<T: 'static>(&self, h: Handle<T>) -> &T {
        self.slot_of(h)
            .node
            .as_any()
            .downcast_ref::<T>()
            .expect("a handle names a stage of its type")
    }

    /// The stage behind a handle, mutably (drive it directly; outputs are lost unless routed,
    /// so prefer [`with`](Self::with)).
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn stage_mut<T: 'static>(&mut self, h: Handle<T>) -> &mut T {
        let _ = self.slot_of(h);
        self.slots[h.id.0 as usize]
            .node
            .as_any_mut()
            .downcast_mut::<T>()
            .expect("a handle names a stage of its type")
    }

    /// Why a stage stopped, once it has.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn stopped<T>(&self, h: Handle<T>) -> Option<Reason> {
        self.slot_of(h).stopped
    }

    /// Events in messages to a stage that were dropped because it had stopped (or that it
    /// could not take: a payload of another type).
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn lost_in_flight<T>(&self, h: Handle<T>) -> u64 {
        self.slot_of(h).lost
    }

    /// Every stage's state and what is in flight: whether the pipeline finished
    /// ([`SimReport::all_stopped`]) or is stuck, and where its events are.
    pub fn report(&self) -> SimReport {
        SimReport {
            stages: self
                .slots
                .iter()
                .map(|slot| {
                    let mut summary = slot.node.summary();
                    summary.stopped = summary.stopped.or(slot.stopped);
                    StageReport {
                        summary,
                        lost_in_flight: slot.lost,
                    }
                })
                .collect(),
            messages_in_flight: self.net.queue.len(),
            events_in_flight: self.events_in_flight(),
        }
    }

    /// True when every stage has stopped and nothing is in flight.
    pub fn all_stopped(&self) -> bool {
        self.net.queue.is_empty() && self.slots.iter().all(|s| s.stopped.is_some())
    }

    /// Runs `f` on a stage with an outbox that routes into the sim: the way to call `info`,
    /// `call`, `ask`, `cancel` or `set_demand_mode` on it. Returns `f`'s result. A stage that
    /// has stopped refuses those itself (`info` and `call` hand the message back).
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn with<T: 'static, R>(
        &mut self,
        h: Handle<T>,
        f: impl FnOnce(&mut T, &mut SimOutbox<'_>) -> R,
    ) -> R {
        let _ = self.slot_of(h);
        let slot = &mut self.slots[h.id.0 as usize];
        slot.node.set_now(self.net.now);
        let stage = slot
            .node
            .as_any_mut()
            .downcast_mut::<T>()
            .expect("a handle names a stage of its type");
        let mut o = SimOutbox {
            net: &mut self.net,
            me: h.id,
        };
        let r = f(stage, &mut o);
        self.settle_stops();
        self.sample(h.id);
        r
    }

    /// Replies produced by calls so far, oldest first, as `M` (others are skipped).
    pub fn take_replies<M: 'static>(&mut self) -> Vec<M> {
        core::mem::take(&mut self.net.replies)
            .into_iter()
            .filter_map(|r| r.downcast::<M>().ok().map(|b| *b))
            .collect()
    }

    /// Calls `observer` with every output of every stage, in the order the stages produce
    /// them (replacing any earlier observer). Behaviours that record their own callbacks into
    /// the same log get one ordered account of a run.
    pub fn observe(&mut self, observer: Observer) {
        self.net.observer = Some(observer);
    }

    /// Messages queued and not yet delivered.
    pub fn pending(&self) -> usize {
        self.net.queue.len()
    }

    /// Events inside queued messages, not yet delivered.
    pub fn events_in_flight(&self) -> usize {
        self.net.queue.iter().map(|e| e.body.events_len()).sum()
    }

    /// The trace so far (since the last [`take_trace`](Self::take_trace)).
    pub fn trace(&self) -> &[TraceEntry] {
        &self.net.trace
    }

    /// Hands over the trace so far and starts an empty one.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        core::mem::take(&mut self.net.trace)
    }

    /// Turns the trace on or off (it is on in a new sim). The trace grows with every
    /// delivery, so a long run that does not read it turns it off, or drains it with
    /// [`take_trace`](Self::take_trace), to keep its memory flat. Nothing else changes: the
    /// stages see the same messages in the same order either way.
    pub fn set_tracing(&mut self, on: bool) {
        self.net.tracing = on;
    }
}
