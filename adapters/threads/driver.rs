//! The stage thread: takes everything pending in its mailbox, drives the stage through the
//! core's one driving surface ([`Stage`]) for each input under `catch_unwind`, routes every
//! output to the peer it names, and when the stage stops, closes the mailbox, answers what
//! was still queued, and tells every peer it went down.

use super::kind::Kind;
use super::reply::Sender;
use super::shared::{Command, DownPort, Exit, Input, Shared, UpPort, Watch};
use super::sync::Arc;
use super::trace;
use super::{CallError, Runtime};
use genstage::dispatcher::Dispatcher;
use genstage::error::{AskError, OptionsError, SendError, SubscribeError};
use genstage::runtime::{Outbox, Output, SubscriptionStats, ToConsumer, ToProducer};
use genstage::storage::Storage;
use genstage::{
    Consumer, ConsumerRole, ConsumerStage, DemandMode, Producer, ProducerConsumer,
    ProducerConsumerStage, ProducerStage, Reason, Stage, StageId, SubId, Subscribe,
};
use std::collections::{HashSet, VecDeque};
use std::string::{String, ToString};
use std::vec::Vec;

/// Spare batch buffers a stage keeps for its outgoing events.
const POOL: usize = 8;
/// Emptied incoming buffers a stage keeps per producer, to give back with its next ask.
const SPARES: usize = 2;

/// A stage the thread runtime can run: any [`Stage`] that can move to its own thread, with
/// the commands of its kind. Implemented for the core's three stage types (any storage and
/// dispatcher); implement it for a stage of your own to spawn it with
/// [`Runtime::spawn`](super::Runtime::spawn).
pub trait Spawn:
    Stage<In: Send + 'static, Out: Send + 'static, Msg: Send + 'static> + Send + 'static
{
    /// Its kind, which decides what its handle can do.
    type Kind: Kind;

    /// Subscribes to `producer` (`previous`: resubscribe). The default refuses:
    /// [`SubscribeError::NotAConsumer`].
    fn subscribe_to<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<Self::In>,
        previous: Option<(SubId, Reason)>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        let _ = (producer, opts, previous, out);
        Err(SubscribeError::NotAConsumer)
    }
    /// A manual ask. The default refuses: [`AskError::NotAConsumer`].
    fn ask_upstream<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        let _ = (sub, demand, out);
        Err(AskError::NotAConsumer)
    }
    /// Cancels one of its subscriptions. The default refuses: [`AskError::NotAConsumer`].
    fn cancel_upstream<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        let _ = (sub, reason, out);
        Err(AskError::NotAConsumer)
    }
    /// Switches the demand mode. The default refuses:
    /// [`OptionsError::DemandModeNotSupported`].
    fn demand_mode<O: Outbox<Self::In, Self::Out, Self::Msg>>(
        &mut self,
        mode: DemandMode,
        out: &mut O,
    ) -> Result<(), OptionsError> {
        let _ = (mode, out);
        Err(OptionsError::DemandModeNotSupported)
    }
    /// Counters of one subscription, either side. The default knows none.
    fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        let _ = sub;
        None
    }
}

impl<B, M, S, D> Spawn for ProducerStage<B, M, S, D>
where
    B: Producer<M> + Send + 'static,
    B::Event: Send + 'static,
    M: Send + 'static,
    S: Storage + 'static,
    D: Dispatcher<B::Event> + Send + 'static,
    Self: Send,
{
    type Kind = super::kind::Producer;
    fn demand_mode<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        mode: DemandMode,
        out: &mut O,
    ) -> Result<(), OptionsError> {
        self.set_demand_mode(mode, out);
        Ok(())
    }
    fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        Self::subscription_stats(self, sub)
    }
}

impl<B, M, S, D> Spawn for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M> + Send + 'static,
    B::In: Send + 'static,
    B::Out: Send + 'static,
    M: Send + 'static,
    S: Storage + 'static,
    D: Dispatcher<B::Out> + Send + 'static,
    Self: Send,
{
    type Kind = super::kind::ProducerConsumer;
    fn subscribe_to<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<B::In>,
        previous: Option<(SubId, Reason)>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        subscribe_or_resubscribe(self, producer, opts, previous, out)
    }
    fn ask_upstream<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.ask(sub, demand, out)
    }
    fn cancel_upstream<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.cancel(sub, reason, out)
    }
    fn demand_mode<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        mode: DemandMode,
        _out: &mut O,
    ) -> Result<(), OptionsError> {
        self.set_demand_mode(mode)
    }
    fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        Self::subscription_stats(self, sub)
    }
}

impl<B, M, S> Spawn for ConsumerStage<B, M, S>
where
    B: Consumer<M> + Send + 'static,
    B::Event: Send + 'static,
    M: Send + 'static,
    S: Storage + 'static,
    Self: Send,
{
    type Kind = super::kind::Consumer;
    fn subscribe_to<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<B::Event>,
        previous: Option<(SubId, Reason)>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        subscribe_or_resubscribe(self, producer, opts, previous, out)
    }
    fn ask_upstream<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.ask(sub, demand, out)
    }
    fn cancel_upstream<O: Outbox<B::Event, B::Event, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.cancel(sub, reason, out)
    }
    fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        Self::subscription_stats(self, sub)
    }
}

/// The one upstream step of `Spawn` with any logic, for both consumer-role stages: a
/// subscribe, or a resubscribe when `previous` names a subscription to cancel first.
fn subscribe_or_resubscribe<T: ConsumerRole, O: Outbox<T::In, T::Out, T::Msg>>(
    stage: &mut T,
    producer: StageId,
    opts: Subscribe<T::In>,
    previous: Option<(SubId, Reason)>,
    out: &mut O,
) -> Result<SubId, SubscribeError> {
    match previous {
        None => stage.subscribe(producer, opts, out),
        Some((old, why)) => stage.resubscribe(old, why, producer, opts, out),
    }
}

/// What a stage keeps per peer stage: a few entries, found by a scan (cheaper than hashing
/// the id for the handful of peers a stage has, and looked up on every batch).
struct Peers<V>(Vec<(StageId, V)>);

impl<V> Default for Peers<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> Peers<V> {
    fn get(&self, id: &StageId) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, v)| v)
    }
    fn get_mut(&mut self, id: &StageId) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == id).map(|(_, v)| v)
    }
    /// The entry of `id`, made (default) if there is none.
    fn entry(&mut self, id: StageId) -> &mut V
    where
        V: Default,
    {
        let i = match self.0.iter().position(|(k, _)| *k == id) {
            Some(i) => i,
            None => {
                self.0.push((id, V::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
    fn remove(&mut self, id: &StageId) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == id)?;
        Some(self.0.swap_remove(i).1)
    }
    fn iter(&self) -> impl Iterator<Item = (&StageId, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// A stage this one talks to.
struct Peer<In, Out> {
    /// A producer it subscribed to.
    up: Option<Arc<dyn UpPort<In>>>,
    /// A consumer subscribed to it.
    down: Option<Arc<dyn DownPort<Out>>>,
}

impl<In, Out> Default for Peer<In, Out> {
    fn default() -> Self {
        Self {
            up: None,
            down: None,
        }
    }
}

impl<In, Out> Peer<In, Out> {
    fn watch(&self) -> Option<&dyn Watch> {
        match (&self.up, &self.down) {
            (Some(u), _) => Some(&**u as &dyn Watch),
            (None, Some(d)) => Some(&**d as &dyn Watch),
            (None, None) => None,
        }
    }
}

/// The outbox of a stage thread: routes each output to its peer as it is produced.
struct Router<In, Out, M> {
    me: Arc<Shared<In, Out, M>>,
    peers: Peers<Peer<In, Out>>,
    /// Subscriptions of consumers to this stage: while there are any, it is not unowned.
    downstream: HashSet<SubId>,
    /// Inputs the runtime gives this stage itself (downs for subscribes to stopped stages).
    local: VecDeque<Input<In, Out, M>>,
    /// Empty buffers for outgoing batches.
    pool: Vec<Vec<Out>>,
    /// Emptied incoming buffers, by producer, to give back with the next ask.
    spares: Peers<Vec<Vec<In>>>,
    stopped: Option<Reason>,
    reply: Option<M>,
}

impl<In: Send + 'static, Out: Send + 'static, M: Send + 'static> Outbox<In, Out, M>
    for Router<In, Out, M>
{
    fn push(&mut self, output: Output<In, M>) {
        match output {
            Output::ToProducer(msg) => self.send_up(msg),
            Output::ToConsumer(msg) => {
                let ToConsumer::Cancel { sub, reason } = msg;
                if reason != Reason::DuplicatedSubscription {
                    self.downstream.remove(&sub);
                }
                trace::cancel(&self.me.name, sub, reason);
                if let Some(port) = self.peers.get(&msg.to()).and_then(|p| p.down.as_ref()) {
                    port.to_consumer(msg);
                }
            }
            Output::Reply(m) => self.reply = Some(m),
            Output::Stop(reason) => {
                if self.stopped.is_none() {
                    self.stopped = Some(reason);
                }
            }
            Output::Report(report) => trace::report(&self.me.name, &report),
        }
    }

    fn events<I: ExactSizeIterator<Item = Out>>(&mut self, sub: SubId, events: I) {
        let mut batch = self.pool.pop().unwrap_or_default();
        batch.extend(events);
        self.send_batch(sub, batch);
    }

    fn events_buffer(&mut self, sub: SubId, events: &mut Vec<Out>) {
        // The stage's buffer travels as it is; the stage keeps a recycled one.
        let mut batch = self.pool.pop().unwrap_or_default();
        core::mem::swap(&mut batch, events);
        self.send_batch(sub, batch);
    }
}

impl<In: Send + 'static, Out: Send + 'static, M: Send + 'static> Router<In, Out, M> {
    /// Sends a batch to `sub`'s consumer; a buffer that cannot be delivered comes back to the
    /// pool.
    fn send_batch(&mut self, sub: SubId, mut batch: Vec<Out>) {
        match self.peers.get(&sub.consumer).and_then(|p| p.down.as_ref()) {
            Some(port) => {
                if let Err(buffer) = port.events(sub, batch) {
                    self.recycle(buffer);
                }
            }
            // Nobody to deliver to (a consumer the runtime never met): not silently lost.
            None => {
                self.me.lose(batch.len());
                batch.clear();
                self.recycle(batch);
            }
        }
    }
}

impl<In: Send + 'static, Out: Send + 'static, M: Send + 'static> Router<In, Out, M> {
    fn send_up(&mut self, msg: ToProducer<In>) {
        let producer = msg.to();
        let Some(port) = self.peers.get(&producer).and_then(|p| p.up.clone()) else {
            return; // an answer to a stage that never subscribed us: nobody to tell
        };
        let (from, spare) = match msg {
            ToProducer::Subscribe { sub, .. } => {
                trace::subscribe(&self.me.name, sub);
                let me: Arc<dyn DownPort<In>> = self.me.clone();
                (Some(me), None)
            }
            ToProducer::Ask { sub, .. } => (
                None,
                self.spares.get_mut(&sub.producer).and_then(|s| s.pop()),
            ),
            ToProducer::Cancel { sub, reason } => {
                trace::cancel(&self.me.name, sub, reason);
                (None, None)
            }
        };
        let subscribe = matches!(msg, ToProducer::Subscribe { .. });
        if !port.to_producer(msg, from, spare) && subscribe {
            // The producer has stopped: its monitor fires at once (spec §4.6).
            self.local.push_back(Input::Down(producer, Reason::NoProc));
        }
    }

    fn recycle(&mut self, buffer: Vec<Out>) {
        if self.pool.len() < POOL && buffer.capacity() > 0 {
            self.pool.push(buffer);
        }
    }
}

/// What one [`Driver::turn`] came to.
pub(super) enum Turn {
    /// It handled inputs; there may be more.
    Busy,
    /// Nothing was pending: the mailbox marked it idle, its next input wakes it.
    Idle,
    /// The stage has stopped.
    Done,
}

/// A stage's whole running state (on its thread, or as a task on a worker): the stage, its
/// router, and the inputs taken from its mailbox.
pub(super) struct Driver<T: Spawn> {
    stage: T,
    router: Router<T::In, T::Out, T::Msg>,
    inbox: VecDeque<Input<T::In, T::Out, T::Msg>>,
    panic: Option<String>,
}

impl<T: Spawn> Driver<T> {
    pub(super) fn new(stage: T, me: Arc<Shared<T::In, T::Out, T::Msg>>) -> Self {
        Self {
            stage,
            router: Router {
                me,
                peers: Peers::default(),
                downstream: HashSet::new(),
                local: VecDeque::new(),
                pool: Vec::new(),
                spares: Peers::default(),
                stopped: None,
                reply: None,
            },
            inbox: VecDeque::new(),
            panic: None,
        }
    }

    /// The thread's body: runs until the stage stops, then tears down.
    pub(super) fn run(mut self, runtime: Runtime) {
        while let Turn::Busy = self.turn(&runtime, true) {}
        self.teardown();
        runtime.thread_done();
    }

    /// One turn: the inputs the runtime gave the stage itself, then everything pending in
    /// its mailbox, waiting for it when `block` (a stage thread), or not (a task on a
    /// worker, [`Turn::Idle`] when nothing is pending). [`Turn::Done`] once the stage has
    /// stopped: [`teardown`](Self::teardown) comes next.
    pub(super) fn turn(&mut self, runtime: &Runtime, block: bool) -> Turn {
        use super::mailbox::Recv;
        if self.router.stopped.is_some() {
            return Turn::Done;
        }
        if !self.router.local.is_empty() {
            self.stage.set_now(runtime.now());
        }
        while let Some(input) = self.router.local.pop_front() {
            self.drive(input);
            if self.router.stopped.is_some() {
                return Turn::Done;
            }
        }
        let me = &self.router.me;
        let may_stop = self.router.downstream.is_empty();
        let got = if block {
            me.mailbox.recv(&mut self.inbox, may_stop)
        } else {
            me.mailbox.try_recv(&mut self.inbox, may_stop)
        };
        match got {
            Recv::Items => {
                self.stage.set_now(runtime.now());
                while let Some(input) = self.inbox.pop_front() {
                    self.drive(input);
                    if self.router.stopped.is_some() {
                        break;
                    }
                }
                self.publish();
            }
            Recv::Unowned => {
                self.guarded(|s, r| s.stop(Reason::Shutdown, r));
                self.router.stopped.get_or_insert(Reason::Shutdown);
            }
            Recv::Idle => return Turn::Idle,
            Recv::Closed | Recv::Timeout => return Turn::Done,
        }
        if self.router.stopped.is_some() {
            Turn::Done
        } else {
            Turn::Busy
        }
    }

    /// Runs `f` on the stage with the router, catching a panic: the stage then stops with
    /// [`Reason::Panicked`] (what it held is counted by its own stop, when that still works).
    fn guarded<R>(
        &mut self,
        f: impl FnOnce(&mut T, &mut Router<T::In, T::Out, T::Msg>) -> R,
    ) -> Option<R> {
        let (stage, router) = (&mut self.stage, &mut self.router);
        match std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| f(stage, router))) {
            Ok(r) => Some(r),
            Err(payload) => {
                let msg = panic_message(&*payload);
                trace::panicked(&self.router.me.name, &msg);
                self.panic = Some(msg);
                let (stage, router) = (&mut self.stage, &mut self.router);
                let _ = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
                    stage.stop(Reason::Panicked, router)
                }));
                self.router.stopped = Some(Reason::Panicked);
                None
            }
        }
    }

    /// One input.
    fn drive(&mut self, input: Input<T::In, T::Out, T::Msg>) {
        match input {
            Input::ToProducer { msg, from, spare } => {
                if let Some(port) = from {
                    let consumer = port.id();
                    self.router.peers.entry(consumer).down = Some(port);
                }
                if let ToProducer::Subscribe { sub, .. } = msg {
                    self.router.downstream.insert(sub);
                }
                if let Some(buffer) = spare {
                    self.router.recycle(buffer);
                }
                self.guarded(|s, r| s.handle_to_producer(msg, r));
            }
            Input::Events { sub, mut events } => {
                // The stage may take the buffer whole and hand back an emptied one of its own.
                let events = self.guarded(move |s, r| {
                    s.handle_events_buffer(sub, &mut events, r);
                    events
                });
                if let Some(buffer) = events
                    && buffer.capacity() > 0
                {
                    let spares = self.router.spares.entry(sub.producer);
                    if spares.len() < SPARES {
                        spares.push(buffer);
                    } else if let Some(port) = self
                        .router
                        .peers
                        .get(&sub.producer)
                        .and_then(|p| p.up.as_ref())
                    {
                        // More batches than asks lately (small chunks): the producer gets
                        // the buffer back anyway, so that it does not have to allocate one.
                        port.give_back(buffer);
                    }
                }
            }
            Input::Spare(buffer) => self.router.recycle(buffer),
            Input::ToConsumer(msg) => {
                self.guarded(|s, r| s.handle_to_consumer(msg, r));
            }
            Input::Down(stage, reason) => {
                self.guarded(|s, r| s.handle_down(stage, reason, r));
                self.router.peers.remove(&stage);
                self.router.spares.remove(&stage);
                self.router.downstream.retain(|s| s.consumer != stage);
            }
            Input::Command(cmd) => self.command(cmd),
        }
    }

    fn command(&mut self, cmd: Command<T::In, T::Msg>) {
        match cmd {
            Command::Subscribe {
                producer,
                opts,
                previous,
                reply,
            } => {
                let id = producer.id();
                self.router.peers.entry(id).up = Some(producer);
                let r = self.guarded(|s, r| s.subscribe_to(id, opts, previous, r));
                self.publish();
                let r = r.unwrap_or(Err(SubscribeError::Stopped));
                if let Err(e) = &r {
                    trace::refused(&self.router.me.name, e);
                }
                if let Some(reply) = reply {
                    reply.send(r);
                }
            }
            Command::Ask { sub, demand, reply } => {
                let r = self.guarded(|s, r| s.ask_upstream(sub, demand, r));
                self.answer(reply, r.unwrap_or(Err(AskError::Stopped)));
            }
            Command::Cancel { sub, reason, reply } => {
                let r = self.guarded(|s, r| s.cancel_upstream(sub, reason, r));
                self.answer(reply, r.unwrap_or(Err(AskError::Stopped)));
            }
            Command::Call { msg, reply } => {
                self.router.reply = None;
                let r = self.guarded(|s, r| s.call(msg, r));
                let answer = match (r, self.router.reply.take()) {
                    (Some(Err(e)), _) => Err(CallError::from_send(e)),
                    (_, Some(m)) => Ok(m),
                    (Some(Ok(())), None) => match self.router.stopped {
                        Some(reason) => Err(CallError::Stopped { reason, msg: None }),
                        None => Err(CallError::NoReply),
                    },
                    (None, None) => Err(CallError::Stopped {
                        reason: Reason::Panicked,
                        msg: None,
                    }),
                };
                self.answer(reply, answer);
            }
            Command::Info { msg, reply } => {
                let r = self.guarded(|s, r| s.info(msg, r));
                if let Some(reply) = reply {
                    let r = r.unwrap_or(Ok(()));
                    self.answer(reply, r);
                }
            }
            Command::Stop(reason) => {
                self.guarded(|s, r| s.stop(reason, r));
                self.router.stopped.get_or_insert(reason);
            }
            Command::DemandMode { mode, reply } => {
                let r = self.guarded(|s, r| s.demand_mode(mode, r));
                self.answer(reply, r.unwrap_or(Ok(())));
            }
            Command::SubscriptionStats { sub, reply } => {
                reply.send(self.stage.subscription_stats(sub));
            }
        }
    }

    /// Publishes the stage's state, then answers: a caller that got its answer reads a
    /// summary at least as new as the request.
    fn answer<R>(&mut self, reply: Sender<R>, value: R) {
        self.publish();
        reply.send(value);
    }

    fn publish(&self) {
        let mut summary = self.stage.summary();
        if summary.stopped.is_none() {
            summary.stopped = self.router.stopped;
        }
        *self.router.me.summary.lock() = summary;
    }

    /// The stage stopped: close the mailbox, account for what was still queued, tell every
    /// peer, publish the exit.
    pub(super) fn teardown(mut self) {
        let mut batch = core::mem::take(&mut self.inbox);
        let me = self.router.me.clone();
        let reason = self.router.stopped.unwrap_or(Reason::Shutdown);
        trace::stopped(&me.name, reason);
        batch.extend(self.router.local.drain(..));
        batch.extend(me.mailbox.close());
        let mut lost = 0;
        let mut late: Vec<Arc<dyn DownPort<T::Out>>> = Vec::new();
        for input in batch {
            lost += input.events_len();
            match input {
                Input::ToProducer {
                    from: Some(port), ..
                } => late.push(port),
                Input::Command(cmd) => refuse(cmd, reason),
                _ => {}
            }
        }
        me.lose(lost);
        self.publish();
        let peers = core::mem::take(&mut self.router.peers);
        let mut told = HashSet::new();
        for (id, peer) in peers.iter() {
            if let Some(w) = peer.watch() {
                told.insert(*id);
                w.down(me.id, reason);
            }
        }
        for port in late {
            if told.insert(port.id()) {
                port.down(me.id, reason);
            }
        }
        drop(peers);
        // The stage (and its behaviour) is dropped on its own thread before the exit is
        // published, so a joiner sees every side effect of its `Drop`.
        let panic = self.panic.take();
        drop(self);
        me.publish_exit(Exit { reason, panic });
    }
}

/// Answers a request that reached a stopped stage.
fn refuse<In, M>(cmd: Command<In, M>, reason: Reason) {
    match cmd {
        Command::Subscribe { reply, .. } => {
            if let Some(r) = reply {
                r.send(Err(SubscribeError::Stopped));
            }
        }
        Command::Ask { reply, .. } | Command::Cancel { reply, .. } => {
            reply.send(Err(AskError::Stopped));
        }
        Command::Call { msg, reply } => reply.send(Err(CallError::Stopped {
            reason,
            msg: Some(msg),
        })),
        Command::Info { msg, reply } => {
            if let Some(r) = reply {
                r.send(Err(SendError::Stopped { msg, reason }));
            }
        }
        Command::DemandMode { reply, .. } => reply.send(Ok(())),
        Command::SubscriptionStats { reply, .. } => reply.send(None),
        Command::Stop(_) => {}
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn core::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("a callback panicked with a non-string payload")
    }
}

/// Turns a task takes in one run before it goes to the back of the queue.
#[cfg(not(loom))]
const TASK_TURNS: u32 = 8;

/// A stage as a task on a runtime's workers ([`Runtime::with_workers`]): its driver, taken
/// out when the stage has stopped and torn down.
#[cfg(not(loom))]
pub(super) struct Task<T: Spawn> {
    driver: super::sync::Mutex<Option<Driver<T>>>,
    runtime: Runtime,
}

#[cfg(not(loom))]
impl<T: Spawn> Task<T> {
    pub(super) fn new(driver: Driver<T>, runtime: Runtime) -> Self {
        Self {
            driver: super::sync::Mutex::new(Some(driver)),
            runtime,
        }
    }
}

#[cfg(not(loom))]
impl<T: Spawn> super::pool::Job for Task<T> {
    fn run(&self) -> bool {
        let mut slot = self.driver.lock();
        let Some(driver) = slot.as_mut() else {
            return false; // woken once more on its way down: nothing left to do
        };
        for _ in 0..TASK_TURNS {
            match driver.turn(&self.runtime, false) {
                Turn::Busy => {}
                Turn::Idle => return false,
                Turn::Done => {
                    let driver = slot.take().expect("checked above");
                    drop(slot);
                    driver.teardown();
                    self.runtime.thread_done();
                    return false;
                }
            }
        }
        true
    }
}
