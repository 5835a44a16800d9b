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

/// A stable 64-bit hash of trace lines: FNV-1a over each entry's `Display` line and a
/// newline, with no seed and no platform dependence, so equal traces hash equal on every
/// machine and every run.
///
/// ```
/// use genstage::sim::TraceHash;
/// let mut h = TraceHash::new();
/// h.write_bytes(b"a");
/// assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c); // FNV-1a 64 of "a"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(u64);

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
    /// Mixes in one trace entry's line and a newline.
    pub fn entry(&mut self, e: &TraceEntry) {
        use fmt::Write as _;
        // The lines of every delivery of a running pipeline (events, asks) are written here
        // digit by digit, byte for byte what `Display` writes, without the formatting
        // machinery; the rest go through `Display`. The trace-hash tests compare the two.
        let sub = match &e.kind {
            TraceKind::Events { sub, len } => {
                self.head(e);
                self.write_bytes(b"events ");
                self.sub(sub);
                self.write_bytes(b" x");
                self.number(*len as u64);
                self.write_bytes(b"\n");
                return;
            }
            TraceKind::ToProducer {
                sub,
                kind: ToProducerKind::Ask(n),
            } => {
                self.head(e);
                self.write_bytes(b"ask ");
                self.number(*n as u64);
                self.write_bytes(b" ");
                sub
            }
            _ => {
                let _ = writeln!(self, "{e}");
                return;
            }
        };
        self.sub(sub);
        self.write_bytes(b"\n");
    }
    /// `step @time stage ` of a line.
    fn head(&mut self, e: &TraceEntry) {
        self.number(e.step);
        self.write_bytes(b" @");
        self.number(e.at);
        self.write_bytes(b" #");
        self.number(u64::from(e.stage.0));
        self.write_bytes(b" ");
    }
    /// A subscription as `Display` writes it: `#1->#3/0`.
    fn sub(&mut self, sub: &SubId) {
        self.write_bytes(b"#");
        self.number(u64::from(sub.producer.0));
        self.write_bytes(b"->#");
        self.number(u64::from(sub.consumer.0));
        self.write_bytes(b"/");
        self.number(u64::from(sub.seq));
    }
    /// A number in decimal (two digits at a time).
    fn number(&mut self, mut n: u64) {
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        if n < 10 {
            self.write_bytes(&[b'0' + n as u8]);
            return;
        }
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            let pair = n as usize * 2;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        } else {
            at -= 1;
            digits[at] = b'0' + n as u8;
        }
        self.write_bytes(&digits[at..]);
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
