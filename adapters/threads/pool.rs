//! Workers: a fixed set of threads that run stages as tasks, for
//! [`Runtime::with_workers`](super::Runtime::with_workers).
//!
//! A stage's mailbox calls its waker when an input reaches it while it is idle; the waker
//! schedules the stage's task here. A task takes turns until its mailbox is empty (then it
//! is idle again) or its budget is spent (then it goes to the back of the queue, so one busy
//! stage cannot starve the others).
//!
//! Where a task is scheduled decides what a handoff costs. A task woken by a task running on
//! a worker goes into that worker's **next** slot and runs there right after, on the same
//! core, with the events still in its cache and no thread woken: a producer's batch is taken
//! by its consumer at once, and a consumer's ask reaches its producer the same way. When the
//! slot is taken (one task woke two), the older one goes to the shared queue, where an idle
//! worker finds it: that is how the work spreads over the workers. A worker with nothing to
//! do spins briefly on the queue (tens of microseconds at most), then sleeps; a push wakes a
//! worker only when one sleeps.

use super::sync::{self, Arc, Condvar, Mutex};
use core::cell::RefCell;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::collections::VecDeque;

/// A stage as a task: [`run`](Job::run) takes turns and says whether it wants to run again.
pub(super) trait Job: Send + Sync {
    /// Runs a few turns; true when it still has inputs and should run again later.
    fn run(&self) -> bool;
}

type Task = Arc<dyn Job>;

/// Brief waits ([`sync::spin_until`]: 127 pauses, then 4 yields) an idle worker makes on the
/// queue before it sleeps: a few tens of microseconds, about what a busy pipeline takes to
/// hand over its next batch, and far less than being woken costs the stage that pushes. Workers
/// are as many as the cores they were made for, so the spin holds no core another stage of the
/// runtime needs. Measured on the 2-core machine (2 workers): 1 wait gave 382 M events/s on
/// the 3-stage pipeline and 196 M on broadcast, 8 gave 414 M and 234 M, 64 no better.
const IDLE_SPINS: u32 = 8;
/// Turns a task takes from its next slot in a row before the worker looks at the queue.
const SLOT_RUNS: u32 = 64;

struct State {
    queue: VecDeque<Task>,
    sleeping: usize,
    closed: bool,
}

/// The shared part: the queue, and how many workers sleep on it.
pub(super) struct Pool {
    state: Mutex<State>,
    ready: Condvar,
    /// Tasks in the queue (a hint read without the lock by a worker about to sleep).
    queued: AtomicUsize,
    workers: usize,
}

std::thread_local! {
    /// On a worker: its pool (by address) and its next slot.
    static WORKER: RefCell<Option<(usize, Option<Task>)>> = const { RefCell::new(None) };
}

impl Pool {
    /// Starts `workers` threads (`0`: one per core) named `genstage-worker-<i>`.
    ///
    /// # Panics
    /// When the OS cannot start a thread.
    pub(super) fn start(workers: usize) -> Arc<Self> {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, core::num::NonZero::get),
            n => n,
        };
        let pool = Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                sleeping: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            queued: AtomicUsize::new(0),
            workers,
        });
        for i in 0..workers {
            let p = pool.clone();
            // Detached: a worker ends by itself once the pool is closed and empty.
            let _ = sync::spawn(std::format!("genstage-worker-{i}"), move || p.work())
                .expect("the OS could not start a worker thread");
        }
        pool
    }

    /// How many workers it runs.
    pub(super) fn workers(&self) -> usize {
        self.workers
    }

    /// Schedules `task`: into the next slot of the worker this is called on (a task waking a
    /// task), the displaced occupant or the task itself into the queue otherwise.
    pub(super) fn schedule(&self, task: Task) {
        let me = self as *const Self as usize;
        let spill = WORKER.with(|w| match &mut *w.borrow_mut() {
            Some((pool, slot)) if *pool == me => slot.replace(task),
            _ => Some(task),
        });
        if let Some(task) = spill {
            self.push(task);
        }
    }

    /// Puts `task` at the back of the queue, waking a sleeping worker if there is one.
    fn push(&self, task: Task) {
        let mut st = self.state.lock();
        st.queue.push_back(task);
        self.queued.store(st.queue.len(), Ordering::Release);
        let wake = st.sleeping > 0;
        drop(st);
        if wake {
            self.ready.notify_one();
        }
    }

    /// No more tasks: the workers end once the queue is empty.
    pub(super) fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next task from the queue, waiting for one; `None` once closed and empty.
    fn pop(&self) -> Option<Task> {
        let mut spun = false;
        let mut st = self.state.lock();
        loop {
            if let Some(task) = st.queue.pop_front() {
                self.queued.store(st.queue.len(), Ordering::Release);
                return Some(task);
            }
            if st.closed {
                return None;
            }
            if !spun {
                // Another worker's stage is likely to hand over work within microseconds:
                // cheaper to look again than to sleep and be woken.
                spun = true;
                drop(st);
                for _ in 0..IDLE_SPINS {
                    if sync::spin_until(|| self.queued.load(Ordering::Acquire) > 0) {
                        break;
                    }
                }
                st = self.state.lock();
                continue;
            }
            st.sleeping += 1;
            self.ready.wait(&mut st);
            st.sleeping -= 1;
            spun = false;
        }
    }

    /// A worker's loop.
    fn work(self: Arc<Self>) {
        let me = &*self as *const Self as usize;
        WORKER.with(|w| *w.borrow_mut() = Some((me, None)));
        let slot = || WORKER.with(|w| w.borrow_mut().as_mut().and_then(|(_, s)| s.take()));
        let mut in_row = 0;
        loop {
            let task = match slot() {
                Some(task) if in_row < SLOT_RUNS => {
                    in_row += 1;
                    task
                }
                Some(task) => {
                    // Fairness: the slot's task waits its turn behind the queue.
                    in_row = 0;
                    self.push(task);
                    continue;
                }
                None => {
                    in_row = 0;
                    match self.pop() {
                        Some(task) => task,
                        None => break,
                    }
                }
            };
            // A task catches its stage's panics itself; this catches the runtime's own, so
            // that a worker outlives any one task.
            let again = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| task.run()))
                .unwrap_or(false);
            if again {
                self.push(task);
            }
        }
        WORKER.with(|w| *w.borrow_mut() = None);
    }
}
