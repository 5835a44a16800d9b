//! The thread runtime (`genstage::threads`), end to end: every scenario of sections F, G, L
//! and M of genstage-scenarios.md, panics in every callback, whole pipelines on every
//! dispatcher, the bridges, the consumer supervisor, and shutdown. No test sleeps to wait: they synchronise on joins, replies and channels.

mod common;
mod f_subscription;
mod g_cancellation;
mod l_stream;
mod panics;
mod pipelines;
mod push;
mod supervisor;
mod talk;
mod workers;
