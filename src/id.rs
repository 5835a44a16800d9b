//! Identifiers: stage addresses and subscription ids.
//!
//! A runtime gives every stage a [`StageId`]. A subscription is named by a [`SubId`], chosen by
//! the consumer side when it subscribes; it carries both ends, so any message on a subscription
//! can be routed without a lookup, and a reply to an unknown subscription still has an address.

use core::fmt;

/// The address of a stage, assigned by the runtime that hosts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StageId(pub u32);

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A subscription: the producer, the consumer, and a sequence number the consumer picked.
///
/// The consumer numbers its subscriptions, so a `SubId` is unique across the whole pipeline
/// as long as every stage has its own [`StageId`]. This is GenStage's subscription tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubId {
    /// The producer-role end (a producer or producer_consumer).
    pub producer: StageId,
    /// The consumer-role end (a consumer or producer_consumer).
    pub consumer: StageId,
    /// Chosen by the consumer, distinct for every subscribe call it makes.
    pub seq: u32,
}

impl SubId {
    /// A subscription id from its parts.
    pub const fn new(producer: StageId, consumer: StageId, seq: u32) -> Self {
        Self {
            producer,
            consumer,
            seq,
        }
    }
}

impl fmt::Display for SubId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}/{}", self.producer, self.consumer, self.seq)
    }
}

/// Names an info marker inside a producer while it waits behind buffered or queued events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MarkerId(pub u64);
