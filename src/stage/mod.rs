//! The three stage kinds, each the core's state machine around a user behaviour.

pub mod consumer;
pub mod producer;
pub mod producer_consumer;
