//! The broadcast dispatcher: every consumer gets every event its selector accepts (spec §13).
//!
//! Consumers move in lockstep. Demand reaches upstream only once **every** consumer has asked
//! for it: the dispatcher keeps each consumer's outstanding demand, and `waiting`, the demand
//! all of them share (the minimum, taken out of every entry). Events go out only against
//! `waiting`, so no consumer ever receives more than it asked for, and a consumer that has
//! just subscribed (with demand 0) holds dispatch until it asks. `requested` is the demand
//! already asked of the producer and not yet seen, so demand in flight is never asked twice
//! (GenStage #318).
//!
//! A subscription may carry a selector ([`Subscribe::selector`](crate::Subscribe::selector)):
//! its consumer receives only the events the selector accepts, and the dispatcher gives back
//! the demand of the rejected ones by asking on the consumer's behalf
//! ([`DispatchContext::self_ask`]), so rejected events do not starve it (GenStage #133).
//!
//! One subscription per consumer stage: a second one from the same stage is refused with
//! [`Reason::AlreadySubscribed`], which never stops the consumer (spec §13.2, §15.3).
//!
//! ```
//! use genstage::dispatcher::{BroadcastDispatcher, Dispatcher, Recorded};
//! use genstage::{StageId, SubId, Subscribe};
//!
//! let (s1, s2) = (SubId::new(StageId(0), StageId(1), 0), SubId::new(StageId(0), StageId(2), 0));
//! let mut d: BroadcastDispatcher<u32> = BroadcastDispatcher::new();
//! let mut ctx = Recorded::default();
//! let evens = Subscribe::new().selector(|e: &u32| e.is_multiple_of(2)).validate().unwrap();
//! d.subscribe(s1, &Subscribe::new().validate().unwrap(), &mut ctx).unwrap();
//! d.subscribe(s2, &evens, &mut ctx).unwrap();
//!
//! assert_eq!(d.ask(s1, 4, &mut ctx), 0); // s2 has asked nothing yet
//! assert_eq!(d.ask(s2, 3, &mut ctx), 3); // both can take 3 now
//! let mut events: std::collections::VecDeque<u32> = (1..=5).collect();
//! d.dispatch(&mut events, &mut ctx);
//! assert_eq!(ctx.sent, vec![(s2, vec![2]), (s1, vec![1, 2, 3])]);
//! assert_eq!(ctx.self_asks, vec![(s2, 2)]); // 1 and 3 were rejected: s2 gets its demand back
//! assert_eq!(events, [4, 5]); // leftovers, for the producer's buffer
//! ```
//!
//! ## Consumers that subscribe late miss what was already sent
//!
//! Events go to the consumers subscribed when they are dispatched. A consumer that subscribes
//! after a sibling's first ask has been answered misses the events already sent to that
//! sibling (as in GenStage), and demand the sibling asked before the newcomer subscribed is
//! still made: those events wait in the producer's buffer until the newcomer asks too, so
//! size the buffer for the largest `max_demand` of its consumers.
//!
//! When every consumer must see every event, start the producer in
//! [`DemandMode::Accumulate`](crate::DemandMode::Accumulate): it holds demand (and calls no
//! `handle_demand`) until every consumer has subscribed, then switch it to
//! [`DemandMode::Forward`](crate::DemandMode::Forward):
//!
//! ```
//! use genstage::dispatcher::Dispatch;
//! use genstage::sim::Sim;
//! use genstage::*;
//!
//! struct Ticks(u64);
//! impl Producer for Ticks {
//!     type Event = u64;
//!     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
//!         let end = (self.0 + demand as u64).min(10);
//!         self.0 += out.extend(self.0..end) as u64;
//!         if self.0 == 10 { Flow::DONE } else { Flow::Continue }
//!     }
//! }
//! #[derive(Default)]
//! struct Seen(Vec<u64>);
//! impl Consumer for Seen {
//!     type Event = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
//!         self.0.extend(events);
//!         Flow::Continue
//!     }
//! }
//!
//! let mut sim = Sim::new(0);
//! let opts = ProducerOptions::new().demand(DemandMode::Accumulate);
//! let ticks = sim.producer_with_dispatcher(Ticks(0), opts, Dispatch::broadcast()).unwrap();
//! let (early, late) = (sim.consumer(Seen::default()), sim.consumer(Seen::default()));
//! sim.subscribe(early, ticks, Subscribe::new().max_demand(4)).unwrap();
//! sim.run_until_idle(); // `early` has asked; nothing is made yet
//! sim.subscribe(late, ticks, Subscribe::new().max_demand(4)).unwrap();
//! sim.run_until_idle();
//! sim.with(ticks, |p, out| p.set_demand_mode(DemandMode::Forward, out));
//! sim.run_until_idle();
//! assert_eq!(sim.stage(early).behaviour().0, (0..10).collect::<Vec<_>>());
//! assert_eq!(sim.stage(late).behaviour().0, (0..10).collect::<Vec<_>>());
//! assert!(sim.all_stopped());
//! ```
//!
//! Only the broadcast dispatcher applies selectors; a subscription with a `partition` option
//! is refused here with [`Refusal::PartitionNotSupported`](crate::Refusal).
//!
//! ## Where it differs from GenStage (spec §21)
//!
//! * **Q12** — when a selector rejects every event of a dispatch, GenStage still sends that
//!   consumer an empty message. Here nothing is sent (the protocol's messages are never empty),
//!   but the self-ask that gives the demand back is still made.
//! * **Counted rejections** — an event that every consumer's selector rejects goes to nobody.
//!   GenStage lets it vanish; here it is counted as discarded by the dispatcher
//!   ([`Discards::dispatcher`](crate::runtime::Discards), reason
//!   [`DiscardReason::Dispatcher`](crate::runtime::DiscardReason)), so that every event a
//!   stage emitted is delivered, held or counted. An event some consumer takes is not a
//!   discard, and neither is a broadcast where some consumer has no selector (nothing to
//!   check, nothing to pay).
//! * **Q15** — GenStage keeps a set of subscribed consumer processes, and the producer's cancel
//!   of a refused duplicate removes the consumer from it although its first subscription is
//!   live, so a third subscribe is accepted. Here the check looks at the live entries
//!   themselves: refusing a duplicate changes nothing, cancelling the refused (unknown)
//!   subscription changes nothing, and every later duplicate is refused too.
//! * **Q16** — GenStage keeps `requested` when the last consumer leaves, and events dispatched
//!   while nobody can take them (they go to the producer's buffer) do not pay it down; a later
//!   consumer's asks are then under-reported upstream and the buffered events can sit there
//!   for good while the consumer waits. Here every event that reaches the dispatcher pays down
//!   `requested`, delivered or not, and the dispatcher counts the events it left over
//!   ([`buffered`](BroadcastDispatcher::buffered)). When consumers have demand and
//!   events were left over, the upstream demand first asks those back (the producer serves
//!   its buffer before anything else), then asks for new events only beyond what the buffer
//!   and the demand in flight cover. So no ask is lost, demand in flight is still not asked
//!   twice, and buffered events reach consumers before newer ones, in emission order.
//!   `requested` therefore matches what the producer still owes, and `buffered` what its
//!   buffer holds (at most: a producer buffer that overflows drops events the dispatcher
//!   does not hear about, and asking for them again only makes the producer emit more).
//!   This relies on the producer side's contract (spec §7.1, §9.5), which the stages of this
//!   crate keep: leftovers go to the buffer, and buffered events are dispatched only against
//!   upstream demand, before any event made for that demand. Where the count is off, the
//!   error is on the safe side: the producer is asked for more than needed (the extra is
//!   buffered), never less, and no consumer ever gets more than it asked for.

use super::{DispatchContext, Dispatcher};
use crate::id::{StageId, SubId};
use crate::message::DiscardReason;
use crate::options::{Selector, SubscribeOptions};
use crate::reason::{Reason, Refusal};
use crate::storage::{DefaultStorage, Deque, List, Storage};

/// One consumer: its outstanding demand beyond `waiting`, its subscription, its selector.
struct Entry<E> {
    demand: usize,
    sub: SubId,
    selector: Option<Selector<E>>,
}

/// The broadcast dispatcher. See the [module docs](self).
///
/// `E: Clone`, since every consumer gets its own copy of each event (the last consumer served
/// gets the original). Selectors should be pure functions of the event: each is called twice
/// per event (once to count, once to send).
pub struct BroadcastDispatcher<E, S: Storage = DefaultStorage> {
    /// Most recently subscribed or asked first, as GenStage keeps them; messages of one
    /// dispatch go out in this order.
    entries: S::List<Entry<E>>,
    /// Demand every consumer has: events up to this many may go to all of them.
    waiting: usize,
    /// Demand asked upstream whose events have not reached the dispatcher yet.
    requested: usize,
    /// Events left over (so in the producer's buffer) and not asked back yet.
    buffered: usize,
    /// How an event is copied for each consumer (`E::clone`, taken when it was built, so that
    /// the dispatcher itself asks nothing of `E`).
    copy: fn(&E) -> E,
    /// How a run of events is copied in one go (`Vec::extend_from_slice`, a copy of memory
    /// for plain data), taken when it was built.
    #[cfg(feature = "alloc")]
    copy_run: fn(&[E], &mut alloc::vec::Vec<E>),
    /// The buffer a consumer's copy of a run is made in (it changes hands with the copy, and
    /// a recycled one comes back).
    #[cfg(feature = "alloc")]
    copies: alloc::vec::Vec<E>,
}

impl<E: Clone, S: Storage> Default for BroadcastDispatcher<E, S> {
    fn default() -> Self {
        Self {
            entries: Default::default(),
            waiting: 0,
            requested: 0,
            buffered: 0,
            copy: E::clone,
            #[cfg(feature = "alloc")]
            copy_run: |run, into| into.extend_from_slice(run),
            #[cfg(feature = "alloc")]
            copies: alloc::vec::Vec::new(),
        }
    }
}

impl<E: Clone, S: Storage> BroadcastDispatcher<E, S> {
    /// An empty dispatcher.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<E, S: Storage> BroadcastDispatcher<E, S> {
    /// Of the first `now` events, how many every consumer's selector rejects: they go to
    /// nobody and are counted as discarded by the dispatcher. None when some consumer has no
    /// selector (it takes everything), so a broadcast without selectors pays nothing.
    fn unwanted<Q: Deque<E>>(&self, events: &Q, now: usize) -> usize {
        let entries = self.entries.as_slice();
        if entries.iter().any(|e| e.selector.is_none()) {
            return 0;
        }
        (0..now)
            .filter(|&j| {
                events.get(j).is_some_and(|e| {
                    !entries
                        .iter()
                        .any(|x| x.selector.as_ref().is_some_and(|f| f.accepts(e)))
                })
            })
            .count()
    }

    /// `(outstanding demand beyond waiting, subscription)` for each consumer, most recently
    /// subscribed or asked first (the order messages go out in).
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (usize, SubId)> + '_ {
        self.entries.as_slice().iter().map(|e| (e.demand, e.sub))
    }
    /// The demand every consumer shares: how many of the next events go out to all of them.
    pub fn waiting(&self) -> usize {
        self.waiting
    }
    /// Demand asked upstream whose events have not reached the dispatcher yet.
    pub fn requested(&self) -> usize {
        self.requested
    }
    /// Events the dispatcher left over (for the producer's buffer) and has not asked back.
    pub fn buffered(&self) -> usize {
        self.buffered
    }
    /// How many consumers are subscribed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when no consumer is subscribed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// True when stage `consumer` holds a subscription here.
    pub fn is_subscribed(&self, consumer: StageId) -> bool {
        self.entries
            .as_slice()
            .iter()
            .any(|e| e.sub.consumer == consumer)
    }
    /// A consumer's outstanding demand: what it may still receive (its entry plus `waiting`).
    pub fn outstanding(&self, sub: SubId) -> Option<usize> {
        self.entries
            .as_slice()
            .iter()
            .find(|e| e.sub == sub)
            .map(|e| e.demand.saturating_add(self.waiting))
    }

    fn position(&self, sub: SubId) -> Option<usize> {
        self.entries.as_slice().iter().position(|e| e.sub == sub)
    }

    /// Moves the shared minimum into `waiting` (spec §13.3 step 2), then returns the upstream
    /// demand: first the leftovers the consumers can now take back from the buffer, then new
    /// events beyond what the buffer and the demand in flight cover (§21 Q16).
    fn sync(&mut self) -> usize {
        let entries = self.entries.as_mut_slice();
        if let Some(min) = entries.iter().map(|e| e.demand).min() {
            for e in entries.iter_mut() {
                e.demand -= min;
            }
            self.waiting = self.waiting.saturating_add(min);
        }
        let from_buffer = self.buffered.min(self.waiting);
        let fresh = (self.waiting - from_buffer).saturating_sub(self.requested);
        let upstream = from_buffer + fresh;
        self.buffered -= from_buffer;
        self.requested = self.requested.saturating_add(upstream);
        upstream
    }
}

/// Clones the events at `0..end` of a queue that a selector accepts: `left` of them.
struct Copies<'a, E, Q> {
    queue: &'a Q,
    next: usize,
    end: usize,
    left: usize,
    selector: Option<&'a Selector<E>>,
    copy: fn(&E) -> E,
}

impl<E, Q: Deque<E>> Iterator for Copies<'_, E, Q> {
    type Item = E;
    fn next(&mut self) -> Option<E> {
        while self.left > 0 && self.next < self.end {
            let e = self.queue.get(self.next)?;
            self.next += 1;
            if self.selector.is_none_or(|f| f.accepts(e)) {
                self.left -= 1;
                return Some((self.copy)(e));
            }
        }
        None
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<E, Q: Deque<E>> ExactSizeIterator for Copies<'_, E, Q> {}

/// Takes the events at `0..end` of a queue off its front in one go, yielding the `left` of
/// them that a selector accepts (for the last consumer served, which gets the originals).
struct Takes<'a, E, D> {
    events: D,
    left: usize,
    selector: Option<&'a Selector<E>>,
}

impl<E, D: Iterator<Item = E>> Iterator for Takes<'_, E, D> {
    type Item = E;
    fn next(&mut self) -> Option<E> {
        while self.left > 0 {
            let e = self.events.next()?;
            if self.selector.is_none_or(|f| f.accepts(&e)) {
                self.left -= 1;
                return Some(e);
            }
        }
        None
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
    fn fold<B, F: FnMut(B, E) -> B>(self, init: B, mut f: F) -> B {
        match self.selector {
            // Every event of the run: one loop over it.
            None => self.events.take(self.left).fold(init, f),
            Some(sel) => {
                let mut left = self.left;
                let mut acc = init;
                for e in self.events {
                    if left == 0 {
                        break;
                    }
                    if sel.accepts(&e) {
                        left -= 1;
                        acc = f(acc, e);
                    }
                }
                acc
            }
        }
    }
}

impl<E, D: Iterator<Item = E>> ExactSizeIterator for Takes<'_, E, D> {}

impl<E, S: Storage> Dispatcher<E> for BroadcastDispatcher<E, S> {
    /// Adds the consumer with demand 0 (spec §13.2): until it asks, nothing is dispatched.
    /// The shared `waiting` goes back onto the other entries.
    ///
    /// Refuses, changing nothing, a second subscription from the same consumer stage
    /// ([`Reason::AlreadySubscribed`]) and, with fixed storage, one more than it can hold
    /// ([`Refusal::Full`]).
    fn subscribe<C: DispatchContext<E>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        _ctx: &mut C,
    ) -> Result<usize, Reason> {
        if opts.partition().is_some() {
            return Err(Reason::Refused(Refusal::PartitionNotSupported));
        }
        if self.is_subscribed(sub.consumer) {
            return Err(Reason::AlreadySubscribed);
        }
        if self.entries.is_full() {
            return Err(Reason::Refused(Refusal::Full));
        }
        let waiting = core::mem::take(&mut self.waiting);
        for e in self.entries.as_mut_slice() {
            e.demand = e.demand.saturating_add(waiting);
        }
        let entry = Entry {
            demand: 0,
            sub,
            selector: opts.selector().cloned(),
        };
        let inserted = self.entries.insert(0, entry);
        debug_assert!(inserted.is_ok(), "checked not full");
        Ok(0)
    }

    /// Raises the consumer's demand and moves its entry first (spec §13.3). An unknown
    /// subscription changes nothing.
    fn ask<C: DispatchContext<E>>(&mut self, sub: SubId, demand: usize, _ctx: &mut C) -> usize {
        let Some(i) = self.position(sub) else {
            return 0;
        };
        let mut entry = self.entries.remove(i);
        entry.demand = entry.demand.saturating_add(demand);
        let inserted = self.entries.insert(0, entry);
        debug_assert!(inserted.is_ok(), "an entry was removed just before");
        self.sync()
    }

    /// Removes the consumer (spec §13.4). Removing the slowest one can release demand. When
    /// the last one leaves, `waiting` goes to 0 and `requested` stays: the producer still owes
    /// those events, and they pay it down when they arrive (§21 Q16). An unknown subscription
    /// (such as a refused duplicate, §21 Q15) changes nothing.
    fn cancel<C: DispatchContext<E>>(&mut self, sub: SubId, _ctx: &mut C) -> usize {
        let Some(i) = self.position(sub) else {
            return 0;
        };
        self.entries.remove(i);
        if self.entries.is_empty() {
            self.waiting = 0;
            return 0;
        }
        self.sync()
    }

    /// Sends the first `min(len, waiting)` events to every consumer, each filtered by its
    /// selector, one message per consumer (none when its selector rejected them all, §21 Q12),
    /// and self-asks for every consumer the demand of the events its selector rejected
    /// (spec §13.5–13.7). The rest are leftovers. Every event pays down `requested`; the
    /// leftovers are counted as buffered (§21 Q16).
    fn dispatch<Q: Deque<E>, C: DispatchContext<E>>(&mut self, events: &mut Q, ctx: &mut C) {
        let len = events.len();
        let now = len.min(self.waiting);
        if now > 0 {
            let unwanted = self.unwanted(&*events, now);
            let n = self.entries.len();
            for i in 0..n {
                let entry = &self.entries.as_slice()[i];
                let (sub, selector) = (entry.sub, entry.selector.as_ref());
                let accepted = match selector {
                    None => now,
                    Some(f) => (0..now)
                        .filter(|&j| events.get(j).is_some_and(|e| f.accepts(e)))
                        .count(),
                };
                #[cfg(feature = "alloc")]
                if accepted == now
                    && let Some(all) = events.as_vec()
                {
                    // Every event of the run to this consumer: one copy of the run in one go
                    // (the originals, buffer and all, to the last consumer).
                    if i + 1 < n {
                        self.copies.clear();
                        (self.copy_run)(&all[..now], &mut self.copies);
                        ctx.deliver_all(sub, &mut self.copies);
                    } else if now == all.len() {
                        ctx.deliver_all(sub, all);
                    } else {
                        ctx.deliver(sub, all.drain(..now));
                    }
                    continue;
                }
                if i + 1 < n {
                    if accepted > 0 {
                        ctx.deliver(
                            sub,
                            Copies {
                                queue: &*events,
                                next: 0,
                                end: now,
                                left: accepted,
                                selector,
                                copy: self.copy,
                            },
                        );
                    }
                } else {
                    // Whatever the context does not pull, and the rejected events, go with
                    // the drain.
                    let taken = events.drain_front(now);
                    if accepted > 0 {
                        ctx.deliver(
                            sub,
                            Takes {
                                events: taken,
                                left: accepted,
                                selector,
                            },
                        );
                    }
                }
                if accepted < now {
                    ctx.self_ask(sub, now - accepted);
                }
            }
            self.waiting -= now;
            if unwanted > 0 {
                ctx.discarded(unwanted, DiscardReason::Dispatcher);
            }
        }
        let left = events.len();
        self.requested = self.requested.saturating_sub(now + left);
        self.buffered = self.buffered.saturating_add(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatcher::Recorded;
    use crate::options::Subscribe;
    use crate::storage::Fixed;
    use alloc::collections::VecDeque;
    use alloc::vec;
    use alloc::vec::Vec;

    fn sub(consumer: u32, seq: u32) -> SubId {
        SubId::new(StageId(0), StageId(consumer), seq)
    }

    fn plain() -> SubscribeOptions<u32> {
        Subscribe::new().validate().unwrap()
    }

    #[test]
    fn a_selector_rejecting_everything_sends_nothing_but_gives_the_demand_back() {
        let mut d: BroadcastDispatcher<u32> = BroadcastDispatcher::new();
        let mut ctx = Recorded::default();
        assert!(d.is_empty());
        let none = Subscribe::new()
            .selector(|_: &u32| false)
            .validate()
            .unwrap();
        d.subscribe(sub(1, 0), &none, &mut ctx).unwrap();
        assert!(!d.is_empty());
        assert_eq!(d.len(), 1);
        assert_eq!(d.ask(sub(1, 0), 3, &mut ctx), 3);
        let mut events: VecDeque<u32> = (1..=3).collect();
        d.dispatch(&mut events, &mut ctx);
        assert!(ctx.sent.is_empty());
        assert_eq!(ctx.self_asks, vec![(sub(1, 0), 3)]);
        assert_eq!(ctx.discarded, vec![(3, DiscardReason::Dispatcher)]);
        assert!(events.is_empty());
        assert_eq!((d.waiting(), d.requested(), d.buffered()), (0, 0, 0));
    }

    #[test]
    fn the_last_consumer_gets_the_originals_and_the_rest_stays_in_order() {
        let mut d: BroadcastDispatcher<u32> = BroadcastDispatcher::new();
        let mut ctx = Recorded::default();
        let odd = Subscribe::new()
            .selector(|e: &u32| e % 2 == 1)
            .validate()
            .unwrap();
        d.subscribe(sub(1, 0), &plain(), &mut ctx).unwrap();
        d.subscribe(sub(2, 0), &odd, &mut ctx).unwrap();
        d.ask(sub(2, 0), 4, &mut ctx);
        assert_eq!(d.ask(sub(1, 0), 4, &mut ctx), 4);
        // Entries: s1 (asked last) first, then s2 (served last, the originals).
        assert_eq!(
            d.entries().collect::<Vec<_>>(),
            vec![(0, sub(1, 0)), (0, sub(2, 0))]
        );
        let mut events: VecDeque<u32> = (1..=6).collect();
        d.dispatch(&mut events, &mut ctx);
        assert_eq!(
            ctx.sent,
            vec![(sub(1, 0), vec![1, 2, 3, 4]), (sub(2, 0), vec![1, 3])]
        );
        assert_eq!(ctx.self_asks, vec![(sub(2, 0), 2)]);
        assert!(ctx.discarded.is_empty(), "s1 takes everything");
        assert_eq!(events, [5, 6]);
        assert_eq!((d.waiting(), d.requested(), d.buffered()), (0, 0, 2));
    }

    #[test]
    fn events_every_selector_rejects_are_counted_as_discarded_by_the_dispatcher() {
        let mut d: BroadcastDispatcher<u32> = BroadcastDispatcher::new();
        let mut ctx = Recorded::default();
        let odd = Subscribe::new()
            .selector(|e: &u32| e % 2 == 1)
            .validate()
            .unwrap();
        let small = Subscribe::new()
            .selector(|e: &u32| *e < 3)
            .validate()
            .unwrap();
        d.subscribe(sub(1, 0), &odd, &mut ctx).unwrap();
        d.subscribe(sub(2, 0), &small, &mut ctx).unwrap();
        d.ask(sub(1, 0), 5, &mut ctx);
        assert_eq!(d.ask(sub(2, 0), 5, &mut ctx), 5);
        let mut events: VecDeque<u32> = (1..=7).collect();
        d.dispatch(&mut events, &mut ctx);
        // 1..=5 dispatched: 1, 3, 5 are odd, 1 and 2 are small; 4 goes to nobody.
        assert_eq!(
            ctx.sent,
            vec![(sub(2, 0), vec![1, 2]), (sub(1, 0), vec![1, 3, 5])]
        );
        assert_eq!(ctx.discarded, vec![(1, DiscardReason::Dispatcher)]);
        assert_eq!(events, [6, 7], "leftovers are not judged yet");
    }

    #[test]
    fn fixed_storage_refuses_one_consumer_too_many_and_changes_nothing() {
        let mut d: BroadcastDispatcher<u32, Fixed<2, 2>> = BroadcastDispatcher::new();
        let mut ctx = Recorded::default();
        d.subscribe(sub(1, 0), &plain(), &mut ctx).unwrap();
        d.subscribe(sub(2, 0), &plain(), &mut ctx).unwrap();
        d.ask(sub(1, 0), 5, &mut ctx);
        assert_eq!(d.ask(sub(2, 0), 5, &mut ctx), 5);
        assert_eq!(
            d.subscribe(sub(3, 0), &plain(), &mut ctx),
            Err(Reason::Refused(Refusal::Full))
        );
        assert_eq!((d.len(), d.waiting(), d.requested()), (2, 5, 5));
        let mut events: heapless::Deque<u32, 2> = heapless::Deque::new();
        events.push_back(7).unwrap();
        events.push_back(8).unwrap();
        d.dispatch(&mut events, &mut ctx);
        assert_eq!(
            ctx.sent,
            vec![(sub(2, 0), vec![7, 8]), (sub(1, 0), vec![7, 8])]
        );
        assert_eq!((d.waiting(), d.requested()), (3, 3));
    }

    #[test]
    fn huge_demands_saturate_instead_of_overflowing() {
        let mut d: BroadcastDispatcher<u32> = BroadcastDispatcher::new();
        let mut ctx = Recorded::default();
        d.subscribe(sub(1, 0), &plain(), &mut ctx).unwrap();
        assert_eq!(d.ask(sub(1, 0), usize::MAX, &mut ctx), usize::MAX);
        assert_eq!(d.ask(sub(1, 0), usize::MAX, &mut ctx), 0);
        assert_eq!(d.outstanding(sub(1, 0)), Some(usize::MAX));
        d.subscribe(sub(2, 0), &plain(), &mut ctx).unwrap();
        assert_eq!(d.outstanding(sub(1, 0)), Some(usize::MAX));
    }
}
