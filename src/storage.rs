//! Where stages keep things: fixed capacities with no allocator, or growable with `alloc`.
//!
//! Every container inside a stage (its subscriptions, its buffer, its queues) comes from a
//! [`Storage`]. [`Fixed<EVENTS, CONTROL>`](Fixed) uses `heapless` containers that never
//! allocate: each container of events (the buffer, the emit scratch, held events, a
//! producer_consumer's input, a partition's queue) holds at most `EVENTS` items, and each
//! control container (subscriptions, dispatcher entries, pending infos and markers, the
//! self-queue, the accumulate log) at most `CONTROL`. [`Heap`] (feature `alloc`) uses
//! `Vec`/`VecDeque`. The stage API is the same for both: the only difference a user sees is
//! that, with `Fixed`, a full container refuses an item and the refusal is reported (a typed
//! error or a counted discard), never hidden.
//!
//! Events that are filled at the back and taken from the front in bulk (what a callback emits,
//! a producer_consumer's input, a partition's queue, a consumer's incoming batch) live in a
//! contiguous [`Run`]: a `Vec` or a `heapless::Vec`, lent to callbacks as an
//! [`Emit`] or a [`Batch`] so that events go in and out with one loop per batch, and (with
//! `Heap`) handed from stage to stage as whole buffers.
//!
//! The stage types default to [`Heap`] whatever the features: without `alloc`, `Heap` is not a
//! storage and a stage names its `Fixed` storage itself. So turning `alloc` on (in this crate
//! or anywhere else in the dependency graph) only adds; it never changes a type a no-alloc
//! user wrote.
//!
//! ```
//! use genstage::storage::{Deque, Fixed, Storage};
//! let mut q: <Fixed<256, 2> as Storage>::Deque<u8> = Default::default();
//! assert_eq!(q.push_back(1), Ok(()));
//! assert_eq!(q.push_back(2), Ok(()));
//! assert_eq!(q.push_back(3), Err(3)); // full: the item is handed back
//! assert_eq!(q.pop_front(), Some(1));
//! ```

use crate::callbacks::{Batch, Emit, EmitSink, LentRun};
use crate::id::SubId;

/// A family of containers. Implemented by [`Fixed`] and [`Heap`].
pub trait Storage: 'static {
    /// A FIFO queue of events.
    type Events<T>: Deque<T>;
    /// A contiguous run of events, filled at the back and emptied from the front in bulk:
    /// what a callback emits into, and a producer_consumer's input. Holds at most `EVENTS`.
    type Run<T>: Run<T>;
    /// Where a consumer lends incoming events to its callback in one piece: a growable run
    /// with growable storage; with fixed storage it holds nothing and events are handed
    /// through one by one (a consumer then holds no events at all).
    type Inbox<T>: Run<T>;
    /// A FIFO queue of control items.
    type Deque<T>: Deque<T>;
    /// A list of control items, with insertion anywhere.
    type List<T>: List<T>;
    /// How many items one container of events holds at most; `None` when it grows as needed.
    const EVENTS: Option<usize>;
    /// How many items one control container holds at most; `None` when it grows as needed.
    const CONTROL: Option<usize>;
}

/// A FIFO queue of bounded or unbounded capacity.
pub trait Deque<T>: Default {
    /// Number of items held.
    fn len(&self) -> usize;
    /// True when it holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends at the back, or hands the item back when full.
    fn push_back(&mut self, item: T) -> Result<(), T>;
    /// Puts an item back at the front, or hands it back when full.
    fn push_front(&mut self, item: T) -> Result<(), T>;
    /// Removes the front item.
    fn pop_front(&mut self) -> Option<T>;
    /// Removes the back item.
    fn pop_back(&mut self) -> Option<T>;
    /// The front item.
    fn front(&self) -> Option<&T>;
    /// The front item, mutably.
    fn front_mut(&mut self) -> Option<&mut T>;
    /// The back item, mutably.
    fn back_mut(&mut self) -> Option<&mut T>;
    /// The item at `index` from the front.
    fn get(&self, index: usize) -> Option<&T>;
    /// Removes everything.
    fn clear(&mut self);
    /// True when another `push_back` would be refused.
    fn is_full(&self) -> bool;
    /// What [`drain_front`](Self::drain_front) returns.
    type Drain<'a>: ExactSizeIterator<Item = T>
    where
        Self: 'a;
    /// Takes the first `n` items (all of them when it holds fewer), in order, in one go: the
    /// way to take many items from the front. Items the iterator has not yielded when it is
    /// dropped are dropped with it.
    fn drain_front(&mut self, n: usize) -> Self::Drain<'_>;
    /// The queue as a `Vec`, when it is one (feature `alloc`): then its items can change
    /// hands as a whole buffer, without being moved one by one.
    #[cfg(feature = "alloc")]
    fn as_vec(&mut self) -> Option<&mut alloc::vec::Vec<T>> {
        None
    }
}

/// A contiguous run of events (see [`Storage::Run`]): a `Vec` with growable storage, a
/// `heapless::Vec` with fixed storage. As a [`Deque`] its front operations shift the rest, so
/// it is emptied with [`drain_front`](Deque::drain_front), never item by item from the front.
///
/// Sealed: the stages lend it to callbacks as an [`Emit`] or a [`Batch`], whose fast paths
/// know these types.
pub trait Run<T>: Deque<T> + sealed::Sealed {
    /// True when it grows as needed (never refuses an item).
    const GROWS: bool;
    /// Appends what `items` yields until it runs out or the run is full; returns how many
    /// were taken (nothing is pulled that was not taken).
    fn extend_from<I: Iterator<Item = T>>(&mut self, items: I) -> usize;
    /// Lends the run to a callback that emits into it.
    fn emit(&mut self) -> Emit<'_, T>;
    /// Lends its first `n` items (`n <= len`) to a callback, as the batch of `sub`.
    fn lend(&mut self, n: usize, sub: SubId) -> Batch<'_, T>;
}

mod sealed {
    /// Only this crate's containers are runs.
    pub trait Sealed {}
    impl<T, const N: usize> Sealed for heapless::Vec<T, N> {}
    impl<T> Sealed for super::Unused<T> {}
    #[cfg(feature = "alloc")]
    impl<T> Sealed for alloc::vec::Vec<T> {}
}

/// Takes items from the front of a queue one at a time, as an exact-size iterator: the
/// [`Deque::drain_front`] of queues that have no bulk drain of their own. Items not yielded
/// are popped and dropped when it is dropped.
pub struct DrainFront<'a, T, Q: Deque<T>> {
    queue: &'a mut Q,
    left: usize,
    _t: core::marker::PhantomData<fn() -> T>,
}

impl<'a, T, Q: Deque<T>> DrainFront<'a, T, Q> {
    /// Takes up to `n` items from the front of `queue`.
    pub fn new(queue: &'a mut Q, n: usize) -> Self {
        let left = n.min(queue.len());
        Self {
            queue,
            left,
            _t: core::marker::PhantomData,
        }
    }
}

impl<T, Q: Deque<T>> Iterator for DrainFront<'_, T, Q> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.queue.pop_front()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T, Q: Deque<T>> ExactSizeIterator for DrainFront<'_, T, Q> {}

impl<T, Q: Deque<T>> Drop for DrainFront<'_, T, Q> {
    fn drop(&mut self) {
        for _ in self.by_ref() {}
    }
}

/// A list with positional insert and remove.
pub trait List<T>: Default {
    /// Number of items held.
    fn len(&self) -> usize;
    /// True when it holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends, or hands the item back when full.
    fn push(&mut self, item: T) -> Result<(), T>;
    /// Inserts at `index` (`index <= len`), or hands the item back when full.
    fn insert(&mut self, index: usize, item: T) -> Result<(), T>;
    /// Removes the item at `index` (`index < len`), shifting the rest down.
    fn remove(&mut self, index: usize) -> T;
    /// The items as a slice.
    fn as_slice(&self) -> &[T];
    /// The items as a mutable slice.
    fn as_mut_slice(&mut self) -> &mut [T];
    /// Removes everything.
    fn clear(&mut self);
    /// True when another `push` would be refused.
    fn is_full(&self) -> bool;
}

/// Fixed capacity, with no allocator: each container of events holds at most `EVENTS` items,
/// each control container at most `CONTROL` (8 unless told otherwise). A producer with 4
/// consumers and a 256-event buffer is `Fixed<256, 4>`: its subscription table does not pay
/// for 256 slots.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fixed<const EVENTS: usize, const CONTROL: usize = 8>;

impl<const EVENTS: usize, const CONTROL: usize> Storage for Fixed<EVENTS, CONTROL> {
    type Events<T> = heapless::Deque<T, EVENTS>;
    type Run<T> = heapless::Vec<T, EVENTS>;
    type Inbox<T> = Unused<T>;
    type Deque<T> = heapless::Deque<T, CONTROL>;
    type List<T> = heapless::Vec<T, CONTROL>;
    const EVENTS: Option<usize> = Some(EVENTS);
    const CONTROL: Option<usize> = Some(CONTROL);
}

impl<T, const N: usize> Deque<T> for heapless::Deque<T, N> {
    fn len(&self) -> usize {
        Self::len(self)
    }
    fn push_back(&mut self, item: T) -> Result<(), T> {
        Self::push_back(self, item)
    }
    fn push_front(&mut self, item: T) -> Result<(), T> {
        Self::push_front(self, item)
    }
    fn pop_front(&mut self) -> Option<T> {
        Self::pop_front(self)
    }
    fn pop_back(&mut self) -> Option<T> {
        Self::pop_back(self)
    }
    fn front(&self) -> Option<&T> {
        Self::front(self)
    }
    fn front_mut(&mut self) -> Option<&mut T> {
        Self::front_mut(self)
    }
    fn back_mut(&mut self) -> Option<&mut T> {
        Self::back_mut(self)
    }
    fn get(&self, index: usize) -> Option<&T> {
        let (a, b) = self.as_slices();
        if index < a.len() {
            a.get(index)
        } else {
            b.get(index - a.len())
        }
    }
    fn clear(&mut self) {
        Self::clear(self)
    }
    fn is_full(&self) -> bool {
        Self::is_full(self)
    }
    type Drain<'a>
        = DrainFront<'a, T, Self>
    where
        Self: 'a;
    fn drain_front(&mut self, n: usize) -> Self::Drain<'_> {
        DrainFront::new(self, n)
    }
}

/// The [`Deque`] methods that a vector (`heapless::Vec`, `Vec`) answers alike, through the
/// slice it derefs to: written once for both impls.
macro_rules! vec_as_deque {
    () => {
        fn pop_front(&mut self) -> Option<T> {
            (!self.is_empty()).then(|| self.remove(0))
        }
        fn pop_back(&mut self) -> Option<T> {
            self.pop()
        }
        fn front(&self) -> Option<&T> {
            self.first()
        }
        fn front_mut(&mut self) -> Option<&mut T> {
            self.first_mut()
        }
        fn back_mut(&mut self) -> Option<&mut T> {
            self.last_mut()
        }
        fn get(&self, index: usize) -> Option<&T> {
            self.as_slice().get(index)
        }
        fn clear(&mut self) {
            Self::clear(self)
        }
    };
}

impl<T, const N: usize> Deque<T> for heapless::Vec<T, N> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn push_back(&mut self, item: T) -> Result<(), T> {
        self.push(item)
    }
    fn push_front(&mut self, item: T) -> Result<(), T> {
        self.insert(0, item)
    }
    vec_as_deque!();
    fn is_full(&self) -> bool {
        Self::is_full(self)
    }
    type Drain<'a>
        = heapless::vec::Drain<'a, T, usize>
    where
        Self: 'a;
    fn drain_front(&mut self, n: usize) -> Self::Drain<'_> {
        let n = n.min(self.as_slice().len());
        self.drain(..n)
    }
}

impl<T, const N: usize> Run<T> for heapless::Vec<T, N> {
    const GROWS: bool = false;
    fn extend_from<I: Iterator<Item = T>>(&mut self, items: I) -> usize {
        let mut n = 0;
        for e in items {
            if self.push(e).is_err() {
                // Only reachable when full, and fullness is checked before pulling again.
                break;
            }
            n += 1;
            if self.is_full() {
                break;
            }
        }
        n
    }
    fn emit(&mut self) -> Emit<'_, T> {
        Emit::new(EmitSink::Fixed(self.as_mut_view()))
    }
    fn lend(&mut self, n: usize, sub: SubId) -> Batch<'_, T> {
        Batch::lend(LentRun::Fixed(self.drain_front(n)), sub)
    }
}

/// A container that holds nothing and takes nothing: the inbox of a storage that lends
/// nothing ([`Fixed`]'s consumers hand events through), and every container of [`Heap`]
/// without the `alloc` feature.
#[derive(Debug)]
pub struct Unused<T>(core::marker::PhantomData<T>);

impl<T> Default for Unused<T> {
    fn default() -> Self {
        Self(core::marker::PhantomData)
    }
}

impl<T> Deque<T> for Unused<T> {
    fn len(&self) -> usize {
        0
    }
    fn push_back(&mut self, item: T) -> Result<(), T> {
        Err(item)
    }
    fn push_front(&mut self, item: T) -> Result<(), T> {
        Err(item)
    }
    fn pop_front(&mut self) -> Option<T> {
        None
    }
    fn pop_back(&mut self) -> Option<T> {
        None
    }
    fn front(&self) -> Option<&T> {
        None
    }
    fn front_mut(&mut self) -> Option<&mut T> {
        None
    }
    fn back_mut(&mut self) -> Option<&mut T> {
        None
    }
    fn get(&self, _: usize) -> Option<&T> {
        None
    }
    fn clear(&mut self) {}
    fn is_full(&self) -> bool {
        true
    }
    type Drain<'a>
        = core::iter::Empty<T>
    where
        Self: 'a;
    fn drain_front(&mut self, _: usize) -> Self::Drain<'_> {
        core::iter::empty()
    }
}

impl<T> Run<T> for Unused<T> {
    const GROWS: bool = false;
    fn extend_from<I: Iterator<Item = T>>(&mut self, _: I) -> usize {
        0
    }
    fn emit(&mut self) -> Emit<'_, T> {
        Emit::new(EmitSink::Closed)
    }
    fn lend(&mut self, _: usize, sub: SubId) -> Batch<'_, T> {
        Batch::lend(LentRun::Empty, sub)
    }
}

impl<T, const N: usize> List<T> for heapless::Vec<T, N> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn push(&mut self, item: T) -> Result<(), T> {
        Self::push(self, item)
    }
    fn insert(&mut self, index: usize, item: T) -> Result<(), T> {
        Self::insert(self, index, item)
    }
    fn remove(&mut self, index: usize) -> T {
        Self::remove(self, index)
    }
    fn as_slice(&self) -> &[T] {
        Self::as_slice(self)
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        Self::as_mut_slice(self)
    }
    fn clear(&mut self) {
        Self::clear(self)
    }
    fn is_full(&self) -> bool {
        Self::is_full(self)
    }
}

/// Growable storage on the heap: containers never refuse an item. It is a [`Storage`] only
/// with the `alloc` feature; it exists without it so that it can be every stage type's
/// default storage whatever the features (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default)]
pub struct Heap;

#[cfg(feature = "alloc")]
mod heap {
    use super::{Batch, Deque, Emit, EmitSink, Heap, LentRun, List, Run, Storage, SubId};
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;

    impl Storage for Heap {
        type Events<T> = VecDeque<T>;
        type Run<T> = Vec<T>;
        type Inbox<T> = Vec<T>;
        type Deque<T> = VecDeque<T>;
        type List<T> = Vec<T>;
        const EVENTS: Option<usize> = None;
        const CONTROL: Option<usize> = None;
    }

    impl<T> Deque<T> for VecDeque<T> {
        fn len(&self) -> usize {
            Self::len(self)
        }
        fn push_back(&mut self, item: T) -> Result<(), T> {
            Self::push_back(self, item);
            Ok(())
        }
        fn push_front(&mut self, item: T) -> Result<(), T> {
            Self::push_front(self, item);
            Ok(())
        }
        fn pop_front(&mut self) -> Option<T> {
            Self::pop_front(self)
        }
        fn pop_back(&mut self) -> Option<T> {
            Self::pop_back(self)
        }
        fn front(&self) -> Option<&T> {
            Self::front(self)
        }
        fn front_mut(&mut self) -> Option<&mut T> {
            Self::front_mut(self)
        }
        fn back_mut(&mut self) -> Option<&mut T> {
            Self::back_mut(self)
        }
        fn get(&self, index: usize) -> Option<&T> {
            Self::get(self, index)
        }
        fn clear(&mut self) {
            Self::clear(self)
        }
        fn is_full(&self) -> bool {
            false
        }
        type Drain<'a>
            = alloc::collections::vec_deque::Drain<'a, T>
        where
            Self: 'a;
        fn drain_front(&mut self, n: usize) -> Self::Drain<'_> {
            let n = n.min(self.len());
            self.drain(..n)
        }
    }

    impl<T> Deque<T> for Vec<T> {
        fn len(&self) -> usize {
            Self::len(self)
        }
        fn push_back(&mut self, item: T) -> Result<(), T> {
            self.push(item);
            Ok(())
        }
        fn push_front(&mut self, item: T) -> Result<(), T> {
            self.insert(0, item);
            Ok(())
        }
        vec_as_deque!();
        fn is_full(&self) -> bool {
            false
        }
        type Drain<'a>
            = alloc::vec::Drain<'a, T>
        where
            Self: 'a;
        fn drain_front(&mut self, n: usize) -> Self::Drain<'_> {
            let n = n.min(self.len());
            self.drain(..n)
        }
        fn as_vec(&mut self) -> Option<&mut Self> {
            Some(self)
        }
    }

    impl<T> Run<T> for Vec<T> {
        const GROWS: bool = true;
        fn extend_from<I: Iterator<Item = T>>(&mut self, items: I) -> usize {
            let before = self.len();
            self.extend(items);
            self.len() - before
        }
        fn emit(&mut self) -> Emit<'_, T> {
            Emit::new(EmitSink::Heap(self))
        }
        fn lend(&mut self, n: usize, sub: SubId) -> Batch<'_, T> {
            Batch::lend(LentRun::Heap(self.drain_front(n)), sub)
        }
    }

    impl<T> List<T> for Vec<T> {
        fn len(&self) -> usize {
            Self::len(self)
        }
        fn push(&mut self, item: T) -> Result<(), T> {
            Self::push(self, item);
            Ok(())
        }
        fn insert(&mut self, index: usize, item: T) -> Result<(), T> {
            Self::insert(self, index, item);
            Ok(())
        }
        fn remove(&mut self, index: usize) -> T {
            Self::remove(self, index)
        }
        fn as_slice(&self) -> &[T] {
            Self::as_slice(self)
        }
        fn as_mut_slice(&mut self) -> &mut [T] {
            Self::as_mut_slice(self)
        }
        fn clear(&mut self) {
            Self::clear(self)
        }
        fn is_full(&self) -> bool {
            false
        }
    }
}

/// Without `alloc`, [`Heap`] is a storage in name only, so that it can stay every stage type's
/// default: its containers hold nothing, and building a stage on it is a compile-time error
/// (see [`assert_usable`]).
#[cfg(not(feature = "alloc"))]
pub(crate) mod no_heap {
    use super::{Heap, List, Storage, Unused};

    impl Storage for Heap {
        type Events<T> = Unused<T>;
        type Run<T> = Unused<T>;
        type Inbox<T> = Unused<T>;
        type Deque<T> = Unused<T>;
        type List<T> = Unused<T>;
        const EVENTS: Option<usize> = Some(0);
        const CONTROL: Option<usize> = Some(0);
    }

    impl<T> List<T> for Unused<T> {
        fn len(&self) -> usize {
            0
        }
        fn push(&mut self, item: T) -> Result<(), T> {
            Err(item)
        }
        fn insert(&mut self, _: usize, item: T) -> Result<(), T> {
            Err(item)
        }
        fn remove(&mut self, _: usize) -> T {
            unreachable!("an empty list has nothing to remove, and callers check len first")
        }
        fn as_slice(&self) -> &[T] {
            &[]
        }
        fn as_mut_slice(&mut self) -> &mut [T] {
            &mut []
        }
        fn clear(&mut self) {}
        fn is_full(&self) -> bool {
            true
        }
    }
}

/// Fails the build when a stage is built on a storage that holds nothing ([`Heap`] without
/// the `alloc` feature): the error names the fix.
pub(crate) struct Usable<S>(core::marker::PhantomData<S>);

impl<S: Storage> Usable<S> {
    /// Evaluated when a stage constructor is instantiated.
    pub(crate) const CHECK: () = assert!(
        !matches!(S::CONTROL, Some(0)),
        "this storage holds nothing: `Heap` needs the `alloc` feature; without it, name a \
         `Fixed<EVENTS, CONTROL>` storage in the stage's type"
    );
}

/// Checks, at compile time, that `S` can hold something (see [`Usable`]).
pub(crate) const fn assert_usable<S: Storage>() {
    Usable::<S>::CHECK
}

/// The storage the stage types use unless told otherwise: [`Heap`], whatever the features
/// (without `alloc` it is no storage, so a no-alloc stage names [`Fixed`] itself).
pub type DefaultStorage = Heap;

#[cfg(test)]
mod tests {
    //! One contract for both storages: the core reads them through these traits alone.
    use super::*;

    fn deque_contract<S: Storage>() {
        let mut q: S::Deque<u32> = Default::default();
        for i in 1..=4 {
            Deque::push_back(&mut q, i).unwrap();
        }
        assert_eq!((q.pop_front(), q.pop_front()), (Some(1), Some(2)));
        q.push_back(5).unwrap();
        q.push_back(6).unwrap();
        // On fixed storage the items now wrap around the end of the ring.
        let seen: [Option<&u32>; 5] = [q.get(0), q.get(1), q.get(2), q.get(3), q.get(4)];
        assert_eq!(seen, [Some(&3), Some(&4), Some(&5), Some(&6), None]);
        *q.front_mut().unwrap() += 10;
        *q.back_mut().unwrap() += 20;
        assert_eq!((q.front(), q.get(3)), (Some(&13), Some(&26)));
        assert_eq!(q.pop_back(), Some(26));
        q.push_front(2).unwrap();
        assert_eq!((q.len(), q.front()), (4, Some(&2)));
        q.clear();
        assert!(q.is_empty() && q.front().is_none());
    }

    fn list_contract<S: Storage>() {
        let mut l: S::List<u32> = Default::default();
        l.push(1).unwrap();
        l.push(3).unwrap();
        l.insert(1, 2).unwrap();
        assert_eq!(l.as_slice(), [1, 2, 3]);
        l.as_mut_slice()[0] = 7;
        assert_eq!(l.remove(0), 7);
        assert_eq!((l.len(), l.as_slice()), (2, &[2, 3][..]));
        l.clear();
        assert_eq!(l.len(), 0);
    }

    fn drain_front_contract<Q: Deque<u32>>() {
        let mut q = Q::default();
        for i in 1..=5 {
            q.push_back(i).unwrap();
        }
        let mut front = q.drain_front(3);
        assert_eq!(front.len(), 3);
        assert_eq!(front.next(), Some(1));
        drop(front); // 2 and 3 were not pulled: dropped with it
        assert_eq!((q.len(), q.front()), (2, Some(&4)));
        assert_eq!(
            q.drain_front(usize::MAX).collect::<heapless::Vec<_, 8>>(),
            [4, 5]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn every_queue_drains_its_front_in_one_go() {
        drain_front_contract::<heapless::Deque<u32, 8>>();
        drain_front_contract::<heapless::Vec<u32, 8>>();
        #[cfg(feature = "alloc")]
        {
            drain_front_contract::<alloc::collections::VecDeque<u32>>();
            drain_front_contract::<alloc::vec::Vec<u32>>();
        }
    }

    #[test]
    fn a_fixed_run_takes_what_fits_and_pulls_no_more() {
        let mut run: <Fixed<3> as Storage>::Run<u32> = Default::default();
        let mut items = 1..=5;
        assert_eq!(run.extend_from(&mut items), 3);
        assert_eq!(items.next(), Some(4), "nothing pulled that was not taken");
        const { assert!(!<<Fixed<3> as Storage>::Run<u32> as Run<u32>>::GROWS) };
        let mut inbox: <Fixed<3> as Storage>::Inbox<u32> = Default::default();
        assert_eq!(
            inbox.extend_from(1..=2),
            0,
            "a fixed storage's inbox holds nothing"
        );
    }

    #[test]
    fn fixed_storage_keeps_the_contract_and_its_capacity() {
        deque_contract::<Fixed<4, 4>>();
        list_contract::<Fixed<4, 4>>();
        let mut q: <Fixed<2> as Storage>::Events<u8> = Default::default();
        q.push_back(1).unwrap();
        q.push_back(2).unwrap();
        assert!(q.is_full());
        assert_eq!(q.push_front(0), Err(0));
        // Events and control have their own capacities.
        let mut c: <Fixed<2, 3> as Storage>::Deque<u8> = Default::default();
        for i in 0..3 {
            c.push_back(i).unwrap();
        }
        assert!(c.is_full());
        assert_eq!(
            (Fixed::<2, 3>::EVENTS, Fixed::<2, 3>::CONTROL),
            (Some(2), Some(3))
        );
        assert_eq!(Fixed::<5>::CONTROL, Some(8));
        let mut l: <Fixed<4, 1> as Storage>::List<u8> = Default::default();
        l.push(1).unwrap();
        assert!(l.is_full());
        assert_eq!(l.push(2), Err(2));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn heap_storage_keeps_the_contract_and_never_fills() {
        deque_contract::<Heap>();
        list_contract::<Heap>();
        let mut q: <Heap as Storage>::Deque<u32> = Default::default();
        for i in 0..10_000 {
            Deque::push_back(&mut q, i).unwrap();
        }
        assert!(!Deque::is_full(&q));
    }
}
