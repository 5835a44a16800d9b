//! The trace: one line-like entry per delivery, report, stop and drop.

use genstage::runtime::{Report, StageId};
use genstage::{Reason, SubId};

/// Which message a consumer-role stage sent its producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToProducerKind {
    /// A subscribe.
    Subscribe,
    /// An ask for this many events.
    Ask(usize),
    /// A cancel with this reason.
    Cancel(Reason),
}

/// What one trace entry says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A message for a producer (subscribe, ask, cancel) was delivered.
    ToProducer {
        /// The subscription.
        sub: SubId,
        /// Which message.
        kind: ToProducerKind,
    },
    /// A batch of events was delivered.
    Events {
        /// The subscription.
        sub: SubId,
        /// How many.
        len: usize,
    },
    /// A cancel from a producer was delivered.
    ToConsumer {
        /// The subscription.
        sub: SubId,
        /// Why.
        reason: Reason,
    },
    /// A down notice was delivered.
    Down {
        /// The stage that went down.
        stage: StageId,
        /// Why.
        reason: Reason,
    },
    /// A message was dropped: its stage had stopped (or does not exist). `events` is how
    /// many events it carried (0 for a control message); they are counted in
    /// [`Sim::lost_in_flight`](super::Sim::lost_in_flight).
    Dropped {
        /// Events the dropped message carried.
        events: usize,
    },
    /// A stage reported something.
    Report(Report),
    /// A stage stopped.
    Stopped(Reason),
}

/// One entry of the trace: at `step`, about stage `stage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The delivery step it happened in (0 for direct calls before any step).
    pub step: u64,
    /// The stage it happened at.
    pub stage: StageId,
    /// What happened.
    pub kind: TraceKind,
}
