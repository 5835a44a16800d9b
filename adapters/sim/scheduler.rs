//! The scheduler: which queued message is delivered next.
//!
//! Every message travels from one stage to another, and messages between the same ordered
//! pair of stages stay in order, as in a real mailbox. Across pairs, the [`Mode`] decides:
//!
//! * [`Mode::Fifo`] (the default): the oldest message of all goes first, the global order in
//!   which they were sent;
//! * [`Mode::RoundRobin`]: the pairs with a message waiting take turns, in the order of their
//!   (sender, receiver) ids;
//! * [`Mode::Seeded`]: a pair with a message waiting is drawn from the simulator's seed
//!   ([`SplitMix64`]), so one seed gives one interleaving and other seeds explore others;
//! * [`Mode::Replay`]: the pairs chosen by an earlier run, in the same order (then FIFO once
//!   the schedule is used up).
//!
//! With the virtual clock in use (some stage has a cost, see
//! [`Sim::cost`](super::Sim::cost)), only the mailboxes whose head is due first take part:
//! the mode chooses among the messages due at that same time.
//!
//! Whatever the mode, the pair chosen at each step is recorded in a [`Schedule`] (while
//! tracing is on), which prints as one compact line and parses back, so any run replays
//! exactly.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;
use genstage::rng::SplitMix64;
use genstage::runtime::StageId;

/// How the simulator picks the next message among those waiting. Messages between one
/// ordered pair of stages always stay in order (a mailbox); the mode picks which pair
/// delivers next. The choices are recorded ([`Sim::schedule`](super::Sim::schedule)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The oldest message first: one global FIFO order (the default).
    Fifo,
    /// Pairs of stages with messages waiting take turns.
    RoundRobin,
    /// A pair with messages waiting is drawn from the seed.
    Seeded,
    /// The choices of a recorded run, then FIFO.
    Replay(Schedule),
}

/// One choice of the scheduler: the message at the head of the `from` → `to` mailbox was
/// delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pick {
    /// The sender.
    pub from: StageId,
    /// The receiver.
    pub to: StageId,
}

impl fmt::Display for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}>{}", self.from.0, self.to.0)
    }
}

/// The sequence of choices of one run: printable (`Display`, one line of `from>to` pairs)
/// and parsable (`FromStr`), so that a run can be replayed exactly with [`Mode::Replay`].
///
/// ```
/// use genstage::sim::Schedule;
/// let s: Schedule = "0>1 1>0 2>1".parse().unwrap();
/// assert_eq!(s.len(), 3);
/// assert_eq!(s.to_string(), "0>1 1>0 2>1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Schedule {
    picks: Vec<Pick>,
}

impl Schedule {
    /// The choices, in order.
    pub fn picks(&self) -> &[Pick] {
        &self.picks
    }
    /// How many choices.
    pub fn len(&self) -> usize {
        self.picks.len()
    }
    /// True when no choice was recorded.
    pub fn is_empty(&self) -> bool {
        self.picks.is_empty()
    }
    /// Adds a choice.
    pub fn push(&mut self, pick: Pick) {
        self.picks.push(pick);
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.picks.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A schedule that does not parse: the offending word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSchedule(pub String);

impl fmt::Display for BadSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a `from>to` pair of stage numbers: {:?}", self.0)
    }
}

impl core::error::Error for BadSchedule {}

impl FromStr for Schedule {
    type Err = BadSchedule;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut picks = Vec::new();
        for word in s.split_whitespace() {
            let bad = || BadSchedule(String::from(word));
            let (a, b) = word.split_once('>').ok_or_else(bad)?;
            let from = a.parse::<u32>().map_err(|_| bad())?;
            let to = b.parse::<u32>().map_err(|_| bad())?;
            picks.push(Pick {
                from: StageId(from),
                to: StageId(to),
            });
        }
        Ok(Self { picks })
    }
}

/// The scheduler's state inside a simulator.
pub(super) struct Scheduler {
    mode: Mode,
    rng: SplitMix64,
    /// Round-robin: the pair served last.
    cursor: Option<Pick>,
    /// Replay: the next choice to make.
    replay_at: usize,
    /// The choices made so far.
    pub(super) record: Schedule,
    /// Stages delivered to less often: (stage, 1 in how many draws it may win).
    pub(super) slow: Vec<(StageId, u32)>,
    /// Scratch: the heads of the non-empty mailboxes, (pair, index in the queue, when due).
    heads: Vec<(Pick, usize, u64)>,
    /// True while the next pick is the oldest message of all: FIFO mode, or a replay whose
    /// recorded choices are used up (kept by [`set_mode`](Self::set_mode) and the replay).
    fifo: bool,
}

/// The scheduler's stream of random numbers, apart from the faults' stream.
const SCHEDULE_STREAM: u64 = 0x5C4E_D01E;

impl Scheduler {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            mode: Mode::Fifo,
            rng: SplitMix64::new(seed ^ SCHEDULE_STREAM),
            cursor: None,
            replay_at: 0,
            record: Schedule::default(),
            slow: Vec::new(),
            heads: Vec::new(),
            fifo: true,
        }
    }

    /// The mode.
    pub(super) fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Sets the mode (and whether picks are plain FIFO).
    pub(super) fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.update_fifo();
    }

    fn update_fifo(&mut self) {
        self.fifo = matches!(self.mode, Mode::Fifo)
            || matches!(&self.mode, Mode::Replay(s) if self.replay_at >= s.len());
    }

    /// Picks the index in `queue` of the message to deliver next and the time it is
    /// delivered at, or `None` when nothing is queued. `msgs` yields each queued message's
    /// (from, to, due), oldest first, where `due` is when it may be delivered at the earliest
    /// (no earlier than `now`). Only the heads of the mailboxes due first take part: with
    /// `timed` off every message is due `now`, and the oldest message of all is found
    /// without looking further.
    ///
    /// # Panics
    /// In replay mode, when the recorded pair has no message due: the run diverged from the
    /// one recorded.
    #[inline]
    pub(super) fn pick(
        &mut self,
        mut msgs: impl Iterator<Item = (StageId, StageId, u64)>,
        now: u64,
        timed: bool,
        step: u64,
    ) -> Option<(usize, u64)> {
        // Inlined into the simulator's step: the plain FIFO schedule (the common case) costs
        // a look at the queue's front and no call.
        if self.fifo && !timed {
            // The oldest message of all: no need to look further.
            let (from, to, _) = msgs.next()?;
            self.cursor = Some(Pick { from, to });
            return Some((0, now));
        }
        self.pick_among(msgs, now, timed, step)
    }

    /// [`pick`](Self::pick) for every mode but plain FIFO: among the heads of the mailboxes
    /// due first.
    #[inline(never)]
    fn pick_among(
        &mut self,
        msgs: impl Iterator<Item = (StageId, StageId, u64)>,
        now: u64,
        timed: bool,
        step: u64,
    ) -> Option<(usize, u64)> {
        self.heads.clear();
        for (i, (from, to, due)) in msgs.enumerate() {
            let p = Pick { from, to };
            let due = if timed { due.max(now) } else { now };
            if !self.heads.iter().any(|(q, ..)| *q == p) {
                self.heads.push((p, i, due));
            }
        }
        let first = self.heads.iter().map(|h| h.2).min()?;
        if timed {
            // The clock jumps to the first due time; only what is due then may go.
            self.heads.retain(|h| h.2 == first);
        }
        let chosen = match &self.mode {
            Mode::Fifo => 0,
            Mode::Seeded => self.draw(),
            Mode::RoundRobin => {
                self.heads.sort_unstable_by_key(|(p, ..)| *p);
                match self.cursor {
                    Some(c) => self.heads.iter().position(|(p, ..)| *p > c).unwrap_or(0),
                    None => 0,
                }
            }
            Mode::Replay(s) => {
                let want = s.picks[self.replay_at];
                self.replay_at += 1;
                self.fifo = self.replay_at >= s.len();
                self.heads
                    .iter()
                    .position(|(p, ..)| *p == want)
                    .unwrap_or_else(|| {
                        panic!(
                            "the replayed schedule diverged at step {}: it picks {want}, but \
                             that mailbox is empty or not due first",
                            step + 1
                        )
                    })
            }
        };
        let (p, i, at) = self.heads[chosen];
        self.cursor = Some(p);
        Some((i, at))
    }

    /// A seeded draw among the heads, where a slow stage wins only one draw in its factor.
    fn draw(&mut self) -> usize {
        let n = self.heads.len();
        let mut i = self.rng.below(n);
        if self.slow.is_empty() {
            return i;
        }
        let slowness = |to: StageId, slow: &[(StageId, u32)]| {
            slow.iter().find(|(s, _)| *s == to).map_or(1, |(_, k)| *k)
        };
        // Redraw a few times while the winner is slow and loses its own draw.
        for _ in 0..4 {
            let k = slowness(self.heads[i].0.to, &self.slow);
            if k <= 1 || self.rng.below(k as usize) == 0 {
                return i;
            }
            i = self.rng.below(n);
        }
        i
    }

    /// Records a choice (when tracing is on).
    pub(super) fn note(&mut self, pick: Pick, tracing: bool) {
        if tracing {
            self.record.push(pick);
        }
    }
}
