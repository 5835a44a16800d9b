//! The journal: the events, messages and wire format the stages exchange, the [`J`] entries
//! everything that happens is recorded as, the [`World`] that holds the journal and the
//! router's channels, and the behaviours (producer, producer_consumer, consumer) that write
//! their callbacks into it.

use genstage::runtime::{Record, ToConsumer, ToProducer};
use genstage::{
    Batch, Cancellation, Consumer, Ctx, Emit, Flow, Producer, ProducerConsumer, Reason, Relay,
    Reply, StageId, SubId, SubscribeOptions, Subscribed,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// An event: its unique id, handed out in emission order.
pub(crate) type Ev = u64;

/// Info messages and calls the stages take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Info marker `id`; its `handle_info` emits `emit` events.
    Info { id: u32, emit: usize },
    /// A call whose `handle_call` emits `emit` events, replying before them when `now`.
    Call { emit: usize, now: bool },
    /// Stop the stage.
    Stop(Reason),
    /// The reply to a call.
    Reply,
}

/// A message on the wire between two stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    Events(SubId, Vec<Ev>),
    ToProducer(ToProducer<Ev>),
    ToConsumer(ToConsumer),
    /// The sending stage went down (a monitor notice).
    Down(StageId, Reason),
}

/// A behaviour callback that ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cb {
    /// The callback that ran just before emitted these events.
    Emitted(Vec<Ev>),
    /// `handle_events` on a consumer-role stage.
    Events(SubId, Vec<Ev>),
    /// A producer's `handle_demand`.
    Demand(usize),
    /// A consumer-role stage's `handle_subscribe`, and whether it answered manual.
    Subscribed(SubId, bool),
    /// A producer-role stage heard of a new consumer.
    ConsumerSubscribed(SubId),
    Cancel(SubId, Cancellation),
    Info(u32),
    Call,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum J {
    /// The router handed `wire` to stage `at`.
    In { at: StageId, wire: Wire },
    /// Stage `at` output this.
    Out {
        at: StageId,
        rec: Record<Ev, Ev, Msg>,
    },
    /// A callback of the behaviour of `at` ran.
    Cb { at: StageId, cb: Cb },
    /// The test is about to give info `id` to `at`.
    InfoIssued { at: StageId, id: u32 },
    /// The test switched the producer's demand mode.
    Mode { at: StageId, accumulate: bool },
}

#[derive(Default)]
pub(crate) struct World {
    pub(crate) journal: Vec<J>,
    next_event: Ev,
    /// One FIFO per (from, to).
    pub(crate) channels: BTreeMap<(StageId, StageId), VecDeque<Wire>>,
    /// Stages that output `Stop` and whose peers have not been told yet.
    pub(crate) stops: Vec<(StageId, Reason)>,
}

pub(crate) type Shared = Rc<RefCell<World>>;

impl World {
    pub(crate) fn send(&mut self, from: StageId, to: StageId, wire: Wire) {
        self.channels.entry((from, to)).or_default().push_back(wire);
    }
    fn cb(&mut self, at: StageId, cb: Cb) {
        self.journal.push(J::Cb { at, cb });
    }
    pub(crate) fn fresh(&mut self, n: usize) -> Vec<Ev> {
        let ids = (self.next_event..self.next_event + n as u64).collect();
        self.next_event += n as u64;
        ids
    }
}

// ---------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------

fn emit(w: &Shared, me: StageId, out: &mut Emit<'_, Ev>, n: usize) {
    if n == 0 {
        return;
    }
    let mut w = w.borrow_mut();
    let ids = w.fresh(n);
    assert_eq!(out.extend(ids.iter().copied()), n, "growable storage");
    w.cb(me, Cb::Emitted(ids));
}

fn on_info(w: &Shared, me: StageId, msg: Msg, out: &mut Emit<'_, Ev>) -> Flow {
    match msg {
        Msg::Info { id, emit: n } => {
            w.borrow_mut().cb(me, Cb::Info(id));
            emit(w, me, out, n);
            Flow::Continue
        }
        Msg::Stop(r) => Flow::Stop(r),
        Msg::Call { .. } | Msg::Reply => Flow::Continue,
    }
}

fn on_call(w: &Shared, me: StageId, msg: Msg, reply: &mut Reply<Msg>, out: &mut Emit<'_, Ev>) {
    if let Msg::Call { emit: n, now } = msg {
        w.borrow_mut().cb(me, Cb::Call);
        if now {
            reply.reply_now(Msg::Reply);
        } else {
            reply.reply(Msg::Reply);
        }
        emit(w, me, out, n);
    }
}

/// The producer. `handle_demand` answers `demand + delta` events (deltas cycle), within a
/// total budget so that runs stay finite; `handle_cancel` emits a few events.
pub(crate) struct Src {
    pub(crate) w: Shared,
    pub(crate) me: StageId,
    pub(crate) deltas: Vec<i8>,
    pub(crate) calls: usize,
    pub(crate) budget: usize,
    pub(crate) cancel_emit: usize,
}

impl Producer<Msg> for Src {
    type Event = Ev;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Demand(demand));
        let delta = i64::from(self.deltas[self.calls % self.deltas.len()]);
        self.calls += 1;
        let n = ((demand as i64 + delta).max(0) as usize).min(self.budget);
        self.budget -= n;
        emit(&self.w, self.me, out, n);
        Flow::Continue
    }
    fn handle_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::ConsumerSubscribed(sub));
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, out: &mut Emit<'_, Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Cancel(sub, how));
        emit(&self.w, self.me, out, self.cancel_emit);
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, out: &mut Emit<'_, Ev>) -> Flow {
        on_info(&self.w, self.me, msg, out)
    }
    fn handle_call(&mut self, msg: Msg, reply: &mut Reply<Msg>, out: &mut Emit<'_, Ev>) -> Flow {
        on_call(&self.w, self.me, msg, reply, out);
        Flow::Continue
    }
}

/// The producer_consumer: each input becomes 0, 1 or 2 fresh outputs (the pattern cycles).
pub(crate) struct Mid {
    pub(crate) w: Shared,
    pub(crate) me: StageId,
    pub(crate) fanout: Vec<u8>,
    pub(crate) handled: usize,
    pub(crate) next_manual: bool,
    pub(crate) cancel_emit: usize,
}

impl ProducerConsumer<Msg> for Mid {
    type In = Ev;
    type Out = Ev;
    fn handle_events(&mut self, events: Batch<'_, Ev>, out: &mut Relay<'_, Ev>) -> Flow {
        let from = events.sub();
        let ids: Vec<Ev> = events.collect();
        let mut n = 0;
        for _ in &ids {
            n += usize::from(self.fanout[self.handled % self.fanout.len()]);
            self.handled += 1;
        }
        self.w.borrow_mut().cb(self.me, Cb::Events(from, ids));
        emit(&self.w, self.me, out, n);
        Flow::Continue
    }
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _: &SubscribeOptions<Ev>,
        _ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        self.w
            .borrow_mut()
            .cb(self.me, Cb::Subscribed(sub, self.next_manual));
        if self.next_manual {
            Subscribed::Manual
        } else {
            Subscribed::Automatic
        }
    }
    fn handle_consumer_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::ConsumerSubscribed(sub));
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, out: &mut Relay<'_, Ev>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Cancel(sub, how));
        emit(&self.w, self.me, out, self.cancel_emit);
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, out: &mut Relay<'_, Ev>) -> Flow {
        on_info(&self.w, self.me, msg, out)
    }
    fn handle_call(&mut self, msg: Msg, reply: &mut Reply<Msg>, out: &mut Relay<'_, Ev>) -> Flow {
        on_call(&self.w, self.me, msg, reply, out);
        Flow::Continue
    }
}

/// A consumer that journals what it gets; an info `Stop` makes it stop (a crash).
pub(crate) struct Sink {
    pub(crate) w: Shared,
    pub(crate) me: StageId,
    pub(crate) next_manual: bool,
}

impl Consumer<Msg> for Sink {
    type Event = Ev;
    fn handle_events(&mut self, events: Batch<'_, Ev>, _: &mut Ctx<'_>) -> Flow {
        let from = events.sub();
        let ids: Vec<Ev> = events.collect();
        self.w.borrow_mut().cb(self.me, Cb::Events(from, ids));
        Flow::Continue
    }
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _: &SubscribeOptions<Ev>,
        _ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        self.w
            .borrow_mut()
            .cb(self.me, Cb::Subscribed(sub, self.next_manual));
        if self.next_manual {
            Subscribed::Manual
        } else {
            Subscribed::Automatic
        }
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _: &mut Ctx<'_>) -> Flow {
        self.w.borrow_mut().cb(self.me, Cb::Cancel(sub, how));
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, _: &mut Ctx<'_>) -> Flow {
        match msg {
            Msg::Stop(r) => Flow::Stop(r),
            Msg::Info { id, .. } => {
                self.w.borrow_mut().cb(self.me, Cb::Info(id));
                Flow::Continue
            }
            Msg::Call { .. } | Msg::Reply => Flow::Continue,
        }
    }
}
