//! Handles: cloneable, `Send + Sync` references to a running stage, typed by its kind and
//! event types, and [`AnyStage`], the same without the types (for joining a whole pipeline).

use super::CallError;
use super::kind::{Downstream, Kind, Upstream};
use super::reply::{self, NoAnswer};
use super::shared::{Command, DownPort, Exit, Input, Shared, UpPort};
use super::sync::{self, Arc};
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;
use genstage::error::{AskError, OptionsError, SendError, SubscribeError};
use genstage::runtime::{StageStats, StageSummary, SubscriptionStats};
use genstage::{DemandMode, Reason, StageId, SubId, Subscribe};
use std::vec::Vec;

/// A running stage of kind `K` that takes `In` and emits `Out`, with info and call messages
/// `M`. Cheap to clone; every clone keeps the stage alive (see [the ownership
/// rule](super#shutdown-who-keeps-a-stage-alive)).
///
/// Use the aliases: [`ProducerHandle`], [`ProducerConsumerHandle`], [`ConsumerHandle`].
pub struct Handle<K, In, Out, M = ()> {
    shared: Arc<Shared<In, Out, M>>,
    _kind: PhantomData<fn() -> K>,
}

/// A handle to a producer of `E`.
pub type ProducerHandle<E, M = ()> = Handle<super::kind::Producer, E, E, M>;
/// A handle to a `producer_consumer` taking `In` and emitting `Out`.
pub type ProducerConsumerHandle<In, Out, M = ()> =
    Handle<super::kind::ProducerConsumer, In, Out, M>;
/// A handle to a consumer of `E`.
pub type ConsumerHandle<E, M = ()> = Handle<super::kind::Consumer, E, E, M>;

impl<K, In, Out, M> Clone for Handle<K, In, Out, M> {
    fn clone(&self) -> Self {
        self.shared.mailbox.add_owner();
        Self {
            shared: self.shared.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K, In, Out, M> Drop for Handle<K, In, Out, M> {
    fn drop(&mut self) {
        self.shared.mailbox.drop_owner();
    }
}

impl<K, In, Out, M> fmt::Debug for Handle<K, In, Out, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({} {:?})", self.shared.id, self.shared.name)
    }
}

impl<K, In, Out, M> Handle<K, In, Out, M>
where
    K: Kind,
    In: Send + 'static,
    Out: Send + 'static,
    M: Send + 'static,
{
    /// Wraps a fresh stage's shared state (which starts with one owner: this handle).
    pub(super) fn new(shared: Arc<Shared<In, Out, M>>) -> Self {
        Self {
            shared,
            _kind: PhantomData,
        }
    }

    /// The stage's address.
    pub fn id(&self) -> StageId {
        self.shared.id
    }

    /// The stage's name (also its thread's name).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// What the stage holds and is owed, as published after its last input (a request that
    /// was answered is always reflected).
    pub fn summary(&self) -> StageSummary {
        *self.shared.summary.lock()
    }

    /// The stage's counters, as of its last published summary.
    pub fn stats(&self) -> StageStats {
        self.summary().stats
    }

    /// Events in its output buffer, as of its last published summary (GenStage's
    /// `estimate_buffered_count`).
    pub fn estimate_buffered_count(&self) -> usize {
        self.summary().buffered
    }

    /// Events sent to this stage that it never took because it had stopped: still queued
    /// when it stopped, or sent after.
    pub fn lost_in_flight(&self) -> u64 {
        self.shared.status.lock().lost
    }

    /// How it ended, once it has.
    pub fn exit(&self) -> Option<Exit> {
        self.shared.exit()
    }

    /// True once it has stopped (its thread is ending or has ended).
    pub fn is_stopped(&self) -> bool {
        self.exit().is_some()
    }

    /// The panic message, when a callback panicked.
    pub fn panic_message(&self) -> Option<std::string::String> {
        self.exit().and_then(|e| e.panic)
    }

    /// Waits until the stage has stopped; returns why.
    pub fn join(&self) -> Reason {
        self.shared.join().reason
    }

    /// Waits until the stage has stopped; returns how (with the panic message, if any).
    pub fn join_exit(&self) -> Exit {
        self.shared.join()
    }

    /// Waits at most `timeout` for the stage to stop.
    pub fn join_timeout(&self, timeout: Duration) -> Option<Reason> {
        let deadline = sync::deadline(timeout);
        let mut st = self.shared.status.lock();
        loop {
            if let Some(exit) = &st.exit {
                return Some(exit.reason);
            }
            if self.shared.exited.wait_until(&mut st, deadline) && st.exit.is_none() {
                return None;
            }
        }
    }

    /// Asks the stage to stop with `reason` (as if a callback had returned
    /// [`Flow::Stop`](genstage::Flow::Stop)), after the inputs already queued. Does not wait:
    /// [`join`](Self::join) does. Stopping a stopped stage does nothing.
    pub fn stop(&self, reason: Reason) {
        let _ = self.shared.send(Input::Command(Command::Stop(reason)));
    }

    /// A call: the stage's `handle_call` runs and its reply comes back. A timeout is an
    /// `Err` and the stage keeps running (the late reply is dropped).
    pub fn call(&self, msg: M, timeout: Duration) -> Result<M, CallError<M>> {
        let (tx, rx) = reply::channel();
        let deadline = sync::deadline(timeout);
        match self
            .shared
            .send(Input::Command(Command::Call { msg, reply: tx }))
        {
            Ok(()) => match rx.wait(Some(deadline)) {
                Ok(r) => r,
                Err(NoAnswer::Timeout) => Err(CallError::Timeout),
                Err(NoAnswer::Dropped) => Err(CallError::Stopped {
                    reason: self.join(),
                    msg: None,
                }),
            },
            Err(Input::Command(Command::Call { msg, .. })) => Err(CallError::Stopped {
                reason: self.join(),
                msg: Some(msg),
            }),
            Err(_) => unreachable!("a refused send hands back its own input"),
        }
    }

    /// A call whose reply nobody waits for (GenStage's `cast`). A stopped stage hands the
    /// message back.
    pub fn cast(&self, msg: M) -> Result<(), SendError<M>> {
        let (tx, _rx) = reply::channel();
        match self
            .shared
            .send(Input::Command(Command::Call { msg, reply: tx }))
        {
            Ok(()) => Ok(()),
            Err(Input::Command(Command::Call { msg, .. })) => Err(SendError::Stopped {
                msg,
                reason: self.join(),
            }),
            Err(_) => unreachable!("a refused send hands back its own input"),
        }
    }

    /// An info (GenStage's `async_info`): `handle_info` runs after every event the stage had
    /// buffered or queued before it (spec §10). Does not wait; a stopped stage hands the
    /// message back.
    pub fn info(&self, msg: M) -> Result<(), SendError<M>> {
        match self
            .shared
            .send(Input::Command(Command::Info { msg, reply: None }))
        {
            Ok(()) => Ok(()),
            Err(Input::Command(Command::Info { msg, .. })) => Err(SendError::Stopped {
                msg,
                reason: self.join(),
            }),
            Err(_) => unreachable!("a refused send hands back its own input"),
        }
    }

    /// An info that waits until the stage has queued it (GenStage's `sync_info`); the stage's
    /// refusal (it had stopped) comes back with the message when it has one.
    pub fn sync_info(&self, msg: M) -> Result<(), SendError<M>> {
        let (tx, rx) = reply::channel();
        match self.shared.send(Input::Command(Command::Info {
            msg,
            reply: Some(tx),
        })) {
            Ok(()) => match rx.wait(None) {
                Ok(r) => r,
                // The stage panicked while handling it: it ran, and the stage is gone.
                Err(_) => Ok(()),
            },
            Err(Input::Command(Command::Info { msg, .. })) => Err(SendError::Stopped {
                msg,
                reason: self.join(),
            }),
            Err(_) => unreachable!("a refused send hands back its own input"),
        }
    }

    /// Counters of one of its subscriptions (either side), read on its thread now.
    pub fn subscription_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        let (tx, rx) = reply::channel();
        self.shared
            .send(Input::Command(Command::SubscriptionStats {
                sub,
                reply: tx,
            }))
            .ok()?;
        rx.wait(None).ok().flatten()
    }

    /// The same stage without its types, for [`join_all`](super::join_all) and lists of
    /// mixed stages. It keeps the stage alive as this handle does.
    pub fn any(&self) -> AnyStage {
        self.shared.mailbox.add_owner();
        AnyStage(self.shared.clone())
    }

    /// The stage's shared state, without owning it (for a stage that sends to itself).
    #[cfg(not(loom))]
    pub(super) fn shared(&self) -> &Arc<Shared<In, Out, M>> {
        &self.shared
    }

    /// The stage as its consumers reach it.
    fn port(&self) -> Arc<dyn UpPort<Out>> {
        self.shared.clone()
    }

    /// The stage as its consumers reach it (for raw peers).
    pub(super) fn up_port(&self) -> Arc<dyn UpPort<Out>> {
        self.shared.clone()
    }

    /// The stage as its producers reach it (for raw peers).
    pub(super) fn down_port(&self) -> Arc<dyn DownPort<In>> {
        self.shared.clone()
    }
}

impl<K, In, Out, M> Handle<K, In, Out, M>
where
    K: Downstream,
    In: Send + 'static,
    Out: Send + 'static,
    M: Send + 'static,
{
    /// Subscribes this stage to `producer` (GenStage's `sync_subscribe`). Returns once this
    /// stage has done its part (spec §4.7): the subscribe is on its way, `handle_subscribe`
    /// has run and, in automatic mode, the first ask followed. Bad options are an `Err` and
    /// nothing is sent. A producer that has already stopped answers with a down of reason
    /// [`Reason::NoProc`], and this stage's cancel mode decides (spec §4.6).
    pub fn subscribe<K2: Upstream, I2: Send + 'static, M2: Send + 'static>(
        &self,
        producer: &Handle<K2, I2, In, M2>,
        opts: Subscribe<In>,
    ) -> Result<SubId, SubscribeError> {
        self.subscribe_with(producer.port(), opts, None)
    }

    /// Subscribes without waiting (GenStage's `async_subscribe`): the subscription starts
    /// when the stage handles the request; a refusal is only reported (with the `tracing`
    /// feature). `Err` when this stage has stopped.
    pub fn subscribe_async<K2: Upstream, I2: Send + 'static, M2: Send + 'static>(
        &self,
        producer: &Handle<K2, I2, In, M2>,
        opts: Subscribe<In>,
    ) -> Result<(), SubscribeError> {
        self.shared
            .send(Input::Command(Command::Subscribe {
                producer: producer.port(),
                opts,
                previous: None,
                reply: None,
            }))
            .map_err(|_| SubscribeError::Stopped)
    }

    /// Subscribes anew to `producer`, asking it to cancel `old` with `reason` first; `old`'s
    /// cancel mode applies when that cancel arrives (spec §4.9).
    pub fn resubscribe<K2: Upstream, I2: Send + 'static, M2: Send + 'static>(
        &self,
        old: SubId,
        reason: Reason,
        producer: &Handle<K2, I2, In, M2>,
        opts: Subscribe<In>,
    ) -> Result<SubId, SubscribeError> {
        self.subscribe_with(producer.port(), opts, Some((old, reason)))
    }

    /// Subscribes to `producer` and hands the handle back: subscribe-at-start (GenStage's
    /// `subscribe_to`), for `spawn_consumer(..)?.subscribed_to(&p, opts)?`. On an error the
    /// handle is dropped, so a stage nobody else holds stops.
    pub fn subscribed_to<K2: Upstream, I2: Send + 'static, M2: Send + 'static>(
        self,
        producer: &Handle<K2, I2, In, M2>,
        opts: Subscribe<In>,
    ) -> Result<Self, SubscribeError> {
        self.subscribe(producer, opts)?;
        Ok(self)
    }

    fn subscribe_with(
        &self,
        producer: Arc<dyn UpPort<In>>,
        opts: Subscribe<In>,
        previous: Option<(SubId, Reason)>,
    ) -> Result<SubId, SubscribeError> {
        // Checked here too, so that bad options never cost a round trip.
        opts.validate()?;
        let (tx, rx) = reply::channel();
        self.shared
            .send(Input::Command(Command::Subscribe {
                producer,
                opts,
                previous,
                reply: Some(tx),
            }))
            .map_err(|_| SubscribeError::Stopped)?;
        rx.wait(None).unwrap_or(Err(SubscribeError::Stopped))
    }

    /// Asks for `demand` more events on a manual subscription (an ask of 0 sends nothing).
    pub fn ask(&self, sub: SubId, demand: usize) -> Result<(), AskError> {
        let (tx, rx) = reply::channel();
        self.shared
            .send(Input::Command(Command::Ask {
                sub,
                demand,
                reply: tx,
            }))
            .map_err(|_| AskError::Stopped)?;
        rx.wait(None).unwrap_or(Err(AskError::Stopped))
    }

    /// Asks the producer to cancel `sub` with `reason`; the subscription ends (and its cancel
    /// mode applies) when the producer confirms.
    pub fn cancel(&self, sub: SubId, reason: Reason) -> Result<(), AskError> {
        let (tx, rx) = reply::channel();
        self.shared
            .send(Input::Command(Command::Cancel {
                sub,
                reason,
                reply: tx,
            }))
            .map_err(|_| AskError::Stopped)?;
        rx.wait(None).unwrap_or(Err(AskError::Stopped))
    }
}

impl<K, In, Out, M> Handle<K, In, Out, M>
where
    K: Upstream,
    In: Send + 'static,
    Out: Send + 'static,
    M: Send + 'static,
{
    /// Switches the demand mode (spec §8): a producer leaving accumulate mode replays what it
    /// held; a `producer_consumer` accepts only forward. Waits until the stage has done it; a
    /// stopped stage ignores it.
    pub fn set_demand_mode(&self, mode: DemandMode) -> Result<(), OptionsError> {
        let (tx, rx) = reply::channel();
        if self
            .shared
            .send(Input::Command(Command::DemandMode { mode, reply: tx }))
            .is_err()
        {
            return Ok(());
        }
        rx.wait(None).unwrap_or(Ok(()))
    }
}

/// What every typed handle can do without its types.
pub(super) trait Control: Send + Sync {
    fn id(&self) -> StageId;
    fn name(&self) -> &str;
    fn join(&self) -> Exit;
    fn exit(&self) -> Option<Exit>;
    fn stop(&self, reason: Reason);
    fn summary(&self) -> StageSummary;
    fn add_owner(&self);
    fn drop_owner(&self);
}

impl<In: Send + 'static, Out: Send + 'static, M: Send + 'static> Control for Shared<In, Out, M> {
    fn id(&self) -> StageId {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn join(&self) -> Exit {
        Self::join(self)
    }
    fn exit(&self) -> Option<Exit> {
        Self::exit(self)
    }
    fn stop(&self, reason: Reason) {
        let _ = self.send(Input::Command(Command::Stop(reason)));
    }
    fn summary(&self) -> StageSummary {
        *self.summary.lock()
    }
    fn add_owner(&self) {
        self.mailbox.add_owner();
    }
    fn drop_owner(&self) {
        self.mailbox.drop_owner();
    }
}

/// A handle without types: any stage's id, name, summary, stop and join. Keeps the stage
/// alive as a typed handle does.
pub struct AnyStage(pub(super) Arc<dyn Control>);

impl AnyStage {
    /// The stage's address.
    pub fn id(&self) -> StageId {
        self.0.id()
    }
    /// Its name.
    pub fn name(&self) -> &str {
        self.0.name()
    }
    /// Its last published summary.
    pub fn summary(&self) -> StageSummary {
        self.0.summary()
    }
    /// How it ended, once it has.
    pub fn exit(&self) -> Option<Exit> {
        self.0.exit()
    }
    /// Asks it to stop with `reason`.
    pub fn stop(&self, reason: Reason) {
        self.0.stop(reason);
    }
    /// Waits until it has stopped; returns how.
    pub fn join(&self) -> Exit {
        self.0.join()
    }
}

impl Clone for AnyStage {
    fn clone(&self) -> Self {
        self.0.add_owner();
        Self(self.0.clone())
    }
}

impl Drop for AnyStage {
    fn drop(&mut self) {
        self.0.drop_owner();
    }
}

impl fmt::Debug for AnyStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyStage({} {:?})", self.id(), self.name())
    }
}

/// Waits for every stage to stop and returns how each ended, in order: the one call that says
/// a finite pipeline is done.
///
/// ```
/// # use genstage::threads;
/// # use genstage::*;
/// # struct Ten(u64);
/// # impl Producer for Ten {
/// #     type Event = u64;
/// #     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
/// #         let end = (self.0 + demand as u64).min(10);
/// #         self.0 += out.extend(self.0..end) as u64;
/// #         if self.0 == 10 { Flow::StopWhenDrained(Reason::Normal) } else { Flow::Continue }
/// #     }
/// # }
/// # struct Sink;
/// # impl Consumer for Sink {
/// #     type Event = u64;
/// #     fn handle_events(&mut self, _: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow { Flow::Continue }
/// # }
/// let source = threads::spawn_producer(Ten(0), ProducerOptions::default()).unwrap();
/// let sink = threads::spawn_consumer(Sink);
/// sink.subscribe(&source, Subscribe::new().max_demand(4)).unwrap();
/// let exits = threads::join_all([source.any(), sink.any()]);
/// assert!(exits.iter().all(|e| e.reason == Reason::Normal));
/// ```
pub fn join_all(stages: impl IntoIterator<Item = AnyStage>) -> Vec<Exit> {
    stages.into_iter().map(|s| s.join()).collect()
}
