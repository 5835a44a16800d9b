//! The thread runtime (feature `std-threads`): stages on OS threads, the same behaviours as
//! in the simulator, unchanged. A [`Runtime`] runs every stage on a named thread of its own
//! ([`Runtime::new`], the free functions' default), or as tasks on a fixed set of worker
//! threads ([`Runtime::with_workers`]), which is much faster for light stages (see "Two ways
//! to run" below).
//!
//! ```
//! use genstage::threads;
//! use genstage::*;
//!
//! struct Maker(u64);
//! impl Producer for Maker {
//!     type Event = u64;
//!     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
//!         let end = (self.0 + demand as u64).min(1_000);
//!         self.0 += out.extend(self.0..end) as u64;
//!         if self.0 == 1_000 { Flow::StopWhenDrained(Reason::Normal) } else { Flow::Continue }
//!     }
//! }
//! struct Double;
//! impl ProducerConsumer for Double {
//!     type In = u64;
//!     type Out = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
//!         out.extend(events.map(|e| e * 2));
//!         Flow::Continue
//!     }
//! }
//! struct Sum(std::sync::mpsc::Sender<u64>, u64);
//! impl Consumer for Sum {
//!     type Event = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
//!         self.1 += events.sum::<u64>();
//!         Flow::Continue
//!     }
//! }
//! impl Drop for Sum {
//!     fn drop(&mut self) { let _ = self.0.send(self.1); }
//! }
//!
//! let (tx, total) = std::sync::mpsc::channel();
//! let maker = threads::spawn_producer(Maker(0), ProducerOptions::default())?;
//! let double = threads::spawn_producer_consumer(Double, ProducerOptions::default())?;
//! let sum = threads::spawn_consumer(Sum(tx, 0));
//! // From the end of the line: `double` asks `maker` as soon as it subscribes.
//! sum.subscribe(&double, Subscribe::new().max_demand(10))?;
//! double.subscribe(&maker, Subscribe::new().max_demand(50))?;
//! // The source runs dry and stops; permanent subscriptions carry the stop downstream.
//! let exits = threads::join_all([maker.any(), double.any(), sum.any()]);
//! assert!(exits.iter().all(|e| e.reason == Reason::Normal));
//! assert_eq!(total.recv()?, 2 * (0..1_000).sum::<u64>());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How it runs
//!
//! Each stage has one mailbox ([`mailbox::Mailbox`]: a `parking_lot` mutex over a queue and a
//! condition variable). Its thread (or its task's turn) takes everything pending in one lock, drives the stage
//! through the core's one driving surface ([`Stage`](genstage::Stage)) for each input, and
//! routes every output to the mailbox of the stage it names as it is produced. Events travel
//! as whole batches (one `Vec` per batch, one lock and at most one wake-up per batch), and the
//! emptied buffers go back to their producer with the next ask, so steady state allocates
//! nothing. A thread with nothing to do parks on its condition variable (a task marks itself
//! idle); a sender wakes it (schedules it) only when it is parked (idle).
//!
//! ## Two ways to run
//!
//! **A thread per stage** ([`Runtime::new`]): a stage with nothing to do parks its thread, and
//! its next input wakes it. Any callback may block (sleep, wait on I/O or on another thread)
//! without holding up another stage. But every handoff to a parked stage is a wake-up through
//! the OS, and with more stages than cores some are always waiting for a core: a pipeline of
//! light stages spends its time in handoffs, bounded by its window (`max_demand`).
//!
//! **Stages as tasks on workers** ([`Runtime::with_workers`], or `GENSTAGE_WORKERS=n` for the
//! global runtime, see [`Runtime::from_env`]): as the BEAM runs processes on one scheduler per
//! core. A stage with inputs is scheduled, takes them, and leaves its worker when its mailbox
//! is empty (the mailbox calls a waker instead of notifying a parked thread). A stage woken by
//! a stage running on a worker runs next on that same worker, so a batch and the ask that
//! answers it change hands with no OS wake-up and the events still in cache; a task that has
//! taken a few turns goes to the back of the shared queue, where the other workers take work
//! from. On the 2-core benchmark machine this makes the 3-stage pipeline at `max_demand` 1000
//! 4.8–6.7× faster than a thread per stage (415 M against 62 M events/s in the last run,
//! `docs/performance.md`). The price: **a callback holds its worker while it runs**, so a
//! stage that blocks belongs on its own thread, [`Builder::own_thread`] (the stream's feeding
//! consumer and the consumer supervisor always take one). Everything else (handles, shutdown,
//! failure containment, counters) is the same either way, and the thread runtime's tests run
//! both ways in CI.
//!
//! Handles ([`ProducerHandle`], [`ProducerConsumerHandle`], [`ConsumerHandle`]) are cheap to
//! clone, `Send + Sync`, and typed by kind and events: subscribing a consumer of `u64` to a
//! producer of `String` does not compile, nor does subscribing a producer to anything:
//!
//! ```compile_fail,E0308
//! use genstage::{threads, FromIter, ProducerOptions, Subscribe};
//! use genstage::prelude::*;
//!
//! struct Numbers;
//! impl Consumer for Numbers {
//!     type Event = u64;
//!     fn handle_events(&mut self, _: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow { Flow::Continue }
//! }
//! let words = threads::spawn_producer(FromIter::new(["a".to_string()]), ProducerOptions::default())?;
//! let numbers = threads::spawn_consumer(Numbers);
//! numbers.subscribe(&words, Subscribe::new())?; // a producer of String, a consumer of u64
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```compile_fail,E0599
//! use genstage::{threads, FromIter, ProducerOptions, Subscribe};
//!
//! let a = threads::spawn_producer(FromIter::new(0..10u64), ProducerOptions::default())?;
//! let b = threads::spawn_producer(FromIter::new(0..10u64), ProducerOptions::default())?;
//! b.subscribe(&a, Subscribe::new())?; // a producer takes no subscription
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Requests that need an answer (`subscribe`, `call`, `ask`, `cancel`, `set_demand_mode`,
//! `subscription_stats`) run on the stage's thread and are answered after it published its
//! [`summary`](Handle::summary), so what a caller reads after an answer is at least as new.
//!
//! ## Failure is contained
//!
//! Every input is handled under `catch_unwind`: a panicking callback stops its stage with
//! [`Reason::Panicked`] (the message is in
//! [`Handle::join_exit`] and [`Handle::panic_message`]), its peers get a down notice with
//! that reason and apply their cancel mode (spec §15), and nothing else is affected. A request
//! to a stopped stage is answered with an error, never left waiting. Events sent to a stage
//! that has stopped (queued when it stopped, or sent after) are counted per stage
//! ([`Handle::lost_in_flight`]); what it held itself is counted by the core as discarded.
//!
//! ## Shutdown: who keeps a stage alive
//!
//! A stage runs until it stops itself (a callback returns `Flow::Stop`, a producer drained
//! after `Flow::StopWhenDrained`, a cancel mode stops it), is stopped ([`Handle::stop`]),
//! panics, or **nobody owns it**: handles to it and consumers subscribed to it keep it alive;
//! its own subscriptions to producers do not. When its last handle is dropped and no
//! consumer is subscribed to it, it stops with [`Reason::Shutdown`](genstage::Reason) once
//! its mailbox is empty. So dropping every handle of a pipeline shuts it down from the
//! consumers up: each consumer stops, its producers lose their last subscriber and stop in
//! turn. Keep a handle to each consumer for as long as the pipeline should run (a producer or
//! `producer_consumer` needs none while someone consumes from it).
//!
//! A finite pipeline ends by itself, in order: the source returns
//! `Flow::StopWhenDrained(Reason::Normal)`, stops once every event it emitted was taken, and
//! permanent subscriptions carry the stop down the line. [`join_all`] waits for a list of
//! stages, [`Runtime::wait`] for every stage a runtime started. **Wire such a pipeline from its
//! end**, consumers first (as GenStage's own examples do): a `producer_consumer` asks its
//! producer as soon as it subscribes, so a finite source subscribed first may run dry into it,
//! and stop it, before its consumers arrive (they then get [`Reason::NoProc`]); a producer
//! with several consumers can start in
//! [`DemandMode::Accumulate`](genstage::DemandMode) and switch to `Forward` once all are in.
//!
//! ## Ids
//!
//! Stage ids come from one process-wide counter ([`next_id`]); a stage built by hand for
//! [`Runtime::spawn`] takes its id from there, so that no two stages share one.

mod driver;
mod handle;
pub mod kind;
pub mod mailbox;
#[cfg(not(loom))]
mod pool;
#[cfg(not(loom))]
mod push;
mod raw;
mod reply;
mod shared;
#[cfg(not(loom))] // the global runtime and std's channels are outside the loom models
mod stream;
#[cfg(not(loom))]
mod supervisor;
mod sync;
mod trace;

pub use driver::Spawn;
pub use handle::{
    AnyStage, ConsumerHandle, Handle, ProducerConsumerHandle, ProducerHandle, join_all,
};
#[cfg(not(loom))]
pub use push::{PushError, PushSender, PushSource, Wake, push_producer, push_producer_with};
pub use raw::{RawPeer, Received};
pub use shared::Exit;
#[cfg(not(loom))]
pub use stream::{Stream, StreamBuilder, StreamError, TryStream, stream};
#[cfg(not(loom))]
pub use supervisor::{
    ChildCounts, ChildCtx, ChildId, ChildInfo, ChildState, ChildStats, Restart, Start,
    StartChildError, Supervisor, SupervisorBuilder, SupervisorError, SupervisorMsg,
    consumer_supervisor,
};

use core::fmt;
use core::time::Duration;
use genstage::dispatcher::{DemandDispatcher, Dispatcher};
use genstage::error::{OptionsError, SendError};
use genstage::{
    Consumer, ConsumerStage, Producer, ProducerConsumer, ProducerConsumerStage, ProducerOptions,
    ProducerStage, Reason, StageId, storage::Heap,
};
use handle::Control;
use shared::Shared;
use std::string::String;
use std::vec::Vec;
use sync::{Arc, Condvar, JoinHandle, Mutex};

/// Why a [`call`](Handle::call) got no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError<M> {
    /// No reply within the timeout. The stage keeps running; a late reply is dropped.
    Timeout,
    /// The stage had stopped (or stopped while handling the call) with `reason`. `msg` is the
    /// request when it never reached the behaviour.
    Stopped {
        /// Why the stage stopped.
        reason: Reason,
        /// The request, handed back when it was not handled.
        msg: Option<M>,
    },
    /// The behaviour handled the call without replying.
    NoReply,
}

impl<M> CallError<M> {
    fn from_send(e: SendError<M>) -> Self {
        match e {
            SendError::Stopped { msg, reason } => Self::Stopped {
                reason,
                msg: Some(msg),
            },
            // Fixed storage only; a call holds nothing, so the core never answers this.
            SendError::Full(msg) => Self::Stopped {
                reason: Reason::TooManySubscriptions,
                msg: Some(msg),
            },
            #[allow(unreachable_patterns)] // `SendError` is non-exhaustive outside the core
            _ => Self::NoReply,
        }
    }
}

impl<M> fmt::Display for CallError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("the call timed out"),
            Self::Stopped { reason, .. } => write!(f, "the stage has stopped ({reason})"),
            Self::NoReply => f.write_str("the stage handled the call without replying"),
        }
    }
}

impl<M: fmt::Debug> core::error::Error for CallError<M> {}

/// A fresh stage id, distinct from every other id this process handed out: build a stage
/// with it for [`Runtime::spawn`].
pub fn next_id() -> StageId {
    StageId(sync::next_stage_number())
}

struct RtState {
    live: usize,
    /// Every stage started, with its thread (none for a task on the workers).
    threads: Vec<(Option<JoinHandle>, Arc<dyn Control>)>,
}

struct RtInner {
    state: Mutex<RtState>,
    idle: Condvar,
    /// When it was made: stages see the time since then ([`Runtime::now`]).
    started: std::time::Instant,
    /// The workers that run its stages as tasks ([`Runtime::with_workers`]); none when each
    /// stage has a thread of its own.
    #[cfg(not(loom))]
    pool: Option<Arc<pool::Pool>>,
}

#[cfg(not(loom))]
impl Drop for RtInner {
    fn drop(&mut self) {
        // Every stage holds its runtime, so nothing runs on the workers any more.
        if let Some(pool) = &self.pool {
            pool.close();
        }
    }
}

/// A set of stages that can be waited for together. Cheap to clone (clones share the set).
/// The free functions ([`spawn_producer`], ...) use [`Runtime::global`].
///
/// [`Runtime::new`] gives every stage an OS thread of its own; [`Runtime::with_workers`]
/// runs its stages as tasks on a fixed number of worker threads instead.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RtInner>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Runtime({} live)", self.live())
    }
}

impl Runtime {
    /// An empty runtime that starts every stage on an OS thread of its own.
    pub fn new() -> Self {
        Self::made(
            #[cfg(not(loom))]
            None,
        )
    }

    fn made(#[cfg(not(loom))] pool: Option<Arc<pool::Pool>>) -> Self {
        Self {
            inner: Arc::new(RtInner {
                state: Mutex::new(RtState {
                    live: 0,
                    threads: Vec::new(),
                }),
                idle: Condvar::new(),
                started: std::time::Instant::now(),
                #[cfg(not(loom))]
                pool,
            }),
        }
    }

    /// An empty runtime that runs its stages as tasks on `workers` threads (`0`: one per core,
    /// as [`std::thread::available_parallelism`] counts them),
    /// as the BEAM runs processes on one scheduler per core: a stage with inputs is
    /// scheduled, takes them, and leaves its worker when its mailbox is empty.
    ///
    /// A stage woken by a stage running on a worker runs next on that same worker, so a
    /// batch and the ask that answers it change hands without waking a thread; with one
    /// worker per core this is the fastest way to run a pipeline of light stages (see
    /// `docs/performance.md`). Everything else is as with [`new`](Self::new): the same
    /// handles, shutdown, failure containment and counters.
    ///
    /// **A callback holds its worker while it runs.** Stages that block (sleep, wait on I/O,
    /// wait for another stage with [`Handle::call`]) belong on a runtime made with
    /// [`new`](Self::new): with `workers` of them blocked, no other stage of this runtime
    /// runs. The workers end once the runtime (every clone, and every stage it started) is
    /// gone.
    ///
    /// ```
    /// use genstage::{threads::Runtime, FromIter, ProducerOptions, Subscribe};
    /// use genstage::prelude::*;
    ///
    /// struct Count(std::sync::Arc<std::sync::atomic::AtomicU64>);
    /// impl Consumer for Count {
    ///     type Event = u64;
    ///     fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
    ///         self.0.fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let rt = Runtime::with_workers(2);
    /// let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    /// let source = rt.spawn_producer(FromIter::new(0..100_000u64), ProducerOptions::default())?;
    /// let sink = rt.spawn_consumer(Count(seen.clone()));
    /// sink.subscribe(&source, Subscribe::new())?;
    /// // The source runs dry and stops; its permanent subscription stops the consumer.
    /// assert_eq!(sink.join(), genstage::Reason::Normal);
    /// drop((source, sink));
    /// rt.wait(); // every stage it started has ended
    /// assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 100_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// When the OS cannot start a thread.
    #[cfg(not(loom))]
    pub fn with_workers(workers: usize) -> Self {
        Self::made(Some(pool::Pool::start(workers)))
    }

    /// How many worker threads run its stages: `None` when each stage has a thread of its
    /// own ([`new`](Self::new)).
    pub fn workers(&self) -> Option<usize> {
        #[cfg(not(loom))]
        {
            self.inner.pool.as_ref().map(|p| p.workers())
        }
        #[cfg(loom)]
        {
            None
        }
    }

    /// Nanoseconds since the runtime was made (saturating): the time its stages' callbacks
    /// read with [`Emit::now`](genstage::Emit::now) and [`Ctx::now`](genstage::Ctx::now).
    /// A stage thread sets it each time it takes a batch of inputs from its mailbox, so
    /// every callback of one batch sees the same value, and it never goes back.
    pub fn now(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The process-wide runtime the free functions use, made by [`from_env`](Self::from_env)
    /// when first used.
    #[cfg(not(loom))]
    pub fn global() -> &'static Self {
        static GLOBAL: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Self::from_env)
    }

    /// A runtime as the environment asks: [`with_workers`](Self::with_workers) when the
    /// variable `GENSTAGE_WORKERS` holds a number of workers (`0`: one per core), else a
    /// thread per stage ([`new`](Self::new)); any other value is ignored. This lets a whole
    /// program (or test suite) switch how its stages run without a change of code.
    #[cfg(not(loom))]
    pub fn from_env() -> Self {
        match std::env::var("GENSTAGE_WORKERS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            Some(n) => Self::with_workers(n),
            None => Self::new(),
        }
    }

    /// Stages started and not yet ended (for a stage thread: its thread has not ended).
    pub fn live(&self) -> usize {
        self.inner.state.lock().live
    }

    /// Waits until every stage this runtime started has stopped (and its thread, if it has
    /// one, has ended).
    pub fn wait(&self) {
        let mut st = self.inner.state.lock();
        while st.live > 0 {
            self.inner.idle.wait(&mut st);
        }
        let threads = core::mem::take(&mut st.threads);
        drop(st);
        for (t, _) in threads.into_iter().filter_map(|(t, c)| Some((t?, c))) {
            sync::join(t);
        }
    }

    /// As [`wait`](Self::wait), for at most `timeout`; true when every thread ended.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = sync::deadline(timeout);
        let mut st = self.inner.state.lock();
        while st.live > 0 {
            if self.inner.idle.wait_until(&mut st, deadline) && st.live > 0 {
                return false;
            }
        }
        let threads = core::mem::take(&mut st.threads);
        drop(st);
        for (t, _) in threads.into_iter().filter_map(|(t, c)| Some((t?, c))) {
            sync::join(t);
        }
        true
    }

    /// Every stage started and not yet stopped, untyped (for a shutdown or a report).
    pub fn stages(&self) -> Vec<AnyStage> {
        let st = self.inner.state.lock();
        st.threads
            .iter()
            .filter(|(_, c)| c.exit().is_none())
            .map(|(_, c)| {
                c.add_owner();
                AnyStage(c.clone())
            })
            .collect()
    }

    pub(super) fn thread_done(&self) {
        let mut st = self.inner.state.lock();
        st.live -= 1;
        let idle = st.live == 0;
        drop(st);
        if idle {
            self.inner.idle.notify_all();
        }
    }

    /// A builder that names the next stage.
    pub fn builder(&self) -> Builder {
        Builder {
            runtime: self.clone(),
            name: None,
            own_thread: false,
        }
    }

    /// Starts `stage` (built with [`next_id`]) on its own thread.
    ///
    /// # Panics
    /// When the OS cannot start a thread (as `std::thread::spawn`).
    pub fn spawn<T: Spawn>(&self, stage: T) -> Handle<T::Kind, T::In, T::Out, T::Msg> {
        self.builder().spawn(stage)
    }

    /// Starts a producer with the default dispatcher. Invalid options are an `Err`.
    pub fn spawn_producer<B, M>(
        &self,
        behaviour: B,
        opts: ProducerOptions,
    ) -> Result<ProducerHandle<B::Event, M>, OptionsError>
    where
        B: Producer<M> + Send + 'static,
        B::Event: Send + 'static,
        M: Send + 'static,
    {
        self.builder().spawn_producer(behaviour, opts)
    }

    /// Starts a producer with `dispatcher`.
    pub fn spawn_producer_with<B, M, D>(
        &self,
        behaviour: B,
        opts: ProducerOptions,
        dispatcher: D,
    ) -> Result<ProducerHandle<B::Event, M>, OptionsError>
    where
        B: Producer<M> + Send + 'static,
        B::Event: Send + 'static,
        M: Send + 'static,
        D: Dispatcher<B::Event> + Send + 'static,
    {
        self.builder()
            .spawn_producer_with(behaviour, opts, dispatcher)
    }

    /// Starts a `producer_consumer` with the default dispatcher.
    pub fn spawn_producer_consumer<B, M>(
        &self,
        behaviour: B,
        opts: ProducerOptions,
    ) -> Result<ProducerConsumerHandle<B::In, B::Out, M>, OptionsError>
    where
        B: ProducerConsumer<M> + Send + 'static,
        B::In: Send + 'static,
        B::Out: Send + 'static,
        M: Send + 'static,
    {
        self.builder().spawn_producer_consumer(behaviour, opts)
    }

    /// Starts a `producer_consumer` with `dispatcher`.
    pub fn spawn_producer_consumer_with<B, M, D>(
        &self,
        behaviour: B,
        opts: ProducerOptions,
        dispatcher: D,
    ) -> Result<ProducerConsumerHandle<B::In, B::Out, M>, OptionsError>
    where
        B: ProducerConsumer<M> + Send + 'static,
        B::In: Send + 'static,
        B::Out: Send + 'static,
        M: Send + 'static,
        D: Dispatcher<B::Out> + Send + 'static,
    {
        self.builder()
            .spawn_producer_consumer_with(behaviour, opts, dispatcher)
    }

    /// Starts a consumer.
    pub fn spawn_consumer<B, M>(&self, behaviour: B) -> ConsumerHandle<B::Event, M>
    where
        B: Consumer<M> + Send + 'static,
        B::Event: Send + 'static,
        M: Send + 'static,
    {
        self.builder().spawn_consumer(behaviour)
    }
}

/// Starts one stage with a name ([`Runtime::builder`], [`builder`]). Its thread carries the
/// name; without one it is `"<kind>-<id>"`.
#[derive(Debug, Clone)]
pub struct Builder {
    runtime: Runtime,
    name: Option<String>,
    own_thread: bool,
}

impl Builder {
    /// Gives the stage an OS thread of its own even on a runtime with workers
    /// ([`Runtime::with_workers`]): for a stage whose callbacks block (sleep, wait on I/O or
    /// on the calling thread), which would otherwise hold a worker. It still belongs to the
    /// runtime ([`Runtime::wait`], [`Runtime::stages`]). On a runtime made with
    /// [`Runtime::new`] every stage has its own thread already.
    pub fn own_thread(mut self) -> Self {
        self.own_thread = true;
        self
    }

    /// The stage's (and its thread's) name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts `stage` (built with [`next_id`]).
    ///
    /// # Panics
    /// When the OS cannot start a thread (as `std::thread::spawn`).
    pub fn spawn<T: Spawn>(self, stage: T) -> Handle<T::Kind, T::In, T::Out, T::Msg> {
        let id = stage.id();
        let name = self.name.unwrap_or_else(|| {
            let kind = match <T::Kind as kind::Kind>::KIND {
                genstage::runtime::StageKind::Producer => "producer",
                genstage::runtime::StageKind::ProducerConsumer => "producer_consumer",
                genstage::runtime::StageKind::Consumer => "consumer",
            };
            std::format!("{kind}-{}", id.0)
        });
        let shared = Arc::new(Shared::new(id, name.clone(), stage.summary()));
        let driver = driver::Driver::new(stage, shared.clone());
        let runtime = self.runtime.clone();
        #[cfg(loom)]
        let _ = self.own_thread;
        let mut st = self.runtime.inner.state.lock();
        // Threads of stages that have ended are joined here, so the list stays short.
        let (done, running): (Vec<_>, Vec<_>) = core::mem::take(&mut st.threads)
            .into_iter()
            .partition(|(_, c)| c.exit().is_some());
        st.threads = running;
        st.live += 1;
        #[cfg(not(loom))]
        let thread = match &self.runtime.inner.pool {
            Some(pool) if !self.own_thread => {
                // The mailbox owns the task through its waker until it closes (teardown).
                let task: Arc<dyn pool::Job> = Arc::new(driver::Task::new(driver, runtime));
                let pool = pool.clone();
                shared
                    .mailbox
                    .set_waker(Arc::new(move || pool.schedule(task.clone())));
                None
            }
            _ => Some(
                sync::spawn(name, move || driver.run(runtime))
                    .expect("the OS could not start a stage thread"),
            ),
        };
        #[cfg(loom)]
        let thread = Some(
            sync::spawn(name, move || driver.run(runtime))
                .expect("the OS could not start a stage thread"),
        );
        st.threads.push((thread, shared.clone()));
        drop(st);
        for (t, _) in done.into_iter().filter_map(|(t, c)| Some((t?, c))) {
            sync::join(t);
        }
        Handle::new(shared)
    }

    /// Starts a producer with the default dispatcher.
    pub fn spawn_producer<B, M>(
        self,
        behaviour: B,
        opts: ProducerOptions,
    ) -> Result<ProducerHandle<B::Event, M>, OptionsError>
    where
        B: Producer<M> + Send + 'static,
        B::Event: Send + 'static,
        M: Send + 'static,
    {
        self.spawn_producer_with(behaviour, opts, DemandDispatcher::<Heap>::new())
    }

    /// Starts a producer with `dispatcher`.
    pub fn spawn_producer_with<B, M, D>(
        self,
        behaviour: B,
        opts: ProducerOptions,
        dispatcher: D,
    ) -> Result<ProducerHandle<B::Event, M>, OptionsError>
    where
        B: Producer<M> + Send + 'static,
        B::Event: Send + 'static,
        M: Send + 'static,
        D: Dispatcher<B::Event> + Send + 'static,
    {
        let stage = ProducerStage::<B, M, Heap, D>::with_dispatcher(
            next_id(),
            behaviour,
            opts,
            dispatcher,
        )?;
        Ok(self.spawn(stage))
    }

    /// Starts a `producer_consumer` with the default dispatcher.
    pub fn spawn_producer_consumer<B, M>(
        self,
        behaviour: B,
        opts: ProducerOptions,
    ) -> Result<ProducerConsumerHandle<B::In, B::Out, M>, OptionsError>
    where
        B: ProducerConsumer<M> + Send + 'static,
        B::In: Send + 'static,
        B::Out: Send + 'static,
        M: Send + 'static,
    {
        self.spawn_producer_consumer_with(behaviour, opts, DemandDispatcher::<Heap>::new())
    }

    /// Starts a `producer_consumer` with `dispatcher`.
    pub fn spawn_producer_consumer_with<B, M, D>(
        self,
        behaviour: B,
        opts: ProducerOptions,
        dispatcher: D,
    ) -> Result<ProducerConsumerHandle<B::In, B::Out, M>, OptionsError>
    where
        B: ProducerConsumer<M> + Send + 'static,
        B::In: Send + 'static,
        B::Out: Send + 'static,
        M: Send + 'static,
        D: Dispatcher<B::Out> + Send + 'static,
    {
        let stage = ProducerConsumerStage::<B, M, Heap, D>::with_dispatcher(
            next_id(),
            behaviour,
            opts,
            dispatcher,
        )?;
        Ok(self.spawn(stage))
    }

    /// Starts a consumer.
    pub fn spawn_consumer<B, M>(self, behaviour: B) -> ConsumerHandle<B::Event, M>
    where
        B: Consumer<M> + Send + 'static,
        B::Event: Send + 'static,
        M: Send + 'static,
    {
        self.spawn(ConsumerStage::<B, M, Heap>::new(next_id(), behaviour))
    }
}

/// A builder on the [global](Runtime::global) runtime: `threads::builder().name("lucy")`.
#[cfg(not(loom))]
pub fn builder() -> Builder {
    Runtime::global().builder()
}

/// Starts `stage` (built with [`next_id`]) on the global runtime.
#[cfg(not(loom))]
pub fn spawn<T: Spawn>(stage: T) -> Handle<T::Kind, T::In, T::Out, T::Msg> {
    Runtime::global().spawn(stage)
}

/// Starts a producer with the default dispatcher on the global runtime. Invalid options are
/// an `Err`, before any thread starts.
#[cfg(not(loom))]
pub fn spawn_producer<B, M>(
    behaviour: B,
    opts: ProducerOptions,
) -> Result<ProducerHandle<B::Event, M>, OptionsError>
where
    B: Producer<M> + Send + 'static,
    B::Event: Send + 'static,
    M: Send + 'static,
{
    Runtime::global().spawn_producer(behaviour, opts)
}

/// Starts a producer with `dispatcher` on the global runtime.
#[cfg(not(loom))]
pub fn spawn_producer_with<B, M, D>(
    behaviour: B,
    opts: ProducerOptions,
    dispatcher: D,
) -> Result<ProducerHandle<B::Event, M>, OptionsError>
where
    B: Producer<M> + Send + 'static,
    B::Event: Send + 'static,
    M: Send + 'static,
    D: Dispatcher<B::Event> + Send + 'static,
{
    Runtime::global().spawn_producer_with(behaviour, opts, dispatcher)
}

/// Starts a `producer_consumer` with the default dispatcher on the global runtime.
#[cfg(not(loom))]
pub fn spawn_producer_consumer<B, M>(
    behaviour: B,
    opts: ProducerOptions,
) -> Result<ProducerConsumerHandle<B::In, B::Out, M>, OptionsError>
where
    B: ProducerConsumer<M> + Send + 'static,
    B::In: Send + 'static,
    B::Out: Send + 'static,
    M: Send + 'static,
{
    Runtime::global().spawn_producer_consumer(behaviour, opts)
}

/// Starts a `producer_consumer` with `dispatcher` on the global runtime.
#[cfg(not(loom))]
pub fn spawn_producer_consumer_with<B, M, D>(
    behaviour: B,
    opts: ProducerOptions,
    dispatcher: D,
) -> Result<ProducerConsumerHandle<B::In, B::Out, M>, OptionsError>
where
    B: ProducerConsumer<M> + Send + 'static,
    B::In: Send + 'static,
    B::Out: Send + 'static,
    M: Send + 'static,
    D: Dispatcher<B::Out> + Send + 'static,
{
    Runtime::global().spawn_producer_consumer_with(behaviour, opts, dispatcher)
}

/// Starts a consumer on the global runtime.
#[cfg(not(loom))]
pub fn spawn_consumer<B, M>(behaviour: B) -> ConsumerHandle<B::Event, M>
where
    B: Consumer<M> + Send + 'static,
    B::Event: Send + 'static,
    M: Send + 'static,
{
    Runtime::global().spawn_consumer(behaviour)
}
