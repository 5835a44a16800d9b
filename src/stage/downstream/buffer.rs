//! The producer buffer: dispatcher leftovers waiting for demand, with info markers in place
//! (spec §9, §10).
//!
//! Capacity counts events only; markers never count. On overflow, [`Keep::Last`] pushes out the
//! oldest events and [`Keep::First`] drops the incoming ones; either way the number dropped is
//! returned so that the producer counts and reports it. A marker is released as soon as every
//! event before it has left the buffer, whether taken by demand or pushed out (one rule for
//! bounded and unbounded buffers; spec §21 Q4, Q17).
//!
//! ```
//! use genstage::buffer::Buffer;
//! use genstage::storage::Heap;
//! use genstage::Keep;
//! use genstage::runtime::MarkerId;
//! let mut b: Buffer<char, Heap> = Buffer::new(Some(3), Keep::Last);
//! for c in ['a', 'b', 'c'] {
//!     b.push(c);
//! }
//! assert_eq!(b.push_marker(MarkerId(1)), Ok(()));
//! assert_eq!(b.push('d'), 1); // 'a' is pushed out
//! assert_eq!(b.len(), 3);
//! assert_eq!(b.run_len(), 2); // 'b', 'c' come before the marker
//! assert_eq!((b.pop(), b.pop()), (Some('b'), Some('c')));
//! assert_eq!(b.pop_released(), Some(MarkerId(1)));
//! assert_eq!(b.pop(), Some('d'));
//! ```

use crate::id::MarkerId;
use crate::options::Keep;
use crate::storage::{DefaultStorage, Deque, Storage};

/// The producer buffer. See the [module docs](self).
pub struct Buffer<E, S: Storage = DefaultStorage> {
    events: S::Events<E>,
    /// `(position, marker)`: the marker follows the event with absolute index `position - 1`.
    markers: S::Deque<(u64, MarkerId)>,
    /// Absolute index of the front event.
    head: u64,
    capacity: Option<usize>,
    keep: Keep,
}

impl<E, S: Storage> Buffer<E, S> {
    /// A buffer holding at most `capacity` events (`None`: unbounded).
    pub fn new(capacity: Option<usize>, keep: Keep) -> Self {
        Self {
            events: Default::default(),
            markers: Default::default(),
            head: 0,
            capacity,
            keep,
        }
    }
    /// Events held (markers do not count).
    pub fn len(&self) -> usize {
        self.events.len()
    }
    /// True when no event is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
    /// Markers waiting behind events.
    pub fn markers(&self) -> usize {
        self.markers.len()
    }
    /// The capacity in events.
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    fn full(&self) -> bool {
        self.capacity.is_some_and(|c| self.events.len() >= c) || self.events.is_full()
    }

    /// Buffers one event; returns how many events were dropped to respect the capacity (0 or 1).
    /// Markers whose events were pushed out become released ([`pop_released`](Self::pop_released)).
    pub fn push(&mut self, event: E) -> usize {
        if !self.full() {
            // Not full, so the storage takes it.
            let pushed = self.events.push_back(event);
            debug_assert!(pushed.is_ok(), "checked not full");
            return 0;
        }
        match self.keep {
            Keep::First => 1,
            Keep::Last => {
                if self.events.pop_front().is_some() {
                    self.head += 1;
                    let pushed = self.events.push_back(event);
                    debug_assert!(pushed.is_ok(), "one event was just popped");
                }
                1
            }
        }
    }

    /// Puts `event` back at the front (a leftover of events just taken).
    pub(crate) fn unpop(&mut self, event: E) {
        if self.events.push_front(event).is_ok() {
            self.head -= 1;
        }
    }

    /// Places a marker after the last buffered event, or hands it back when the buffer holds
    /// no event (then it is due at once) or no room is left for markers (fixed storage).
    pub fn push_marker(&mut self, marker: MarkerId) -> Result<(), MarkerId> {
        if self.events.is_empty() {
            return Err(marker);
        }
        let pos = self.head + self.events.len() as u64;
        self.markers.push_back((pos, marker)).map_err(|(_, m)| m)
    }

    /// Events before the next marker (all of them when there is none).
    pub fn run_len(&self) -> usize {
        match self.markers.front() {
            Some(&(pos, _)) => (pos.saturating_sub(self.head)) as usize,
            None => self.events.len(),
        }
    }

    /// Takes the front event.
    pub fn pop(&mut self) -> Option<E> {
        let e = self.events.pop_front()?;
        self.head += 1;
        Some(e)
    }

    /// A marker whose events have all left the buffer, in order.
    pub fn pop_released(&mut self) -> Option<MarkerId> {
        match self.markers.front() {
            Some(&(pos, id)) if pos <= self.head => {
                self.markers.pop_front();
                Some(id)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Fixed;

    fn fill(b: &mut Buffer<u32, Fixed<8>>, items: &[u32]) -> usize {
        items.iter().map(|&e| b.push(e)).sum()
    }

    #[test]
    fn keep_first_drops_incoming_events() {
        let mut b = Buffer::<u32, Fixed<8>>::new(Some(5), Keep::First);
        assert_eq!(fill(&mut b, &[1, 2, 3, 4, 5, 6, 7, 8]), 3);
        assert_eq!(
            core::iter::from_fn(|| b.pop()).collect::<heapless::Vec<_, 8>>(),
            [1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn keep_last_pushes_out_oldest_events() {
        let mut b = Buffer::<u32, Fixed<8>>::new(Some(5), Keep::Last);
        assert_eq!(fill(&mut b, &[1, 2, 3, 4, 5, 6, 7, 8]), 3);
        assert_eq!(
            core::iter::from_fn(|| b.pop()).collect::<heapless::Vec<_, 8>>(),
            [4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn marker_on_empty_buffer_is_due_at_once() {
        let mut b = Buffer::<u32, Fixed<8>>::new(None, Keep::Last);
        assert_eq!(b.push_marker(MarkerId(7)), Err(MarkerId(7)));
    }

    #[test]
    fn markers_are_released_once_events_before_them_are_gone() {
        let mut b = Buffer::<u32, Fixed<8>>::new(Some(3), Keep::Last);
        fill(&mut b, &[1, 2, 3]);
        b.push_marker(MarkerId(1)).unwrap();
        b.push_marker(MarkerId(2)).unwrap();
        assert_eq!(b.run_len(), 3);
        assert_eq!((b.pop(), b.pop()), (Some(1), Some(2)));
        assert_eq!(b.pop_released(), None);
        assert_eq!(b.pop(), Some(3));
        assert_eq!(b.pop_released(), Some(MarkerId(1)));
        assert_eq!(b.pop_released(), Some(MarkerId(2)));
        assert_eq!(b.pop_released(), None);
    }

    #[test]
    fn markers_do_not_use_capacity() {
        let mut b = Buffer::<u32, Fixed<8>>::new(Some(2), Keep::First);
        fill(&mut b, &[1]);
        b.push_marker(MarkerId(1)).unwrap();
        assert_eq!(fill(&mut b, &[2]), 0);
        assert_eq!(fill(&mut b, &[3]), 1);
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn capacity_is_the_configured_bound() {
        assert_eq!(
            Buffer::<u32, Fixed<8>>::new(Some(3), Keep::Last).capacity(),
            Some(3)
        );
        assert_eq!(
            Buffer::<u32, Fixed<8>>::new(None, Keep::Last).capacity(),
            None
        );
    }

    #[test]
    fn an_unpopped_event_keeps_markers_behind_it() {
        let mut b = Buffer::<u32, Fixed<8>>::new(None, Keep::Last);
        fill(&mut b, &[1, 2, 3]);
        b.push_marker(MarkerId(1)).unwrap();
        assert_eq!((b.pop(), b.pop()), (Some(1), Some(2)));
        assert_eq!(b.run_len(), 1);
        b.unpop(2);
        b.unpop(1);
        // Both events are back in front of the marker, in their order.
        assert_eq!(b.run_len(), 3);
        assert_eq!((b.pop(), b.pop(), b.pop()), (Some(1), Some(2), Some(3)));
        assert_eq!(b.pop_released(), Some(MarkerId(1)));
    }
}
