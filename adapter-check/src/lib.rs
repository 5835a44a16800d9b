//! The adapters of genstage, compiled as modules of an outside crate (see Cargo.toml).
#![no_std]
#![allow(dead_code, unreachable_pub)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

/// The simulator, exactly as `genstage::sim` compiles it.
#[path = "../../adapters/sim/mod.rs"]
pub mod sim;

/// The thread runtime, exactly as `genstage::threads` compiles it.
#[path = "../../adapters/threads/mod.rs"]
pub mod threads;
