//! The producer role shared by producers and producer_consumers: the consumers subscribed to
//! this stage, the dispatcher, the buffer, the accumulate log, info markers and the stage's
//! queue of messages to itself.

use crate::dispatcher::{DispatchContext, Dispatcher};
use crate::id::{MarkerId, StageId, SubId};
use crate::message::{DiscardReason, Outbox, Output, Report, ToConsumer};
use crate::options::{DemandMode, Keep, SubscribeOptions};
use crate::reason::Reason;
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

/// What serving demand from the buffer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Served {
    /// Demand the buffer did not cover (for `handle_demand`). Events taken for demand and left
    /// over count as covering it, as in GenStage.
    pub uncovered: usize,
    /// Events that left the buffer for good (dispatched, queued by the dispatcher or dropped
    /// by it), each counted once whatever the number of consumers.
    pub sent: usize,
}

/// An entry of the accumulate log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    Events(usize),
    Demand(usize),
}

pub(crate) struct Downstream {
    pub sub: SubId,
    pub stats: SubscriptionStats,
}

pub(crate) struct ProducerSide<E, M, D, S: Storage> {
    pub consumers: S::List<Downstream>,
    pub dispatcher: D,
    pub buffer: Buffer<E, S>,
    pub mode: DemandMode,
    pub log: S::Deque<Held>,
    pub held: S::Events<E>,
    /// How many events at the front of `held` were taken from the buffer (see `hold_taken`).
    pub held_taken: usize,
    /// What the current callback emitted, before dispatch.
    pub scratch: S::Events<E>,
    pub infos: S::List<(MarkerId, M)>,
    pub next_marker: u64,
    pub selfq: S::Deque<SelfMsg>,
    /// Set by `Flow::StopWhenDrained`: the reason to stop with once drained.
    pub finishing: Option<crate::reason::Reason>,
    /// The marker whose release stops the stage (placed while finishing, forward mode).
    pub stop_marker: Option<MarkerId>,
}

/// The dispatch context: routes what the dispatcher does to the outbox and the counters.
pub(crate) struct Ctx<'a, In, M, O, S: Storage> {
    pub out: &'a mut O,
    pub selfq: &'a mut S::Deque<SelfMsg>,
    pub consumers: &'a mut S::List<Downstream>,
    pub stats: &'a mut StageStats,
    pub delivered: usize,
    pub _p: PhantomData<fn(In, M)>,
}

impl<E, In, M, O: Outbox<In, E, M>, S: Storage> DispatchContext<E> for Ctx<'_, In, M, O, S> {
    fn deliver<I: ExactSizeIterator<Item = E>>(&mut self, sub: SubId, events: I) {
        let n = events.len();
        if n == 0 {
            return;
        }
        self.out.events(sub, events);
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

/// The pieces [`ProducerSide::split`] hands out.
pub(crate) type Split<'a, E, In, M, D, O, S> = (
    &'a mut D,
    &'a mut <S as Storage>::Events<E>,
    &'a mut Buffer<E, S>,
    Ctx<'a, In, M, O, S>,
);

/// Why a subscribe was not taken before the behaviour and dispatcher saw it.
pub(crate) enum Admit {
    Admitted,
    Rejected,
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
            log: Default::default(),
            held: Default::default(),
            held_taken: 0,
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
    ) -> Split<'a, E, In, M, D, O, S> {
        (
            &mut self.dispatcher,
            &mut self.scratch,
            &mut self.buffer,
            Ctx {
                out,
                selfq: &mut self.selfq,
                consumers: &mut self.consumers,
                stats,
                delivered: 0,
                _p: PhantomData,
            },
        )
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
            return Admit::Rejected;
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
            return Admit::Rejected;
        }
        Admit::Admitted
    }

    /// Hands a new subscription to the dispatcher: `Ok(upstream demand)` or the refusal.
    pub(crate) fn dispatcher_subscribe<In, O: Outbox<In, E, M>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        out: &mut O,
        stats: &mut StageStats,
    ) -> Result<usize, Reason> {
        let (d, _, _, mut ctx) = self.split(out, stats);
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
        let (d, _, _, mut ctx) = self.split(out, stats);
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
            entry.stats.asked += demand as u64;
            entry.stats.outstanding += demand as u64;
            stats.demand_received += demand as u64;
        }
        let (d, _, _, mut ctx) = self.split(out, stats);
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
        let (d, scratch, buffer, mut ctx) = self.split(out, stats);
        let before = scratch.len();
        d.dispatch(scratch, &mut ctx);
        let sent = before - scratch.len();
        let mut dropped = 0;
        while let Some(e) = scratch.pop_front() {
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
        let can_log = matches!(self.log.back_mut(), Some(Held::Events(_))) || !self.log.is_full();
        let mut n = 0;
        let mut lost = 0;
        while let Some(e) = self.scratch.pop_front() {
            if can_log && self.held.push_back(e).is_ok() {
                n += 1;
            } else {
                lost += 1;
            }
        }
        if n > 0 {
            // Each emit is its own entry, so the replay dispatches it on its own (spec §8.3):
            // message boundaries, and which consumer gets which events, stay as they would
            // have been. Only a full log (fixed storage) folds it into the emit before.
            if let Err(Held::Events(n)) = self.log.push_back(Held::Events(n)) {
                match self.log.back_mut() {
                    Some(Held::Events(k)) => *k += n,
                    _ => debug_assert!(false, "checked can_log"),
                }
            }
        }
        if lost > 0 {
            stats.discarded.add(DiscardReason::AccumulateFull, lost);
            out.push(Output::Report(Report::Discarded {
                count: lost,
                reason: DiscardReason::AccumulateFull,
                log: true,
            }));
        }
    }

    /// Holds events just taken from the buffer. The buffer takes no events while accumulating,
    /// so these are older than every event emitted since, and newer than the events taken
    /// before them: they go right after those, at the front of the log, and a replay sends
    /// them in emission order (per-subscription FIFO, spec §20.1).
    fn hold_taken<In, O: Outbox<In, E, M>>(&mut self, out: &mut O, stats: &mut StageStats) {
        let can_log = matches!(self.log.front(), Some(Held::Events(_))) || !self.log.is_full();
        let at = self.held_taken.min(self.held.len());
        // Rotate the events taken before to the back, put the new ones in front (newest
        // first), and rotate the earlier ones back in front of them.
        for _ in 0..at {
            if let Some(e) = self.held.pop_front() {
                let back = self.held.push_back(e);
                debug_assert!(back.is_ok(), "one was just popped");
            }
        }
        let mut n = 0;
        let mut lost = 0;
        while let Some(e) = self.scratch.pop_back() {
            if can_log && self.held.push_front(e).is_ok() {
                n += 1;
            } else {
                lost += 1;
            }
        }
        for _ in 0..at {
            if let Some(e) = self.held.pop_back() {
                let front = self.held.push_front(e);
                debug_assert!(front.is_ok(), "one was just popped");
            }
        }
        self.held_taken = at + n;
        if n > 0 {
            if let Some(Held::Events(k)) = self.log.front_mut() {
                *k += n;
            } else {
                let logged = self.log.push_front(Held::Events(n));
                debug_assert!(logged.is_ok(), "checked can_log");
            }
        }
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
                let (d, _, buffer, mut ctx) = self.split(out, stats);
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
                let (d, scratch, buffer, mut ctx) = self.split(out, stats);
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
            let (d, _, _, mut ctx) = self.split(out, stats);
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
        n += self.held.len() + self.scratch.len();
        self.held.clear();
        self.scratch.clear();
        self.log.clear();
        self.held_taken = 0;
        if n > 0 {
            stats.discarded.add(DiscardReason::Abandoned, n);
            out.push(Output::Report(Report::Discarded {
                count: n,
                reason: DiscardReason::Abandoned,
                log: true,
            }));
        }
        let (d, _, _, mut ctx) = self.split(out, stats);
        d.discard_held(&mut ctx);
    }

    fn log_demand<In, O: Outbox<In, E, M>>(&mut self, demand: usize, out: &mut O) {
        if let Err(Held::Demand(d)) = self.log.push_back(Held::Demand(demand)) {
            // Full (fixed storage): fold into the last held demand so none is lost; failing
            // that, report it.
            match self.log.back_mut() {
                Some(Held::Demand(k)) => *k += d,
                _ => out.push(Output::Report(Report::SelfQueueFull)),
            }
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
            let (d, _, _, mut ctx) = self.split(out, stats);
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
mod tests {
    //! Fixed-storage limits of the producer role, which no stage-level run reaches easily.
    use super::*;
    use crate::dispatcher::DemandDispatcher;
    use crate::storage::Fixed;

    type Side = ProducerSide<u32, (), DemandDispatcher<Fixed<2, 2>>, Fixed<2, 2>>;

    #[derive(Default)]
    struct Reports(heapless::Vec<Report, 8>);
    impl Outbox<u32, u32, ()> for Reports {
        fn push(&mut self, output: Output<u32, ()>) {
            if let Output::Report(r) = output {
                self.0.push(r).expect("room for this test's reports");
            }
        }
        fn events<I: ExactSizeIterator<Item = u32>>(&mut self, _: SubId, _: I) {
            panic!("nothing is delivered in these tests");
        }
    }

    fn side(mode: DemandMode) -> Side {
        ProducerSide::new(DemandDispatcher::new(), Some(2), Keep::Last, mode)
    }

    fn sub(n: u32) -> SubId {
        SubId::new(StageId(0), StageId(n), 0)
    }

    #[test]
    fn a_full_self_queue_folds_asks_of_the_same_subscription_and_reports_the_rest() {
        let mut s = side(DemandMode::Forward);
        let (mut out, mut stats) = (Reports::default(), StageStats::default());
        let (_, _, _, mut ctx) = s.split(&mut out, &mut stats);
        ctx.self_ask(sub(1), 1);
        ctx.self_ask(sub(2), 2);
        // Full: the next ask of sub 2 joins the last queued one, an ask of sub 1 cannot.
        ctx.self_ask(sub(2), 5);
        assert!(ctx.out.0.is_empty(), "a folded ask loses nothing");
        ctx.self_ask(sub(1), 4);
        assert_eq!(s.selfq.len(), 2);
        assert_eq!(s.selfq.get(0), Some(&SelfMsg::Ask(sub(1), 1)));
        assert_eq!(s.selfq.get(1), Some(&SelfMsg::Ask(sub(2), 7)));
        assert_eq!(out.0.as_slice(), [Report::SelfQueueFull]);
    }

    #[test]
    fn events_beyond_a_full_accumulate_log_are_counted_and_reported() {
        let mut s = side(DemandMode::Accumulate);
        let (mut out, mut stats) = (Reports::default(), StageStats::default());
        for e in [1, 2, 3] {
            let _ = s.scratch.push_back(e);
            s.dispatch_emitted(&mut out, &mut stats);
        }
        // Two events are held, in order; the third found the held storage full.
        assert_eq!(
            (s.held.get(0), s.held.get(1), s.held.len()),
            (Some(&1), Some(&2), 2)
        );
        // One log entry per emit, each replayed as its own dispatch.
        assert_eq!(
            (s.log.get(0), s.log.get(1), s.log.len()),
            (Some(&Held::Events(1)), Some(&Held::Events(1)), 2)
        );
        assert_eq!(stats.emitted, 3);
        assert_eq!(stats.discarded.accumulate_full, 1);
        assert_eq!(
            out.0.as_slice(),
            [Report::Discarded {
                count: 1,
                reason: DiscardReason::AccumulateFull,
                log: true
            }]
        );
    }

    #[test]
    fn events_taken_from_the_buffer_beyond_a_full_accumulate_log_are_counted() {
        let mut s = side(DemandMode::Forward);
        let (mut out, mut stats) = (Reports::default(), StageStats::default());
        assert_eq!(s.buffer.push(10) + s.buffer.push(11), 0);
        s.mode = DemandMode::Accumulate;
        for e in [1, 2] {
            let _ = s.scratch.push_back(e);
            s.dispatch_emitted(&mut out, &mut stats);
        }
        // Held storage is full: both buffered events are taken for the ask, and lost.
        assert_eq!(s.serve_from_buffer(2, &mut out, &mut stats).uncovered, 0);
        assert!(s.buffer.is_empty());
        assert_eq!(
            (s.held.get(0), s.held.get(1), s.held.len()),
            (Some(&1), Some(&2), 2)
        );
        assert_eq!(stats.discarded.accumulate_full, 2);
        assert_eq!(
            out.0.as_slice(),
            [Report::Discarded {
                count: 2,
                reason: DiscardReason::AccumulateFull,
                log: true
            }]
        );
    }

    #[test]
    fn demand_beyond_a_full_accumulate_log_joins_the_last_held_demand_or_is_reported() {
        let mut s = side(DemandMode::Accumulate);
        let (mut out, mut stats) = (Reports::default(), StageStats::default());
        let _ = s.scratch.push_back(1);
        s.dispatch_emitted(&mut out, &mut stats);
        assert_eq!(s.serve_from_buffer(3, &mut out, &mut stats).uncovered, 0);
        assert_eq!(s.serve_from_buffer(4, &mut out, &mut stats).uncovered, 0);
        assert_eq!(s.log.len(), 2);
        assert_eq!(s.log.get(0), Some(&Held::Events(1)));
        assert_eq!(s.log.get(1), Some(&Held::Demand(7)));
        assert!(out.0.is_empty());

        let mut s = side(DemandMode::Accumulate);
        let mut out = Reports::default();
        assert_eq!(s.serve_from_buffer(3, &mut out, &mut stats).uncovered, 0);
        let _ = s.scratch.push_back(1);
        s.dispatch_emitted(&mut out, &mut stats);
        // The log ends with events: this demand has nowhere to go.
        assert_eq!(s.serve_from_buffer(4, &mut out, &mut stats).uncovered, 0);
        assert_eq!(s.log.get(0), Some(&Held::Demand(3)));
        assert_eq!(s.log.get(1), Some(&Held::Events(1)));
        assert_eq!(out.0.as_slice(), [Report::SelfQueueFull]);
    }
}
