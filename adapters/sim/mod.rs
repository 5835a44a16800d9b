//! The single-threaded runner (feature `sim`): owns stages, routes their messages in FIFO
//! order until idle, and records a trace.
//!
//! It uses only the core's public API, as any runtime would. Every stage gets a [`StageId`];
//! a [`Handle`] names a stage with its full type, so that subscribing checks event types at
//! compile time and [`Sim::stage`] gives the stage (and its behaviour) back.
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
//!         out.extend(self.0..end);
//!         self.0 = end;
//!         Flow::Continue
//!     }
//! }
//! struct Double;
//! impl ProducerConsumer for Double {
//!     type In = u64;
//!     type Out = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, _: SubId, out: &mut Emit<'_, u64>) -> Flow {
//!         out.extend(events.map(|e| e * 2));
//!         Flow::Continue
//!     }
//! }
//! #[derive(Default)]
//! struct Total(u64);
//! impl Consumer for Total {
//!     type Event = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, _: SubId, _: &mut Ctx<'_>) -> Flow {
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

use crate::behaviour::{Consumer, Producer, ProducerConsumer};
use crate::consumer_side::SubscribeError;
use crate::dispatcher::Dispatcher;
use crate::id::{StageId, SubId};
use crate::message::{Outbox, Output, Report, ToConsumer, ToProducer};
use crate::options::{OptionsError, ProducerOptions, Subscribe};
use crate::reason::Reason;
use crate::stage::consumer::ConsumerStage;
use crate::stage::producer::ProducerStage;
use crate::stage::producer_consumer::ProducerConsumerStage;
use crate::stats::StageStats;
use crate::storage::Storage;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::any::Any;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};

/// Names a stage of type `T` inside the [`Sim`] that made it.
pub struct Handle<T> {
    id: StageId,
    sim: u32,
    _t: PhantomData<fn() -> T>,
}

/// Tells simulators apart, so that a handle cannot name a stage of another one.
static NEXT_SIM: AtomicU32 = AtomicU32::new(0);

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Handle<T> {}
impl<T> core::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Handle({})", self.id)
    }
}

impl<T> Handle<T> {
    /// The stage's address.
    pub fn id(&self) -> StageId {
        self.id
    }
}

/// A stage that emits `Out` events (a producer or producer_consumer).
pub trait Publisher {
    /// The events it emits.
    type Out: 'static;
}
/// A stage that takes `In` events (a consumer or producer_consumer).
pub trait Subscriber {
    /// The events it takes.
    type In: 'static;
}

impl<B: Producer<M>, M, S: Storage, D> Publisher for ProducerStage<B, M, S, D>
where
    B::Event: 'static,
{
    type Out = B::Event;
}
impl<B: ProducerConsumer<M>, M, S: Storage, D> Publisher for ProducerConsumerStage<B, M, S, D>
where
    B::Out: 'static,
{
    type Out = B::Out;
}
impl<B: ProducerConsumer<M>, M, S: Storage, D> Subscriber for ProducerConsumerStage<B, M, S, D>
where
    B::In: 'static,
{
    type In = B::In;
}
impl<B: Consumer<M>, M, S: Storage> Subscriber for ConsumerStage<B, M, S>
where
    B::Event: 'static,
{
    type In = B::Event;
}

/// What one trace entry says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A message for a producer (subscribe, ask, cancel) was delivered.
    ToProducer {
        /// The subscription.
        sub: SubId,
        /// `"subscribe"`, `"ask"` or `"cancel"`.
        what: &'static str,
        /// The demand of an ask.
        demand: usize,
    },
    /// A batch of events was delivered.
    Events {
        /// The subscription.
        sub: SubId,
        /// How many.
        len: usize,
    },
    /// A cancel from a producer was delivered.
    ToConsumer {
        /// The subscription.
        sub: SubId,
        /// Why.
        reason: Reason,
    },
    /// A down notice was delivered.
    Down {
        /// The stage that went down.
        stage: StageId,
        /// Why.
        reason: Reason,
    },
    /// A message was dropped: its stage had stopped. `events` is how many events it carried
    /// (0 for a control message); they are counted in [`Sim::lost_in_flight`].
    Dropped {
        /// Events the dropped message carried.
        events: usize,
    },
    /// A stage reported something.
    Report(Report),
    /// A stage stopped.
    Stopped(Reason),
}

/// One entry of the trace: at `step`, about stage `stage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The delivery step it happened in (0 for direct calls before any step).
    pub step: u64,
    /// The stage it happened at.
    pub stage: StageId,
    /// What happened.
    pub kind: TraceKind,
}

#[doc(hidden)]
pub enum Body {
    ToProducer(SubId, &'static str, usize, Box<dyn Any>),
    Events(SubId, Box<dyn Any>, usize),
    ToConsumer(ToConsumer),
    Down(StageId, Reason),
}

struct Envelope {
    to: StageId,
    body: Body,
}

/// The sim's shared state that stage outboxes write into.
#[doc(hidden)]
pub struct Net {
    queue: VecDeque<Envelope>,
    trace: Vec<TraceEntry>,
    tracing: bool,
    step: u64,
    replies: Vec<Box<dyn Any>>,
    stops: Vec<(StageId, Reason)>,
}

impl Net {
    /// Adds an entry to the trace, when tracing is on.
    fn record(&mut self, stage: StageId, kind: TraceKind) {
        if self.tracing {
            self.trace.push(TraceEntry {
                step: self.step,
                stage,
                kind,
            });
        }
    }
}

/// The outbox [`Sim::with`] hands out: routes a stage's outputs into the sim.
pub struct SimOutbox<'a> {
    net: &'a mut Net,
    me: StageId,
}

impl<In: 'static, Out: 'static, M: 'static> Outbox<In, Out, M> for SimOutbox<'_> {
    fn push(&mut self, output: Output<In, M>) {
        match output {
            Output::ToProducer(msg) => {
                let (what, demand) = match msg {
                    ToProducer::Subscribe { .. } => ("subscribe", 0),
                    ToProducer::Ask { demand, .. } => ("ask", demand),
                    ToProducer::Cancel { .. } => ("cancel", 0),
                };
                self.net.queue.push_back(Envelope {
                    to: msg.to(),
                    body: Body::ToProducer(msg.sub(), what, demand, Box::new(msg)),
                })
            }
            Output::ToConsumer(msg) => self.net.queue.push_back(Envelope {
                to: msg.to(),
                body: Body::ToConsumer(msg),
            }),
            Output::Reply(m) => self.net.replies.push(Box::new(m)),
            Output::Stop(reason) => {
                self.net.record(self.me, TraceKind::Stopped(reason));
                self.net.stops.push((self.me, reason));
            }
            Output::Report(r) => self.net.record(self.me, TraceKind::Report(r)),
        }
    }
    fn events<I: ExactSizeIterator<Item = Out>>(&mut self, sub: SubId, events: I) {
        let batch: Vec<Out> = events.collect();
        let len = batch.len();
        self.net.queue.push_back(Envelope {
            to: sub.consumer,
            body: Body::Events(sub, Box::new(batch), len),
        });
    }
}

/// A stage as the sim drives it.
#[doc(hidden)]
pub trait Node {
    fn deliver(&mut self, body: Body, net: &mut Net, me: StageId);
    fn subscribe(
        &mut self,
        producer: StageId,
        opts: Box<dyn Any>,
        previous: Option<(SubId, Reason)>,
        net: &mut Net,
        me: StageId,
    ) -> Result<SubId, SubscribeError>;
    /// Stops the stage from outside (the core counts what it held).
    fn stop(&mut self, reason: Reason, net: &mut Net, me: StageId);
    /// What it holds and owes, for [`Sim::report`].
    fn summary(&self) -> StageSummary;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

fn out<'a>(net: &'a mut Net, me: StageId) -> SimOutbox<'a> {
    SimOutbox { net, me }
}

impl<B, M, S, D> Node for ProducerStage<B, M, S, D>
where
    B: Producer<M> + 'static,
    B::Event: 'static,
    M: 'static,
    S: Storage,
    D: Dispatcher<B::Event> + 'static,
{
    fn deliver(&mut self, body: Body, net: &mut Net, me: StageId) {
        let o = &mut out(net, me);
        match body {
            Body::ToProducer(_, _, _, msg) => match msg.downcast::<ToProducer<B::Event>>() {
                Ok(msg) => ProducerStage::handle_message::<B::Event, _>(self, *msg, o),
                Err(_) => unreachable!("handles check event types at compile time"),
            },
            Body::Down(stage, reason) => {
                ProducerStage::handle_down::<B::Event, _>(self, stage, reason, o)
            }
            Body::Events(sub, ..) | Body::ToConsumer(ToConsumer::Cancel { sub, .. }) => {
                Outbox::<B::Event, B::Event, M>::push(o, Output::Report(Report::WrongKind { sub }))
            }
        }
    }
    fn subscribe(
        &mut self,
        _: StageId,
        _: Box<dyn Any>,
        _: Option<(SubId, Reason)>,
        _: &mut Net,
        _: StageId,
    ) -> Result<SubId, SubscribeError> {
        Err(SubscribeError::NotAConsumer)
    }
    fn stop(&mut self, reason: Reason, net: &mut Net, me: StageId) {
        ProducerStage::stop::<B::Event, _>(self, reason, &mut out(net, me));
    }
    fn summary(&self) -> StageSummary {
        StageSummary {
            id: self.id(),
            kind: StageKind::Producer,
            stopped: self.stopped(),
            draining: self.draining(),
            buffered: self.buffered_count(),
            held: self.held_count() + self.dispatcher().held(),
            queued: 0,
            outstanding: 0,
            stats: *self.stats(),
            lost_in_flight: 0,
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<B, M, S, D> Node for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M> + 'static,
    B::In: 'static,
    B::Out: 'static,
    M: 'static,
    S: Storage,
    D: Dispatcher<B::Out> + 'static,
{
    fn deliver(&mut self, body: Body, net: &mut Net, me: StageId) {
        let o = &mut out(net, me);
        match body {
            Body::ToProducer(_, _, _, msg) => match msg.downcast::<ToProducer<B::Out>>() {
                Ok(msg) => self.handle_message(*msg, o),
                Err(_) => unreachable!("handles check event types at compile time"),
            },
            Body::Events(sub, events, _) => match events.downcast::<Vec<B::In>>() {
                Ok(events) => self.handle_events(sub, *events, o),
                Err(_) => unreachable!("handles check event types at compile time"),
            },
            Body::ToConsumer(msg) => self.handle_upstream_message(msg, o),
            Body::Down(stage, reason) => self.handle_down(stage, reason, o),
        }
    }
    fn subscribe(
        &mut self,
        producer: StageId,
        opts: Box<dyn Any>,
        previous: Option<(SubId, Reason)>,
        net: &mut Net,
        me: StageId,
    ) -> Result<SubId, SubscribeError> {
        let opts = *opts
            .downcast::<Subscribe<B::In>>()
            .map_err(|_| SubscribeError::WrongEventType)?;
        let o = &mut out(net, me);
        match previous {
            None => ProducerConsumerStage::subscribe(self, producer, opts, o),
            Some((old, reason)) => self.resubscribe(old, reason, producer, opts, o),
        }
    }
    fn stop(&mut self, reason: Reason, net: &mut Net, me: StageId) {
        ProducerConsumerStage::stop(self, reason, &mut out(net, me));
    }
    fn summary(&self) -> StageSummary {
        let outstanding = self
            .subscriptions()
            .filter_map(|s| self.subscription_stats(s))
            .map(|s| s.outstanding as usize)
            .sum();
        StageSummary {
            id: self.id(),
            kind: StageKind::ProducerConsumer,
            stopped: self.stopped(),
            draining: self.draining(),
            buffered: self.buffered_count(),
            held: self.dispatcher().held(),
            queued: self.queued_count(),
            outstanding,
            stats: *self.stats(),
            lost_in_flight: 0,
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<B, M, S> Node for ConsumerStage<B, M, S>
where
    B: Consumer<M> + 'static,
    B::Event: 'static,
    M: 'static,
    S: Storage,
{
    fn deliver(&mut self, body: Body, net: &mut Net, me: StageId) {
        let o = &mut out(net, me);
        match body {
            // A consumer takes no subscribers: reported and ignored (spec §1.3).
            Body::ToProducer(sub, ..) => {
                Outbox::<B::Event, B::Event, M>::push(o, Output::Report(Report::WrongKind { sub }))
            }
            Body::Events(sub, events, _) => match events.downcast::<Vec<B::Event>>() {
                Ok(events) => self.handle_events::<_, B::Event, _>(sub, *events, o),
                Err(_) => unreachable!("handles check event types at compile time"),
            },
            Body::ToConsumer(msg) => self.handle_message::<B::Event, _>(msg, o),
            Body::Down(stage, reason) => self.handle_down::<B::Event, _>(stage, reason, o),
        }
    }
    fn subscribe(
        &mut self,
        producer: StageId,
        opts: Box<dyn Any>,
        previous: Option<(SubId, Reason)>,
        net: &mut Net,
        me: StageId,
    ) -> Result<SubId, SubscribeError> {
        let opts = *opts
            .downcast::<Subscribe<B::Event>>()
            .map_err(|_| SubscribeError::WrongEventType)?;
        let o = &mut out(net, me);
        match previous {
            None => ConsumerStage::subscribe::<B::Event, _>(self, producer, opts, o),
            Some((old, reason)) => self.resubscribe::<B::Event, _>(old, reason, producer, opts, o),
        }
    }
    fn stop(&mut self, reason: Reason, net: &mut Net, me: StageId) {
        ConsumerStage::stop::<B::Event, _>(self, reason, &mut out(net, me));
    }
    fn summary(&self) -> StageSummary {
        let outstanding = self
            .subscriptions()
            .filter_map(|s| self.outstanding(s))
            .sum();
        StageSummary {
            id: self.id(),
            kind: StageKind::Consumer,
            stopped: self.stopped(),
            draining: None,
            buffered: 0,
            held: 0,
            queued: 0,
            outstanding,
            stats: *self.stats(),
            lost_in_flight: 0,
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct Slot {
    node: Box<dyn Node>,
    stopped: Option<Reason>,
    /// Events in messages dropped because the stage had stopped.
    lost: u64,
}

/// The kind of a stage, in a [`StageSummary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// A producer.
    Producer,
    /// A producer_consumer.
    ProducerConsumer,
    /// A consumer.
    Consumer,
}

/// One stage's state, as [`Sim::report`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageSummary {
    /// The stage.
    pub id: StageId,
    /// Its kind.
    pub kind: StageKind,
    /// Why it stopped, if it has.
    pub stopped: Option<Reason>,
    /// The reason it will stop with once drained ([`Flow::StopWhenDrained`](crate::Flow)).
    pub draining: Option<Reason>,
    /// Events in its output buffer.
    pub buffered: usize,
    /// Events held: by accumulate mode, or by its dispatcher for consumers without demand.
    pub held: usize,
    /// Events received and not yet handled (a producer_consumer's input queue).
    pub queued: usize,
    /// Demand it asked of its producers and has not received yet.
    pub outstanding: usize,
    /// Its counters.
    pub stats: StageStats,
    /// Events in messages to it that were dropped because it had stopped.
    pub lost_in_flight: u64,
}

/// What [`Sim::report`] returns: every stage's state and what is still in flight. Its
/// `Display` is one line per stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    /// One entry per stage, by id.
    pub stages: Vec<StageSummary>,
    /// Messages queued and not yet delivered.
    pub messages_in_flight: usize,
    /// Events inside those messages.
    pub events_in_flight: usize,
}

impl SimReport {
    /// True when every stage has stopped and nothing is in flight: the pipeline finished.
    pub fn all_stopped(&self) -> bool {
        self.messages_in_flight == 0 && self.stages.iter().all(|s| s.stopped.is_some())
    }
    /// The stages still running.
    pub fn live(&self) -> impl Iterator<Item = &StageSummary> + '_ {
        self.stages.iter().filter(|s| s.stopped.is_none())
    }
    /// Events still inside the pipeline: buffered, held, queued or in flight.
    pub fn events_inside(&self) -> usize {
        self.events_in_flight
            + self
                .stages
                .iter()
                .map(|s| s.buffered + s.held + s.queued)
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
        for s in &self.stages {
            match (s.stopped, s.draining) {
                (Some(r), _) => write!(f, "  {} {:?}: stopped ({r})", s.id, s.kind)?,
                (None, Some(r)) => write!(f, "  {} {:?}: live, draining ({r})", s.id, s.kind)?,
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
                s.lost_in_flight
            )?;
        }
        Ok(())
    }
}

/// The single-threaded runner. See the [module docs](self).
pub struct Sim {
    slots: Vec<Slot>,
    net: Net,
    seed: u64,
    /// This simulator's identity, carried by its handles.
    me: u32,
}

impl Sim {
    /// An empty simulation. The seed is kept for the seeded scheduler; routing is FIFO.
    pub fn new(seed: u64) -> Self {
        Sim {
            slots: Vec::new(),
            net: Net {
                queue: VecDeque::new(),
                trace: Vec::new(),
                tracing: true,
                step: 0,
                replies: Vec::new(),
                stops: Vec::new(),
            },
            seed,
            me: NEXT_SIM.fetch_add(1, Ordering::Relaxed),
        }
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

    fn slot_of_mut<T>(&mut self, h: Handle<T>) -> &mut Slot {
        assert!(
            self.owns(h),
            "{h:?} belongs to another simulator: a handle works only with the Sim that made it"
        );
        &mut self.slots[h.id.0 as usize]
    }

    /// The seed it was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The id the next added stage will get.
    pub fn next_id(&self) -> StageId {
        StageId(self.slots.len() as u32)
    }

    /// Adds a stage built by the caller (with [`next_id`](Self::next_id) as its id), for
    /// stages with non-default options, storage or dispatcher.
    ///
    /// # Panics
    /// If the stage's id is not `next_id()`: that is a bug in the caller.
    pub fn add<T: NodeStage>(&mut self, stage: T) -> Handle<T> {
        let id = self.next_id();
        assert_eq!(stage.stage_id(), id, "build the stage with Sim::next_id()");
        self.slots.push(Slot {
            node: Box::new(stage),
            stopped: None,
            lost: 0,
        });
        Handle {
            id,
            sim: self.me,
            _t: PhantomData,
        }
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
        C: Subscriber + NodeStage,
        P: Publisher<Out = C::In>,
    {
        if !self.owns(consumer) || !self.owns(producer) {
            return Err(SubscribeError::ForeignHandle);
        }
        self.subscribe_inner(consumer.id, producer.id, Box::new(opts), None)
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
        C: Subscriber + NodeStage,
        P: Publisher<Out = C::In>,
    {
        if !self.owns(consumer) || !self.owns(producer) {
            return Err(SubscribeError::ForeignHandle);
        }
        self.subscribe_inner(
            consumer.id,
            producer.id,
            Box::new(opts),
            Some((old, reason)),
        )
    }

    fn subscribe_inner(
        &mut self,
        consumer: StageId,
        producer: StageId,
        opts: Box<dyn Any>,
        previous: Option<(SubId, Reason)>,
    ) -> Result<SubId, SubscribeError> {
        let slot = self
            .slots
            .get_mut(consumer.0 as usize)
            .ok_or(SubscribeError::NoSuchStage)?;
        if slot.stopped.is_some() {
            return Err(SubscribeError::Stopped);
        }
        let r = slot
            .node
            .subscribe(producer, opts, previous, &mut self.net, consumer);
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
    /// so prefer the `Sim` methods).
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn stage_mut<T: 'static>(&mut self, h: Handle<T>) -> &mut T {
        self.slot_of_mut(h)
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

    /// Events in messages to a stage that were dropped because it had stopped.
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
                    let mut s = slot.node.summary();
                    s.stopped = s.stopped.or(slot.stopped);
                    s.lost_in_flight = slot.lost;
                    s
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
    pub fn with<T: NodeStage, R>(
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

    /// Delivers one queued message; false when nothing was queued.
    pub fn step(&mut self) -> bool {
        let Some(env) = self.net.queue.pop_front() else {
            return false;
        };
        self.net.step += 1;
        let to = env.to;
        let kind = match &env.body {
            Body::ToProducer(sub, what, demand, _) => Some(TraceKind::ToProducer {
                sub: *sub,
                what,
                demand: *demand,
            }),
            Body::Events(sub, _, len) => Some(TraceKind::Events {
                sub: *sub,
                len: *len,
            }),
            Body::ToConsumer(ToConsumer::Cancel { sub, reason }) => Some(TraceKind::ToConsumer {
                sub: *sub,
                reason: *reason,
            }),
            Body::Down(stage, reason) => Some(TraceKind::Down {
                stage: *stage,
                reason: *reason,
            }),
        };
        let live = self
            .slots
            .get(to.0 as usize)
            .is_some_and(|s| s.stopped.is_none());
        if !live {
            let events = match env.body {
                Body::Events(_, _, len) => len,
                _ => 0,
            };
            if let Some(slot) = self.slots.get_mut(to.0 as usize) {
                slot.lost += events as u64;
            }
            self.net.record(to, TraceKind::Dropped { events });
            self.answer_dead(env);
            return true;
        }
        if let Some(kind) = kind {
            self.net.record(to, kind);
        }
        let slot = &mut self.slots[to.0 as usize];
        slot.node.deliver(env.body, &mut self.net, to);
        self.settle_stops();
        true
    }

    /// A subscribe to a stage that is gone is answered with a down (the monitor fires at once).
    fn answer_dead(&mut self, env: Envelope) {
        if let Body::ToProducer(sub, "subscribe", _, _) = env.body {
            self.net.queue.push_back(Envelope {
                to: sub.consumer,
                body: Body::Down(env.to, Reason::NoProc),
            });
        }
    }

    fn settle_stops(&mut self) {
        while !self.net.stops.is_empty() {
            for (id, reason) in core::mem::take(&mut self.net.stops) {
                let slot = &mut self.slots[id.0 as usize];
                if slot.stopped.is_some() {
                    continue;
                }
                slot.stopped = Some(reason);
                for (i, other) in self.slots.iter().enumerate() {
                    if i != id.0 as usize && other.stopped.is_none() {
                        self.net.queue.push_back(Envelope {
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

    /// Delivers messages until none is queued; returns how many were delivered.
    pub fn run_until_idle(&mut self) -> u64 {
        let mut n = 0;
        while self.step() {
            n += 1;
        }
        n
    }

    /// Messages queued and not yet delivered.
    pub fn pending(&self) -> usize {
        self.net.queue.len()
    }

    /// Events inside queued messages, not yet delivered.
    pub fn events_in_flight(&self) -> usize {
        self.net
            .queue
            .iter()
            .map(|e| match e.body {
                Body::Events(_, _, len) => len,
                _ => 0,
            })
            .sum()
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

/// Stage types the sim can host. Implemented for the three stage kinds.
pub trait NodeStage: 'static + sealed::Sealed + Node {
    /// Events of its producers (or its own, for a producer).
    type UpIn: 'static;
    /// Events it emits (or takes, for a consumer).
    type DownOut: 'static;
    /// Its info/call message type.
    type Msg: 'static;
    /// Its address.
    fn stage_id(&self) -> StageId;
}

mod sealed {
    pub trait Sealed {}
}

impl<B: Producer<M>, M, S: Storage, D> sealed::Sealed for ProducerStage<B, M, S, D> {}
impl<B, M, S, D> NodeStage for ProducerStage<B, M, S, D>
where
    B: Producer<M> + 'static,
    B::Event: 'static,
    M: 'static,
    S: Storage,
    D: Dispatcher<B::Event> + 'static,
{
    type UpIn = B::Event;
    type DownOut = B::Event;
    type Msg = M;
    fn stage_id(&self) -> StageId {
        self.id()
    }
}
impl<B: ProducerConsumer<M>, M, S: Storage, D> sealed::Sealed
    for ProducerConsumerStage<B, M, S, D>
{
}
impl<B, M, S, D> NodeStage for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M> + 'static,
    B::In: 'static,
    B::Out: 'static,
    M: 'static,
    S: Storage,
    D: Dispatcher<B::Out> + 'static,
{
    type UpIn = B::In;
    type DownOut = B::Out;
    type Msg = M;
    fn stage_id(&self) -> StageId {
        self.id()
    }
}
impl<B, M, S: Storage> sealed::Sealed for ConsumerStage<B, M, S> where B: Consumer<M> {}
impl<B, M, S> NodeStage for ConsumerStage<B, M, S>
where
    B: Consumer<M> + 'static,
    B::Event: 'static,
    M: 'static,
    S: Storage,
{
    type UpIn = B::Event;
    type DownOut = B::Event;
    type Msg = M;
    fn stage_id(&self) -> StageId {
        self.id()
    }
}
