//! [`Mailbox`]: the handoff every stage thread is built on. Public so that it can be
//! model-checked (`tests/loom.rs`) and reused; a runtime user never needs it.
//!
//! One lock over a FIFO of pending items and a condition variable. The receiver takes
//! **everything** pending in one lock (swapping queues, so neither side allocates in steady
//! state) and parks only when nothing is pending; a sender notifies only when the receiver
//! has marked itself parked, under the same lock, so a busy pipeline makes no wake-up calls.
//! Closing hands back whatever was still pending, and every later send is refused with its
//! item: each item is received, handed back by [`close`](Mailbox::close), or refused to its
//! sender, never lost.
//!
//! The mailbox also counts its **owners** (the handles that keep the receiving stage alive):
//! a receiver that may stop when nobody owns it is told so by [`recv`](Mailbox::recv) once
//! nothing is pending and the last owner has gone.
//!
//! ```
//! use genstage::threads::mailbox::{Mailbox, Recv};
//! use std::collections::VecDeque;
//! use std::sync::Arc;
//!
//! let mailbox = Arc::new(Mailbox::new());
//! let sender = { let m = mailbox.clone(); std::thread::spawn(move || m.send(7).unwrap()) };
//! let mut got = VecDeque::new();
//! assert_eq!(mailbox.recv(&mut got, false), Recv::Items);
//! assert_eq!(got.pop_front(), Some(7));
//! sender.join().unwrap();
//! assert!(mailbox.close().is_empty());
//! assert_eq!(mailbox.send(8), Err(8)); // refused, handed back
//! ```

use super::sync::{Condvar, Hint, Mutex};
use std::collections::VecDeque;

/// What [`Mailbox::recv`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    /// Items were moved into the caller's queue.
    Items,
    /// Nothing is pending, nobody owns the mailbox, and the caller said it may stop.
    Unowned,
    /// The mailbox is closed and empty.
    Closed,
    /// Nothing came before the deadline ([`recv_until`](Mailbox::recv_until)).
    Timeout,
    /// Nothing is pending ([`try_recv`](Mailbox::try_recv)): the receiver is marked idle, so
    /// the next send (or the last owner leaving) calls its [waker](Mailbox::set_waker).
    Idle,
}

/// What a send calls instead of the condition variable once the receiver is a task that a
/// scheduler runs rather than a thread that parks ([`Mailbox::set_waker`]).
pub type Waker = std::sync::Arc<dyn Fn() + Send + Sync>;

struct State<T> {
    queue: VecDeque<T>,
    parked: bool,
    closed: bool,
    owners: usize,
    wakeups: u64,
    waker: Option<Waker>,
}

/// A multi-producer, single-consumer mailbox. See the [module docs](self).
pub struct Mailbox<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    /// Set while items are pending (changed under the lock, read without it): what a
    /// receiver about to park waits on briefly first.
    pending: Hint,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Mailbox<T> {
    /// An open, empty mailbox with one owner.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                parked: false,
                closed: false,
                owners: 1,
                wakeups: 0,
                waker: None,
            }),
            ready: Condvar::new(),
            pending: Hint::new(),
        }
    }

    /// Queues `item`; `Ok(true)` when this send woke the parked receiver. A closed mailbox
    /// refuses the item and hands it back.
    pub fn send(&self, item: T) -> Result<bool, T> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(item);
        }
        st.queue.push_back(item);
        self.pending.set(true);
        let wake = st.parked;
        if wake {
            st.parked = false;
            st.wakeups += 1;
        }
        self.wake(st, wake);
        Ok(wake)
    }

    /// Releases the lock, then wakes the receiver when `wake`: its waker when it has one,
    /// else the condition variable.
    fn wake(&self, st: super::sync::MutexGuard<'_, State<T>>, wake: bool) {
        let waker = if wake { st.waker.clone() } else { None };
        drop(st);
        match waker {
            Some(w) => w(),
            None if wake => self.ready.notify_one(),
            None => {}
        }
    }

    /// Makes the receiver a task run by a scheduler: from now on a send that finds it idle
    /// (after [`try_recv`](Self::try_recv) answered [`Recv::Idle`]) calls `waker` instead of
    /// notifying a parked thread. The receiver starts idle when nothing is pending; when
    /// something is, `waker` is called at once. [`close`](Self::close) drops the waker.
    pub fn set_waker(&self, waker: Waker) {
        let mut st = self.state.lock();
        st.waker = Some(waker);
        let wake = !st.queue.is_empty() || st.owners == 0;
        st.parked = !wake;
        self.wake(st, wake);
    }

    /// Moves everything pending into `into`, never waiting: [`Recv::Items`], or
    /// [`Recv::Closed`] / [`Recv::Unowned`] as [`recv`](Self::recv) would answer, or
    /// [`Recv::Idle`] after marking the receiver idle, so that the next send wakes it.
    /// Only one thread may receive.
    pub fn try_recv(&self, into: &mut VecDeque<T>, may_stop: bool) -> Recv {
        let mut st = self.state.lock();
        if let Some(got) = self.poll(&mut st, into, may_stop) {
            return got;
        }
        st.parked = true;
        Recv::Idle
    }

    /// What a receive finds without waiting, under the lock: the pending items (moved into
    /// `into`), or the end, or `None` when it would have to wait.
    fn poll(&self, st: &mut State<T>, into: &mut VecDeque<T>, may_stop: bool) -> Option<Recv> {
        if !st.queue.is_empty() {
            if into.is_empty() {
                core::mem::swap(&mut st.queue, into);
            } else {
                into.append(&mut st.queue);
            }
            self.pending.set(false);
            return Some(Recv::Items);
        }
        if st.closed {
            return Some(Recv::Closed);
        }
        (may_stop && st.owners == 0).then_some(Recv::Unowned)
    }

    /// Queues `item` without waking the receiver: it finds the item with its next input
    /// (for something that is never urgent, such as a buffer coming back for reuse). A closed
    /// mailbox hands the item back.
    pub fn send_quietly(&self, item: T) -> Result<(), T> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(item);
        }
        st.queue.push_back(item);
        self.pending.set(true);
        Ok(())
    }

    /// Moves everything pending into `into` (swapping when `into` is empty, so buffers are
    /// reused), waiting while nothing is pending. Returns [`Recv::Unowned`] instead of waiting
    /// when `may_stop` and the last owner has gone, and [`Recv::Closed`] once closed and empty.
    /// Only one thread may receive.
    ///
    /// Before parking it waits a short, bounded while (a few microseconds) for a send, which
    /// is cheaper than a park and a wake-up when the peer answers at once, as a busy
    /// pipeline's does.
    pub fn recv(&self, into: &mut VecDeque<T>, may_stop: bool) -> Recv {
        let mut st = self.state.lock();
        let mut waited = false;
        loop {
            if let Some(got) = self.poll(&mut st, into, may_stop) {
                return got;
            }
            if !waited {
                waited = true;
                drop(st);
                self.pending.wait_briefly();
                st = self.state.lock();
                continue;
            }
            st.parked = true;
            self.ready.wait(&mut st);
            st.parked = false;
        }
    }

    /// As [`recv`](Self::recv) with `may_stop` false, giving up at `deadline` with
    /// [`Recv::Timeout`] (under loom, which has no clock, it waits for a send).
    pub fn recv_until(&self, into: &mut VecDeque<T>, deadline: std::time::Instant) -> Recv {
        let mut st = self.state.lock();
        loop {
            if !st.queue.is_empty() {
                into.append(&mut st.queue);
                self.pending.set(false);
                return Recv::Items;
            }
            if st.closed {
                return Recv::Closed;
            }
            st.parked = true;
            let timed_out = self.ready.wait_until(&mut st, deadline);
            st.parked = false;
            if timed_out && st.queue.is_empty() {
                return Recv::Timeout;
            }
        }
    }

    /// Closes the mailbox and hands back what was pending. Later sends are refused.
    pub fn close(&self) -> VecDeque<T> {
        let mut st = self.state.lock();
        st.closed = true;
        self.pending.set(false);
        let waker = st.waker.take();
        let pending = core::mem::take(&mut st.queue);
        drop(st);
        // Dropped outside the lock: it owns a reference to the receiver's task, whose drop runs
        // code (the stage's) that must not run under this lock.
        drop(waker);
        pending
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Items pending.
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many sends found the receiver parked and woke it.
    pub fn wakeups(&self) -> u64 {
        self.state.lock().wakeups
    }

    /// One more owner.
    pub fn add_owner(&self) {
        self.state.lock().owners += 1;
    }

    /// One owner fewer; the last one wakes a parked receiver so that it can decide to stop.
    pub fn drop_owner(&self) {
        let mut st = self.state.lock();
        st.owners = st.owners.saturating_sub(1);
        let wake = st.owners == 0 && st.parked;
        if wake {
            st.parked = false;
        }
        self.wake(st, wake);
    }

    /// Owners left.
    pub fn owners(&self) -> usize {
        self.state.lock().owners
    }
}
