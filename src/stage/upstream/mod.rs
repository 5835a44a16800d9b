//! The upstream protocol shared by consumers and producer_consumers: subscribing to a
//! producer, asking on a manual subscription and cancelling one (spec §4.7–§4.9, §6.3). Each
//! stage kind supplies the few steps that differ ([`UpstreamFlows`]); the flows are written once here.

pub mod demand;
pub(crate) mod incoming;
pub(crate) mod side;

use crate::behaviour::Subscribed;
use crate::callbacks::{AskError, Upstream};
use crate::error::SubscribeError;
use crate::id::{StageId, SubId};
use crate::message::Outbox;
use crate::options::{Subscribe, SubscribeOptions};
use crate::reason::Reason;
use crate::stage::upstream::side::{ConsumerSide, UpCtx};
use crate::stats::StageStats;
use crate::storage::Storage;

/// A consumer side and the stage's counters, borrowed together.
pub(crate) struct UpParts<'a, S: Storage> {
    pub(in crate::stage) side: &'a mut ConsumerSide<S>,
    pub(in crate::stage) stats: &'a mut StageStats,
}

/// A stage with a consumer side. `In` is the event type it takes from producers, `Out` the one
/// its outbox carries downstream.
pub(crate) trait UpstreamFlows<In, Out, M> {
    type S: Storage;

    /// The consumer side and the stage's counters, borrowed together.
    fn upstream(&mut self) -> UpParts<'_, Self::S>;
    fn has_stopped(&self) -> bool;
    fn halt_upstream<O: Outbox<In, Out, M>>(&mut self, reason: Reason, out: &mut O);
    /// The behaviour's `handle_subscribe` for a producer this stage subscribed to.
    fn subscribed_to<O: Outbox<In, Out, M>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<In>,
        out: &mut O,
    ) -> Subscribed;

    /// Subscribes to `producer`, asking it first to cancel `previous` when given (spec §4.7,
    /// §4.9): the options are checked, the subscribe goes out, and the behaviour's answer
    /// decides the demand mode.
    fn subscribe_to<O: Outbox<In, Out, M>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<In>,
        previous: Option<(SubId, Reason)>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        if self.has_stopped() {
            return Err(SubscribeError::Stopped);
        }
        let opts = opts.validate()?;
        let sub = self
            .upstream()
            .side
            .subscribe(producer, opts.clone(), previous, out)?;
        match self.subscribed_to(sub, &opts, out) {
            Subscribed::Automatic => {
                let UpParts { side, stats } = self.upstream();
                side.set_automatic(sub, out, stats);
            }
            Subscribed::Manual => self.upstream().side.set_manual(sub),
            Subscribed::Stop(r) => self.halt_upstream(r, out),
        }
        Ok(sub)
    }

    /// Asks for `demand` more events on manual subscription `sub`.
    fn ask_upstream<O: Outbox<In, Out, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        if self.has_stopped() {
            return Err(AskError::Stopped);
        }
        let UpParts { side, stats } = self.upstream();
        UpCtx::new(side, out, stats).ask(sub, demand)
    }

    /// Asks the producer of `sub` to cancel it.
    fn cancel_upstream<O: Outbox<In, Out, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        if self.has_stopped() {
            return Err(AskError::Stopped);
        }
        let UpParts { side, stats } = self.upstream();
        UpCtx::new(side, out, stats).cancel(sub, reason)
    }
}
