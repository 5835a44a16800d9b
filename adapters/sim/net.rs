//! The transport: queued envelopes, the outbox stages write into, and the one generic way the
//! simulator drives any [`Stage`].

use super::oracle::Books;
use super::trace::{ToProducerKind, TraceEntry, TraceHash, TraceKind};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::any::{Any, TypeId};
use genstage::runtime::{
    DiscardReason, Outbox, Output, Report, Stage, StageId, StageStats, StageSummary, ToConsumer,
    ToProducer,
};
use genstage::{Reason, SubId};

/// A message on its way, with its payload type erased. An ask or a cancel travels as plain
/// data (`kind`); only a subscribe, whose options carry the event type, is boxed. Event
/// batches travel in boxed `Vec`s that are recycled ([`Net::spare_batch`]), so that a running
/// pipeline allocates nothing per message.
pub(super) enum Body {
    /// A `ToProducer<E>` for the producer.
    ToProducer {
        sub: SubId,
        kind: ToProducerKind,
        /// A subscribe's subscription to cancel first.
        previous: Option<SubId>,
        /// The sender's event type `E`, checked on delivery.
        events: TypeId,
        /// A subscribe's `ToProducer<E>`.
        msg: Option<Box<dyn Any>>,
    },
    /// A `Vec<E>` of events for the consumer.
    Events {
        sub: SubId,
        events: Box<dyn Any>,
        len: usize,
    },
    ToConsumer(ToConsumer),
    Down(StageId, Reason),
}

impl Body {
    pub(super) fn to_producer<E: 'static>(msg: ToProducer<E>) -> Self {
        let previous = match &msg {
            ToProducer::Subscribe { previous, .. } => previous.map(|(old, _)| old),
            _ => None,
        };
        let kind = match msg {
            ToProducer::Subscribe { .. } => ToProducerKind::Subscribe,
            ToProducer::Ask { demand, .. } => ToProducerKind::Ask(demand),
            ToProducer::Cancel { reason, .. } => ToProducerKind::Cancel(reason),
        };
        let sub = msg.sub();
        let msg = match kind {
            ToProducerKind::Subscribe => Some(Box::new(msg) as Box<dyn Any>),
            ToProducerKind::Ask(_) | ToProducerKind::Cancel(_) => None,
        };
        Self::ToProducer {
            sub,
            kind,
            previous,
            events: TypeId::of::<E>(),
            msg,
        }
    }
    pub(super) fn events<E: 'static>(sub: SubId, events: Vec<E>) -> Self {
        let len = events.len();
        Self::Events {
            sub,
            events: Box::new(events),
            len,
        }
    }
    /// What the trace says when it is delivered.
    pub(super) fn trace_kind(&self) -> TraceKind {
        match self {
            Self::ToProducer { sub, kind, .. } => TraceKind::ToProducer {
                sub: *sub,
                kind: *kind,
            },
            Self::Events { sub, len, .. } => TraceKind::Events {
                sub: *sub,
                len: *len,
            },
            Self::ToConsumer(ToConsumer::Cancel { sub, reason }) => TraceKind::ToConsumer {
                sub: *sub,
                reason: *reason,
            },
            Self::Down(stage, reason) => TraceKind::Down {
                stage: *stage,
                reason: *reason,
            },
        }
    }
    /// Events it carries.
    pub(super) fn events_len(&self) -> usize {
        match self {
            Self::Events { len, .. } => *len,
            _ => 0,
        }
    }
}

pub(super) struct Envelope {
    /// The sender: messages between one pair of stages stay in order.
    pub(super) from: StageId,
    pub(super) to: StageId,
    pub(super) body: Body,
    /// When it was sent, on the virtual clock: it is delivered no earlier (and no earlier
    /// than its receiver is free).
    pub(super) at: u64,
    /// The incarnation of its sender, when sent.
    pub(super) from_generation: u32,
    /// The incarnation of its receiver it is meant for: a message for an incarnation a
    /// restart has replaced is dropped.
    pub(super) to_generation: u32,
}

/// What the simulator knows of one stage's load: for the virtual clock and the backlog
/// gauge.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Gauge {
    /// Events in messages on their way to it.
    pub(super) inbound: usize,
    /// Events it held (buffered, held, queued) when last looked at.
    pub(super) holding: usize,
    /// The most `inbound + holding` has been.
    pub(super) high_water: usize,
}

/// What an observer sees: every output of every stage, in the order produced.
#[derive(Clone, Copy, Debug)]
pub enum Observed<'a> {
    /// A control output: an `&Output<In, Msg>` of the stage's types.
    Output(&'a dyn Any),
    /// A batch of events for `sub`: an `&Vec<Out>` of the stage's event type.
    Events(SubId, &'a dyn Any),
}

/// An observer of every output (see [`Sim::observe`](super::Sim::observe)).
pub type Observer = Box<dyn FnMut(StageId, Observed<'_>)>;

/// The simulator's shared state that stage outboxes write into.
pub(super) struct Net {
    pub(super) queue: VecDeque<Envelope>,
    pub(super) trace: Vec<TraceEntry>,
    pub(super) tracing: bool,
    pub(super) step: u64,
    pub(super) replies: Vec<Box<dyn Any>>,
    pub(super) stops: Vec<(StageId, Reason)>,
    pub(super) observer: Option<Observer>,
    /// The oracles' bookkeeping.
    pub(super) books: Books,
    /// The running hash of every trace line, recorded or not.
    pub(super) hash: TraceHash,
    /// The virtual clock: what the stages' callbacks read, and when messages are sent.
    pub(super) now: u64,
    /// One per hosted stage, by id.
    pub(super) gauges: Vec<Gauge>,
    /// Each hosted stage's incarnation (restarts under its id).
    pub(super) generations: Vec<u32>,
    /// For each subscription a producer took, the incarnation of the consumer that made
    /// it: what the producer sends on it is for that incarnation.
    pub(super) sub_generations: BTreeMap<SubId, u32>,
    /// Whether any stage was ever restarted under its id: until then every incarnation is
    /// 0 and a message needs no lookup to know whom it is for.
    pub(super) restarted: bool,
    /// Emptied event batches (boxed `Vec`s of any event type), for the next batches sent.
    pub(super) spare: Vec<Box<dyn Any>>,
}

/// How many emptied batches the simulator keeps for reuse.
const SPARE_BATCHES: usize = 64;

impl Net {
    pub(super) fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            trace: Vec::new(),
            tracing: true,
            step: 0,
            replies: Vec::new(),
            stops: Vec::new(),
            observer: None,
            books: Books::default(),
            hash: TraceHash::new(),
            now: 0,
            gauges: Vec::new(),
            generations: Vec::new(),
            sub_generations: BTreeMap::new(),
            restarted: false,
            spare: Vec::new(),
        }
    }
    /// An empty boxed `Vec<E>` for a batch: a recycled one when there is one.
    pub(super) fn spare_batch<E: 'static>(&mut self) -> Box<dyn Any> {
        match self.spare.iter().rposition(|b| b.is::<Vec<E>>()) {
            Some(i) => self.spare.swap_remove(i),
            None => Box::new(Vec::<E>::new()),
        }
    }
    /// Keeps an emptied batch for reuse (a stage takes every event it is handed).
    pub(super) fn recycle(&mut self, batch: Box<dyn Any>) {
        if self.spare.len() < SPARE_BATCHES {
            self.spare.push(batch);
        }
    }
    /// The current incarnation of `stage` (0 for an id no stage has).
    pub(super) fn generation(&self, stage: StageId) -> u32 {
        self.generations.get(stage.0 as usize).copied().unwrap_or(0)
    }
    /// Queues a message, sent now.
    #[inline]
    pub(super) fn push(&mut self, from: StageId, to: StageId, body: Body) {
        let events = body.events_len();
        if events > 0
            && let Some(g) = self.gauges.get_mut(to.0 as usize)
        {
            g.inbound += events;
            g.high_water = g.high_water.max(g.inbound + g.holding);
        }
        let (from_generation, to_generation) = if self.restarted {
            let for_sub = match &body {
                Body::Events { sub, .. } => Some(*sub),
                Body::ToConsumer(msg) => Some(msg.sub()),
                _ => None,
            };
            let to_generation = for_sub
                .filter(|sub| sub.consumer == to)
                .and_then(|sub| self.sub_generations.get(&sub).copied())
                .unwrap_or_else(|| self.generation(to));
            (self.generation(from), to_generation)
        } else {
            (0, 0)
        };
        self.queue.push_back(Envelope {
            from,
            to,
            body,
            at: self.now,
            from_generation,
            to_generation,
        });
    }
    /// Takes the message at `i` off the queue.
    #[inline]
    pub(super) fn take(&mut self, i: usize) -> Envelope {
        let env = if i == 0 {
            self.queue.pop_front()
        } else {
            self.queue.remove(i)
        }
        .expect("the scheduler picks a queued message");
        let events = env.body.events_len();
        if let Some(g) = self.gauges.get_mut(env.to.0 as usize) {
            g.inbound -= events;
        }
        env
    }
    /// What `stage` holds now (buffered, held, queued), for its backlog gauge.
    pub(super) fn holding(&mut self, stage: StageId, holding: usize) {
        if let Some(g) = self.gauges.get_mut(stage.0 as usize) {
            g.holding = holding;
            g.high_water = g.high_water.max(g.inbound + holding);
        }
    }
    /// Adds an entry to the trace, when tracing is on.
    #[inline]
    pub(super) fn record(&mut self, stage: StageId, kind: TraceKind) {
        let entry = TraceEntry {
            step: self.step,
            at: self.now,
            stage,
            kind,
        };
        self.hash.entry(&entry);
        if self.tracing {
            self.trace.push(entry);
        }
    }
    fn observe(&mut self, me: StageId, what: Observed<'_>) {
        if let Some(f) = self.observer.as_mut() {
            f(me, what);
        }
    }
}

/// The outbox a stage of the simulator writes to (what [`Sim::with`](super::Sim::with) hands
/// out): routes its outputs into the simulator.
pub struct SimOutbox<'a> {
    pub(super) net: &'a mut Net,
    pub(super) me: StageId,
}

impl<In: 'static, Out: 'static, M: 'static> Outbox<In, Out, M> for SimOutbox<'_> {
    fn push(&mut self, output: Output<In, M>) {
        self.net.observe(self.me, Observed::Output(&output));
        match output {
            Output::ToProducer(msg) => self.net.push(self.me, msg.to(), Body::to_producer(msg)),
            Output::ToConsumer(msg) => {
                if msg.sub().producer == self.me {
                    self.net.books.close_at_producer(msg.sub());
                }
                self.net.push(self.me, msg.to(), Body::ToConsumer(msg));
            }
            Output::Reply(m) => self.net.replies.push(Box::new(m)),
            Output::Stop(reason) => {
                self.net.record(self.me, TraceKind::Stopped(reason));
                self.net.stops.push((self.me, reason));
            }
            Output::Report(r) => self.net.record(self.me, TraceKind::Report(r)),
        }
    }
    fn events<I: ExactSizeIterator<Item = Out>>(&mut self, sub: SubId, events: I) {
        self.send_batch(sub, |batch| batch.extend(events));
    }
    fn events_buffer(&mut self, sub: SubId, events: &mut Vec<Out>) {
        // The stage's buffer travels; the stage keeps a recycled one.
        self.send_batch(sub, |batch| core::mem::swap(batch, events));
    }
}

impl SimOutbox<'_> {
    /// Queues a batch for `sub`'s consumer, in a recycled buffer that `fill` fills.
    fn send_batch<Out: 'static>(&mut self, sub: SubId, fill: impl FnOnce(&mut Vec<Out>)) {
        let mut boxed = self.net.spare_batch::<Out>();
        let Some(batch) = boxed.downcast_mut::<Vec<Out>>() else {
            unreachable!("spare_batch gives a Vec of the type asked")
        };
        fill(batch);
        let len = batch.len();
        self.net.observe(self.me, Observed::Events(sub, &*batch));
        let step = self.net.step;
        self.net.books.on_send(self.me, sub, &*batch, len, step);
        self.net.push(
            self.me,
            sub.consumer,
            Body::Events {
                sub,
                events: boxed,
                len,
            },
        );
    }
}

/// A stage as the simulator holds it: any [`Stage`], with its types erased.
pub(super) trait Node: Any {
    /// Delivers a message; returns how many events it carried that the stage could not take
    /// (a payload of another type: reported as `WrongKind` and counted as lost).
    fn deliver(&mut self, body: Body, net: &mut Net, me: StageId) -> usize;
    fn stop(&mut self, reason: Reason, net: &mut Net, me: StageId);
    fn set_now(&mut self, now: u64);
    fn summary(&self) -> StageSummary;
    fn holding(&self) -> usize;
    fn stats(&self) -> StageStats;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T> Node for T
where
    T: Stage + 'static,
    T::In: 'static,
    T::Out: 'static,
    T::Msg: 'static,
{
    fn deliver(&mut self, body: Body, net: &mut Net, me: StageId) -> usize {
        let o = &mut SimOutbox { net, me };
        match body {
            Body::ToProducer { sub, events, .. } if events != TypeId::of::<T::Out>() => {
                wrong_kind::<T, _>(o, sub)
            }
            Body::ToProducer {
                sub,
                kind: ToProducerKind::Ask(demand),
                ..
            } => self.handle_to_producer(ToProducer::Ask { sub, demand }, o),
            Body::ToProducer {
                sub,
                kind: ToProducerKind::Cancel(reason),
                ..
            } => self.handle_to_producer(ToProducer::Cancel { sub, reason }, o),
            Body::ToProducer { sub, msg, .. } => {
                match msg.map(|m| m.downcast::<ToProducer<T::Out>>()) {
                    Some(Ok(msg)) => self.handle_to_producer(*msg, o),
                    _ => wrong_kind::<T, _>(o, sub),
                }
            }
            Body::Events {
                sub,
                mut events,
                len,
            } => match events.downcast_mut::<Vec<T::In>>() {
                Some(batch) => {
                    // The stage may take the buffer whole, leaving an emptied one of its own.
                    self.handle_events_buffer(sub, batch, o);
                    o.net.recycle(events);
                }
                None => {
                    wrong_kind::<T, _>(o, sub);
                    Outbox::<T::In, T::Out, T::Msg>::push(
                        o,
                        Output::Report(Report::Discarded {
                            count: len,
                            reason: DiscardReason::UnknownSubscription,
                            log: true,
                        }),
                    );
                    return len;
                }
            },
            Body::ToConsumer(msg) => self.handle_to_consumer(msg, o),
            Body::Down(stage, reason) => self.handle_down(stage, reason, o),
        }
        0
    }
    fn stop(&mut self, reason: Reason, net: &mut Net, me: StageId) {
        Stage::stop(self, reason, &mut SimOutbox { net, me });
    }
    fn set_now(&mut self, now: u64) {
        Stage::set_now(self, now);
    }
    fn summary(&self) -> StageSummary {
        Stage::summary(self)
    }
    fn holding(&self) -> usize {
        Stage::holding(self)
    }
    fn stats(&self) -> StageStats {
        *Stage::stats(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A message whose payload is not of the stage's types (a raw `StageId` used where the types
/// were not checked): reported, never a panic.
fn wrong_kind<T: Stage, O: Outbox<T::In, T::Out, T::Msg>>(o: &mut O, sub: SubId) {
    o.push(Output::Report(Report::WrongKind { sub }));
}
