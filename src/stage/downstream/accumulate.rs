//! Accumulate mode (spec §8): while a producer accumulates, the events it emits and the demand
//! it receives are held, in order, and replayed in that order when it goes back to forward.
//!
//! The log is a sequence of entries, each the events of one emit or one demand; each entry
//! replays on its own (an emit as its own dispatch, a demand as its own buffer-then-
//! `handle_demand` round), so message boundaries and who gets which events stay what they
//! would have been. Events taken from the buffer while accumulating are the oldest of all:
//! they sit at the front of the held events and go back to the buffer's front on replay.

use crate::storage::{Deque, Storage};

/// An entry of the accumulate log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// The events of one emit (or of several, when a full fixed log folded them).
    Events(usize),
    /// Demand received.
    Demand(usize),
}

/// What a replay step asks the producer to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// `n` held events were moved into the emit scratch: dispatch them.
    Events(usize),
    /// Serve this held demand: buffer first, then `handle_demand`.
    Demand(usize),
}

/// The held log, events and the count of events taken from the buffer.
pub(crate) struct Accumulator<E, S: Storage> {
    log: S::Deque<Held>,
    held: S::Events<E>,
    /// How many events at the front of `held` were taken from the buffer.
    taken: usize,
}

impl<E, S: Storage> Default for Accumulator<E, S> {
    fn default() -> Self {
        Self {
            log: Default::default(),
            held: Default::default(),
            taken: 0,
        }
    }
}

impl<E, S: Storage> Accumulator<E, S> {
    /// Events held.
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }

    /// True while the log still holds events (not only demand).
    pub(crate) fn holds_events(&self) -> bool {
        (0..self.log.len()).any(|i| matches!(self.log.get(i), Some(Held::Events(_))))
    }

    /// Holds what one emit put in `scratch`, as one entry. Returns how many found no room
    /// (fixed storage), for the caller to count.
    pub(crate) fn hold(&mut self, scratch: &mut S::Run<E>) -> usize {
        let can_log = matches!(self.log.back_mut(), Some(Held::Events(_))) || !self.log.is_full();
        let (mut n, mut lost) = (0, 0);
        for e in scratch.drain_front(usize::MAX) {
            if can_log && self.held.push_back(e).is_ok() {
                n += 1;
            } else {
                lost += 1;
            }
        }
        if n > 0
            && let Err(Held::Events(n)) = self.log.push_back(Held::Events(n))
        {
            // Only a full log (fixed storage) folds an emit into the one before.
            match self.log.back_mut() {
                Some(Held::Events(k)) => *k += n,
                _ => debug_assert!(false, "checked can_log"),
            }
        }
        lost
    }

    /// Holds events just taken from the buffer: older than every event emitted since, newer
    /// than the events taken before them, so they go right after those, at the front
    /// (per-subscription FIFO, spec §20.1). Returns how many found no room.
    pub(crate) fn hold_taken(&mut self, scratch: &mut S::Run<E>) -> usize {
        let can_log = matches!(self.log.front(), Some(Held::Events(_))) || !self.log.is_full();
        let at = self.taken.min(self.held.len());
        // Rotate the events taken before to the back, put the new ones in front (newest
        // first), and rotate the earlier ones back in front of them.
        for _ in 0..at {
            if let Some(e) = self.held.pop_front() {
                let back = self.held.push_back(e);
                debug_assert!(back.is_ok(), "one was just popped");
            }
        }
        let (mut n, mut lost) = (0, 0);
        while let Some(e) = scratch.pop_back() {
            if can_log && self.held.push_front(e).is_ok() {
                n += 1;
            } else {
                lost += 1;
            }
        }
        for _ in 0..at {
            if let Some(e) = self.held.pop_back() {
                let front = self.held.push_front(e);
                debug_assert!(front.is_ok(), "one was just popped");
            }
        }
        self.taken = at + n;
        if n > 0 {
            if let Some(Held::Events(k)) = self.log.front_mut() {
                *k += n;
            } else {
                let logged = self.log.push_front(Held::Events(n));
                debug_assert!(logged.is_ok(), "checked can_log");
            }
        }
        lost
    }

    /// Logs demand. False when a full log (fixed storage) had nowhere to put it.
    pub(crate) fn log_demand(&mut self, demand: usize) -> bool {
        if let Err(Held::Demand(d)) = self.log.push_back(Held::Demand(demand)) {
            // Fold into the last held demand so none is lost.
            return match self.log.back_mut() {
                Some(Held::Demand(k)) => {
                    *k += d;
                    true
                }
                _ => false,
            };
        }
        true
    }

    /// The first step of a replay: the events taken from the buffer go back to its front (the
    /// caller unpops them from the back of `scratch`), with the log entry they were part of
    /// shortened. Returns how many.
    pub(crate) fn return_taken(&mut self, scratch: &mut S::Run<E>) -> usize {
        let taken = core::mem::take(&mut self.taken).min(self.held.len());
        for _ in 0..taken {
            if let Some(e) = self.held.pop_front() {
                let moved = scratch.push_back(e);
                debug_assert!(moved.is_ok(), "scratch holds what held holds");
            }
        }
        if taken > 0
            && let Some(Held::Events(k)) = self.log.front_mut()
        {
            *k -= taken;
            if *k == 0 {
                self.log.pop_front();
            }
        }
        taken
    }

    /// The next replay step, in log order; held events move into `scratch`.
    pub(crate) fn next(&mut self, scratch: &mut S::Run<E>) -> Option<Replay> {
        match self.log.pop_front()? {
            Held::Events(n) => {
                for _ in 0..n {
                    if let Some(e) = self.held.pop_front() {
                        let moved = scratch.push_back(e);
                        debug_assert!(moved.is_ok(), "scratch holds what held holds");
                    }
                }
                Some(Replay::Events(n))
            }
            Held::Demand(d) => Some(Replay::Demand(d)),
        }
    }

    /// Drops everything (the stage stops); returns how many events were held.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.held.len();
        self.held.clear();
        self.log.clear();
        self.taken = 0;
        n
    }

    #[cfg(test)]
    pub(crate) fn log_entry(&self, i: usize) -> Option<&Held> {
        self.log.get(i)
    }
    #[cfg(test)]
    pub(crate) fn log_len(&self) -> usize {
        self.log.len()
    }
    #[cfg(test)]
    pub(crate) fn held_event(&self, i: usize) -> Option<&E> {
        self.held.get(i)
    }
}
