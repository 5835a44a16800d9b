//! Seeded faults: crashes and cancels drawn from the simulator's seed.

use alloc::vec::Vec;
use genstage::Reason;
use genstage::rng::SplitMix64;
use genstage::runtime::StageId;

/// A plan of seeded faults for [`Sim::set_chaos`](super::Sim::set_chaos).
///
/// After every step, with the odds given, the simulator crashes a live stage (as
/// [`Sim::kill_stage`](super::Sim::kill_stage) does, with a reason drawn among `Killed`,
/// `Shutdown`, `Normal` and a custom one), has a consumer-role stage cancel one of its open
/// subscriptions mid-flight (as [`Sim::cancel`](super::Sim::cancel) does), or restarts a
/// restartable stage, crashing it first if it is live (as
/// [`Sim::restart`](super::Sim::restart) does: a fresh stage under the same id, subscribed
/// again as the old one was). Each follows the spec's termination rules (§15): peers hear of
/// a crash through a down notice, after the messages already sent, and apply their cancel
/// modes.
///
/// **Safety mode**: faults all along (`until` unset); the oracles must hold whatever
/// happens. **Liveness mode**: faults stop after step `until`; then a finite pipeline must
/// go idle within a bounded number of steps with every event delivered or counted.
///
/// ```
/// use genstage::sim::{Chaos, Sim};
/// let mut sim = Sim::seeded(7);
/// sim.set_chaos(Chaos::new().crash_one_in(200).cancel_one_in(100).until(500));
/// sim.set_chaos(Chaos::new().restart_one_in(50).max_faults(3));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chaos {
    crash_one_in: u32,
    cancel_one_in: u32,
    restart_one_in: u32,
    until: Option<u64>,
    max_faults: Option<u64>,
    spare: Vec<StageId>,
}

impl Chaos {
    /// No faults yet: add them with the builder methods.
    pub fn new() -> Self {
        Self::default()
    }
    /// After each step, crash a live stage with odds 1 in `n` (0: never).
    pub fn crash_one_in(mut self, n: u32) -> Self {
        self.crash_one_in = n;
        self
    }
    /// After each step, cancel an open subscription with odds 1 in `n` (0: never).
    pub fn cancel_one_in(mut self, n: u32) -> Self {
        self.cancel_one_in = n;
        self
    }
    /// After each step, restart a restartable stage ([`Sim::restartable`](super::Sim::restartable))
    /// with odds 1 in `n` (0: never), crashing it first if it is live. Restarts can keep a
    /// finite pipeline going for ever (a restarted source makes its events again): bound
    /// them with [`max_faults`](Self::max_faults) or [`until`](Self::until).
    pub fn restart_one_in(mut self, n: u32) -> Self {
        self.restart_one_in = n;
        self
    }
    /// No fault after this step (liveness mode).
    pub fn until(mut self, step: u64) -> Self {
        self.until = Some(step);
        self
    }
    /// At most this many faults in all.
    pub fn max_faults(mut self, n: u64) -> Self {
        self.max_faults = Some(n);
        self
    }
    /// Never crash (nor restart) this stage.
    pub fn spare(mut self, stage: StageId) -> Self {
        self.spare.push(stage);
        self
    }
}

/// What a draw decided.
pub(super) enum Fault {
    Crash(usize, Reason),
    Cancel(usize, Reason),
    Restart(usize, Reason),
}

/// A [`Chaos`] plan at work inside a simulator.
pub(super) struct Runner {
    plan: Chaos,
    rng: SplitMix64,
    pub(super) fired: u64,
}

/// The faults' stream of random numbers, apart from the scheduler's.
const FAULT_STREAM: u64 = 0xFA17_5EED;

const REASONS: [Reason; 4] = [
    Reason::Killed,
    Reason::Shutdown,
    Reason::Normal,
    Reason::Custom("chaos"),
];

impl Runner {
    pub(super) fn new(plan: Chaos, seed: u64) -> Self {
        Self {
            plan,
            rng: SplitMix64::new(seed ^ FAULT_STREAM),
            fired: 0,
        }
    }

    fn roll(&mut self, one_in: u32) -> bool {
        one_in > 0 && self.rng.below(one_in as usize) == 0
    }

    /// Draws this step's fault, given how many crash, cancel and restart candidates there
    /// are. A plan without restarts draws exactly as it did before restarts existed.
    pub(super) fn draw(
        &mut self,
        step: u64,
        crashable: impl Fn(StageId) -> bool,
        live: usize,
        cancels: usize,
        restartable: usize,
    ) -> Option<Fault> {
        if self.plan.until.is_some_and(|u| step > u)
            || self.plan.max_faults.is_some_and(|m| self.fired >= m)
        {
            return None;
        }
        let reason = REASONS[self.rng.below(REASONS.len())];
        if self.roll(self.plan.crash_one_in) && live > 0 {
            let i = self.rng.below(live);
            if crashable(StageId(i as u32)) {
                self.fired += 1;
                return Some(Fault::Crash(i, reason));
            }
        }
        if self.roll(self.plan.cancel_one_in) && cancels > 0 {
            self.fired += 1;
            return Some(Fault::Cancel(self.rng.below(cancels), reason));
        }
        if self.roll(self.plan.restart_one_in) && restartable > 0 {
            self.fired += 1;
            return Some(Fault::Restart(self.rng.below(restartable), reason));
        }
        None
    }

    pub(super) fn spares(&self, stage: StageId) -> bool {
        self.plan.spare.contains(&stage)
    }
}
