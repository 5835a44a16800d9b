//! The fuzz targets' bodies, shared by the cargo-fuzz binaries and by the test that replays
//! the corpus kept in the repository (`tests/fuzz_corpus.rs` of genstage includes this file).

#![allow(missing_docs)]

pub mod ops;
pub mod pipeline;

/// The 4-stage pipeline of the simulator's tests, shared as is.
#[path = "../../tests/sim/pipeline.rs"]
#[allow(dead_code, clippy::all)]
pub mod setup;
