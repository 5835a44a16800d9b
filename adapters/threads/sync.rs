//! Every synchronization primitive the runtime uses, in one place: `parking_lot` and
//! `std::thread` normally, `loom`'s models under `--cfg loom`, behind one small API (a mutex
//! whose guard a condition variable waits on in place, a condition variable, `Arc`, thread
//! spawning). Nothing else in the runtime names a lock, a condition variable or a thread.
//!
//! Three things are deliberately outside the model: `Arc` reference counts, the global [`StageId`](genstage::StageId)
//! counter (an atomic that hands out distinct numbers; no thread waits on it) and timeouts
//! (loom has no clock: under loom a wait with a deadline waits for a notification).

use core::time::Duration;
use std::string::String;
use std::time::Instant;

// `std`'s `Arc` in both configurations: the runtime coerces `Arc`s of its stages to trait
// objects (ports), which loom's `Arc` cannot do, and reference counts are not a handoff the
// models need to explore.
pub(super) use std::sync::Arc;

/// A mutual-exclusion lock.
pub(super) struct Mutex<T> {
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

/// A held lock; a [`Condvar`] waits on it in place.
pub(super) struct MutexGuard<'a, T> {
    #[cfg(not(loom))]
    inner: parking_lot::MutexGuard<'a, T>,
    // An `Option` so that a wait can move the guard into loom's condition variable and back.
    #[cfg(loom)]
    inner: Option<loom::sync::MutexGuard<'a, T>>,
}

impl<T> Mutex<T> {
    /// A lock around `value`.
    pub(super) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Takes the lock. A panic while it was held does not poison it: the runtime never panics
    /// inside its critical sections, and user code never runs in one.
    pub(super) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        {
            MutexGuard {
                inner: self.inner.lock(),
            }
        }
        #[cfg(loom)]
        {
            MutexGuard {
                inner: Some(self.inner.lock().unwrap_or_else(|e| e.into_inner())),
            }
        }
    }
}

impl<T> core::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        #[cfg(not(loom))]
        {
            &self.inner
        }
        #[cfg(loom)]
        {
            self.inner
                .as_ref()
                .expect("the guard is only out during a wait")
        }
    }
}

impl<T> core::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        #[cfg(not(loom))]
        {
            &mut self.inner
        }
        #[cfg(loom)]
        {
            self.inner
                .as_mut()
                .expect("the guard is only out during a wait")
        }
    }
}

/// A condition variable.
pub(super) struct Condvar {
    #[cfg(not(loom))]
    inner: parking_lot::Condvar,
    #[cfg(loom)]
    inner: loom::sync::Condvar,
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub(super) fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            inner: parking_lot::Condvar::new(),
            #[cfg(loom)]
            inner: loom::sync::Condvar::new(),
        }
    }

    /// Releases the lock, waits for a notification (or a spurious wake-up), takes it again.
    pub(super) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        #[cfg(not(loom))]
        {
            self.inner.wait(&mut guard.inner);
        }
        #[cfg(loom)]
        {
            let g = guard.inner.take().expect("a guard waits once at a time");
            guard.inner = Some(self.inner.wait(g).unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// As [`wait`](Self::wait), giving up at `deadline`; true when the deadline passed.
    /// Under loom (no clock) this waits for a notification.
    pub(super) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> bool {
        #[cfg(not(loom))]
        {
            self.inner
                .wait_until(&mut guard.inner, deadline)
                .timed_out()
        }
        #[cfg(loom)]
        {
            let _ = deadline;
            self.wait(guard);
            false
        }
    }

    /// Wakes one waiter.
    pub(super) fn notify_one(&self) {
        self.inner.notify_one();
    }

    /// Wakes every waiter.
    pub(super) fn notify_all(&self) {
        self.inner.notify_all();
    }
}

/// A flag readable without a lock, for a receiver to wait on briefly before it parks. Only a
/// hint: whoever acts on it re-checks the state under the lock, so its value never decides
/// anything (and under loom, which explores the locked state, it is never waited on).
pub(super) struct Hint(core::sync::atomic::AtomicBool);

/// Rounds of a brief wait ([`Hint::wait_briefly`]) that spin, with 1, 2, 4, … pauses.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 7;
/// Rounds after those that yield the processor to another thread instead.
#[cfg(not(loom))]
const YIELD_ROUNDS: u32 = 4;

impl Hint {
    /// A flag that is not set.
    pub(super) fn new() -> Self {
        Self(core::sync::atomic::AtomicBool::new(false))
    }

    /// Sets or clears it.
    pub(super) fn set(&self, on: bool) {
        self.0.store(on, core::sync::atomic::Ordering::Release);
    }

    /// Waits a short, bounded while for the flag to be set: spins with growing pauses
    /// (127 in all), then yields the processor a few times; never longer. True when it was
    /// set. Cheaper than parking when the peer answers within microseconds, and bounded so
    /// that an idle stage still parks at once after.
    #[cfg(not(loom))]
    pub(super) fn wait_briefly(&self) -> bool {
        spin_until(|| self.0.load(core::sync::atomic::Ordering::Acquire))
    }

    /// Under loom: no waiting (the models explore the locked state only).
    #[cfg(loom)]
    pub(super) fn wait_briefly(&self) -> bool {
        false
    }
}

/// Waits a short, bounded while for `done`: spins with growing pauses (127 in all), then
/// yields the processor a few times; never longer. True when `done` held.
#[cfg(not(loom))]
pub(super) fn spin_until(done: impl Fn() -> bool) -> bool {
    for round in 0..SPIN_ROUNDS + YIELD_ROUNDS {
        if done() {
            return true;
        }
        if round < SPIN_ROUNDS {
            for _ in 0..1u32 << round {
                core::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
    done()
}

/// The deadline `timeout` from now (far in the future when that overflows).
pub(super) fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
}

/// An OS thread (a modelled thread under loom).
pub(super) type JoinHandle = thread::JoinHandle<()>;

#[cfg(loom)]
use loom::thread;
#[cfg(not(loom))]
use std::thread;

/// Starts a thread named `name` running `f`.
pub(super) fn spawn(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle> {
    thread::Builder::new().name(name).spawn(f)
}

/// Waits for a thread to end (it has caught every panic of its own).
pub(super) fn join(handle: JoinHandle) {
    let _ = handle.join();
}

/// The next stage id of this process: distinct for every call.
pub(super) fn next_stage_number() -> u32 {
    use core::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
