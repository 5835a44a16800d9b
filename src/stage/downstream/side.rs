//! The producer role shared by producers and producer_consumers: the consumers subscribed to
//! this stage, the dispatcher, the buffer, the accumulate log, info markers and the stage's
//! queue of messages to itself.

use crate::dispatcher::{DispatchContext, Dispatcher};
use crate::id::{MarkerId, StageId, SubId};
use crate::message::{DiscardReason, Outbox, Output, Report, ToConsumer};
use crate::options::{DemandMode, Keep, SubscribeOptions};
use crate::reason::Reason;
use crate::stage::downstream::accumulate::Accumulator;
use crate::stage::downstream::buffer::Buffer;
use crate::stats::{StageStats, SubscriptionStats};
use crate::storage::{Deque, List, Storage};
use core::marker::PhantomData;

/// A message a stage sends itself, handled after the current step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SelfMsg {
    Info(MarkerId),
    Ask(SubId, usize),
    /// Upstream demand to replace events the dispatcher dropped.
    Demand(usize),
}

/// How many rounds in a row of replacing dropped events ([`SelfMsg::Demand`]) may deliver
/// nothing before a stage stops replacing for the current input. Without a bound, a hash that
/// sends every event nowhere (all to partitions whose consumer left, say) would keep one call
/// making and dropping events for ever; past it, the producer is asked again only when a
/// consumer asks.
pub(crate) const IDLE_REPLACEMENTS: u32 = 64;

/// What serving demand from the buffer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Served {
    /// Demand the buffer did not cover (for `handle_demand`). Events taken for demand and left
    /// over count as covering it, as in GenStage.
    pub(in crate::stage) uncovered: usize,
    /// Events that left the buffer for good (dispatched, queued by the dispatcher or dropped
    /// by it), each counted once whatever the number of consumers.
    pub(in crate::stage) sent: usize,
}

pub(crate) struct Downstream {
    pub(in crate::stage) sub: SubId,
    pub(in crate::stage) stats: SubscriptionStats,
}

pub(crate) struct ProducerSide<E, M, D, S: Storage> {
    pub(in crate::stage) consumers: S::List<Downstream>,
    pub(in crate::stage) dispatcher: D,
    pub(in crate::stage) buffer: Buffer<E, S>,
    pub(in crate::stage) mode: DemandMode,
    /// Accumulate mode's held log and events.
    pub(in crate::stage) acc: Accumulator<E, S>,
    /// What the current callback emitted, before dispatch.
    pub(in crate::stage) scratch: S::Run<E>,
    pub(in crate::stage) infos: S::List<(MarkerId, M)>,
    pub(in crate::stage) next_marker: u64,
    pub(in crate::stage) selfq: S::Deque<SelfMsg>,
    /// Set by `Flow::StopWhenDrained`: the reason to stop with once drained.
    pub(in crate::stage) finishing: Option<crate::reason::Reason>,
    /// The marker whose release stops the stage (placed while finishing, forward mode).
    pub(in crate::stage) stop_marker: Option<MarkerId>,
}

/// The dispatch context: routes what the dispatcher does to the outbox and the counters.
pub(crate) struct Routing<'a, In, M, O, S: Storage> {
    pub(in crate::stage) out: &'a mut O,
    pub(in crate::stage) selfq: &'a mut S::Deque<SelfMsg>,
    pub(in crate::stage) consumers: &'a mut S::List<Downstream>,
    pub(in crate::stage) stats: &'a mut StageStats,
    pub(in crate::stage) delivered: usize,
    pub(in crate::stage) _p: PhantomData<fn(In, M)>,
}

impl<E, In, M, O: Outbox<In, E, M>, S: Storage> DispatchContext<E> for Routing<'_, In, M, O, S> {
    fn deliver<I: ExactSizeIterator<Item = E>>(&mut self, sub: SubId, events: I) {
        let n = events.len();
        if n == 0 {
            return;
        }
        self.out.events(sub, events);
        self.count_delivered(sub, n);
    }
    #[cfg(feature = "alloc")]
    fn deliver_all(&mut self, sub: SubId, events: &mut alloc::vec::Vec<E>) {
        let n = events.len();
        if n == 0 {
            return;
        }
        self.out.events_buffer(sub, events);
        events.clear(); // an outbox takes them all; should one not, they are not sent twice
        self.count_delivered(sub, n);
    }
    fn release_info(&mut self, marker: MarkerId) {
        if self.selfq.push_back(SelfMsg::Info(marker)).is_err() {
            self.out.push(Output::Report(Report::SelfQueueFull));
        }
    }
    fn self_ask(&mut self, sub: SubId, demand: usize) {
        if let Err(msg) = self.selfq.push_back(SelfMsg::Ask(sub, demand)) {
            // Full (fixed storage): fold the ask into the last queued ask of the same
            // subscription if there is one, so no demand is lost.
            let _ = msg;
            let mut folded = false;
            if let Some(SelfMsg::Ask(s, n)) = self.selfq.back_mut()
                && *s == sub
            {
                *n += demand;
                folded = true;
            }
            if !folded {
                self.out.push(Output::Report(Report::SelfQueueFull));
            }
        }
    }
    fn discarded(&mut self, count: usize, reason: DiscardReason) {
        self.stats.discarded.add(reason, count);
        self.out.push(Output::Report(Report::Discarded {
            count,
            reason,
            log: true,
        }));
    }
    fn report(&mut self, report: Report) {
        self.out.push(Output::Report(report));
    }
    fn replace_dropped(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        if self.selfq.push_back(SelfMsg::Demand(count)).is_err() {
            // Full (fixed storage): fold into a queued replacement if one is last.
            match self.selfq.back_mut() {
                Some(SelfMsg::Demand(n)) => *n += count,
                _ => self.out.push(Output::Report(Report::SelfQueueFull)),
            }
        }
    }
}

impl<In, M, O, S: Storage> Routing<'_, In, M, O, S> {
    /// Counts `n` events delivered to `sub`.
    fn count_delivered(&mut self, sub: SubId, n: usize) {
        self.delivered += n;
        self.stats.events_out += n as u64;
        if let Some(d) = self
            .consumers
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.sub == sub)
        {
            d.stats.events += n as u64;
            d.stats.outstanding = d.stats.outstanding.saturating_sub(n as u64);
        }
    }
}

/// The parts of a producer side a dispatch works on, borrowed apart (what
/// [`ProducerSide::split`] hands out).
pub(crate) struct Dispatching<'a, E, In, M, D, O, S: Storage> {
    /// The dispatcher.
    pub(in crate::stage) dispatcher: &'a mut D,
    /// What the last callback emitted.
    pub(in crate::stage) scratch: &'a mut S::Run<E>,
    /// The buffer.
    pub(in crate::stage) buffer: &'a mut Buffer<E, S>,
    /// Where the dispatcher's actions go.
    pub(in crate::stage) routing: Routing<'a, In, M, O, S>,
}

/// Why a subscribe was not taken before the behaviour and dispatcher saw it.
pub(crate) enum Admit {
    Admitted,
    Rejected(Reason),
}

impl<E, M, D: Dispatcher<E>, S: Storage> ProducerSide<E, M, D, S> {
    pub(crate) fn new(
        dispatcher: D,
        capacity: Option<usize>,
        keep: Keep,
        mode: DemandMode,
    ) -> Self {
        Self {
            consumers: Default::default(),
            dispatcher,
            buffer: Buffer::new(capacity, keep),
            mode,
            acc: Accumulator::default(),
            scratch: Default::default(),
            infos: Default::default(),
            next_marker: 0,
            selfq: Default::default(),
            finishing: None,
            stop_marker: None,
        }
    }

    /// Splits into the dispatcher and a context over the other fields.
    pub(crate) fn split<'a, In, O: Outbox<In, E, M>>(
        &'a mut self,
        out: &'a mut O,
        stats: &'a mut StageStats,
    ) -> Dispatching<'a, E, In, M, D, O, S> {
        Dispatching {
            dispatcher: &mut self.dispatcher,
            scratch: &mut self.scratch,
            buffer: &mut self.buffer,
            routing: Routing {
                out,
                selfq: &mut self.selfq,
                consumers: &mut self.consumers,
                stats,
                delivered: 0,
                _p: PhantomData,
            },
        }
    }

    pub(crate) fn knows(&self, sub: SubId) -> bool {
        self.consumers.as_slice().iter().any(|d| d.sub == sub)
    }

    pub(crate) fn sub_stats(&self, sub: SubId) -> Option<SubscriptionStats> {
        self.consumers
            .as_slice()
            .iter()
            .find(|d| d.sub == sub)
            .map(|d| d.stats)
    }

    /// Registers a new consumer, answering a duplicate or a full table with a cancel.
    pub(crate) fn admit<In, O: Outbox<In, E, M>>(&mut self, sub: SubId, out: &mut O) -> Admit {
        if self.knows(sub) {
            out.push(Output::Report(Report::DuplicatedSubscription { sub }));
            out.push(Output::ToConsumer(ToConsumer::Cancel {
                sub,
                reason: Reason::DuplicatedSubscription,
            }));
            return Admit::Rejected(Reason::DuplicatedSubscription);
        }
        let entry = Downstream {
            sub,
            stats: SubscriptionStats::default(),
        };
        if self.consumers.push(entry).is_err() {
            out.push(Output::ToConsumer(ToConsumer::Cancel {
                sub,
                reason: Reason::TooManySubscriptions,
            }));
            return Admit::Rejected(Reason::TooManySubscriptions);
        }
        Admit::Admitted
    }

    /// Tells the dispatcher that the producer refused `sub` (see [`Dispatcher::refused`]).
    pub(crate) fn dispatcher_refused<In, O: Outbox<In, E, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
        stats: &mut StageStats,
    ) {
        let Dispatching {
            dispatcher: d,
            routing: mut ctx,
            ..
        } = self.split(out, stats);
        d.refused(sub, reason, &mut ctx);
    }

    /// Hands a new subscription to the dispatcher: `Ok(upstream demand)` or the refusal.
    pub(crate) fn dispatcher_subscribe<In, O: Outbox<In, E, M>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        out: &mut O,
        stats: &mut StageStats,
    ) -> Result<usize, Reason> {
        let Dispatching {
            dispatcher: d,
            routing: mut ctx,
            ..
        } = self.split(out, stats);
        d.subscribe(sub, opts, &mut ctx)
    }

    /// Forgets `sub` (sending it `Cancel(reason)` when `notify` is set) and tells the
    /// dispatcher; returns the upstream demand it gave back, or `None` for an unknown sub.
    pub(crate) fn remove<In, O: Outbox<In, E, M>>(
        &mut self,
        sub: SubId,
        notify: Option<Reason>,
        in_dispatcher: bool,
        out: &mut O,
        stats: &mut StageStats,
    ) -> Option<usize> {
        let i = self
            .consumers
            .as_slice()
            .iter()
            .position(|d| d.sub == sub)?;
        if let Some(reason) = notify {
            out.push(Output::ToConsumer(ToConsumer::Cancel { sub, reason }));
        }
        self.consumers.remove(i);
        if !in_dispatcher {
            return Some(0);
        }
        let Dispatching {
            dispatcher: d,
            routing: mut ctx,
            ..
        } = self.split(out, stats);
        Some(d.cancel(sub, &mut ctx))
    }

    /// An ask from a consumer (or on its behalf): the upstream demand, or `None` for an unknown
    /// subscription (answered with a cancel when `answer_unknown`).
    pub(crate) fn ask<In, O: Outbox<In, E, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        answer_unknown: bool,
        out: &mut O,
        stats: &mut StageStats,
    ) -> Option<usize> {
        let Some(entry) = self
            .consumers
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.sub == sub)
        else {
            if answer_unknown {
                out.push(Output::Report(Report::UnknownSubscription { sub }));
                out.push(Output::ToConsumer(ToConsumer::Cancel {
                    sub,
                    reason: Reason::UnknownSubscription,
                }));
            }
            return None;
        };
        if answer_unknown {
            // The consumer's own ask. A self-ask (`!answer_unknown`: a dispatcher giving back
            // the demand of events a selector rejected) is not demand the consumer asked, and
            // its rejected events never lowered `outstanding`, so it counts nowhere.
            // Saturating: an ask of `usize::MAX`, twice, is legal (demand saturates).
            entry.stats.asked = entry.stats.asked.saturating_add(demand as u64);
            entry.stats.outstanding = entry.stats.outstanding.saturating_add(demand as u64);
            stats.demand_received = stats.demand_received.saturating_add(demand as u64);
        }
        let Dispatching {
            dispatcher: d,
            routing: mut ctx,
            ..
        } = self.split(out, stats);
        Some(d.ask(sub, demand, &mut ctx))
    }

    /// Dispatches what the last callback emitted (or holds it, while accumulating). Returns
    /// `(sent, dropped from the buffer)`: `sent` counts the events the dispatcher took (each
    /// once, however many consumers got a copy), the rest went to the buffer.
    pub(crate) fn dispatch_emitted<In, O: Outbox<In, E, M>>(
        &mut self,
        out: &mut O,
        stats: &mut StageStats,
    ) -> (usize, usize) {
        if self.scratch.is_empty() {
            return (0, 0);
        }
        stats.emitted += self.scratch.len() as u64;
        if self.mode == DemandMode::Accumulate {
            self.hold_scratch(out, stats);
            return (0, 0);
        }
        let Dispatching {
            dispatcher: d,
            scratch,
            buffer,
            routing: mut ctx,
        } = self.split(out, stats);
        let before = scratch.len();
        d.dispatch(scratch, &mut ctx);
        let sent = before - scratch.len();
        let mut dropped = 0;
        for e in scratch.drain_front(usize::MAX) {
            dropped += buffer.push(e);
        }
        if dropped > 0 {
            ctx.stats.discarded.add(DiscardReason::BufferFull, dropped);
        }
        // Markers whose events were pushed out are due now.
        while let Some(m) = buffer.pop_released() {
            d.info(m, &mut ctx);
        }
        (sent, dropped)
    }

    fn hold_scratch<In, O: Outbox<In, E, M>>(&mut self, out: &mut O, stats: &mut StageStats) {
        let lost = self.acc.hold(&mut self.scratch);
        Self::report_accumulate_full(lost, out, stats);
    }

    /// Holds events just taken from the buffer (see [`Accumulator::hold_taken`]).
    fn hold_taken<In, O: Outbox<In, E, M>>(&mut self, out: &mut O, stats: &mut StageStats) {
        let lost = self.acc.hold_taken(&mut self.scratch);
        Self::report_accumulate_full(lost, out, stats);
    }

    fn report_accumulate_full<In, O: Outbox<In, E, M>>(
        lost: usize,
        out: &mut O,
        stats: &mut StageStats,
    ) {
        if lost > 0 {
            stats.discarded.add(DiscardReason::AccumulateFull, lost);
            out.push(Output::Report(Report::Discarded {
                count: lost,
                reason: DiscardReason::AccumulateFull,
                log: true,
            }));
        }
    }

    /// Serves `demand` from the buffer (dispatching runs between info markers). Returns what
    /// the buffer could not cover. While accumulating, the events are held instead and the
    /// remainder is logged as held demand (returns 0).
    pub(crate) fn serve_from_buffer<In, O: Outbox<In, E, M>>(
        &mut self,
        demand: usize,
        out: &mut O,
        stats: &mut StageStats,
    ) -> Served {
        let accumulate = self.mode == DemandMode::Accumulate;
        let mut left = demand;
        let mut sent = 0;
        loop {
            {
                let Dispatching {
                    dispatcher: d,
                    buffer,
                    routing: mut ctx,
                    ..
                } = self.split(out, stats);
                while let Some(m) = buffer.pop_released() {
                    d.info(m, &mut ctx);
                }
            }
            if self.buffer.is_empty() {
                break;
            }
            // While forwarding, serve what the dispatcher can still hand out too (see
            // `Dispatcher::ready`), so that nothing newer overtakes the buffer.
            let want = if accumulate {
                left
            } else {
                left.max(self.dispatcher.ready())
            };
            if want == 0 {
                break;
            }
            let k = want.min(self.buffer.run_len());
            for _ in 0..k {
                if let Some(e) = self.buffer.pop() {
                    let pushed = self.scratch.push_back(e);
                    debug_assert!(pushed.is_ok(), "scratch is empty when serving the buffer");
                }
            }
            left -= k.min(left);
            if accumulate {
                self.hold_taken(out, stats);
            } else {
                let Dispatching {
                    dispatcher: d,
                    scratch,
                    buffer,
                    routing: mut ctx,
                } = self.split(out, stats);
                d.dispatch(scratch, &mut ctx);
                // Leftovers go back to the front, in order. As in GenStage, the demand they
                // were taken for counts as served: `handle_demand` is asked only for what the
                // buffer did not hold.
                let unsent = scratch.len();
                sent += k - unsent;
                while let Some(e) = scratch.pop_back() {
                    buffer.unpop(e);
                }
                if unsent > 0 {
                    // The dispatcher takes no more for now.
                    break;
                }
            }
        }
        if accumulate {
            if left > 0 {
                self.log_demand(left, out);
            }
            return Served { uncovered: 0, sent };
        }
        Served {
            uncovered: left,
            sent,
        }
    }

    /// `Flow::StopWhenDrained(reason)`: remembers the reason and, unless accumulating (the
    /// marker is placed when forward mode resumes, after the replay), places the stop marker
    /// behind everything emitted. Its release (through the self-queue) stops the stage.
    pub(crate) fn finish<In, O: Outbox<In, E, M>>(
        &mut self,
        reason: crate::reason::Reason,
        out: &mut O,
        stats: &mut StageStats,
    ) {
        if self.finishing.is_some() {
            return;
        }
        self.finishing = Some(reason);
        self.place_stop_marker(out, stats);
    }

    /// Places the stop marker if the stage is finishing, forwarding, and has none yet.
    pub(crate) fn place_stop_marker<In, O: Outbox<In, E, M>>(
        &mut self,
        out: &mut O,
        stats: &mut StageStats,
    ) {
        if self.finishing.is_none()
            || self.stop_marker.is_some()
            || self.mode != DemandMode::Forward
        {
            return;
        }
        let id = MarkerId(self.next_marker);
        if self.buffer.is_empty() {
            self.next_marker += 1;
            self.stop_marker = Some(id);
            let Dispatching {
                dispatcher: d,
                routing: mut ctx,
                ..
            } = self.split(out, stats);
            d.info(id, &mut ctx);
        } else if self.buffer.push_marker(id).is_ok() {
            self.next_marker += 1;
            self.stop_marker = Some(id);
        }
        // Else no room for a marker (fixed storage): tried again after every step, and at
        // the latest once the buffer is empty.
    }

    /// True when `id` is the stop marker: the stage is drained and stops now.
    pub(crate) fn is_stop_marker(&self, id: MarkerId) -> bool {
        self.stop_marker == Some(id)
    }

    /// The stage stops: every event still held (buffer, accumulate log, emit scratch, and what
    /// the dispatcher holds) is dropped and counted as discarded with
    /// [`DiscardReason::Abandoned`] (the dispatcher reports its own through the context).
    pub(crate) fn discard_all<In, O: Outbox<In, E, M>>(
        &mut self,
        out: &mut O,
        stats: &mut StageStats,
    ) {
        let mut n = 0;
        while self.buffer.pop().is_some() {
            n += 1;
        }
        n += self.acc.clear() + self.scratch.len();
        self.scratch.clear();
        if n > 0 {
            stats.discarded.add(DiscardReason::Abandoned, n);
            out.push(Output::Report(Report::Discarded {
                count: n,
                reason: DiscardReason::Abandoned,
                log: true,
            }));
        }
        let Dispatching {
            dispatcher: d,
            routing: mut ctx,
            ..
        } = self.split(out, stats);
        d.discard_held(&mut ctx);
    }

    fn log_demand<In, O: Outbox<In, E, M>>(&mut self, demand: usize, out: &mut O) {
        if !self.acc.log_demand(demand) {
            out.push(Output::Report(Report::SelfQueueFull));
        }
    }

    /// A new info message: behind the buffered events, or to the dispatcher at once.
    pub(crate) fn info<In, O: Outbox<In, E, M>>(
        &mut self,
        msg: M,
        out: &mut O,
        stats: &mut StageStats,
    ) -> Result<(), M> {
        let id = MarkerId(self.next_marker);
        if let Err((_, msg)) = self.infos.push((id, msg)) {
            return Err(msg);
        }
        self.next_marker += 1;
        if let Err(id) = self.buffer.push_marker(id) {
            let Dispatching {
                dispatcher: d,
                routing: mut ctx,
                ..
            } = self.split(out, stats);
            d.info(id, &mut ctx);
        }
        Ok(())
    }

    /// Takes the payload of a released marker.
    pub(crate) fn take_info(&mut self, id: MarkerId) -> Option<M> {
        let i = self.infos.as_slice().iter().position(|(m, _)| *m == id)?;
        Some(self.infos.remove(i).1)
    }

    pub(crate) fn consumer_ids(&self) -> impl Iterator<Item = SubId> + '_ {
        self.consumers.as_slice().iter().map(|d| d.sub)
    }

    /// Consumers hosted by stage `id` (for a down notice).
    pub(crate) fn consumers_of(&self, id: StageId) -> Option<SubId> {
        self.consumers
            .as_slice()
            .iter()
            .map(|d| d.sub)
            .find(|s| s.consumer == id)
    }
}

#[cfg(test)]
#[path = "side_tests.rs"]
mod tests;
