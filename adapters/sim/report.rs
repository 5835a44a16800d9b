//! What the simulator says about a run: where every event is ([`SimReport`]) and a run that
//! did not go idle ([`NotIdle`]).

use alloc::vec::Vec;
use genstage::runtime::StageSummary;

/// One stage's line of a [`SimReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// What the stage itself says: kind, stopped or not, events it holds, demand it is owed.
    pub summary: StageSummary,
    /// Events in messages to it that were dropped because it had stopped.
    pub lost_in_flight: u64,
}

/// What [`Sim::report`](super::Sim::report) returns: every stage's state and what is still in flight. Its
/// `Display` is one line per stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    /// One entry per stage, by id.
    pub stages: Vec<StageReport>,
    /// Messages queued and not yet delivered.
    pub messages_in_flight: usize,
    /// Events inside those messages.
    pub events_in_flight: usize,
}

impl SimReport {
    /// True when every stage has stopped and nothing is in flight: the pipeline finished.
    pub fn all_stopped(&self) -> bool {
        self.messages_in_flight == 0 && self.stages.iter().all(|s| s.summary.stopped.is_some())
    }
    /// The stages still running.
    pub fn live(&self) -> impl Iterator<Item = &StageReport> + '_ {
        self.stages.iter().filter(|s| s.summary.stopped.is_none())
    }
    /// Events still inside the pipeline: buffered, held, queued or in flight.
    pub fn events_inside(&self) -> usize {
        self.events_in_flight
            + self
                .stages
                .iter()
                .map(|s| s.summary.buffered + s.summary.held + s.summary.queued)
                .sum::<usize>()
    }
}

impl core::fmt::Display for SimReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "{} of {} stages live, {} messages ({} events) in flight",
            self.live().count(),
            self.stages.len(),
            self.messages_in_flight,
            self.events_in_flight
        )?;
        for r in &self.stages {
            let s = &r.summary;
            match (s.stopped, s.draining) {
                (Some(why), _) => write!(f, "  {} {:?}: stopped ({why})", s.id, s.kind)?,
                (None, Some(why)) => write!(f, "  {} {:?}: live, draining ({why})", s.id, s.kind)?,
                (None, None) => write!(f, "  {} {:?}: live", s.id, s.kind)?,
            }
            writeln!(
                f,
                ", buffered {}, held {}, queued {}, outstanding demand {}, in {}, out {}, \
                 discarded {}, lost in flight {}",
                s.buffered,
                s.held,
                s.queued,
                s.outstanding,
                s.stats.events_in,
                s.stats.events_out,
                s.stats.discarded.total(),
                r.lost_in_flight
            )?;
        }
        Ok(())
    }
}

/// [`Sim::run_bounded`](super::Sim::run_bounded) stopped at its limit with messages still queued: the pipeline did not
/// go idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotIdle {
    /// Messages delivered.
    pub steps: u64,
    /// Messages still queued.
    pub pending: usize,
}

impl core::fmt::Display for NotIdle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the pipeline did not go idle: {} messages delivered, {} still queued",
            self.steps, self.pending
        )
    }
}

impl core::error::Error for NotIdle {}
