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

/// A family of containers. Implemented by [`Fixed`] and [`Heap`].
pub trait Storage: 'static {
    /// A FIFO queue of events.
    type Events<T>: Deque<T>;
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
    use super::{Deque, Heap, List, Storage};
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;

    impl Storage for Heap {
        type Events<T> = VecDeque<T>;
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
mod no_heap {
    use super::{Deque, Heap, List, Storage};
    use core::marker::PhantomData;

    /// A container that holds nothing.
    #[derive(Debug)]
    pub struct Nothing<T>(PhantomData<T>);

    impl<T> Default for Nothing<T> {
        fn default() -> Self {
            Self(PhantomData)
        }
    }

    impl Storage for Heap {
        type Events<T> = Nothing<T>;
        type Deque<T> = Nothing<T>;
        type List<T> = Nothing<T>;
        const EVENTS: Option<usize> = Some(0);
        const CONTROL: Option<usize> = Some(0);
    }

    impl<T> Deque<T> for Nothing<T> {
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
    }

    impl<T> List<T> for Nothing<T> {
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
