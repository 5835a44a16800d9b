//! Plain counters, readable with `&self` at any time.

use crate::message::DiscardReason;

/// Events discarded, by reason. Every event a stage let go of without delivering it to user
/// code or to a consumer is counted here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discards {
    /// Buffer overflow (see `Keep`).
    pub buffer_full: u64,
    /// Dropped by the dispatcher: a partition hash returned `None`, or every broadcast
    /// consumer's selector rejected the event.
    pub dispatcher: u64,
    /// A cancelled partition's queue.
    pub partition_cancelled: u64,
    /// A producer_consumer's input queue was full (fixed storage).
    pub input_queue_full: u64,
    /// The accumulate log was full (fixed storage).
    pub accumulate_full: u64,
    /// Arrived on an unknown subscription.
    pub unknown_subscription: u64,
    /// Input never handled: arrived after the stage stopped, or were queued when it stopped.
    pub stopped: u64,
    /// Emitted and still held (buffer, accumulate log, dispatcher queues) when it stopped.
    pub abandoned: u64,
}

impl Discards {
    /// All discards.
    pub fn total(&self) -> u64 {
        self.buffer_full
            + self.dispatcher
            + self.partition_cancelled
            + self.input_queue_full
            + self.accumulate_full
            + self.unknown_subscription
            + self.stopped
            + self.abandoned
    }
    pub(crate) fn add(&mut self, reason: DiscardReason, n: usize) {
        let n = n as u64;
        match reason {
            DiscardReason::BufferFull => self.buffer_full += n,
            DiscardReason::Dispatcher => self.dispatcher += n,
            DiscardReason::PartitionCancelled => self.partition_cancelled += n,
            DiscardReason::InputQueueFull => self.input_queue_full += n,
            DiscardReason::AccumulateFull => self.accumulate_full += n,
            DiscardReason::UnknownSubscription => self.unknown_subscription += n,
            DiscardReason::Stopped => self.stopped += n,
            DiscardReason::Abandoned => self.abandoned += n,
        }
    }
}

/// Counters of one stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Events received from producers.
    pub events_in: u64,
    /// Events emitted by the behaviour's callbacks.
    pub emitted: u64,
    /// Events sent to consumers.
    pub events_out: u64,
    /// Demand this stage asked of its producers.
    pub asked: u64,
    /// Demand consumers asked of this stage.
    pub demand_received: u64,
    /// Events received beyond what was asked (delivered anyway).
    pub excess: u64,
    /// Events let go of, by reason.
    pub discarded: Discards,
}

/// Counters of one subscription, from this stage's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Events that crossed the subscription.
    pub events: u64,
    /// Demand asked on it.
    pub asked: u64,
    /// Demand asked and not yet answered with events.
    pub outstanding: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_discard_reason_has_its_counter_and_all_add_up() {
        let reasons = [
            DiscardReason::BufferFull,
            DiscardReason::Dispatcher,
            DiscardReason::PartitionCancelled,
            DiscardReason::InputQueueFull,
            DiscardReason::AccumulateFull,
            DiscardReason::UnknownSubscription,
            DiscardReason::Stopped,
        ];
        let mut d = Discards::default();
        for (i, r) in reasons.into_iter().enumerate() {
            d.add(r, 1 << i);
            d.add(r, 0);
        }
        assert_eq!(
            [
                d.buffer_full,
                d.dispatcher,
                d.partition_cancelled,
                d.input_queue_full,
                d.accumulate_full,
                d.unknown_subscription,
                d.stopped
            ],
            [1, 2, 4, 8, 16, 32, 64]
        );
        assert_eq!(d.total(), 127);
    }
}
