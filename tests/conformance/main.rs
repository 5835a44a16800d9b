//! GenStage's behaviour, ported: every scenario of `genstage-scenarios.md` sections A–K as its
//! own test, named after the scenario's id, asserting the exact trace.

mod common;

mod a_automatic_demand;
mod b_manual_demand;
mod c_producer_buffer;
mod d_accumulate;
mod e_info;
mod f_subscription;
mod g_cancellation;
mod h_producer_consumer;

mod i_demand_dispatcher;
mod j_broadcast_dispatcher;
mod k_partition_dispatcher;
