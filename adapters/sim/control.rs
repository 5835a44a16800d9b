//! Acting on a simulation from outside: faults at a chosen step (a crash, a cancel), raw peers'
//! messages, and what a test reads back about stages and subscriptions.

use super::*;
use genstage::runtime::SendError;

impl Sim {
    // ----- raw peers: messages from stages the simulator does not host -----

    /// Queues `msg` for its producer as if its consumer (any id, hosted or not) had sent it.
    pub fn send_to_producer<E: 'static>(&mut self, msg: ToProducer<E>) {
        self.net
            .push(msg.sub().consumer, msg.to(), Body::to_producer(msg));
    }

    /// Queues `events` for `sub`'s consumer as if its producer had sent them.
    pub fn send_events<E: 'static>(&mut self, sub: SubId, events: Vec<E>) {
        self.net
            .push(sub.producer, sub.consumer, Body::events(sub, events));
    }

    /// Queues `msg` for its consumer as if its producer had sent it.
    pub fn send_to_consumer(&mut self, msg: ToConsumer) {
        self.net
            .push(msg.sub().producer, msg.to(), Body::ToConsumer(msg));
    }

    /// Crashes the stage at `stage` (any stage of this simulator, named by its raw id) with
    /// `reason`, as [`kill`](Self::kill) does, and says so in the trace. Returns false when
    /// there is no such live stage.
    pub fn kill_stage(&mut self, stage: StageId, reason: Reason) -> bool {
        let Some(slot) = self.slots.get_mut(stage.0 as usize) else {
            return false;
        };
        if slot.stopped.is_some() {
            return false;
        }
        self.faults += 1;
        self.net
            .record(stage, TraceKind::Fault(FaultKind::Crash(reason)));
        slot.node.set_now(self.net.now);
        slot.node.stop(reason, &mut self.net, stage);
        self.settle_stops();
        true
    }

    /// Has the consumer-role end of `sub` cancel it with `reason` now (a cancel mid-flight:
    /// events already sent still arrive), and says so in the trace. The consumer must have
    /// subscribed through this simulator.
    pub fn cancel(&mut self, sub: SubId, reason: Reason) -> Result<(), AskError> {
        let me = sub.consumer;
        let Some(slot) = self.slots.get_mut(me.0 as usize) else {
            return Err(AskError::UnknownSubscription);
        };
        let Some(cancel) = slot.cancel else {
            return Err(AskError::UnknownSubscription);
        };
        self.faults += 1;
        self.net
            .record(me, TraceKind::Fault(FaultKind::Cancel(sub, reason)));
        slot.node.set_now(self.net.now);
        let r = cancel(&mut *slot.node, sub, reason, &mut self.net, me);
        self.settle_stops();
        r
    }

    /// Sends the stage behind `h` an info now (spec §10): it is handled by its `handle_info`
    /// behind the events it holds, and the trace says it was sent. A stopped stage hands the
    /// message back.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn info<T>(&mut self, h: Handle<T>, msg: T::Msg) -> Result<(), SendError<T::Msg>>
    where
        T: Stage + 'static,
    {
        self.net.record(h.id, TraceKind::Info);
        self.with(h, |stage, out| stage.info(msg, out))
    }

    /// One past the highest sequence number of `origin` delivered to the stage at `stage`
    /// (0 if none, or when no [`info_marks`](Self::info_marks) are given): the place to mark
    /// an info sent to a producer_consumer at, when its producers send each origin in order.
    /// A restart starts it afresh.
    pub fn received_below(&self, stage: StageId, origin: u64) -> u64 {
        self.net.books.received_below(stage, origin)
    }

    /// Whether the stage at `stage` has stopped (or does not exist).
    pub fn is_stopped(&self, stage: StageId) -> bool {
        self.slots
            .get(stage.0 as usize)
            .is_none_or(|s| s.stopped.is_some())
    }

    /// How many stages it hosts.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when it hosts no stage.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Subscriptions open as far as the simulator saw (a subscribe delivered, no cancel or
    /// down since), oldest first.
    pub fn open_subscriptions(&self) -> impl Iterator<Item = SubId> + '_ {
        self.net.books.open.iter().copied()
    }

    /// Events asked on `sub` (asks delivered to its producer) that its producer has not sent
    /// yet, as the oracles count them (0 when they are off).
    pub fn owed(&self, sub: SubId) -> u64 {
        self.net.books.owed(sub)
    }
}
