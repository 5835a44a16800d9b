//! Options for subscriptions and producers, validated up front with typed errors.
//!
//! Nothing is clamped: a value out of range is an [`OptionsError`] that says what was wrong and
//! what is allowed, and the stage that was asked to use it is left exactly as it was.
//!
//! ```
//! use genstage::Subscribe;
//! use genstage::error::OptionsError;
//! let ok = Subscribe::<u32>::new().max_demand(100).min_demand(80);
//! assert_eq!(ok.validate().unwrap().min_demand(), 80);
//! let bad = Subscribe::<u32>::new().max_demand(10).min_demand(10);
//! assert_eq!(bad.validate(), Err(OptionsError::MinDemandTooLarge { min: 10, max: 10 }));
//! assert_eq!(
//!     bad.validate().unwrap_err().to_string(),
//!     "expected min_demand to be equal to or less than 9, got: 10"
//! );
//! ```

use crate::reason::CancelMode;
use core::fmt;

/// Default `max_demand` of a subscription (GenStage's 1000).
pub const DEFAULT_MAX_DEMAND: usize = 1000;
/// Default `buffer_size` of a producer (GenStage's 10 000).
pub const DEFAULT_PRODUCER_BUFFER: usize = 10_000;

/// A broadcast selector: which events a subscription wants (true keeps the event).
///
/// A plain function, or (feature `alloc`) any `Fn(&E) -> bool + Send + Sync` closure, so a
/// selector can be configured at run time (a threshold, a set of keys). Build it with
/// [`Subscribe::selector`].
pub enum Selector<E> {
    /// A plain function.
    Fn(fn(&E) -> bool),
    /// A shared closure (feature `alloc`).
    #[cfg(feature = "alloc")]
    Shared(alloc::sync::Arc<dyn Fn(&E) -> bool + Send + Sync>),
}

impl<E> Selector<E> {
    /// True when the subscription wants `event`.
    pub fn accepts(&self, event: &E) -> bool {
        match self {
            Self::Fn(f) => f(event),
            #[cfg(feature = "alloc")]
            Self::Shared(f) => f(event),
        }
    }
    /// The same selector: the same function, or the same shared closure.
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Fn(a), Self::Fn(b)) => core::ptr::fn_addr_eq(*a, *b),
            #[cfg(feature = "alloc")]
            (Self::Shared(a), Self::Shared(b)) => alloc::sync::Arc::ptr_eq(a, b),
            #[cfg(feature = "alloc")]
            _ => false,
        }
    }
}

impl<E> Clone for Selector<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Fn(f) => Self::Fn(*f),
            #[cfg(feature = "alloc")]
            Self::Shared(f) => Self::Shared(f.clone()),
        }
    }
}

impl<E> fmt::Debug for Selector<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fn(_) => "Selector::Fn",
            #[cfg(feature = "alloc")]
            Self::Shared(_) => "Selector::Shared",
        })
    }
}

/// Subscription options, as a builder. Sent to the producer with the subscribe message.
///
/// Defaults: `max_demand` 1000, `min_demand` `max_demand / 2`, cancel mode
/// [`CancelMode::Permanent`], no partition, no selector.
pub struct Subscribe<E> {
    max_demand: usize,
    min_demand: Option<usize>,
    cancel: CancelMode,
    partition: Option<usize>,
    selector: Option<Selector<E>>,
}

impl<E> Default for Subscribe<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Subscribe<E> {
    /// The defaults: max 1000, min 500, permanent.
    pub const fn new() -> Self {
        Self {
            max_demand: DEFAULT_MAX_DEMAND,
            min_demand: None,
            cancel: CancelMode::Permanent,
            partition: None,
            selector: None,
        }
    }
    /// The most events outstanding on this subscription (≥ 1).
    pub const fn max_demand(mut self, max: usize) -> Self {
        self.max_demand = max;
        self
    }
    /// Ask for more once outstanding demand falls to this level (`0..max_demand`).
    pub const fn min_demand(mut self, min: usize) -> Self {
        self.min_demand = Some(min);
        self
    }
    /// What the consumer does when this subscription ends.
    pub const fn cancel(mut self, mode: CancelMode) -> Self {
        self.cancel = mode;
        self
    }
    /// The partition to consume from (`PartitionDispatcher`).
    pub const fn partition(mut self, partition: usize) -> Self {
        self.partition = Some(partition);
        self
    }
    /// Only the events `selector` accepts (broadcast dispatcher only; other dispatchers
    /// refuse the subscription). A plain function or a non-capturing closure.
    #[cfg(not(feature = "alloc"))]
    pub fn selector(mut self, selector: fn(&E) -> bool) -> Self {
        self.selector = Some(Selector::Fn(selector));
        self
    }
    /// Only the events `selector` accepts (broadcast dispatcher only; other dispatchers
    /// refuse the subscription). Any closure, so a selector can capture what it was configured
    /// with at run time:
    ///
    /// ```
    /// use genstage::Subscribe;
    /// let threshold = 40u64;
    /// let opts = Subscribe::new().selector(move |e: &u64| *e > threshold).validate().unwrap();
    /// assert!(opts.selector().unwrap().accepts(&41));
    /// assert!(!opts.selector().unwrap().accepts(&40));
    /// ```
    #[cfg(feature = "alloc")]
    pub fn selector<F>(mut self, selector: F) -> Self
    where
        F: Fn(&E) -> bool + Send + Sync + 'static,
    {
        self.selector = Some(Selector::Shared(alloc::sync::Arc::new(selector)));
        self
    }
    /// Checks the options in GenStage's order (max, then min) and fills in the defaults.
    pub fn validate(&self) -> Result<SubscribeOptions<E>, OptionsError> {
        if self.max_demand == 0 {
            return Err(OptionsError::MaxDemandZero);
        }
        let min = self.min_demand.unwrap_or(self.max_demand / 2);
        if min >= self.max_demand {
            return Err(OptionsError::MinDemandTooLarge {
                min,
                max: self.max_demand,
            });
        }
        Ok(SubscribeOptions {
            max_demand: self.max_demand,
            min_demand: min,
            cancel: self.cancel,
            partition: self.partition,
            selector: self.selector.clone(),
        })
    }
}

/// Validated subscription options, as the producer and its dispatcher see them.
pub struct SubscribeOptions<E> {
    max_demand: usize,
    min_demand: usize,
    cancel: CancelMode,
    partition: Option<usize>,
    selector: Option<Selector<E>>,
}

/// `Clone`, `Copy`, `PartialEq`, `Eq` and `Debug` for an options type whatever `E` is (a
/// derive would require them of `E`, which only appears behind a function pointer). Selectors
/// compare by address and print as whether one is set.
macro_rules! plain_options {
    ($($ty:ident),*) => {$(
        impl<E> Clone for $ty<E> {
            fn clone(&self) -> Self {
                Self {
                    max_demand: self.max_demand,
                    min_demand: self.min_demand,
                    cancel: self.cancel,
                    partition: self.partition,
                    selector: self.selector.clone(),
                }
            }
        }
        impl<E> PartialEq for $ty<E> {
            fn eq(&self, other: &Self) -> bool {
                self.max_demand == other.max_demand
                    && self.min_demand == other.min_demand
                    && self.cancel == other.cancel
                    && self.partition == other.partition
                    && match (&self.selector, &other.selector) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.same_as(b),
                        _ => false,
                    }
            }
        }
        impl<E> Eq for $ty<E> {}
        impl<E> fmt::Debug for $ty<E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("max_demand", &self.max_demand)
                    .field("min_demand", &self.min_demand)
                    .field("cancel", &self.cancel)
                    .field("partition", &self.partition)
                    .field("selector", &self.selector.is_some())
                    .finish()
            }
        }
    )*};
}
plain_options!(Subscribe, SubscribeOptions);

impl<E> SubscribeOptions<E> {
    /// `max_demand`.
    pub const fn max_demand(&self) -> usize {
        self.max_demand
    }
    /// `min_demand`.
    pub const fn min_demand(&self) -> usize {
        self.min_demand
    }
    /// The cancel mode.
    pub const fn cancel_mode(&self) -> CancelMode {
        self.cancel
    }
    /// The partition asked for, if any.
    pub const fn partition(&self) -> Option<usize> {
        self.partition
    }
    /// The selector, if any.
    pub const fn selector(&self) -> Option<&Selector<E>> {
        self.selector.as_ref()
    }
}

/// What a producer keeps when its buffer overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Keep {
    /// Keep what is buffered, drop new events.
    First,
    /// Keep the newest events, push out the oldest (the default).
    #[default]
    Last,
}

/// A producer buffer's capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferSize {
    /// At most this many events (≥ 1).
    Bounded(usize),
    /// No limit but memory (needs growable storage).
    Unbounded,
}

/// Whether a producer passes demand on at once or holds it (spec §8).
///
/// Accumulate is how a producer waits for all its consumers before it makes anything: with a
/// [`BroadcastDispatcher`](crate::dispatcher::BroadcastDispatcher), a consumer that subscribes after a
/// sibling's first ask was answered misses the events already sent. Start in accumulate, let
/// every consumer subscribe, then switch to forward: the held demand replays in order. The
/// [broadcast module docs](crate::dispatcher::broadcast) have a runnable example.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DemandMode {
    /// Demand reaches `handle_demand` as it arrives (the default).
    #[default]
    Forward,
    /// Demand and emitted events are held, in order, until the mode goes back to forward.
    Accumulate,
}

/// Options of a producer or producer_consumer's producer side.
///
/// Defaults for a producer: buffer 10 000 events (or the storage capacity if that is smaller),
/// keep last, forward. A producer_consumer's buffer is unbounded by default (with fixed storage,
/// the storage capacity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ProducerOptions {
    pub(crate) buffer_size: Option<BufferSize>,
    pub(crate) buffer_keep: Keep,
    pub(crate) demand: DemandMode,
}

impl ProducerOptions {
    /// The defaults.
    pub const fn new() -> Self {
        Self {
            buffer_size: None,
            buffer_keep: Keep::Last,
            demand: DemandMode::Forward,
        }
    }
    /// The buffer's capacity in events (must be ≥ 1).
    pub const fn buffer_size(mut self, size: usize) -> Self {
        self.buffer_size = Some(BufferSize::Bounded(size));
        self
    }
    /// No limit on the buffer (growable storage only).
    pub const fn unbounded_buffer(mut self) -> Self {
        self.buffer_size = Some(BufferSize::Unbounded);
        self
    }
    /// What to keep on overflow.
    pub const fn buffer_keep(mut self, keep: Keep) -> Self {
        self.buffer_keep = keep;
        self
    }
    /// The initial demand mode (producers only).
    pub const fn demand(mut self, mode: DemandMode) -> Self {
        self.demand = mode;
        self
    }
    /// Resolves the buffer capacity for a stage whose containers hold at most
    /// `storage_capacity` items (`None`: growable), with `default` as the unset value.
    pub(crate) fn resolve_buffer(
        &self,
        default: BufferSize,
        storage_capacity: Option<usize>,
    ) -> Result<Option<usize>, OptionsError> {
        match (self.buffer_size, storage_capacity) {
            (Some(BufferSize::Bounded(0)), _) => Err(OptionsError::BufferSizeZero),
            (Some(BufferSize::Bounded(n)), Some(cap)) if n > cap => {
                Err(OptionsError::BufferExceedsStorage {
                    size: n,
                    capacity: cap,
                })
            }
            (Some(BufferSize::Bounded(n)), _) => Ok(Some(n)),
            (Some(BufferSize::Unbounded), Some(cap)) => {
                Err(OptionsError::UnboundedNeedsAlloc { capacity: cap })
            }
            (Some(BufferSize::Unbounded), None) => Ok(None),
            (None, cap) => Ok(match (default, cap) {
                (BufferSize::Bounded(n), Some(cap)) => Some(n.min(cap)),
                (BufferSize::Bounded(n), None) => Some(n),
                (BufferSize::Unbounded, cap) => cap,
            }),
        }
    }
}

/// An option value that is out of range. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsError {
    /// `max_demand` was 0; it must be at least 1.
    MaxDemandZero,
    /// `min_demand` was not below `max_demand`.
    MinDemandTooLarge {
        /// The value given.
        min: usize,
        /// The subscription's `max_demand`.
        max: usize,
    },
    /// `buffer_size` was 0; it must be at least 1 (use a selector or a consumer that drops
    /// events to discard everything).
    BufferSizeZero,
    /// `buffer_size` is larger than what the fixed storage can hold.
    BufferExceedsStorage {
        /// The value given.
        size: usize,
        /// What one container of the storage holds.
        capacity: usize,
    },
    /// An unbounded buffer was asked of fixed-capacity storage.
    UnboundedNeedsAlloc {
        /// What one container of the storage holds.
        capacity: usize,
    },
    /// Accumulate mode was asked of a stage that is not a producer.
    DemandModeNotSupported,
    /// The demand dispatcher's `max_demand` option was 0; it must be at least 1.
    DispatcherMaxDemandZero,
    /// The partition dispatcher's configuration is invalid.
    Partitions(crate::dispatcher::partition::PartitionsError),
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaxDemandZero => {
                f.write_str("expected max_demand to be equal to or greater than 1, got: 0")
            }
            Self::MinDemandTooLarge { min, max } => write!(
                f,
                "expected min_demand to be equal to or less than {}, got: {}",
                max.saturating_sub(1),
                min
            ),
            Self::BufferSizeZero => {
                f.write_str("expected buffer_size to be equal to or greater than 1, got: 0")
            }
            Self::BufferExceedsStorage { size, capacity } => write!(
                f,
                "expected buffer_size to be at most the storage capacity {capacity}, got: {size}"
            ),
            Self::UnboundedNeedsAlloc { capacity } => write!(
                f,
                "an unbounded buffer needs growable storage; this storage holds {capacity}"
            ),
            Self::DemandModeNotSupported => f.write_str("only a producer has a demand mode"),
            Self::DispatcherMaxDemandZero => {
                f.write_str("expected max_demand to be equal to or greater than 1, got: 0")
            }
            Self::Partitions(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for OptionsError {}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn even(e: &u32) -> bool {
        e.is_multiple_of(2)
    }
    fn odd(e: &u32) -> bool {
        !e.is_multiple_of(2)
    }

    fn text(v: &impl fmt::Debug) -> heapless::String<160> {
        let mut s = heapless::String::new();
        write!(s, "{v:?}").expect("room for the text");
        s
    }

    #[test]
    fn subscribe_options_are_equal_only_when_every_field_is() {
        let base = Subscribe::<u32>::new().max_demand(8).selector(even);
        // A clone shares the selector, so it is equal.
        let cloned = base.clone();
        assert_eq!(cloned, base);
        let cloned = base.validate().unwrap().clone();
        assert_eq!(cloned, base.validate().unwrap());
        assert_eq!(base.validate(), base.clone().validate());
        let others = [
            base.clone().max_demand(9),
            base.clone().min_demand(3),
            base.clone().cancel(CancelMode::Temporary),
            base.clone().partition(1),
            base.clone().selector(odd),
            Subscribe::new().max_demand(8),
        ];
        for other in others {
            assert_ne!(other, base, "{other:?}");
            assert_ne!(other.validate().unwrap(), base.validate().unwrap());
        }
        // Two selectors built apart are different selectors, even from the same function.
        let again = Subscribe::<u32>::new().max_demand(8).selector(even);
        assert_ne!(again, base);
    }

    #[test]
    fn subscribe_options_print_their_fields() {
        let s = Subscribe::<u32>::new().max_demand(8).partition(2);
        assert_eq!(
            text(&s),
            "Subscribe { max_demand: 8, min_demand: None, cancel: Permanent, partition: Some(2), \
             selector: false }"
        );
        assert_eq!(
            text(&s.selector(even).validate().unwrap()),
            "SubscribeOptions { max_demand: 8, min_demand: 4, cancel: Permanent, \
             partition: Some(2), selector: true }"
        );
    }
}
