//! A batch of events as it reaches a consumer-role stage: from any exact-size iterator, or
//! (feature `alloc`) in a `Vec` whose buffer the stage may take whole.

use crate::storage::Run;

/// Events arriving at a stage, however they came.
pub(crate) trait Incoming<E> {
    /// The events, one by one.
    type Iter: ExactSizeIterator<Item = E>;
    /// How many.
    fn len(&self) -> usize;
    /// Moves the events into `run`, taking the buffer whole when both are `Vec`s and `run` is
    /// empty; returns how many it took (a full fixed run takes fewer: the rest are dropped).
    fn into_run<R: Run<E>>(self, run: &mut R) -> usize;
    /// The events, one by one.
    fn into_events(self) -> Self::Iter;
}

/// Events from an iterator.
pub(crate) struct FromIter<I>(pub(crate) I);

impl<E, I: ExactSizeIterator<Item = E>> Incoming<E> for FromIter<I> {
    type Iter = I;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn into_run<R: Run<E>>(mut self, run: &mut R) -> usize {
        run.extend_from(self.0.by_ref())
    }
    fn into_events(self) -> I {
        self.0
    }
}

#[cfg(feature = "alloc")]
impl<'a, E> Incoming<E> for &'a mut alloc::vec::Vec<E> {
    type Iter = alloc::vec::Drain<'a, E>;
    fn len(&self) -> usize {
        alloc::vec::Vec::len(self)
    }
    fn into_run<R: Run<E>>(self, run: &mut R) -> usize {
        if run.is_empty()
            && let Some(taken) = run.as_vec()
        {
            // The buffer changes hands; the caller keeps the run's emptied one.
            core::mem::swap(taken, self);
            return taken.len();
        }
        run.extend_from(self.drain(..))
    }
    fn into_events(self) -> Self::Iter {
        self.drain(..)
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn a_buffer_becomes_an_empty_inbox_whole_and_is_copied_into_a_busy_one() {
        let mut inbox: Vec<u32> = Vec::with_capacity(16);
        let mut batch: Vec<u32> = Vec::with_capacity(4);
        batch.extend([1, 2, 3]);
        let batch_buffer = batch.as_ptr();
        assert_eq!(Incoming::<u32>::into_run(&mut batch, &mut inbox), 3);
        assert_eq!(inbox, [1, 2, 3]);
        assert_eq!(inbox.as_ptr(), batch_buffer, "the buffer changed hands");
        assert!(
            batch.is_empty() && batch.capacity() >= 16,
            "the inbox's went back"
        );
        batch.extend([4, 5]);
        assert_eq!(Incoming::<u32>::into_run(&mut batch, &mut inbox), 2);
        assert_eq!(inbox, [1, 2, 3, 4, 5]);
        assert!(batch.is_empty());
        let events = FromIter(6..8u32);
        assert_eq!(Incoming::len(&events), 2);
        assert_eq!(events.into_run(&mut inbox), 2);
        assert_eq!(inbox.len(), 7);
    }
}
