//! genstage: demand-driven pipelines with back-pressure.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

/// Default `max_demand` of a subscription.
pub const DEFAULT_MAX_DEMAND: usize = 1000;
