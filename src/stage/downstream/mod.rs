//! The downstream protocol shared by producers and producer_consumers: consumers subscribing,
//! asking and leaving (spec §3.4–§3.7, §11.3, §15.2). Each stage kind supplies the few steps
//! that differ ([`DownstreamFlows`]); the flows themselves are written once here. The role's
//! state lives beside them: [`side`] (consumers, dispatcher, self-queue, infos), [`buffer`]
//! (the producer buffer with info markers).

pub(crate) mod accumulate;
pub mod buffer;
pub(crate) mod side;

use crate::behaviour::Flow;
use crate::dispatcher::Dispatcher;
use crate::id::{StageId, SubId};
use crate::message::{Outbox, Output, Report, ToProducer};
use crate::options::SubscribeOptions;
use crate::reason::{Cancellation, Reason};
use crate::stage::downstream::side::{Admit, ProducerSide};
use crate::stats::StageStats;
use crate::storage::Storage;

/// A producer side and the stage's counters, borrowed together.
pub(crate) struct Parts<'a, E, M, D, S: Storage> {
    pub(in crate::stage) side: &'a mut ProducerSide<E, M, D, S>,
    pub(in crate::stage) stats: &'a mut StageStats,
}

/// A stage with a producer side. `In` is the upstream event type its outbox carries.
pub(crate) trait DownstreamFlows<In, M> {
    type Out;
    type D: Dispatcher<Self::Out>;
    type S: Storage;

    fn parts(&mut self) -> Parts<'_, Self::Out, M, Self::D, Self::S>;
    fn is_stopped(&self) -> bool;
    /// Acts on what a callback returned (stop now, start draining, or nothing).
    fn apply_flow<O: Outbox<In, Self::Out, M>>(&mut self, flow: Flow, out: &mut O);
    /// The behaviour's callback for a consumer that subscribed.
    fn subscribed(&mut self, sub: SubId, opts: &SubscribeOptions<Self::Out>) -> Flow;
    /// The behaviour's `handle_cancel` for a consumer, with what it emits dispatched.
    fn cancelled<O: Outbox<In, Self::Out, M>>(
        &mut self,
        how: Cancellation,
        sub: SubId,
        out: &mut O,
    ) -> Flow;
    /// Upstream demand `u` from the dispatcher.
    fn demand<O: Outbox<In, Self::Out, M>>(&mut self, u: usize, out: &mut O);

    /// A message from a consumer.
    fn consumer_message<O: Outbox<In, Self::Out, M>>(
        &mut self,
        msg: ToProducer<Self::Out>,
        out: &mut O,
    ) {
        if self.is_stopped() {
            return;
        }
        match msg {
            ToProducer::Subscribe {
                sub,
                previous,
                opts,
            } => self.consumer_subscribe(sub, previous, opts, out),
            ToProducer::Ask { sub, demand } => {
                let Parts { side, stats } = self.parts();
                if let Some(u) = side.ask(sub, demand, true, out, stats) {
                    self.demand(u, out);
                }
            }
            // An unknown subscription is ignored (spec §3.7, §21 Q8).
            ToProducer::Cancel { sub, reason } => {
                self.consumer_end(sub, Cancellation::Cancel(reason), out)
            }
        }
    }

    /// A subscribe (spec §3.5): the previous subscription ends first; a duplicate id or a full
    /// table is answered with a cancel; the behaviour runs before the dispatcher; a refusal by
    /// the dispatcher cancels only this subscription (§11.3, §21 Q13).
    fn consumer_subscribe<O: Outbox<In, Self::Out, M>>(
        &mut self,
        sub: SubId,
        previous: Option<(SubId, Reason)>,
        opts: SubscribeOptions<Self::Out>,
        out: &mut O,
    ) {
        if let Some((old, reason)) = previous {
            self.consumer_end(old, Cancellation::Cancel(reason), out);
            if self.is_stopped() {
                return;
            }
        }
        if let Admit::Rejected(reason) = self.parts().side.admit(sub, out) {
            let Parts { side, stats } = self.parts();
            side.dispatcher_refused(sub, reason, out, stats);
            return;
        }
        let flow = self.subscribed(sub, &opts);
        self.apply_flow(flow, out);
        if self.is_stopped() {
            return;
        }
        let Parts { side, stats } = self.parts();
        match side.dispatcher_subscribe(sub, &opts, out, stats) {
            Ok(u) => self.demand(u, out),
            Err(reason) => {
                out.push(Output::Report(Report::SubscribeRefused { sub, reason }));
                let Parts { side, stats } = self.parts();
                side.remove(sub, Some(reason), false, out, stats);
                side.dispatcher_refused(sub, reason, out, stats);
                let flow = self.cancelled(Cancellation::Cancel(reason), sub, out);
                self.apply_flow(flow, out);
            }
        }
    }

    /// Ends a consumer's subscription: the cancel is sent (for a cancel, not a down), the
    /// dispatcher forgets it first, then `handle_cancel` runs (so its events never reach the
    /// departing consumer, spec §21 Q6), then the demand the dispatcher gave back is served.
    fn consumer_end<O: Outbox<In, Self::Out, M>>(
        &mut self,
        sub: SubId,
        how: Cancellation,
        out: &mut O,
    ) {
        let notify = match how {
            Cancellation::Cancel(r) => Some(r),
            Cancellation::Down(_) => None,
        };
        let Parts { side, stats } = self.parts();
        let Some(u) = side.remove(sub, notify, true, out, stats) else {
            return;
        };
        let flow = self.cancelled(how, sub, out);
        self.apply_flow(flow, out);
        if self.is_stopped() {
            return;
        }
        self.demand(u, out);
    }

    /// Every subscription of consumers hosted by `stage` ends with `Down(reason)`.
    fn consumers_down<O: Outbox<In, Self::Out, M>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    ) {
        while !self.is_stopped() {
            let Some(sub) = self.parts().side.consumers_of(stage) else {
                break;
            };
            self.consumer_end(sub, Cancellation::Down(reason), out);
        }
    }
}
