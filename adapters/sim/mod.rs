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
//! **Oracles.** With [`Sim::check_invariants`] on, the simulator checks the design's
//! invariants after every step (see [`Oracle`]: no over-delivery, conservation, FIFO per
//! subscription, nothing after cancel, stats) and panics on the first violation with the
//! seed, the step and the last trace lines. [`Sim::event_keys`] tells it how to tell events
//! apart.
//!
//! **Faults.** [`Sim::kill_stage`] crashes a stage and [`Sim::cancel`] cancels a
//! subscription mid-flight, at a step of the caller's choosing; [`Chaos`] draws crashes and
//! cancels from the seed, all along (safety mode) or until a given step (liveness mode).
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
mod handle;
mod net;
mod oracle;
mod scheduler;
mod trace;

pub use chaos::Chaos;
pub use handle::Handle;
pub use net::{Observed, Observer, SimOutbox};
pub use oracle::{EventKey, Oracle, Violation};
pub use scheduler::{BadSchedule, Mode, Pick, Schedule};
pub use trace::{FaultKind, ToProducerKind, TraceEntry, TraceHash, TraceKind};

use alloc::boxed::Box;
use alloc::vec::Vec;
use genstage::dispatcher::Dispatch;
use genstage::error::{AskError, OptionsError, SubscribeError};
use genstage::runtime::{
    ConsumerRole, ConsumerStage, ProducerConsumerStage, ProducerRole, ProducerStage, Stage,
    StageId, StageSummary, ToConsumer, ToProducer,
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
}

/// One stage's line of a [`SimReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// What the stage itself says: kind, stopped or not, events it holds, demand it is owed.
    pub summary: StageSummary,
    /// Events in messages to it that were dropped because it had stopped.
    pub lost_in_flight: u64,
}

/// What [`Sim::report`] returns: every stage's state and what is still in flight. Its
/// `Display` is one line per stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    /// One entry per stage, by id.
    pub stages: Vec<StageReport>,
    /// Messages queued and not yet delivered.
    pub messages_in_flight: usize,
    /// Events inside those messages.
    pub events_in_flight: usize,
}

impl SimReport {
    /// True when every stage has stopped and nothing is in flight: the pipeline finished.
    pub fn all_stopped(&self) -> bool {
        self.messages_in_flight == 0 && self.stages.iter().all(|s| s.summary.stopped.is_some())
    }
    /// The stages still running.
    pub fn live(&self) -> impl Iterator<Item = &StageReport> + '_ {
        self.stages.iter().filter(|s| s.summary.stopped.is_none())
    }
    /// Events still inside the pipeline: buffered, held, queued or in flight.
    pub fn events_inside(&self) -> usize {
        self.events_in_flight
            + self
                .stages
                .iter()
                .map(|s| s.summary.buffered + s.summary.held + s.summary.queued)
                .sum::<usize>()
    }
}

impl core::fmt::Display for SimReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "{} of {} stages live, {} messages ({} events) in flight",
            self.live().count(),
            self.stages.len(),
            self.messages_in_flight,
            self.events_in_flight
        )?;
        for r in &self.stages {
            let s = &r.summary;
            match (s.stopped, s.draining) {
                (Some(why), _) => write!(f, "  {} {:?}: stopped ({why})", s.id, s.kind)?,
                (None, Some(why)) => write!(f, "  {} {:?}: live, draining ({why})", s.id, s.kind)?,
                (None, None) => write!(f, "  {} {:?}: live", s.id, s.kind)?,
            }
            writeln!(
                f,
                ", buffered {}, held {}, queued {}, outstanding demand {}, in {}, out {}, \
                 discarded {}, lost in flight {}",
                s.buffered,
                s.held,
                s.queued,
                s.outstanding,
                s.stats.events_in,
                s.stats.events_out,
                s.stats.discarded.total(),
                r.lost_in_flight
            )?;
        }
        Ok(())
    }
}

/// [`Sim::run_bounded`] stopped at its limit with messages still queued: the pipeline did not
/// go idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotIdle {
    /// Messages delivered.
    pub steps: u64,
    /// Messages still queued.
    pub pending: usize,
}

impl core::fmt::Display for NotIdle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the pipeline did not go idle: {} messages delivered, {} still queued",
            self.steps, self.pending
        )
    }
}

impl core::error::Error for NotIdle {}

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
        self.sched.mode = mode;
    }

    /// The scheduling mode.
    pub fn mode(&self) -> &Mode {
        &self.sched.mode
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

    /// Faults injected so far (crashes and cancels, by [`Chaos`] or by
    /// [`kill_stage`](Self::kill_stage) and [`cancel`](Self::cancel)).
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

    /// The id the next added stage will get.
    pub fn next_id(&self) -> StageId {
        StageId(self.slots.len() as u32)
    }

    /// Adds a stage built by the caller (with [`next_id`](Self::next_id) as its id), for
    /// stages with non-default options, storage or dispatcher, or a [`Stage`] of your own.
    ///
    /// # Panics
    /// If the stage's id is not `next_id()`: that is a bug in the caller.
    pub fn add<T>(&mut self, stage: T) -> Handle<T>
    where
        T: Stage + 'static,
        T::In: 'static,
        T::Out: 'static,
        T::Msg: 'static,
    {
        let id = self.next_id();
        assert_eq!(stage.id(), id, "build the stage with Sim::next_id()");
        self.slots.push(Slot {
            node: Box::new(stage),
            cancel: None,
            stopped: None,
            lost: 0,
            panic: None,
        });
        Handle::new(id, self.me)
    }

    /// Adds a producer with default options and the default dispatcher.
    pub fn producer<B, M>(&mut self, behaviour: B) -> Handle<ProducerStage<B, M>>
    where
        B: Producer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ProducerStage::new(self.next_id(), behaviour, ProducerOptions::default())
            .expect("default options are valid");
        self.add(stage)
    }

    /// Adds a producer with options.
    pub fn producer_with<B, M>(
        &mut self,
        behaviour: B,
        opts: ProducerOptions,
    ) -> Result<Handle<ProducerStage<B, M>>, OptionsError>
    where
        B: Producer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ProducerStage::new(self.next_id(), behaviour, opts)?;
        Ok(self.add(stage))
    }

    /// Adds a producer_consumer with default options.
    pub fn producer_consumer<B, M>(&mut self, behaviour: B) -> Handle<ProducerConsumerStage<B, M>>
    where
        B: ProducerConsumer<M> + 'static,
        B::In: 'static,
        B::Out: 'static,
        M: 'static,
    {
        let stage =
            ProducerConsumerStage::new(self.next_id(), behaviour, ProducerOptions::default())
                .expect("default options are valid");
        self.add(stage)
    }

    /// Adds a producer with options and one of the built-in dispatchers ([`Dispatch`]).
    pub fn producer_with_dispatcher<B, M>(
        &mut self,
        behaviour: B,
        opts: ProducerOptions,
        dispatch: Dispatch<B::Event>,
    ) -> Result<Handle<ProducerStage<B, M>>, OptionsError>
    where
        B: Producer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ProducerStage::with_dispatcher(self.next_id(), behaviour, opts, dispatch)?;
        Ok(self.add(stage))
    }

    /// Adds a producer_consumer with options and one of the built-in dispatchers
    /// ([`Dispatch`]), for instance `Dispatch::broadcast()`.
    pub fn producer_consumer_with<B, M>(
        &mut self,
        behaviour: B,
        opts: ProducerOptions,
        dispatch: Dispatch<B::Out>,
    ) -> Result<Handle<ProducerConsumerStage<B, M>>, OptionsError>
    where
        B: ProducerConsumer<M> + 'static,
        B::In: 'static,
        B::Out: 'static,
        M: 'static,
    {
        let stage =
            ProducerConsumerStage::with_dispatcher(self.next_id(), behaviour, opts, dispatch)?;
        Ok(self.add(stage))
    }

    /// Adds a consumer.
    pub fn consumer<B, M>(&mut self, behaviour: B) -> Handle<ConsumerStage<B, M>>
    where
        B: Consumer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ConsumerStage::new(self.next_id(), behaviour);
        self.add(stage)
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
        let stage = slot
            .node
            .as_any_mut()
            .downcast_mut::<C>()
            .expect("a handle names a stage of its type");
        let o = &mut SimOutbox {
            net: &mut self.net,
            me: consumer.id,
        };
        let r = match previous {
            None => stage.subscribe(producer, opts, o),
            Some((old, reason)) => stage.resubscribe(old, reason, producer, opts, o),
        };
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

    // ----- raw peers: messages from stages the simulator does not host -----

    /// Queues `msg` for its producer as if its consumer (any id, hosted or not) had sent it.
    pub fn send_to_producer<E: 'static>(&mut self, msg: ToProducer<E>) {
        self.net.queue.push_back(Envelope {
            from: msg.sub().consumer,
            to: msg.to(),
            body: Body::to_producer(msg),
        });
    }

    /// Queues `events` for `sub`'s consumer as if its producer had sent them.
    pub fn send_events<E: 'static>(&mut self, sub: SubId, events: Vec<E>) {
        self.net.queue.push_back(Envelope {
            from: sub.producer,
            to: sub.consumer,
            body: Body::events(sub, events),
        });
    }

    /// Queues `msg` for its consumer as if its producer had sent it.
    pub fn send_to_consumer(&mut self, msg: ToConsumer) {
        self.net.queue.push_back(Envelope {
            from: msg.sub().producer,
            to: msg.to(),
            body: Body::ToConsumer(msg),
        });
    }

    // ----- running -----

    /// Delivers one queued message, picked by the scheduler's [`Mode`]; false when nothing
    /// was queued. With [`check_invariants`](Self::check_invariants) on, checks every
    /// invariant afterwards and panics on a violation; with [`Chaos`] on, may inject a fault
    /// afterwards.
    pub fn step(&mut self) -> bool {
        let step = self.net.step;
        let Some(i) = self
            .sched
            .pick(self.net.queue.iter().map(|e| (e.from, e.to)), step)
        else {
            return false;
        };
        let env = self
            .net
            .queue
            .remove(i)
            .expect("the scheduler picks a queued message");
        self.sched.note(
            scheduler::Pick {
                from: env.from,
                to: env.to,
            },
            self.net.tracing,
        );
        self.net.step += 1;
        self.deliver(env);
        if self.chaos.is_some() {
            self.run_chaos();
        }
        if self.net.books.enabled {
            self.check_now();
        }
        true
    }

    fn deliver(&mut self, env: Envelope) {
        let to = env.to;
        let live = self
            .slots
            .get(to.0 as usize)
            .is_some_and(|s| s.stopped.is_none());
        if !live {
            let events = env.body.events_len();
            self.net.record(to, TraceKind::Dropped { events });
            if let Some(slot) = self.slots.get_mut(to.0 as usize) {
                slot.lost += events as u64;
                self.answer_dead(env);
            }
            // Else a raw peer, which a test plays by hand: nothing answers for it.
            return;
        }
        self.net.record(to, env.body.trace_kind());
        // What the oracles learn from the delivery itself, before the stage handles it.
        let mut closed_events = None;
        match &env.body {
            Body::ToProducer {
                sub,
                kind,
                previous,
                ..
            } => match kind {
                ToProducerKind::Ask(n) => self.net.books.on_ask(*sub, *n),
                ToProducerKind::Subscribe => self.net.books.on_subscribe(*sub, *previous),
                ToProducerKind::Cancel(_) => self.net.books.close_at_producer(*sub),
            },
            Body::ToConsumer(msg) => self.net.books.close_at_consumer(msg.sub()),
            Body::Down(gone, _) => self.net.books.on_down(to, *gone),
            Body::Events { sub, len, .. } => {
                if self.net.books.closed_at_consumer(*sub) {
                    closed_events = Some((*sub, *len, self.slots[to.0 as usize].node.stats()));
                }
            }
        }
        let slot = &mut self.slots[to.0 as usize];
        if self.catch_panics {
            self.deliver_catching(to, env.body);
        } else {
            let lost = slot.node.deliver(env.body, &mut self.net, to);
            slot.lost += lost as u64;
        }
        if let Some((sub, len, before)) = closed_events {
            let after = self.slots[to.0 as usize].node.stats();
            let step = self.net.step;
            self.net
                .books
                .check_discarded(sub, len, &before, &after, step);
        }
        self.settle_stops();
    }

    /// Draws and injects this step's seeded fault, if any.
    fn run_chaos(&mut self) {
        let step = self.net.step;
        let Some(runner) = self.chaos.as_mut() else {
            return;
        };
        let slots = &self.slots;
        let crashable = |s: StageId| slots[s.0 as usize].stopped.is_none() && !runner.spares(s);
        let live = |s: StageId| slots.get(s.0 as usize).is_some_and(|x| x.stopped.is_none());
        let cancels: Vec<SubId> = self
            .net
            .books
            .open
            .iter()
            .filter(|s| {
                live(s.producer)
                    && live(s.consumer)
                    && slots[s.consumer.0 as usize].cancel.is_some()
            })
            .copied()
            .collect();
        // `crashable` borrows the runner's plan through a copy of the spare list.
        let spare: Vec<StageId> = (0..slots.len() as u32)
            .map(StageId)
            .filter(|s| crashable(*s))
            .collect();
        let fault = runner.draw(step, |s| spare.contains(&s), slots.len(), cancels.len());
        match fault {
            Some(chaos::Fault::Crash(i, reason)) => {
                self.kill_stage(StageId(i as u32), reason);
            }
            Some(chaos::Fault::Cancel(i, reason)) => {
                let _ = self.cancel(cancels[i], reason);
            }
            None => {}
        }
    }

    /// Runs the oracles over every stage now; panics on a violation.
    fn check_now(&mut self) {
        let step = self.net.step;
        for slot in &self.slots {
            let summary = slot.node.summary();
            self.net.books.check_stage(&summary, step);
        }
        if let Some(v) = &self.net.books.violation {
            panic!("{}", self.failure(v));
        }
    }

    /// A violation with the seed, the mode and the last trace lines.
    fn failure(&self, v: &Violation) -> alloc::string::String {
        use core::fmt::Write as _;
        let mut s = alloc::format!("{v}\n  seed {}, mode {:?}", self.seed, self.mode_name());
        let trace = &self.net.trace;
        let from = trace.len().saturating_sub(self.context_lines);
        let _ = write!(s, "\n  last {} trace lines:", trace.len() - from);
        for e in &trace[from..] {
            let _ = write!(s, "\n    {e}");
        }
        s
    }

    fn mode_name(&self) -> &'static str {
        match self.sched.mode {
            Mode::Fifo => "fifo",
            Mode::RoundRobin => "round-robin",
            Mode::Seeded => "seeded",
            Mode::Replay(_) => "replay",
        }
    }

    /// Delivers with a panic in a callback caught: the stage stops with `Reason::Panicked`.
    #[cfg(feature = "std")]
    fn deliver_catching(&mut self, to: StageId, body: Body) {
        let slot = &mut self.slots[to.0 as usize];
        let net = &mut self.net;
        let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            slot.node.deliver(body, net, to)
        }));
        match caught {
            Ok(lost) => slot.lost += lost as u64,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| alloc::string::String::from(*s))
                    .or_else(|| payload.downcast_ref::<alloc::string::String>().cloned())
                    .unwrap_or_else(|| alloc::string::String::from("a non-text panic"));
                slot.panic = Some(message);
                // The stage's state cannot be trusted: the runtime stops it without asking it.
                self.net.record(to, TraceKind::Stopped(Reason::Panicked));
                self.net.stops.push((to, Reason::Panicked));
            }
        }
    }

    #[cfg(not(feature = "std"))]
    fn deliver_catching(&mut self, to: StageId, body: Body) {
        let slot = &mut self.slots[to.0 as usize];
        let lost = slot.node.deliver(body, &mut self.net, to);
        slot.lost += lost as u64;
    }

    /// A subscribe to a stage that is gone is answered with a down (the monitor fires at once).
    fn answer_dead(&mut self, env: Envelope) {
        if let Body::ToProducer {
            sub,
            kind: ToProducerKind::Subscribe,
            ..
        } = env.body
        {
            self.net.queue.push_back(Envelope {
                from: env.to,
                to: sub.consumer,
                body: Body::Down(env.to, Reason::NoProc),
            });
        }
    }

    fn settle_stops(&mut self) {
        while !self.net.stops.is_empty() {
            for (id, reason) in core::mem::take(&mut self.net.stops) {
                let Some(slot) = self.slots.get_mut(id.0 as usize) else {
                    continue;
                };
                if slot.stopped.is_some() {
                    continue;
                }
                slot.stopped = Some(reason);
                for (i, other) in self.slots.iter().enumerate() {
                    if i != id.0 as usize && other.stopped.is_none() {
                        self.net.queue.push_back(Envelope {
                            from: id,
                            to: StageId(i as u32),
                            body: Body::Down(id, reason),
                        });
                    }
                }
            }
        }
    }

    /// Stops a stage from outside with `reason` (a crash, a kill): the stage itself stops
    /// (its `stopped()` says so, its callbacks run no more, and what it held is counted as
    /// discarded), and every other live stage hears it went down, after the messages already
    /// queued. Stopping a stage that has already stopped does nothing.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn kill<T>(&mut self, h: Handle<T>, reason: Reason) {
        if self.slot_of(h).stopped.is_none() {
            let slot = &mut self.slots[h.id.0 as usize];
            slot.node.stop(reason, &mut self.net, h.id);
            self.settle_stops();
        }
    }

    /// Delivers messages until none is queued; returns how many were delivered. A pipeline
    /// that never goes idle makes this loop for ever: [`run_bounded`](Self::run_bounded)
    /// says so instead.
    pub fn run_until_idle(&mut self) -> u64 {
        let mut n = 0;
        while self.step() {
            n += 1;
        }
        n
    }

    /// Delivers at most `limit` messages: `Ok(delivered)` once nothing is queued, or
    /// [`NotIdle`] when the limit is reached with messages still queued.
    pub fn run_bounded(&mut self, limit: u64) -> Result<u64, NotIdle> {
        let mut n = 0;
        while n < limit {
            if !self.step() {
                return Ok(n);
            }
            n += 1;
        }
        if self.net.queue.is_empty() {
            Ok(n)
        } else {
            Err(NotIdle {
                steps: n,
                pending: self.net.queue.len(),
            })
        }
    }

    /// Crashes the stage at `stage` (any stage of this simulator, named by its raw id) with
    /// `reason`, as [`kill`](Self::kill) does, and says so in the trace. Returns false when
    /// there is no such live stage.
    pub fn kill_stage(&mut self, stage: StageId, reason: Reason) -> bool {
        let Some(slot) = self.slots.get_mut(stage.0 as usize) else {
            return false;
        };
        if slot.stopped.is_some() {
            return false;
        }
        self.faults += 1;
        self.net
            .record(stage, TraceKind::Fault(FaultKind::Crash(reason)));
        slot.node.stop(reason, &mut self.net, stage);
        self.settle_stops();
        true
    }

    /// Has the consumer-role end of `sub` cancel it with `reason` now (a cancel mid-flight:
    /// events already sent still arrive), and says so in the trace. The consumer must have
    /// subscribed through this simulator.
    pub fn cancel(&mut self, sub: SubId, reason: Reason) -> Result<(), AskError> {
        let me = sub.consumer;
        let Some(slot) = self.slots.get_mut(me.0 as usize) else {
            return Err(AskError::UnknownSubscription);
        };
        let Some(cancel) = slot.cancel else {
            return Err(AskError::UnknownSubscription);
        };
        self.faults += 1;
        self.net
            .record(me, TraceKind::Fault(FaultKind::Cancel(sub, reason)));
        let r = cancel(&mut *slot.node, sub, reason, &mut self.net, me);
        self.settle_stops();
        r
    }

    /// Whether the stage at `stage` has stopped (or does not exist).
    pub fn is_stopped(&self, stage: StageId) -> bool {
        self.slots
            .get(stage.0 as usize)
            .is_none_or(|s| s.stopped.is_some())
    }

    /// How many stages it hosts.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when it hosts no stage.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Subscriptions open as far as the simulator saw (a subscribe delivered, no cancel or
    /// down since), oldest first.
    pub fn open_subscriptions(&self) -> impl Iterator<Item = SubId> + '_ {
        self.net.books.open.iter().copied()
    }

    /// Events asked on `sub` (asks delivered to its producer) that its producer has not sent
    /// yet, as the oracles count them (0 when they are off).
    pub fn owed(&self, sub: SubId) -> u64 {
        self.net.books.owed(sub)
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
