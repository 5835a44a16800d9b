//! The consumer role shared by consumers and producer_consumers: the subscriptions this stage
//! holds to producers, their demand accounting (automatic or manual) and cancel modes.

use crate::behaviour::Flow;
use crate::callbacks::{AskError, Upstream};
use crate::error::SubscribeError;
use crate::id::{StageId, SubId};
use crate::message::{DiscardReason, Outbox, Output, Report, ToProducer};
use crate::options::SubscribeOptions;
use crate::reason::{CancelMode, Reason};
use crate::stage::upstream::demand::AutoDemand;
use crate::stats::{StageStats, SubscriptionStats};
use crate::storage::{List, Storage};
use core::marker::PhantomData;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// Subscribe sent, `handle_subscribe` not yet answered.
    Pending {
        max: usize,
        min: usize,
    },
    Auto(AutoDemand),
    Manual,
}

pub(crate) struct UpSub {
    pub(in crate::stage) sub: SubId,
    pub(in crate::stage) mode: Mode,
    pub(in crate::stage) cancel: CancelMode,
    pub(in crate::stage) stats: SubscriptionStats,
}

pub(crate) struct ConsumerSide<S: Storage> {
    pub(in crate::stage) me: StageId,
    pub(in crate::stage) subs: S::List<UpSub>,
    pub(in crate::stage) next_seq: u32,
}

impl<S: Storage> ConsumerSide<S> {
    pub(crate) fn new(me: StageId) -> Self {
        Self {
            me,
            subs: Default::default(),
            next_seq: 0,
        }
    }

    /// A subscription of this stage to `producer`, if any is left.
    pub(crate) fn any_to(&self, producer: StageId) -> Option<SubId> {
        self.subs
            .as_slice()
            .iter()
            .map(|s| s.sub)
            .find(|s| s.producer == producer)
    }

    pub(crate) fn index(&self, sub: SubId) -> Option<usize> {
        self.subs.as_slice().iter().position(|s| s.sub == sub)
    }

    pub(crate) fn get_mut(&mut self, sub: SubId) -> Option<&mut UpSub> {
        self.subs.as_mut_slice().iter_mut().find(|s| s.sub == sub)
    }

    pub(crate) fn remove(&mut self, sub: SubId) -> Option<UpSub> {
        let i = self.index(sub)?;
        Some(self.subs.remove(i))
    }

    /// Records a new subscription and sends Subscribe (spec §4.7 steps 1–2).
    pub(crate) fn subscribe<In, Out, M, O: Outbox<In, Out, M>>(
        &mut self,
        producer: StageId,
        opts: SubscribeOptions<In>,
        previous: Option<(SubId, Reason)>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        let sub = SubId::new(producer, self.me, self.next_seq);
        let entry = UpSub {
            sub,
            mode: Mode::Pending {
                max: opts.max_demand(),
                min: opts.min_demand(),
            },
            cancel: opts.cancel_mode(),
            stats: SubscriptionStats::default(),
        };
        self.subs
            .push(entry)
            .map_err(|_| SubscribeError::TooManySubscriptions)?;
        self.next_seq = self.next_seq.wrapping_add(1);
        out.push(Output::ToProducer(ToProducer::Subscribe {
            sub,
            previous,
            opts,
        }));
        Ok(sub)
    }

    /// Applies the behaviour's answer to `handle_subscribe` (spec §4.7 step 4).
    pub(crate) fn set_automatic<In, Out, M, O: Outbox<In, Out, M>>(
        &mut self,
        sub: SubId,
        out: &mut O,
        stats: &mut StageStats,
    ) {
        let Some(s) = self.get_mut(sub) else { return };
        if let Mode::Pending { max, min } = s.mode {
            s.mode = Mode::Auto(AutoDemand::new(max, min));
            s.stats.asked = s.stats.asked.saturating_add(max as u64);
            s.stats.outstanding = s.stats.outstanding.saturating_add(max as u64);
            stats.asked = stats.asked.saturating_add(max as u64);
            out.push(Output::ToProducer(ToProducer::Ask { sub, demand: max }));
        }
    }

    pub(crate) fn set_manual(&mut self, sub: SubId) {
        if let Some(s) = self.get_mut(sub) {
            s.mode = Mode::Manual;
        }
    }

    pub(crate) fn send_ask<In, Out, M, O: Outbox<In, Out, M>>(
        s: &mut UpSub,
        demand: usize,
        out: &mut O,
        stats: &mut StageStats,
    ) {
        if demand == 0 {
            return;
        }
        s.stats.asked = s.stats.asked.saturating_add(demand as u64);
        s.stats.outstanding = s.stats.outstanding.saturating_add(demand as u64);
        stats.asked = stats.asked.saturating_add(demand as u64);
        out.push(Output::ToProducer(ToProducer::Ask { sub: s.sub, demand }));
    }
}

/// The upstream side as a callback sees it: manual asks and cancels go straight out.
pub(crate) struct UpCtx<'a, In, Out, M, O, S: Storage> {
    pub(in crate::stage) side: &'a mut ConsumerSide<S>,
    pub(in crate::stage) out: &'a mut O,
    pub(in crate::stage) stats: &'a mut StageStats,
    pub(in crate::stage) _p: PhantomData<fn(In, Out, M)>,
}

impl<'a, In, Out, M, O: Outbox<In, Out, M>, S: Storage> UpCtx<'a, In, Out, M, O, S> {
    pub(crate) fn new(
        side: &'a mut ConsumerSide<S>,
        out: &'a mut O,
        stats: &'a mut StageStats,
    ) -> Self {
        UpCtx {
            side,
            out,
            stats,
            _p: PhantomData,
        }
    }
}

impl<In, Out, M, O: Outbox<In, Out, M>, S: Storage> Upstream for UpCtx<'_, In, Out, M, O, S> {
    fn ask(&mut self, sub: SubId, demand: usize) -> Result<(), AskError> {
        let s = self
            .side
            .get_mut(sub)
            .ok_or(AskError::UnknownSubscription)?;
        match s.mode {
            Mode::Manual => {
                ConsumerSide::<S>::send_ask(s, demand, self.out, self.stats);
                Ok(())
            }
            // An ask from `handle_subscribe` (GenStage's usual manual pattern): the
            // subscription is manual from now on, whatever the callback then returns.
            Mode::Pending { .. } => {
                s.mode = Mode::Manual;
                ConsumerSide::<S>::send_ask(s, demand, self.out, self.stats);
                Ok(())
            }
            Mode::Auto(_) => Err(AskError::NotManual),
        }
    }
    fn cancel(&mut self, sub: SubId, reason: Reason) -> Result<(), AskError> {
        if self.side.index(sub).is_none() {
            return Err(AskError::UnknownSubscription);
        }
        self.out
            .push(Output::ToProducer(ToProducer::Cancel { sub, reason }));
        Ok(())
    }
}

impl<S: Storage> ConsumerSide<S> {
    /// Runs one incoming message of `len` events on `sub` through the demand rules: cut into
    /// chunks (automatic: spec §5; manual: one chunk, none when empty; removed subscription:
    /// one chunk, no ask), calling `handle(chunk_len, ..)` for each and asking after it.
    /// Stops at the first `Flow::Stop` and returns it.
    pub(crate) fn run_chunks<In, Out, M, O, F>(
        &mut self,
        sub: SubId,
        len: usize,
        out: &mut O,
        stats: &mut StageStats,
        mut handle: F,
    ) -> Flow
    where
        O: Outbox<In, Out, M>,
        F: FnMut(usize, &mut Self, &mut O, &mut StageStats) -> Flow,
    {
        let mode = self.get_mut(sub).map(|s| s.mode);
        match mode {
            None | Some(Mode::Manual) | Some(Mode::Pending { .. }) => {
                if len == 0 {
                    return Flow::Continue;
                }
                if let Some(s) = self.get_mut(sub) {
                    s.stats.events += len as u64;
                    s.stats.outstanding = s.stats.outstanding.saturating_sub(len as u64);
                }
                handle(len, self, out, stats)
            }
            Some(Mode::Auto(mut d)) => {
                let mut remaining = len;
                let mut budget = d.outstanding();
                while let Some(chunk) = d.next_chunk(&mut remaining, &mut budget) {
                    if let Some(s) = self.get_mut(sub) {
                        s.mode = Mode::Auto(d);
                        s.stats.events += chunk.len as u64;
                        s.stats.outstanding = d.outstanding() as u64 - chunk.ask as u64;
                    }
                    if chunk.excess > 0 {
                        stats.excess += chunk.excess as u64;
                        out.push(Output::Report(Report::Excess {
                            sub,
                            excess: chunk.excess,
                        }));
                    }
                    let flow = handle(chunk.len, self, out, stats);
                    if !flow.is_continue() {
                        return flow;
                    }
                    if let Some(s) = self.get_mut(sub) {
                        Self::send_ask(s, chunk.ask, out, stats);
                    }
                }
                Flow::Continue
            }
        }
    }
}

/// Events on a subscription the stage does not know: dropped, counted, and the producer is
/// told to cancel it (spec §3.8).
pub(crate) fn unknown_events<In, Out, M, O: Outbox<In, Out, M>>(
    sub: SubId,
    len: usize,
    out: &mut O,
    stats: &mut StageStats,
) {
    stats.discarded.add(DiscardReason::UnknownSubscription, len);
    out.push(Output::Report(Report::UnknownSubscription { sub }));
    out.push(Output::ToProducer(ToProducer::Cancel {
        sub,
        reason: Reason::UnknownSubscription,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OptionsError;
    use core::fmt::Write;

    #[test]
    fn subscribe_errors_say_what_went_wrong() {
        let cases = [
            (
                SubscribeError::Options(OptionsError::MaxDemandZero),
                "bad subscription options: ",
            ),
            (
                SubscribeError::TooManySubscriptions,
                "too many subscriptions",
            ),
            (SubscribeError::Stopped, "the stage has stopped"),
            (SubscribeError::NotAConsumer, "not a consumer"),
            (SubscribeError::NoSuchStage, "no such stage"),
            (
                SubscribeError::WrongEventType,
                "the stages' event types differ",
            ),
        ];
        for (e, start) in cases {
            let mut s = heapless::String::<200>::new();
            write!(s, "{e}").expect("room for the text");
            assert!(s.starts_with(start), "{s}");
        }
        let mut s = heapless::String::<200>::new();
        write!(s, "{}", SubscribeError::from(OptionsError::MaxDemandZero)).unwrap();
        let mut o = heapless::String::<200>::new();
        write!(
            o,
            "bad subscription options: {}",
            OptionsError::MaxDemandZero
        )
        .unwrap();
        assert_eq!(s, o);
    }
}
