//! What goes wrong building a [`PartitionDispatcher`](super::PartitionDispatcher).

use crate::options::OptionsError;
use core::fmt;

/// An invalid configuration of a [`PartitionDispatcher`](super::PartitionDispatcher). Nothing
/// was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionsError {
    /// The partition count was 0; it must be at least 1.
    NoPartitions,
    /// More partitions than one container of the fixed storage holds.
    ExceedsStorage {
        /// The partition count given.
        partitions: usize,
        /// What one container of the storage holds.
        capacity: usize,
    },
}

impl fmt::Display for PartitionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPartitions => {
                f.write_str("expected partitions to be equal to or greater than 1, got: 0")
            }
            Self::ExceedsStorage {
                partitions,
                capacity,
            } => write!(
                f,
                "expected partitions to be at most the storage capacity {capacity}, got: {partitions}"
            ),
        }
    }
}

impl core::error::Error for PartitionsError {}

impl From<PartitionsError> for OptionsError {
    fn from(e: PartitionsError) -> Self {
        Self::Partitions(e)
    }
}
