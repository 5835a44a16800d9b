//! The partition dispatcher's keys and hashes: [`PartitionHash`] for the default hash,
//! [`HashFn`] for a hash of your own, and the default hash itself ([`default_partition`]).

#[allow(unused_imports)] // for the docs
use super::PartitionDispatcher;

/// A partition hash: `Some((event, partition))` routes the (possibly rewritten) event, `None`
/// drops it. See the [module docs](super).
pub type HashFn<E> = fn(E) -> Option<(E, usize)>;

/// A key for [`PartitionDispatcher::with_default_hash`]: the partition of an event is
/// `splitmix64(event.partition_key()) % partitions`.
///
/// Implemented for all integer types, `bool` and `char`, so that the key depends on the value
/// alone: a signed value is sign-extended, an unsigned one zero-extended, and a 128-bit value
/// that fits in 64 bits has the key of its 64-bit form (larger ones fold their high half in).
/// Implement it for your own event types, for example by returning an id field.
///
/// ```
/// use genstage::dispatcher::partition::{PartitionHash, default_partition};
/// assert_eq!(5u8.partition_key(), 5);
/// assert_eq!((-1i32).partition_key(), u64::MAX);
/// assert_eq!(default_partition(&5u8, 4), default_partition(&5i128, 4));
/// ```
pub trait PartitionHash {
    /// The 64-bit key mixed into a partition.
    fn partition_key(&self) -> u64;
}

macro_rules! key_unsigned {
    ($($t:ty),*) => {$(
        impl PartitionHash for $t {
            fn partition_key(&self) -> u64 {
                *self as u64
            }
        }
    )*};
}
macro_rules! key_signed {
    ($($t:ty),*) => {$(
        impl PartitionHash for $t {
            fn partition_key(&self) -> u64 {
                *self as i64 as u64
            }
        }
    )*};
}
key_unsigned!(u8, u16, u32, u64, usize);
key_signed!(i8, i16, i32, i64, isize);

/// The key of a 128-bit value given as its two halves.
fn key128(lo: u64, hi: u64) -> u64 {
    let sign_extension = ((lo as i64) >> 63) as u64;
    if hi == 0 || hi == sign_extension {
        lo
    } else {
        lo ^ splitmix64(hi)
    }
}

impl PartitionHash for u128 {
    fn partition_key(&self) -> u64 {
        key128(*self as u64, (*self >> 64) as u64)
    }
}
impl PartitionHash for i128 {
    fn partition_key(&self) -> u64 {
        key128(*self as u64, (*self >> 64) as u64)
    }
}
impl PartitionHash for bool {
    fn partition_key(&self) -> u64 {
        *self as u64
    }
}
impl PartitionHash for char {
    fn partition_key(&self) -> u64 {
        *self as u64
    }
}
impl<T: PartitionHash + ?Sized> PartitionHash for &T {
    fn partition_key(&self) -> u64 {
        (**self).partition_key()
    }
}

/// The first output of the SplitMix64 generator seeded with `x` (see
/// [`rng::splitmix64`](crate::rng::splitmix64), which this is).
///
/// ```
/// assert_eq!(genstage::dispatcher::partition::splitmix64(0), 0xE220_A839_7B1D_CDAF);
/// ```
pub use crate::rng::splitmix64;

/// The partition the default hash gives `event` among `partitions` (0 when `partitions` is 0):
/// `splitmix64(event.partition_key()) % partitions`, computed in `u64` so it is the same on
/// every platform.
pub fn default_partition<E: PartitionHash + ?Sized>(event: &E, partitions: usize) -> usize {
    if partitions == 0 {
        return 0;
    }
    (splitmix64(event.partition_key()) % partitions as u64) as usize
}
