//! Restarting a crashed stage from a factory: a fresh stage under the same id (or a new one)
//! that subscribes again as the old one had.

use super::*;
use core::fmt;

/// Builds a fresh stage for an id, with its type erased.
pub(super) type Factory = Box<dyn FnMut(StageId) -> Box<dyn Node>>;

/// Subscribes a fresh stage (of the consumer type it was recorded for) as the old one did.
pub(super) type Resubscribe =
    Box<dyn Fn(&mut dyn Node, &mut Net, StageId) -> Result<SubId, SubscribeError>>;

/// A subscription a consumer-role stage made through the simulator, to make again after a
/// restart.
pub(super) struct Made {
    /// Its id in the current incarnation.
    pub(super) sub: SubId,
    pub(super) again: Resubscribe,
}

/// Records how to make `opts`'s subscription to `producer` again.
pub(super) fn made<C>(sub: SubId, producer: StageId, opts: Subscribe<C::In>) -> Made
where
    C: ConsumerRole + 'static,
    C::In: 'static,
{
    Made {
        sub,
        again: Box::new(move |node, net, me| {
            let stage = node
                .as_any_mut()
                .downcast_mut::<C>()
                .expect("a factory builds a stage of its handle's type");
            stage.subscribe(producer, opts.clone(), &mut SimOutbox { net, me })
        }),
    }
}

/// Why a stage could not be restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestartError {
    /// No stage of this simulator has that id.
    NoSuchStage,
    /// The stage has no factory ([`Sim::restartable`]).
    NotRestartable,
}

impl fmt::Display for RestartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoSuchStage => "no such stage",
            Self::NotRestartable => "the stage has no factory to restart it from",
        })
    }
}

impl core::error::Error for RestartError {}

impl Sim {
    /// Makes a stage restartable: `factory` builds a fresh stage (a fresh behaviour, fresh
    /// counters) for the id it is given, as the stage was first built. Then
    /// [`restart`](Self::restart), [`restart_as_new`](Self::restart_as_new) and a
    /// [`Chaos`] plan with [`restart_one_in`](Chaos::restart_one_in) can bring it back after
    /// a crash.
    ///
    /// ```
    /// use genstage::sim::Sim;
    /// use genstage::*;
    ///
    /// struct Ticks(u64);
    /// impl Producer for Ticks {
    ///     type Event = u64;
    ///     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
    ///         let end = (self.0 + demand as u64).min(1_000);
    ///         self.0 += out.extend(self.0..end) as u64;
    ///         Flow::Continue
    ///     }
    /// }
    /// #[derive(Default)]
    /// struct Count(u64);
    /// impl Consumer for Count {
    ///     type Event = u64;
    ///     fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
    ///         self.0 += events.len() as u64;
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let mut sim = Sim::new(0);
    /// let ticks = sim.producer(Ticks(0));
    /// let count = sim.consumer(Count::default());
    /// sim.restartable(count, |id| ConsumerStage::new(id, Count::default()));
    /// sim.subscribe(count, ticks, Subscribe::new().max_demand(10)).unwrap();
    /// for _ in 0..6 { sim.step(); }
    /// // Crash it and bring it back: a fresh Count, subscribed to `ticks` again.
    /// sim.restart(count.id(), Reason::Killed).unwrap();
    /// sim.run_bounded(50).unwrap_err(); // an endless source: it never goes idle
    /// assert_eq!(sim.restarts(count.id()), 1);
    /// assert!(sim.stage(count).behaviour().0 > 0);
    /// assert!(sim.stopped(count).is_none());
    /// assert_eq!(sim.retired(count).count(), 1); // the crashed incarnation, kept for its counts
    /// ```
    ///
    /// # Panics
    /// If the handle belongs to another simulator; when restarting, if the factory builds a
    /// stage with another id than the one it was given.
    pub fn restartable<T>(&mut self, h: Handle<T>, mut factory: impl FnMut(StageId) -> T + 'static)
    where
        T: Stage + 'static,
        T::In: 'static,
        T::Out: 'static,
        T::Msg: 'static,
    {
        let _ = self.slot_of(h);
        self.slots[h.id.0 as usize].factory = Some(Box::new(move |id| {
            let stage = factory(id);
            assert_eq!(
                stage.id(),
                id,
                "a factory builds the stage with the id it is given"
            );
            Box::new(stage)
        }));
    }

    /// Restarts the stage at `stage` under the same id (spec §15): a live stage first
    /// crashes with `reason`, as [`kill_stage`](Self::kill_stage) does (its peers hear it
    /// went down, what it held is counted as discarded by it); then its factory builds a
    /// fresh one, which subscribes again to every producer the old one had subscribed to
    /// through the simulator, with the same options. Its consumers do not come back by
    /// themselves: they heard it went down and applied their cancel modes.
    ///
    /// The id names a new incarnation: messages still on their way to the old one are
    /// dropped and counted ([`lost_in_flight`](Self::lost_in_flight)), as messages to a dead
    /// process are, and the oracles start its books afresh. The old incarnation is kept
    /// ([`retired`](Self::retired)) for its counters.
    pub fn restart(&mut self, stage: StageId, reason: Reason) -> Result<(), RestartError> {
        let slot = self
            .slots
            .get_mut(stage.0 as usize)
            .ok_or(RestartError::NoSuchStage)?;
        let Some(factory) = slot.factory.as_mut() else {
            return Err(RestartError::NotRestartable);
        };
        let fresh = factory(stage);
        self.faults += 1;
        self.net
            .record(stage, TraceKind::Fault(FaultKind::Restart(reason, stage)));
        self.crash(stage, reason);
        let now = self.net.now;
        let slot = &mut self.slots[stage.0 as usize];
        let old = core::mem::replace(&mut slot.node, fresh);
        slot.retired.push(old);
        slot.node.set_now(now);
        slot.stopped = None;
        slot.panic = None;
        slot.busy_until = now;
        slot.generation += 1;
        self.net.generations[stage.0 as usize] = slot.generation;
        self.net.restarted = true;
        self.net.holding(stage, 0);
        self.net.books.restarted(stage);
        self.subscribe_again(stage);
        Ok(())
    }

    /// Restarts the stage behind `h` under a new id: a live stage first crashes with
    /// `reason` and stays stopped for good; its factory builds a fresh stage at
    /// [`next_id`](Self::next_id), which subscribes again as the old one had (see
    /// [`restart`](Self::restart)). Returns the new stage's handle.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn restart_as_new<T: 'static>(
        &mut self,
        h: Handle<T>,
        reason: Reason,
    ) -> Result<Handle<T>, RestartError> {
        let _ = self.slot_of(h);
        let id = self.next_id();
        let slot = &mut self.slots[h.id.0 as usize];
        let Some(mut factory) = slot.factory.take() else {
            return Err(RestartError::NotRestartable);
        };
        let fresh = factory(id);
        let made = core::mem::take(&mut slot.made);
        let cancel = slot.cancel;
        self.faults += 1;
        self.net
            .record(h.id, TraceKind::Fault(FaultKind::Restart(reason, id)));
        self.crash(h.id, reason);
        self.push_slot(fresh);
        let slot = &mut self.slots[id.0 as usize];
        slot.factory = Some(factory);
        slot.made = made;
        slot.cancel = cancel;
        self.subscribe_again(id);
        Ok(Handle::new(id, self.me))
    }

    /// Crashes the stage at `stage`, if live (a restart's first half).
    fn crash(&mut self, stage: StageId, reason: Reason) {
        let slot = &mut self.slots[stage.0 as usize];
        if slot.stopped.is_none() {
            slot.node.set_now(self.net.now);
            slot.node.stop(reason, &mut self.net, stage);
            self.settle_stops();
        }
    }

    /// Makes every subscription recorded for the stage at `stage` again, from it.
    fn subscribe_again(&mut self, stage: StageId) {
        let slot = &mut self.slots[stage.0 as usize];
        let mut made = core::mem::take(&mut slot.made);
        for m in &mut made {
            if let Ok(sub) = (m.again)(&mut *slot.node, &mut self.net, stage) {
                m.sub = sub;
            }
        }
        slot.made = made;
        self.settle_stops();
    }

    /// How many times the stage at `stage` was restarted under its id (0 for one never
    /// restarted, or that does not exist).
    pub fn restarts(&self, stage: StageId) -> u32 {
        self.slots.get(stage.0 as usize).map_or(0, |s| s.generation)
    }

    /// The earlier incarnations of the stage behind `h`, oldest first: what each had done
    /// when it was replaced by a restart under the same id.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn retired<T: 'static>(&self, h: Handle<T>) -> impl Iterator<Item = &T> + '_ {
        self.slot_of(h).retired.iter().map(|n| {
            n.as_any()
                .downcast_ref::<T>()
                .expect("a factory builds a stage of its handle's type")
        })
    }
}
