//! The three kinds of stage as types, so that a handle says at compile time what it can do:
//! only a [`Downstream`] handle subscribes, only to an [`Upstream`] handle of its event type.

use genstage::runtime::StageKind;

/// A stage kind.
pub trait Kind: Send + Sync + 'static {
    /// The kind as a value.
    const KIND: StageKind;
}

/// Kinds that take subscribers: producer and `producer_consumer`.
pub trait Upstream: Kind {}

/// Kinds that subscribe: `producer_consumer` and consumer.
pub trait Downstream: Kind {}

/// A producer.
#[derive(Debug)]
pub enum Producer {}
/// A `producer_consumer`.
#[derive(Debug)]
pub enum ProducerConsumer {}
/// A consumer.
#[derive(Debug)]
pub enum Consumer {}

impl Kind for Producer {
    const KIND: StageKind = StageKind::Producer;
}
impl Kind for ProducerConsumer {
    const KIND: StageKind = StageKind::ProducerConsumer;
}
impl Kind for Consumer {
    const KIND: StageKind = StageKind::Consumer;
}
impl Upstream for Producer {}
impl Upstream for ProducerConsumer {}
impl Downstream for ProducerConsumer {}
impl Downstream for Consumer {}
