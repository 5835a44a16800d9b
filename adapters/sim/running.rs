//! Running a simulation: delivering one message at a time, the stops it causes, kills, and
//! running until idle.

use super::*;

impl Sim {
    // ----- running -----

    /// Delivers one queued message, picked by the scheduler's [`Mode`]; false when nothing
    /// was queued. With [`check_invariants`](Self::check_invariants) on, checks every
    /// invariant afterwards and panics on a violation; with [`Chaos`] on, may inject a fault
    /// afterwards.
    pub fn step(&mut self) -> bool {
        let step = self.net.step;
        let slots = &self.slots;
        let due = |e: &Envelope| {
            let busy = slots.get(e.to.0 as usize).map_or(0, |s| s.busy_until);
            e.at.max(busy)
        };
        let picked = self.sched.pick(
            self.net.queue.iter().map(|e| (e.from, e.to, due(e))),
            self.net.now,
            self.timed,
            step,
        );
        let Some((i, at)) = picked else {
            // Idle: the clock moves on to when the last busy stage is done.
            let done = self.slots.iter().map(|s| s.busy_until).max().unwrap_or(0);
            self.net.now = self.net.now.max(done);
            return false;
        };
        self.net.now = at;
        let env = self.net.take(i);
        self.sched.note(
            scheduler::Pick {
                from: env.from,
                to: env.to,
            },
            self.net.tracing,
        );
        self.net.step += 1;
        self.deliver(env);
        if self.chaos.is_some() {
            self.run_chaos();
        }
        if self.net.books.enabled {
            self.check_now();
        }
        true
    }

    pub(super) fn deliver(&mut self, env: Envelope) {
        let to = env.to;
        let live = self
            .slots
            .get(to.0 as usize)
            .is_some_and(|s| s.stopped.is_none() && s.generation == env.to_generation);
        if !live {
            let events = env.body.events_len();
            self.net.record(to, TraceKind::Dropped { events });
            if let Some(slot) = self.slots.get_mut(to.0 as usize) {
                slot.lost += events as u64;
                self.answer_dead(env);
            }
            // Else a raw peer, which a test plays by hand: nothing answers for it.
            return;
        }
        self.net.record(to, env.body.trace_kind());
        // What the oracles learn from the delivery itself, before the stage handles it.
        let mut closed_events = None;
        match &env.body {
            Body::ToProducer {
                sub,
                kind,
                previous,
                ..
            } => match kind {
                ToProducerKind::Ask(n) => self.net.books.on_ask(*sub, *n),
                ToProducerKind::Subscribe => {
                    self.net.sub_generations.insert(*sub, env.from_generation);
                    self.net.books.on_subscribe(*sub, *previous);
                }
                ToProducerKind::Cancel(_) => self.net.books.close_at_producer(*sub),
            },
            Body::ToConsumer(msg) => self.net.books.close_at_consumer(msg.sub()),
            Body::Down(gone, _) => self.net.books.on_down(to, *gone),
            Body::Events { sub, len, events } => {
                if self.net.books.enabled {
                    self.net.books.on_receive(to, &**events);
                }
                if self.net.books.closed_at_consumer(*sub) {
                    closed_events = Some((*sub, *len, self.slots[to.0 as usize].node.stats()));
                }
            }
        }
        let begun = self.begin_work(to);
        if self.catch_panics {
            self.deliver_catching(to, env.body);
        } else {
            let slot = &mut self.slots[to.0 as usize];
            let lost = slot.node.deliver(env.body, &mut self.net, to);
            slot.lost += lost as u64;
        }
        if let Some((sub, len, before)) = closed_events {
            let after = self.slots[to.0 as usize].node.stats();
            let step = self.net.step;
            self.net
                .books
                .check_discarded(sub, len, &before, &after, step);
        }
        self.settle_stops();
        self.end_work(to, begun);
    }

    /// Draws and injects this step's seeded fault, if any.
    pub(super) fn run_chaos(&mut self) {
        let step = self.net.step;
        let Some(runner) = self.chaos.as_mut() else {
            return;
        };
        let slots = &self.slots;
        let crashable = |s: StageId| slots[s.0 as usize].stopped.is_none() && !runner.spares(s);
        let live = |s: StageId| slots.get(s.0 as usize).is_some_and(|x| x.stopped.is_none());
        let cancels: Vec<SubId> = self
            .net
            .books
            .open
            .iter()
            .filter(|s| {
                live(s.producer)
                    && live(s.consumer)
                    && slots[s.consumer.0 as usize].cancel.is_some()
            })
            .copied()
            .collect();
        // `crashable` borrows the runner's plan through a copy of the spare list.
        let spare: Vec<StageId> = (0..slots.len() as u32)
            .map(StageId)
            .filter(|s| crashable(*s))
            .collect();
        let restartable: Vec<StageId> = (0..slots.len() as u32)
            .map(StageId)
            .filter(|s| slots[s.0 as usize].factory.is_some() && !runner.spares(*s))
            .collect();
        let fault = runner.draw(
            step,
            |s| spare.contains(&s),
            slots.len(),
            cancels.len(),
            restartable.len(),
        );
        match fault {
            Some(chaos::Fault::Crash(i, reason)) => {
                self.kill_stage(StageId(i as u32), reason);
            }
            Some(chaos::Fault::Cancel(i, reason)) => {
                let _ = self.cancel(cancels[i], reason);
            }
            Some(chaos::Fault::Restart(i, reason)) => {
                let _ = self.restart(restartable[i], reason);
            }
            None => {}
        }
    }

    /// Runs the oracles over every stage now; panics on a violation.
    pub(super) fn check_now(&mut self) {
        let step = self.net.step;
        for slot in &self.slots {
            let summary = slot.node.summary();
            self.net.books.check_stage(&summary, step);
        }
        if let Some(v) = &self.net.books.violation {
            panic!("{}", self.failure(v));
        }
    }

    /// A violation with the seed, the mode and the last trace lines.
    pub(super) fn failure(&self, v: &Violation) -> alloc::string::String {
        use core::fmt::Write as _;
        let mut s = alloc::format!("{v}\n  seed {}, mode {:?}", self.seed, self.mode_name());
        let trace = &self.net.trace;
        let from = trace.len().saturating_sub(self.context_lines);
        let _ = write!(s, "\n  last {} trace lines:", trace.len() - from);
        for e in &trace[from..] {
            let _ = write!(s, "\n    {e}");
        }
        s
    }

    pub(super) fn mode_name(&self) -> &'static str {
        match self.sched.mode() {
            Mode::Fifo => "fifo",
            Mode::RoundRobin => "round-robin",
            Mode::Seeded => "seeded",
            Mode::Replay(_) => "replay",
        }
    }

    /// Delivers with a panic in a callback caught: the stage stops with `Reason::Panicked`.
    #[cfg(feature = "std")]
    pub(super) fn deliver_catching(&mut self, to: StageId, body: Body) {
        let slot = &mut self.slots[to.0 as usize];
        let net = &mut self.net;
        let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            slot.node.deliver(body, net, to)
        }));
        match caught {
            Ok(lost) => slot.lost += lost as u64,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| alloc::string::String::from(*s))
                    .or_else(|| payload.downcast_ref::<alloc::string::String>().cloned())
                    .unwrap_or_else(|| alloc::string::String::from("a non-text panic"));
                slot.panic = Some(message);
                // The stage's state cannot be trusted: the runtime stops it without asking it.
                self.net.record(to, TraceKind::Stopped(Reason::Panicked));
                self.net.stops.push((to, Reason::Panicked));
            }
        }
    }

    #[cfg(not(feature = "std"))]
    pub(super) fn deliver_catching(&mut self, to: StageId, body: Body) {
        let slot = &mut self.slots[to.0 as usize];
        let lost = slot.node.deliver(body, &mut self.net, to);
        slot.lost += lost as u64;
    }

    /// A subscribe to a stage that is gone is answered with a down (the monitor fires at once).
    pub(super) fn answer_dead(&mut self, env: Envelope) {
        if let Body::ToProducer {
            sub,
            kind: ToProducerKind::Subscribe,
            ..
        } = env.body
        {
            self.net
                .push(env.to, sub.consumer, Body::Down(env.to, Reason::NoProc));
        }
    }

    #[inline]
    pub(super) fn settle_stops(&mut self) {
        // Called after every delivery: a look at an empty list, inlined, is all it costs then.
        if !self.net.stops.is_empty() {
            self.settle_stops_now();
        }
    }

    #[inline(never)]
    fn settle_stops_now(&mut self) {
        while !self.net.stops.is_empty() {
            for (id, reason) in core::mem::take(&mut self.net.stops) {
                let Some(slot) = self.slots.get_mut(id.0 as usize) else {
                    continue;
                };
                if slot.stopped.is_some() {
                    continue;
                }
                slot.stopped = Some(reason);
                for (i, other) in self.slots.iter().enumerate() {
                    if i != id.0 as usize && other.stopped.is_none() {
                        self.net.push(id, StageId(i as u32), Body::Down(id, reason));
                    }
                }
            }
        }
    }

    /// Stops a stage from outside with `reason` (a crash, a kill): the stage itself stops
    /// (its `stopped()` says so, its callbacks run no more, and what it held is counted as
    /// discarded), and every other live stage hears it went down, after the messages already
    /// queued. Stopping a stage that has already stopped does nothing.
    ///
    /// # Panics
    /// If the handle belongs to another simulator.
    pub fn kill<T>(&mut self, h: Handle<T>, reason: Reason) {
        if self.slot_of(h).stopped.is_none() {
            let slot = &mut self.slots[h.id.0 as usize];
            slot.node.set_now(self.net.now);
            slot.node.stop(reason, &mut self.net, h.id);
            self.settle_stops();
        }
    }

    /// Delivers messages until none is queued; returns how many were delivered. A pipeline
    /// that never goes idle makes this loop for ever: [`run_bounded`](Self::run_bounded)
    /// says so instead.
    pub fn run_until_idle(&mut self) -> u64 {
        let mut n = 0;
        while self.step() {
            n += 1;
        }
        n
    }

    /// Delivers at most `limit` messages: `Ok(delivered)` once nothing is queued, or
    /// [`NotIdle`] when the limit is reached with messages still queued.
    pub fn run_bounded(&mut self, limit: u64) -> Result<u64, NotIdle> {
        let mut n = 0;
        while n < limit {
            if !self.step() {
                return Ok(n);
            }
            n += 1;
        }
        if self.net.queue.is_empty() {
            Ok(n)
        } else {
            Err(NotIdle {
                steps: n,
                pending: self.net.queue.len(),
            })
        }
    }
}
