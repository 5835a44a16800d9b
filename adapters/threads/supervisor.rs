//! Running a child per event: [`consumer_supervisor`] starts a consumer that runs a closure
//! (a *child*) on a thread of its own for each event it takes, with at most `max_demand`
//! children live per producer (GenStage's `ConsumerSupervisor`, spec §19). The example is on
//! [`consumer_supervisor`].
//!
//! ## Demand (spec §19.4)
//!
//! Each subscription is manual: the supervisor asks for `max_demand` when it subscribes and
//! keeps, per producer, `count` (its children live or restarting) and `freed` (slots freed
//! since the last ask). A child's end, a [`terminate_child`](Supervisor::terminate_child),
//! or a start that did not happen frees a slot; after each batch of starts and each end, once
//! `freed >= min_demand` it asks for `freed` and starts counting again (an ask of 0 sends
//! nothing). With 1000/500 it asks 500 at a time. Events beyond what was asked are counted in
//! [`ChildStats::excess`], reported like any consumer's excess, and started all the same
//! (spec §19.10). [`start_child`](Supervisor::start_child) runs a child outside any
//! producer's demand (spec §19.7).
//!
//! ## Children
//!
//! A child is a closure `Fn(&E, &ChildCtx) -> Result<(), Reason>`, run under `catch_unwind`.
//! `Ok`, or an `Err` with a clean reason (`Normal`, `Shutdown`, `ShutdownWith`), is a normal
//! end; any other `Err` or a panic is abnormal (a panic still goes through the process's panic
//! hook, which prints it). The event moves to the child's thread with its run and comes back
//! with an abnormal end, so a [transient](Restart::Transient) child runs again with the very
//! same event, in the same slot and with the same [`ChildId`], asking for nothing (spec §19.5);
//! `E` need not be `Clone`. What GenStage's start function says with `:ignore` or
//! `{:error, reason}` an optional [start hook](SupervisorBuilder::before_start) says with
//! [`Start`], before the child's thread is involved. Every restart counts toward the
//! intensity ([`max_restarts`](SupervisorBuilder::max_restarts) within
//! [`max_seconds`](SupervisorBuilder::max_seconds)); one too many stops the supervisor with
//! [`Reason::Shutdown`].
//!
//! ## Threads: a pool, measured
//!
//! Children run on a pool that belongs to the supervisor: a child goes to a waiting pool
//! thread, or to a new one when none waits, so the pool grows to the most children ever live
//! at once and never makes a child wait for a thread; its threads end when the supervisor
//! stops. Against a thread spawned per child, on 100,000 children that return at once (a
//! release build on a two-core machine shared with other builds, three runs each):
//!
//! | `max_demand` | pool, per child | thread per child, per child |
//! |---|---|---|
//! | 1 (one round trip per child) | 16–77 µs | 92–162 µs |
//! | 8 | 6–10 µs | 44–50 µs |
//! | 64 | 6–7.5 µs | 42–50 µs |
//! | 1000 | 5–9.5 µs | 41–45 µs |
//!
//! A thread per child costs 35–40 µs more per child, the price of starting and ending a
//! thread; the pool keeps that off every child but the first few.
//!
//! ## What a thread cannot do: be killed
//!
//! - [`terminate_child`](Supervisor::terminate_child) frees the child's slot at once (which
//!   may ask its producer for more) and raises its [cancel flag](ChildCtx::is_cancelled); its
//!   run goes on until the closure returns, and what it returns is counted and otherwise
//!   ignored (no restart, no ask). Until then it holds a pool thread, so more closures than
//!   `max_demand` can be running for a while.
//! - When the supervisor stops (its cancel mode, [`stop`](super::Handle::stop), the restart
//!   intensity, or its last handle dropped), it raises every child's cancel flag and waits for
//!   the runs going on, at most [`shutdown`](SupervisorBuilder::shutdown) (5 s by default; spec
//!   §19.9's timeout) before its stage ends; `join` returns after that wait. Runs still going
//!   then finish on their own threads and report to nobody
//!   ([`ChildStats::left_running`]). Ends that arrive during the wait are not acted on: nothing
//!   is restarted while stopping.
//! - When its producer's subscription ends, the supervisor forgets that producer and its
//!   children run on; their ends ask nothing (spec §19.6). The cancel mode decides as for any
//!   consumer whether the supervisor stops.

use super::Runtime;
use super::handle::ConsumerHandle;
use super::shared::{Command, Input, Shared};
use super::sync::{self, Arc, Condvar, JoinHandle, Mutex};
use super::trace;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use genstage::runtime::Report;
use genstage::{
    Batch, Cancellation, Consumer, Ctx, Flow, Reason, Reply, SubId, SubscribeOptions, Subscribed,
};
use std::boxed::Box;
use std::collections::{HashMap, VecDeque};
use std::string::String;
use std::sync::OnceLock;
use std::time::Instant;
use std::vec::Vec;

/// When a child that has ended is started again (spec §19.2, §19.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Always restarted. **Refused** by [`SupervisorBuilder::start`]
    /// ([`SupervisorError::PermanentRestart`]): a child that ends for good would be started
    /// again for ever, holding its slot (spec §19.2).
    Permanent,
    /// Restarted, with the same event and in the same slot, when it ends abnormally: a panic,
    /// or an `Err` whose reason is not clean ([`Reason::is_clean`]).
    Transient,
    /// Never restarted (the default).
    Temporary,
}

/// What the [start hook](SupervisorBuilder::before_start) decides for an event (GenStage's
/// start function returning `{:ok, pid}`, `:ignore` or `{:error, reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Start {
    /// Start the child.
    Run,
    /// Start nothing: the event's slot is free at once (GenStage's `:ignore`).
    Ignore,
    /// The start failed with this reason: the slot is free at once, the failure is counted in
    /// [`ChildStats::start_errors`] and reported (GenStage's `{:error, reason}`).
    Error(Reason),
}

/// A child's name within its supervisor: distinct for every child it starts, and kept by a
/// restarted child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(u64);

impl ChildId {
    /// The number behind it (children are numbered from 0 in the order they start).
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child {}", self.0)
    }
}

/// What a running child can learn about itself.
#[derive(Debug)]
pub struct ChildCtx {
    id: ChildId,
    restarts: u32,
    cancel: Arc<AtomicBool>,
}

impl ChildCtx {
    /// Its id.
    pub fn id(&self) -> ChildId {
        self.id
    }

    /// How many times it was restarted before this run (0 on its first run).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// True once the supervisor gave up on it: it was
    /// [terminated](Supervisor::terminate_child), or the supervisor is stopping. A thread
    /// cannot be killed, so a child that runs for long should look at this now and then and
    /// return early; what it returns then is ignored.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }
}

/// The children of a supervisor, counted (GenStage's `count_children`, spec §19.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChildCounts {
    /// Child templates: always 1.
    pub specs: usize,
    /// Children running (restarting ones are left out).
    pub active: usize,
    /// Children running or restarting.
    pub workers: usize,
    /// Children that are supervisors: always 0.
    pub supervisors: usize,
}

/// Whether a child runs or waits to be restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildState {
    /// Its closure was handed to a thread.
    Running,
    /// It ended abnormally and its restart failed (the start hook said [`Start::Error`], or
    /// no thread could be started); it keeps its slot and is tried again.
    Restarting,
}

/// One child, as [`Supervisor::which_children`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildInfo {
    /// Its id.
    pub id: ChildId,
    /// Running or restarting.
    pub state: ChildState,
    /// The subscription its event came on; `None` for [`Supervisor::start_child`].
    pub sub: Option<SubId>,
}

/// Counters of a supervisor's children, kept up to date as it runs and readable after it
/// stopped ([`Supervisor::child_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChildStats {
    /// Children started (first runs; restarts are counted apart).
    pub started: u64,
    /// Restarts.
    pub restarts: u64,
    /// Runs that ended normally: `Ok`, or an `Err` with a clean reason (the runs of
    /// terminated children included, once they return).
    pub exits: u64,
    /// Runs that ended abnormally: a panic, or an `Err` with another reason (likewise).
    pub failures: u64,
    /// Starts that failed: the start hook said [`Start::Error`], or no thread could be
    /// started. Restarts that failed are counted here too.
    pub start_errors: u64,
    /// Events the start hook said [`Start::Ignore`] to.
    pub ignored: u64,
    /// Children removed by [`Supervisor::terminate_child`].
    pub terminated: u64,
    /// Events received beyond the demand asked, per spec §19.10 (children were started for
    /// them all the same).
    pub excess: u64,
    /// Child runs still going when the supervisor stopped and its shutdown wait ran out: they
    /// finish on their own threads and their results go nowhere.
    pub left_running: u64,
}

/// Why a supervisor could not be built, or a request to it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorError {
    /// [`Restart::Permanent`] was asked for; a consumer supervisor takes only transient or
    /// temporary children (spec §19.2).
    PermanentRestart,
    /// `max_seconds` was zero; the restart intensity needs a period.
    MaxSecondsZero,
    /// No such child: it ended, was terminated, or never was.
    NoSuchChild(ChildId),
    /// The supervisor has stopped with this reason.
    Stopped(Reason),
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PermanentRestart => f.write_str(
                "a consumer supervisor does not take permanent children; use Restart::Transient or Restart::Temporary",
            ),
            Self::MaxSecondsZero => f.write_str("expected max_seconds to be greater than zero"),
            Self::NoSuchChild(id) => write!(f, "the supervisor has no {id}"),
            Self::Stopped(reason) => write!(f, "the supervisor has stopped ({reason})"),
        }
    }
}

impl core::error::Error for SupervisorError {}

/// Why [`Supervisor::start_child`] started nothing. The event comes back whenever it can.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartChildError<E> {
    /// The start failed with `reason`: the start hook said [`Start::Error`], or no thread
    /// could be started.
    Refused {
        /// The event, not started.
        event: E,
        /// Why.
        reason: Reason,
    },
    /// The supervisor has stopped with `reason`. `event` is `None` when it stopped while
    /// handling the request (its start hook panicked).
    Stopped {
        /// The event, when the request never reached the supervisor.
        event: Option<E>,
        /// Why it stopped.
        reason: Reason,
    },
}

impl<E> fmt::Debug for StartChildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { reason, .. } => write!(f, "Refused {{ reason: {reason:?}, .. }}"),
            Self::Stopped { reason, .. } => write!(f, "Stopped {{ reason: {reason:?}, .. }}"),
        }
    }
}

impl<E> fmt::Display for StartChildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { reason, .. } => write!(f, "the child did not start ({reason})"),
            Self::Stopped { reason, .. } => write!(f, "the supervisor has stopped ({reason})"),
        }
    }
}

impl<E> core::error::Error for StartChildError<E> {}

/// The info and call messages of a supervisor's stage: only the supervisor and its children
/// make them.
pub struct SupervisorMsg<E>(Msg<E>);

impl<E> fmt::Debug for SupervisorMsg<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SupervisorMsg(..)")
    }
}

enum Msg<E> {
    /// A child's run ended; `event` comes back when the child is to be restarted.
    Exited {
        id: ChildId,
        outcome: Result<(), Reason>,
        event: Option<E>,
    },
    /// Try again to restart a restarting child.
    Retry(ChildId),
    StartChild(E),
    Started(Result<Option<ChildId>, StartChildError<E>>),
    Terminate(ChildId),
    Terminated(Result<(), SupervisorError>),
    Count,
    Counts(ChildCounts),
    Which,
    Children(Vec<ChildInfo>),
}

type ChildFn<E> = Arc<dyn Fn(&E, &ChildCtx) -> Result<(), Reason> + Send + Sync>;
type StartFn<E> = Box<dyn FnMut(&E) -> Start + Send>;
type Me<E> = Arc<Shared<E, E, SupervisorMsg<E>>>;

/// Default restart intensity: 3 restarts...
const MAX_RESTARTS: u32 = 3;
/// ...within 5 seconds (spec §19.1).
const MAX_SECONDS: Duration = Duration::from_secs(5);
/// How long a stopping supervisor waits for its children (spec §19.9's default 5000 ms).
const SHUTDOWN: Duration = Duration::from_secs(5);

/// The options of a consumer supervisor, as a builder: [`consumer_supervisor`] makes one,
/// [`start`](Self::start) checks them and starts it.
pub struct SupervisorBuilder<E> {
    child: ChildFn<E>,
    before_start: Option<StartFn<E>>,
    restart: Restart,
    max_restarts: u32,
    max_seconds: Duration,
    shutdown: Duration,
    runtime: Runtime,
    name: Option<String>,
}

impl<E> fmt::Debug for SupervisorBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorBuilder")
            .field("restart", &self.restart)
            .field("max_restarts", &self.max_restarts)
            .field("max_seconds", &self.max_seconds)
            .field("shutdown", &self.shutdown)
            .field("before_start", &self.before_start.is_some())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A consumer supervisor running `child` for each event, to be configured and
/// [started](SupervisorBuilder::start); subscribe it to producers like any consumer. Each
/// subscription's `max_demand` is how many of its events have a child live at once, and it
/// asks for more once `min_demand` slots are free (spec §19.4).
///
/// `child` gets the event and its [`ChildCtx`] and runs on a thread of its own. It ends
/// normally with `Ok(())` or an `Err` of a clean reason (`Normal`, `Shutdown`,
/// `ShutdownWith`), abnormally with any other `Err` or a panic; a [transient](Restart) child
/// that ends abnormally runs again with the same event.
///
/// ```
/// use genstage::threads::{self, Restart};
/// use genstage::{CancelMode, FromIter, ProducerOptions, Reason, Subscribe};
/// use std::sync::mpsc::channel;
///
/// let (done, results) = channel();
/// let sup = threads::consumer_supervisor(move |n: &u64, child| {
///     if *n == 7 && child.restarts() == 0 {
///         return Err(Reason::Custom("flaky")); // abnormal: run again with the same event
///     }
///     done.send(n * n).unwrap();
///     Ok(())
/// })
/// .restart(Restart::Transient)
/// .start()?;
/// let source = threads::spawn_producer(FromIter::new(1..=100u64), ProducerOptions::default())?;
/// // At most 10 children at once; 5 more events are asked each time 5 children ended.
/// // Transient: the source finishing `Normal` leaves the supervisor running.
/// sup.subscribe(&source, Subscribe::new().max_demand(10).min_demand(5).cancel(CancelMode::Transient))?;
/// let total: u64 = results.iter().take(100).sum();
/// assert_eq!(total, (1..=100u64).map(|n| n * n).sum());
/// assert_eq!(sup.child_stats().restarts, 1);
/// sup.stop(Reason::Normal); // waits for running children (up to the shutdown timeout)
/// assert_eq!(sup.join(), Reason::Normal);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn consumer_supervisor<E, F>(child: F) -> SupervisorBuilder<E>
where
    E: Send + 'static,
    F: Fn(&E, &ChildCtx) -> Result<(), Reason> + Send + Sync + 'static,
{
    SupervisorBuilder {
        child: Arc::new(child),
        before_start: None,
        restart: Restart::Temporary,
        max_restarts: MAX_RESTARTS,
        max_seconds: MAX_SECONDS,
        shutdown: SHUTDOWN,
        runtime: Runtime::global().clone(),
        name: None,
    }
}

impl<E: Send + 'static> SupervisorBuilder<E> {
    /// When children are restarted (default [`Restart::Temporary`]; `Permanent` is refused by
    /// [`start`](Self::start)).
    #[must_use]
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// At most this many restarts within [`max_seconds`](Self::max_seconds) (default 3);
    /// one more stops the supervisor with [`Reason::Shutdown`]. Every restart counts,
    /// failed ones included.
    #[must_use]
    pub fn max_restarts(mut self, max: u32) -> Self {
        self.max_restarts = max;
        self
    }

    /// The period of the restart intensity (default 5 s; zero is refused).
    #[must_use]
    pub fn max_seconds(mut self, period: Duration) -> Self {
        self.max_seconds = period;
        self
    }

    /// How long a stopping supervisor waits for its running children (default 5 s, spec
    /// §19.9). It first raises every child's [cancel flag](ChildCtx::is_cancelled); children
    /// still running when the time is up are left to finish on their own threads
    /// ([`ChildStats::left_running`]). `Duration::ZERO` does not wait; `Duration::MAX` waits
    /// for as long as they run.
    #[must_use]
    pub fn shutdown(mut self, timeout: Duration) -> Self {
        self.shutdown = timeout;
        self
    }

    /// A hook run on the supervisor's thread for each event before its child starts, and
    /// again before each restart, deciding whether it starts ([`Start`]). Without one every
    /// event starts a child.
    #[must_use]
    pub fn before_start(mut self, hook: impl FnMut(&E) -> Start + Send + 'static) -> Self {
        self.before_start = Some(Box::new(hook));
        self
    }

    /// Runs the supervisor in `runtime` instead of the global one.
    #[must_use]
    pub fn runtime(mut self, runtime: &Runtime) -> Self {
        self.runtime = runtime.clone();
        self
    }

    /// The supervisor's stage (and thread) name; its children's threads are named after it.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Checks the options and starts the supervisor's stage. Nothing starts on an error.
    pub fn start(self) -> Result<Supervisor<E>, SupervisorError> {
        if self.restart == Restart::Permanent {
            return Err(SupervisorError::PermanentRestart);
        }
        if self.max_seconds.is_zero() {
            return Err(SupervisorError::MaxSecondsZero);
        }
        let stats = Arc::new(Mutex::new(ChildStats::default()));
        let pool = Arc::new(Pool {
            state: Mutex::new(PoolState {
                jobs: VecDeque::new(),
                idle: 0,
                tickets: 0,
                busy: 0,
                closed: false,
                threads: Vec::new(),
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            child: self.child,
            restart: self.restart,
            me: OnceLock::new(),
        });
        let sup = Sup {
            before_start: self.before_start,
            max_restarts: self.max_restarts,
            max_seconds: self.max_seconds,
            shutdown: self.shutdown,
            pool: PoolOwner(pool.clone()),
            children: HashMap::new(),
            producers: HashMap::new(),
            restarts: VecDeque::new(),
            next_id: 0,
            stats: stats.clone(),
        };
        // Its stop waits for its children: a thread of its own, never a worker.
        let builder = match self.name {
            Some(name) => self.runtime.builder().own_thread().name(name),
            None => self.runtime.builder().own_thread(),
        };
        let handle = builder.spawn_consumer::<Sup<E>, SupervisorMsg<E>>(sup);
        // Before anything can reach the stage: nobody else has its handle yet.
        let _ = pool.me.set(handle.shared().clone());
        Ok(Supervisor { handle, stats })
    }
}

/// A running consumer supervisor: a [`ConsumerHandle`] (through `Deref`: subscribe it, stop
/// it, join it, read its stats) plus the supervisor's own requests. Cheap to clone; every
/// clone keeps it alive, as a handle does (one captured by the child closure too, for as long
/// as the supervisor runs: stop it explicitly then).
///
/// Its subscriptions are manual and the supervisor asks on them itself; an
/// [`ask`](super::Handle::ask) by hand adds demand it does not know of, and the events that
/// answer it count as [excess](ChildStats::excess).
pub struct Supervisor<E: Send + 'static> {
    handle: ConsumerHandle<E, SupervisorMsg<E>>,
    stats: Arc<Mutex<ChildStats>>,
}

impl<E: Send + 'static> Clone for Supervisor<E> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<E: Send + 'static> fmt::Debug for Supervisor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> core::ops::Deref for Supervisor<E> {
    type Target = ConsumerHandle<E, SupervisorMsg<E>>;
    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

impl<E: Send + 'static> Supervisor<E> {
    /// Starts a child for `event` outside any producer's demand (spec §19.7): it takes no
    /// slot and its end asks for nothing. The start hook applies: `Ok(None)` when it said
    /// [`Start::Ignore`].
    pub fn start_child(&self, event: E) -> Result<Option<ChildId>, StartChildError<E>> {
        match self.request(Msg::StartChild(event)) {
            Ok(Msg::Started(r)) => r,
            Err((reason, Some(Msg::StartChild(event)))) => Err(StartChildError::Stopped {
                event: Some(event),
                reason,
            }),
            Err((reason, _)) => Err(StartChildError::Stopped {
                event: None,
                reason,
            }),
            Ok(_) => unreachable!("a start is answered with Started"),
        }
    }

    /// Removes a child (spec §19.4): its slot is free at once (which may ask its producer for
    /// more), its [cancel flag](ChildCtx::is_cancelled) is raised, and whatever its run
    /// returns later is ignored — it is not restarted. A thread cannot be killed: the closure
    /// runs on until it returns. A restarting child is simply dropped, with its event.
    pub fn terminate_child(&self, id: ChildId) -> Result<(), SupervisorError> {
        match self.request(Msg::Terminate(id)) {
            Ok(Msg::Terminated(r)) => r,
            Err((reason, _)) => Err(SupervisorError::Stopped(reason)),
            Ok(_) => unreachable!("a terminate is answered with Terminated"),
        }
    }

    /// Its children, counted (spec §19.8).
    pub fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        match self.request(Msg::Count) {
            Ok(Msg::Counts(c)) => Ok(c),
            Err((reason, _)) => Err(SupervisorError::Stopped(reason)),
            Ok(_) => unreachable!("a count is answered with Counts"),
        }
    }

    /// Its children, by id.
    pub fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        match self.request(Msg::Which) {
            Ok(Msg::Children(c)) => Ok(c),
            Err((reason, _)) => Err(SupervisorError::Stopped(reason)),
            Ok(_) => unreachable!("a listing is answered with Children"),
        }
    }

    /// Its children's counters, as of now (also after it stopped).
    pub fn child_stats(&self) -> ChildStats {
        *self.stats.lock()
    }

    fn request(&self, msg: Msg<E>) -> Result<Msg<E>, (Reason, Option<Msg<E>>)> {
        match self.handle.call(SupervisorMsg(msg), Duration::MAX) {
            Ok(SupervisorMsg(m)) => Ok(m),
            Err(super::CallError::Stopped { reason, msg }) => Err((reason, msg.map(|m| m.0))),
            // It answers every request it handles; a timeout of `MAX` does not run out.
            Err(_) => Err((Reason::Killed, None)),
        }
    }
}

/// A producer's demand, as the supervisor keeps it (spec §19.4).
#[derive(Debug)]
struct Demand {
    max: usize,
    min: usize,
    /// Its children running or restarting.
    count: usize,
    /// Slots freed since the last ask.
    freed: usize,
    /// Asked and not yet received.
    outstanding: usize,
}

struct Child<E> {
    sub: Option<SubId>,
    cancel: Arc<AtomicBool>,
    restarts: u32,
    /// The event of a restarting child; `None` while it runs.
    waiting: Option<E>,
}

/// The supervisor's behaviour, run by an ordinary consumer stage in manual demand mode.
struct Sup<E> {
    before_start: Option<StartFn<E>>,
    max_restarts: u32,
    max_seconds: Duration,
    shutdown: Duration,
    pool: PoolOwner<E>,
    children: HashMap<ChildId, Child<E>>,
    producers: HashMap<SubId, Demand>,
    /// When the restarts within the intensity period happened, oldest first.
    restarts: VecDeque<Instant>,
    next_id: u64,
    stats: Arc<Mutex<ChildStats>>,
}

/// What starting a child came to.
enum Started<E> {
    Child(ChildId),
    Ignored,
    Refused(E, Reason),
}

impl<E: Send + 'static> Sup<E> {
    fn name(&self) -> &str {
        self.pool
            .0
            .me
            .get()
            .map_or("supervisor", |me| me.name.as_str())
    }

    fn stats(&self) -> sync::MutexGuard<'_, ChildStats> {
        self.stats.lock()
    }

    fn decide(&mut self, event: &E) -> Start {
        self.before_start.as_mut().map_or(Start::Run, |f| f(event))
    }

    /// Starts a child for `event` (spec §19.3).
    fn start(&mut self, event: E, sub: Option<SubId>) -> Started<E> {
        match self.decide(&event) {
            Start::Run => {}
            Start::Ignore => {
                self.stats().ignored += 1;
                return Started::Ignored;
            }
            Start::Error(reason) => {
                self.stats().start_errors += 1;
                trace::child_not_started(self.name(), reason);
                return Started::Refused(event, reason);
            }
        }
        let id = ChildId(self.next_id);
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Job {
            id,
            event,
            restarts: 0,
            cancel: cancel.clone(),
        };
        match self.pool.0.submit(job) {
            Ok(()) => {
                self.next_id += 1;
                self.stats().started += 1;
                self.children.insert(
                    id,
                    Child {
                        sub,
                        cancel,
                        restarts: 0,
                        waiting: None,
                    },
                );
                Started::Child(id)
            }
            Err(job) => {
                self.stats().start_errors += 1;
                trace::child_not_started(self.name(), NO_THREAD);
                Started::Refused(job.event, NO_THREAD)
            }
        }
    }

    /// Asks `sub`'s producer for the slots freed since the last ask, once they reach
    /// `min_demand` (spec §19.4; an ask of 0 sends nothing).
    fn maybe_ask(&mut self, sub: SubId, ctx: &mut Ctx<'_>) {
        let Some(d) = self.producers.get_mut(&sub) else {
            return; // the producer is gone (spec §19.6)
        };
        debug_assert!(
            self.stats.lock().excess > 0 || d.count + d.freed + d.outstanding == d.max,
            "every slot is live, freed or asked for: {d:?}"
        );
        if d.freed >= d.min {
            let n = core::mem::take(&mut d.freed);
            d.outstanding += n;
            // The subscription is ours and manual while it is in `producers`.
            let _ = ctx.ask(sub, n);
        }
    }

    /// A child is gone for good: its slot is free.
    fn remove(&mut self, id: ChildId, ctx: &mut Ctx<'_>) -> Option<Child<E>> {
        let child = self.children.remove(&id)?;
        if let Some(sub) = child.sub
            && let Some(d) = self.producers.get_mut(&sub)
        {
            d.count -= 1;
            d.freed += 1;
            self.maybe_ask(sub, ctx);
        }
        Some(child)
    }

    /// Restarts child `id` with `event`, in its slot (spec §19.5), unless that goes over the
    /// restart intensity.
    fn restart(&mut self, id: ChildId, event: E, ctx: &mut Ctx<'_>) -> Flow {
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.max_seconds)
        {
            self.restarts.pop_front();
        }
        self.restarts.push_back(now);
        if self.restarts.len() > self.max_restarts as usize {
            trace::restart_limit(self.name(), self.max_restarts, self.max_seconds);
            return Flow::Stop(Reason::Shutdown);
        }
        self.stats().restarts += 1;
        let decision = self.decide(&event);
        let Some(child) = self.children.get_mut(&id) else {
            return Flow::Continue;
        };
        child.restarts += 1;
        let failed = match decision {
            Start::Run => {
                let job = Job {
                    id,
                    event,
                    restarts: child.restarts,
                    cancel: child.cancel.clone(),
                };
                match self.pool.0.submit(job) {
                    Ok(()) => {
                        child.waiting = None;
                        return Flow::Continue;
                    }
                    Err(job) => {
                        child.waiting = Some(job.event);
                        NO_THREAD
                    }
                }
            }
            Start::Ignore => {
                self.stats().ignored += 1;
                self.remove(id, ctx);
                return Flow::Continue;
            }
            Start::Error(reason) => {
                child.waiting = Some(event);
                reason
            }
        };
        // Restarting: it keeps its slot and is tried again after what is queued.
        self.stats().start_errors += 1;
        trace::child_not_started(self.name(), failed);
        self.pool.0.tell(Msg::Retry(id));
        Flow::Continue
    }

    fn exited(
        &mut self,
        id: ChildId,
        outcome: Result<(), Reason>,
        event: Option<E>,
        ctx: &mut Ctx<'_>,
    ) -> Flow {
        let failure = outcome.err().filter(|r| !r.is_clean());
        match failure {
            None => self.stats().exits += 1,
            Some(_) => self.stats().failures += 1,
        }
        if !self.children.contains_key(&id) {
            return Flow::Continue; // terminated: its end changes nothing
        }
        if let Some(reason) = failure {
            trace::child_failed(self.name(), id, reason);
            if let Some(event) = event {
                return self.restart(id, event, ctx);
            }
        }
        self.remove(id, ctx);
        Flow::Continue
    }

    fn counts(&self) -> ChildCounts {
        let restarting = self
            .children
            .values()
            .filter(|c| c.waiting.is_some())
            .count();
        ChildCounts {
            specs: 1,
            active: self.children.len() - restarting,
            workers: self.children.len(),
            supervisors: 0,
        }
    }

    fn which(&self) -> Vec<ChildInfo> {
        let mut all: Vec<ChildInfo> = self
            .children
            .iter()
            .map(|(&id, c)| ChildInfo {
                id,
                state: if c.waiting.is_some() {
                    ChildState::Restarting
                } else {
                    ChildState::Running
                },
                sub: c.sub,
            })
            .collect();
        all.sort_unstable_by_key(|c| c.id);
        all
    }
}

/// The reason of a start that found no thread to run on.
const NO_THREAD: Reason = Reason::Custom("the OS could not start a child thread");

impl<E: Send + 'static> Consumer<SupervisorMsg<E>> for Sup<E> {
    type Event = E;

    fn handle_subscribe(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        ctx: &mut Ctx<'_>,
    ) -> Subscribed {
        let max = opts.max_demand();
        self.producers.insert(
            sub,
            Demand {
                max,
                min: opts.min_demand(),
                count: 0,
                freed: 0,
                outstanding: max,
            },
        );
        // The subscription is the one being made: the ask cannot be refused.
        let _ = ctx.ask(sub, max);
        Subscribed::Manual
    }

    fn handle_events(&mut self, events: Batch<'_, E>, ctx: &mut Ctx<'_>) -> Flow {
        let sub = events.sub();
        let len = events.len();
        // The stage hands over events of live subscriptions only, which are all here.
        if let Some(d) = self.producers.get_mut(&sub) {
            let excess = len.saturating_sub(d.outstanding);
            d.outstanding -= len - excess;
            if excess > 0 {
                self.stats().excess += excess as u64;
                trace::report(self.name(), &Report::Excess { sub, excess });
            }
        }
        let (mut started, mut freed) = (0, 0);
        for event in events {
            match self.start(event, Some(sub)) {
                Started::Child(_) => started += 1,
                Started::Ignored | Started::Refused(..) => freed += 1,
            }
        }
        if let Some(d) = self.producers.get_mut(&sub) {
            d.count += started;
            d.freed += freed;
        }
        self.maybe_ask(sub, ctx);
        Flow::Continue
    }

    fn handle_cancel(&mut self, _: Cancellation, sub: SubId, _: &mut Ctx<'_>) -> Flow {
        // Its children run on; their ends ask nothing (spec §19.6).
        self.producers.remove(&sub);
        Flow::Continue
    }

    fn handle_info(&mut self, msg: SupervisorMsg<E>, ctx: &mut Ctx<'_>) -> Flow {
        match msg.0 {
            Msg::Exited { id, outcome, event } => self.exited(id, outcome, event, ctx),
            Msg::Retry(id) => match self.children.get_mut(&id).and_then(|c| c.waiting.take()) {
                Some(event) => self.restart(id, event, ctx),
                None => Flow::Continue, // terminated meanwhile
            },
            _ => Flow::Continue,
        }
    }

    fn handle_call(
        &mut self,
        msg: SupervisorMsg<E>,
        reply: &mut Reply<SupervisorMsg<E>>,
        ctx: &mut Ctx<'_>,
    ) -> Flow {
        let answer = match msg.0 {
            Msg::StartChild(event) => Msg::Started(match self.start(event, None) {
                Started::Child(id) => Ok(Some(id)),
                Started::Ignored => Ok(None),
                Started::Refused(event, reason) => Err(StartChildError::Refused { event, reason }),
            }),
            Msg::Terminate(id) => Msg::Terminated(match self.remove(id, ctx) {
                Some(child) => {
                    child.cancel.store(true, Ordering::Release);
                    self.stats().terminated += 1;
                    Ok(())
                }
                None => Err(SupervisorError::NoSuchChild(id)),
            }),
            Msg::Count => Msg::Counts(self.counts()),
            Msg::Which => Msg::Children(self.which()),
            _ => return Flow::Continue,
        };
        reply.reply(SupervisorMsg(answer));
        Flow::Continue
    }

    fn terminate(&mut self, _: Reason) {
        for child in self.children.values() {
            child.cancel.store(true, Ordering::Release);
        }
        let left = self.pool.0.shutdown(self.shutdown);
        if left > 0 {
            self.stats().left_running += left as u64;
            trace::children_left_running(self.name(), left);
        }
    }
}

impl<E> Drop for Sup<E> {
    fn drop(&mut self) {
        // After `terminate` this changes nothing; after a panic of the supervisor's own (its
        // start hook), it is all the children hear: they finish on their own threads.
        for child in self.children.values() {
            child.cancel.store(true, Ordering::Release);
        }
    }
}

/// One run of a child.
struct Job<E> {
    id: ChildId,
    event: E,
    restarts: u32,
    cancel: Arc<AtomicBool>,
}

struct PoolState<E> {
    /// Runs handed over and not yet taken by a thread.
    jobs: VecDeque<Job<E>>,
    /// Threads waiting for a run.
    idle: usize,
    /// Waiting threads woken for a run and not yet up.
    tickets: usize,
    /// Runs going on.
    busy: usize,
    closed: bool,
    threads: Vec<JoinHandle>,
}

/// The threads children run on.
struct Pool<E> {
    state: Mutex<PoolState<E>>,
    /// A waiting thread has a run.
    work: Condvar,
    /// Nothing runs any more.
    done: Condvar,
    child: ChildFn<E>,
    restart: Restart,
    /// The supervisor's stage, which every run reports its end to.
    me: OnceLock<Me<E>>,
}

/// The supervisor's hold on its pool: dropping it (the stage panicked and never ran
/// `terminate`) lets the threads go.
struct PoolOwner<E>(Arc<Pool<E>>);

impl<E> Drop for PoolOwner<E> {
    fn drop(&mut self) {
        self.0.state.lock().closed = true;
        self.0.work.notify_all();
    }
}

impl<E: Send + 'static> Pool<E> {
    /// Sends the supervisor's stage a message (dropped once it has stopped).
    fn tell(&self, msg: Msg<E>) {
        if let Some(me) = self.me.get() {
            let _ = me.send(Input::Command(Command::Info {
                msg: SupervisorMsg(msg),
                reply: None,
            }));
        }
    }

    /// Hands `job` to a thread: a waiting one, or a new one. The job comes back when no
    /// thread could be started.
    fn submit(self: &Arc<Self>, job: Job<E>) -> Result<(), Job<E>> {
        let id = job.id;
        let mut st = self.state.lock();
        st.jobs.push_back(job);
        if st.idle > st.tickets {
            st.tickets += 1;
            drop(st);
            self.work.notify_one();
            return Ok(());
        }
        drop(st);
        let name = match self.me.get() {
            Some(me) => std::format!("{}-child", me.name),
            None => String::from("supervisor-child"),
        };
        let pool = self.clone();
        match sync::spawn(name, move || pool.work()) {
            Ok(thread) => {
                self.state.lock().threads.push(thread);
                Ok(())
            }
            Err(_) => {
                let mut st = self.state.lock();
                match st.jobs.iter().position(|j| j.id == id) {
                    Some(at) => Err(st.jobs.remove(at).expect("found above")),
                    None => Ok(()), // a thread that came free took it
                }
            }
        }
    }

    /// A pool thread: runs what it is handed until the pool closes.
    fn work(&self) {
        let mut st = self.state.lock();
        loop {
            if let Some(job) = st.jobs.pop_front() {
                st.busy += 1;
                drop(st);
                self.run(job);
                st = self.state.lock();
                st.busy -= 1;
                if st.busy == 0 && st.jobs.is_empty() {
                    self.done.notify_all();
                }
                continue;
            }
            if st.closed {
                return;
            }
            st.idle += 1;
            loop {
                self.work.wait(&mut st);
                if st.tickets > 0 {
                    st.tickets -= 1;
                    break;
                }
                if st.closed {
                    break;
                }
            }
            st.idle -= 1;
        }
    }

    /// Runs one child under `catch_unwind` and reports its end.
    fn run(&self, job: Job<E>) {
        let Job {
            id,
            event,
            restarts,
            cancel,
        } = job;
        let ctx = ChildCtx {
            id,
            restarts,
            cancel,
        };
        let outcome = match std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            (self.child)(&event, &ctx)
        })) {
            Ok(outcome) => outcome,
            Err(_) => Err(Reason::Panicked),
        };
        let again = self.restart == Restart::Transient
            && outcome.is_err_and(|r| !r.is_clean())
            && !ctx.is_cancelled();
        let event = again.then_some(event);
        self.tell(Msg::Exited { id, outcome, event });
    }

    /// Closes the pool and waits at most `timeout` for the runs going on; returns how many
    /// were still going. When none is, every pool thread has been joined.
    fn shutdown(&self, timeout: Duration) -> usize {
        let deadline = sync::deadline(timeout);
        let mut st = self.state.lock();
        st.closed = true;
        self.work.notify_all();
        while (st.busy > 0 || !st.jobs.is_empty()) && !timeout.is_zero() {
            if self.done.wait_until(&mut st, deadline) && (st.busy > 0 || !st.jobs.is_empty()) {
                break;
            }
        }
        let left = st.busy + st.jobs.len();
        let threads = if left == 0 {
            core::mem::take(&mut st.threads)
        } else {
            Vec::new() // they end when their runs do
        };
        drop(st);
        for thread in threads {
            sync::join(thread);
        }
        left
    }
}
