//! A one-shot reply slot: the stage thread answers a request through a [`Sender`]; the caller
//! waits on the [`Receiver`]. A sender dropped without answering (its stage panicked or
//! stopped with the request still queued) wakes the caller, who never waits for ever.

use super::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

enum State<T> {
    Empty,
    Full(T),
    Dropped,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// The answering end.
pub(super) struct Sender<T>(Option<Arc<Slot<T>>>);

/// The waiting end.
pub(super) struct Receiver<T>(Arc<Slot<T>>);

/// Why no answer came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NoAnswer {
    /// The deadline passed.
    Timeout,
    /// The sender was dropped without answering.
    Dropped,
}

/// A fresh slot.
pub(super) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State::Empty),
        ready: Condvar::new(),
    });
    (Sender(Some(slot.clone())), Receiver(slot))
}

impl<T> Sender<T> {
    /// Answers.
    pub(super) fn send(mut self, value: T) {
        if let Some(slot) = self.0.take() {
            *slot.state.lock() = State::Full(value);
            slot.ready.notify_all();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            let mut st = slot.state.lock();
            if matches!(*st, State::Empty) {
                *st = State::Dropped;
            }
            drop(st);
            slot.ready.notify_all();
        }
    }
}

impl<T> Receiver<T> {
    /// Waits for the answer until `deadline` (`None`: for as long as it takes).
    pub(super) fn wait(self, deadline: Option<Instant>) -> Result<T, NoAnswer> {
        let mut st = self.0.state.lock();
        loop {
            match core::mem::replace(&mut *st, State::Empty) {
                State::Full(v) => return Ok(v),
                State::Dropped => return Err(NoAnswer::Dropped),
                State::Empty => {}
            }
            match deadline {
                None => self.0.ready.wait(&mut st),
                Some(d) => {
                    if self.0.ready.wait_until(&mut st, d) && matches!(*st, State::Empty) {
                        return Err(NoAnswer::Timeout);
                    }
                }
            }
        }
    }
}
