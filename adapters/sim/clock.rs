//! The virtual clock: time is a value the simulator owns, never read from the machine
//! (see [`Sim::cost`]), and the backlog gauge.

use super::*;

/// What a delivery costs a stage on the virtual clock (see [`Sim::cost`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cost {
    pub(super) per_event: u64,
    pub(super) per_message: u64,
}

/// The events a stage's own code worked on so far: those a producer's callbacks emitted, or
/// those a consumer-role stage's callbacks were handed (received, less those still queued
/// and those discarded on arrival).
pub(super) fn work(s: &genstage::runtime::StageSummary) -> u64 {
    let st = &s.stats;
    match s.kind {
        genstage::runtime::StageKind::Producer => st.emitted,
        _ => {
            let d = &st.discarded;
            st.events_in
                .saturating_sub(s.queued as u64)
                .saturating_sub(d.unknown_subscription + d.stopped + d.input_queue_full)
        }
    }
}

impl Sim {
    /// The virtual time: when the message delivered last started (and, once nothing is
    /// queued, when the last busy stage is done). Starts at 0; outside calls
    /// ([`subscribe`](Self::subscribe), [`with`](Self::with), faults) happen at this time.
    pub fn now(&self) -> u64 {
        self.net.now
    }

    /// Gives the stage at `stage` a processing cost on the virtual clock: `per_event` ticks
    /// for each event its code works on and `per_message` ticks for each message it is
    /// handed. A delivery that starts at time `t` keeps the stage busy until `t + cost`, and
    /// everything it sends leaves at that time (the ask that follows a chunk included). A
    /// message is due once it was sent and its receiver is free; the clock jumps to the first
    /// due message, and the scheduler's [`Mode`] chooses among the messages due at that same
    /// time (still in order between one pair of stages). So a run models a fast maker and a
    /// slow boxer exactly, and takes no longer than any other run.
    ///
    /// A delivery is one unit of work: a message of several chunks sends the asks that follow
    /// them when the whole message is done, so a consumer whose messages hold more than one
    /// chunk (`max_demand - min_demand`) waits for its refill a little, as the run shows.
    ///
    /// The events a stage works on are those its behaviour's callbacks emit, for a producer, or
    /// are handed, for a consumer or a producer_consumer (events still queued, or discarded on
    /// arrival, cost nothing yet). Callbacks read the time their delivery started at through
    /// [`Emit::now`](genstage::Emit::now) and [`Ctx::now`](genstage::Ctx::now); a producer
    /// that answers demand at time `t` sees `t`, and the events it emits arrive no earlier than
    /// `t` plus its cost.
    ///
    /// ```
    /// use genstage::sim::Sim;
    /// use genstage::*;
    ///
    /// struct Maker(u64);
    /// impl Producer for Maker {
    ///     type Event = u64;
    ///     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
    ///         let end = (self.0 + demand as u64).min(20);
    ///         self.0 += out.extend(self.0..end) as u64;
    ///         if self.0 == 20 { Flow::DONE } else { Flow::Continue }
    ///     }
    /// }
    /// #[derive(Default)]
    /// struct Boxer(Vec<u64>);
    /// impl Consumer for Boxer {
    ///     type Event = u64;
    ///     fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
    ///         self.0.push(ctx.now());
    ///         drop(events);
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let mut sim = Sim::new(0);
    /// let maker = sim.producer(Maker(0));
    /// let boxer = sim.consumer(Boxer::default());
    /// sim.cost(maker.id(), 1, 0); // 1 tick per event made
    /// sim.cost(boxer.id(), 5, 0); // 5 ticks per event boxed
    /// sim.subscribe(boxer, maker, Subscribe::new().max_demand(10).min_demand(5)).unwrap();
    /// sim.run_until_idle();
    /// // 10 made by t=10, boxed by t=60; then 5 at a time, the boxer busy without a break.
    /// assert_eq!(sim.stage(boxer).behaviour().0, [10, 10, 65, 90]);
    /// assert_eq!(sim.now(), 15 + 5 * 20);
    /// assert_eq!(sim.backlog_high_water(boxer.id()), 10); // never more than it asked for
    /// ```
    ///
    /// A cost of `(0, 0)` makes the stage free again, as every stage is at first. Returns
    /// false when there is no such stage.
    pub fn cost(&mut self, stage: StageId, per_event: u64, per_message: u64) -> bool {
        let Some(slot) = self.slots.get_mut(stage.0 as usize) else {
            return false;
        };
        slot.cost = (per_event, per_message).ne(&(0, 0)).then_some(Cost {
            per_event,
            per_message,
        });
        self.timed = self.slots.iter().any(|s| s.cost.is_some());
        true
    }

    /// When the stage at `stage` is done with its last delivery (a time in the past when it
    /// is free); 0 for a stage that does not exist.
    pub fn busy_until(&self, stage: StageId) -> u64 {
        self.slots.get(stage.0 as usize).map_or(0, |s| s.busy_until)
    }

    /// The most events that ever waited at the stage at `stage`: in messages on their way to
    /// it, plus what it held (buffered, held by its dispatcher or accumulate mode, queued as
    /// input) when last looked at, which is after each delivery to it. 0 for a stage that
    /// does not exist.
    pub fn backlog_high_water(&self, stage: StageId) -> usize {
        self.net
            .gauges
            .get(stage.0 as usize)
            .map_or(0, |g| g.high_water)
    }

    /// Before a delivery to the live stage `to`: hands it the time, and when it has a cost,
    /// says how much work it had done and how many messages were queued.
    pub(super) fn begin_work(&mut self, to: StageId) -> Option<(u64, usize)> {
        let slot = &mut self.slots[to.0 as usize];
        slot.node.set_now(self.net.now);
        slot.cost
            .map(|_| (work(&slot.node.summary()), self.net.queue.len()))
    }

    /// After a delivery to `to` (and the stops it caused): samples what it holds, and when it
    /// has a cost, keeps it busy for the work done and sends what it sent when that is over.
    pub(super) fn end_work(&mut self, to: StageId, begun: Option<(u64, usize)>) {
        let slot = &mut self.slots[to.0 as usize];
        debug_assert_eq!(
            slot.node.holding(),
            {
                let s = slot.node.summary();
                s.buffered + s.held + s.queued
            },
            "a stage's holding() agrees with its summary"
        );
        self.net.holding(to, slot.node.holding());
        if let (Some(c), Some((before, sent_before))) = (slot.cost, begun) {
            let worked = work(&slot.node.summary()).saturating_sub(before);
            let done = self
                .net
                .now
                .saturating_add(c.per_message)
                .saturating_add(worked.saturating_mul(c.per_event));
            slot.busy_until = done;
            self.stamp_since(sent_before, done);
        }
    }

    /// Samples what the stage at `stage` holds, for its backlog gauge.
    pub(super) fn sample(&mut self, stage: StageId) {
        if let Some(slot) = self.slots.get(stage.0 as usize) {
            self.net.holding(stage, slot.node.holding());
        }
    }

    /// Everything queued from index `from` on leaves at `at`.
    pub(super) fn stamp_since(&mut self, from: usize, at: u64) {
        for env in self.net.queue.range_mut(from..) {
            env.at = at;
        }
    }
}
