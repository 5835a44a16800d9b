//! The trace: one line-like entry per delivery, report, stop, drop and fault, each printing
//! as one compact line (`Display`), and a stable hash of those lines ([`TraceHash`]).

use core::fmt;
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
    /// The stage was sent an info ([`Sim::info`](super::Sim::info)).
    Info,
    /// The simulator injected a fault at this stage.
    Fault(FaultKind),
}

/// A fault the simulator injected (see [`Chaos`](super::Chaos) and
/// [`Sim::kill_stage`](super::Sim::kill_stage)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The stage was crashed with this reason.
    Crash(Reason),
    /// The stage, a consumer-role one, cancelled this subscription with this reason.
    Cancel(SubId, Reason),
    /// The stage was crashed with this reason (if live) and restarted from its factory as
    /// this stage (the same id, or a new one).
    Restart(Reason, StageId),
}

impl fmt::Display for ToProducerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subscribe => f.write_str("subscribe"),
            Self::Ask(n) => write!(f, "ask {n}"),
            Self::Cancel(r) => write!(f, "cancel ({r})"),
        }
    }
}

impl fmt::Display for TraceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ToProducer { sub, kind } => write!(f, "{kind} {sub}"),
            Self::Events { sub, len } => write!(f, "events {sub} x{len}"),
            Self::ToConsumer { sub, reason } => write!(f, "cancelled {sub} ({reason})"),
            Self::Down { stage, reason } => write!(f, "down {stage} ({reason})"),
            Self::Dropped { events } => write!(f, "dropped x{events}"),
            Self::Report(r) => write!(f, "report {r:?}"),
            Self::Stopped(r) => write!(f, "stopped ({r})"),
            Self::Info => f.write_str("info"),
            Self::Fault(FaultKind::Crash(r)) => write!(f, "fault crash ({r})"),
            Self::Fault(FaultKind::Cancel(sub, r)) => write!(f, "fault cancel {sub} ({r})"),
            Self::Fault(FaultKind::Restart(r, as_)) => write!(f, "fault restart ({r}) as {as_}"),
        }
    }
}

/// One line: `step @time stage what`, for instance `12 @340 #3 events #1->#3/0 x5` (the
/// time is the virtual clock's, 0 all along when no stage has a cost).
impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @{} {} {}", self.step, self.at, self.stage, self.kind)
    }
}

/// A stable 64-bit hash of a trace, with no seed and no platform dependence, so equal traces
/// hash equal on every machine and every run. The deliveries of events and asks (nearly every
/// entry of a running pipeline) mix in their fields as numbers; every other entry mixes in its
/// `Display` line and a newline, byte by byte (FNV-1a, which [`write_bytes`](Self::write_bytes)
/// is).
///
/// ```
/// use genstage::sim::TraceHash;
/// let mut h = TraceHash::new();
/// h.write_bytes(b"a");
/// assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c); // FNV-1a 64 of "a"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(u64);

/// Marks a delivery mixed in by its fields; its low byte says which kind.
const FIELDS_TAG: u64 = 0xF1E1_D500_0000_0000;

impl Default for TraceHash {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceHash {
    /// The FNV-1a offset basis.
    pub const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    /// Mixes in bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// Mixes in one trace entry. The deliveries of a running pipeline (events, asks) mix in
    /// their fields as numbers, behind a tag no text line starts with; every other entry
    /// mixes in its `Display` line and a newline.
    #[inline]
    pub fn entry(&mut self, e: &TraceEntry) {
        let (tag, sub, n) = match &e.kind {
            TraceKind::Events { sub, len } => (1, sub, *len as u64),
            TraceKind::ToProducer {
                sub,
                kind: ToProducerKind::Ask(n),
            } => (2, sub, *n as u64),
            _ => return self.line(e),
        };
        for word in [
            FIELDS_TAG | tag,
            e.step,
            e.at,
            u64::from(e.stage.0),
            u64::from(sub.producer.0) << 32 | u64::from(sub.consumer.0),
            u64::from(sub.seq),
            n,
        ] {
            self.word(word);
        }
    }
    /// Mixes in an entry's text line and a newline (every entry but a delivery of events or
    /// of an ask).
    #[inline(never)]
    fn line(&mut self, e: &TraceEntry) {
        use fmt::Write as _;
        let _ = writeln!(self, "{e}");
    }
    /// Mixes in one number (a multiply and a shift: a short dependency chain).
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }
    /// The hash of everything mixed in so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
    /// The hash of a whole trace.
    pub fn of(entries: &[TraceEntry]) -> u64 {
        let mut h = Self::new();
        for e in entries {
            h.entry(e);
        }
        h.finish()
    }
}

impl fmt::Write for TraceHash {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// One entry of the trace: at `step` and virtual time `at`, about stage `stage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The delivery step it happened in (0 for direct calls before any step).
    pub step: u64,
    /// The virtual clock when it happened ([`Sim::now`](super::Sim::now)).
    pub at: u64,
    /// The stage it happened at.
    pub stage: StageId,
    /// What happened.
    pub kind: TraceKind,
}
