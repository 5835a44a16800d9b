//! Dispatchers decide which consumer gets which event (spec §11).
//!
//! A producer owns one dispatcher. The producer tells it about subscriptions, asks and
//! cancels, and hands it events to dispatch; each of those returns the *upstream demand* the
//! producer should now satisfy (for a producer: from its buffer, then `handle_demand`).
//! The dispatcher sends events through the [`DispatchContext`], and whatever it leaves in the
//! event queue are leftovers that the producer buffers.
//!
//! [`DemandDispatcher`] is the default. Writing your own means implementing [`Dispatcher`];
//! here is a round-robin dispatcher that gives each event to the next consumer with demand:
//!
//! ```
//! use genstage::dispatcher::{DispatchContext, Dispatcher};
//! use genstage::storage::Deque;
//! use genstage::{Reason, SubId, SubscribeOptions};
//!
//! #[derive(Default)]
//! struct RoundRobin {
//!     subs: Vec<(SubId, usize)>, // (subscription, outstanding demand)
//!     next: usize,
//! }
//!
//! impl<E> Dispatcher<E> for RoundRobin {
//!     fn subscribe<C: DispatchContext<E>>(
//!         &mut self, sub: SubId, _opts: &SubscribeOptions<E>, _ctx: &mut C,
//!     ) -> Result<usize, Reason> {
//!         self.subs.push((sub, 0));
//!         Ok(0)
//!     }
//!     fn ask<C: DispatchContext<E>>(&mut self, sub: SubId, demand: usize, _ctx: &mut C) -> usize {
//!         if let Some(s) = self.subs.iter_mut().find(|s| s.0 == sub) {
//!             s.1 += demand;
//!         }
//!         demand
//!     }
//!     fn cancel<C: DispatchContext<E>>(&mut self, sub: SubId, _ctx: &mut C) -> usize {
//!         self.subs.retain(|s| s.0 != sub);
//!         0
//!     }
//!     fn dispatch<Q: Deque<E>, C: DispatchContext<E>>(&mut self, events: &mut Q, ctx: &mut C) {
//!         while !events.is_empty() {
//!             let n = self.subs.len();
//!             let Some(i) = (0..n).map(|k| (self.next + k) % n.max(1)).find(|&i| self.subs[i].1 > 0)
//!             else { break }; // nobody has demand: the rest are leftovers
//!             self.subs[i].1 -= 1;
//!             self.next = i + 1;
//!             ctx.deliver(self.subs[i].0, events.pop_front().into_iter());
//!         }
//!     }
//! }
//!
//! // Driving it by hand, as a producer would:
//! use genstage::dispatcher::Recorded;
//! use genstage::StageId;
//! let (a, b) = (SubId::new(StageId(0), StageId(1), 0), SubId::new(StageId(0), StageId(2), 0));
//! let mut d = RoundRobin::default();
//! let mut ctx = Recorded::<u32>::default();
//! let opts = genstage::Subscribe::new().validate().unwrap();
//! d.subscribe(a, &opts, &mut ctx).unwrap();
//! d.subscribe(b, &opts, &mut ctx).unwrap();
//! d.ask(a, 2, &mut ctx);
//! d.ask(b, 2, &mut ctx);
//! let mut events: std::collections::VecDeque<u32> = (1..=5).collect();
//! d.dispatch(&mut events, &mut ctx);
//! assert_eq!(ctx.sent, vec![(a, vec![1]), (b, vec![2]), (a, vec![3]), (b, vec![4])]);
//! assert_eq!(events, [5]); // a leftover, for the producer's buffer
//! ```

pub mod broadcast;
pub mod demand;
pub mod dispatch;
pub mod partition;

pub use broadcast::BroadcastDispatcher;
pub use demand::{DemandDispatcher, DemandOptions};
pub use dispatch::Dispatch;
pub use partition::PartitionDispatcher;

use crate::id::{MarkerId, SubId};
use crate::message::{DiscardReason, Report};
use crate::options::SubscribeOptions;
use crate::reason::Reason;
use crate::storage::Deque;

/// What a dispatcher can do while the producer calls it.
pub trait DispatchContext<E> {
    /// Sends `events` to `sub`'s consumer as one message (ignored when empty).
    fn deliver<I: ExactSizeIterator<Item = E>>(&mut self, sub: SubId, events: I);
    /// The info marker may now be handed to the producer's `handle_info`.
    fn release_info(&mut self, marker: MarkerId);
    /// Asks on behalf of `sub`, handled after the current step like an ask from the consumer
    /// (`BroadcastDispatcher` gives back demand for events a selector rejected).
    fn self_ask(&mut self, sub: SubId, demand: usize);
    /// `count` events were dropped by the dispatcher, for `reason`.
    fn discarded(&mut self, count: usize, reason: DiscardReason);
    /// `count` events this dispatch dropped (see [`discarded`](Self::discarded)) had used
    /// upstream demand that no consumer received: the producer makes up for them, handling
    /// `count` more upstream demand after the current step (`PartitionDispatcher`, for events
    /// its hash dropped or misrouted). Without this, demand spent on dropped events is never
    /// asked again and a finite pipeline can stall.
    fn replace_dropped(&mut self, count: usize);
    /// Something worth logging.
    fn report(&mut self, report: Report);
    /// Sends all of `events` to `sub`'s consumer as one message (ignored when empty), buffer
    /// and all: the context may take the buffer and leave an empty one in its place, so that
    /// the batch changes hands without its events being moved (feature `alloc`). The default
    /// moves them through [`deliver`](Self::deliver).
    #[cfg(feature = "alloc")]
    fn deliver_all(&mut self, sub: SubId, events: &mut alloc::vec::Vec<E>) {
        self.deliver(sub, events.drain(..));
    }
}

/// A dispatcher: see the [module docs](self). Every method that returns a `usize` returns
/// upstream demand.
pub trait Dispatcher<E> {
    /// A consumer subscribed. `Err` refuses it: the producer cancels the subscription with
    /// that reason and keeps running.
    fn subscribe<C: DispatchContext<E>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        ctx: &mut C,
    ) -> Result<usize, Reason>;
    /// `sub` asked for `demand` more events.
    fn ask<C: DispatchContext<E>>(&mut self, sub: SubId, demand: usize, ctx: &mut C) -> usize;
    /// `sub` is gone (cancelled or down).
    fn cancel<C: DispatchContext<E>>(&mut self, sub: SubId, ctx: &mut C) -> usize;
    /// Sends what it can of `events`, taking them from the front; what stays are leftovers.
    fn dispatch<Q: Deque<E>, C: DispatchContext<E>>(&mut self, events: &mut Q, ctx: &mut C);
    /// How many more events [`dispatch`](Self::dispatch) would hand to consumers right now,
    /// beyond the upstream demand already returned. After every call that changes demand the
    /// producer serves its buffer while this is positive, so that buffered events reach
    /// consumers that have demand even when no new upstream demand was returned (for
    /// example when the `DemandDispatcher`'s `pending` absorbed an ask), and newer events never
    /// overtake buffered ones (per-subscription FIFO). The default, 0, serves the buffer only
    /// against returned demand, as GenStage does.
    fn ready(&self) -> usize {
        0
    }
    /// An info marker reached the dispatcher with nothing buffered ahead of it. The default
    /// releases it at once.
    fn info<C: DispatchContext<E>>(&mut self, marker: MarkerId, ctx: &mut C) {
        ctx.release_info(marker);
    }
    /// The producer refused `sub` with `reason` and cancelled it: a duplicate id, a full table,
    /// or this dispatcher's own `Err` from [`subscribe`](Self::subscribe). It was never (or is
    /// no longer) a subscription here; a dispatcher that keeps books of its own on subscribe
    /// attempts squares them here. The default does nothing.
    fn refused<C: DispatchContext<E>>(&mut self, sub: SubId, reason: Reason, ctx: &mut C) {
        let _ = (sub, reason, ctx);
    }
    /// Events the dispatcher holds for consumers without demand (a partition's queue), for
    /// reporting. The default holds none.
    fn held(&self) -> usize {
        0
    }
    /// The producer is stopping: drop every event the dispatcher still holds, counting them
    /// through [`DispatchContext::discarded`] with [`DiscardReason::Abandoned`]. The default
    /// holds none.
    fn discard_held<C: DispatchContext<E>>(&mut self, ctx: &mut C) {
        let _ = ctx;
    }
}

pub use crate::storage::DrainFront;

/// Takes up to `n` events from the front of `queue`, as an exact-size iterator, in one go
/// ([`Deque::drain_front`]): the way to hand a run of events to
/// [`DispatchContext::deliver`]. Events not pulled are dropped with the iterator.
pub fn drain_front<E, Q: Deque<E>>(queue: &mut Q, n: usize) -> Q::Drain<'_> {
    queue.drain_front(n)
}

/// A [`DispatchContext`] that records everything, for driving a dispatcher by hand in tests
/// and examples (feature `alloc`).
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct Recorded<E> {
    /// Messages sent, in order.
    pub sent: alloc::vec::Vec<(SubId, alloc::vec::Vec<E>)>,
    /// Info markers released, in order.
    pub released: alloc::vec::Vec<MarkerId>,
    /// Self-asks, in order.
    pub self_asks: alloc::vec::Vec<(SubId, usize)>,
    /// Discards, in order.
    pub discarded: alloc::vec::Vec<(usize, DiscardReason)>,
    /// Reports, in order.
    pub reports: alloc::vec::Vec<Report>,
    /// Demand to replace dropped events, in order.
    pub replaced: alloc::vec::Vec<usize>,
}

#[cfg(feature = "alloc")]
impl<E> Default for Recorded<E> {
    fn default() -> Self {
        Self {
            sent: alloc::vec::Vec::new(),
            released: alloc::vec::Vec::new(),
            self_asks: alloc::vec::Vec::new(),
            discarded: alloc::vec::Vec::new(),
            reports: alloc::vec::Vec::new(),
            replaced: alloc::vec::Vec::new(),
        }
    }
}

#[cfg(feature = "alloc")]
impl<E> DispatchContext<E> for Recorded<E> {
    fn deliver<I: ExactSizeIterator<Item = E>>(&mut self, sub: SubId, events: I) {
        if events.len() > 0 {
            self.sent.push((sub, events.collect()));
        }
    }
    fn release_info(&mut self, marker: MarkerId) {
        self.released.push(marker);
    }
    fn self_ask(&mut self, sub: SubId, demand: usize) {
        self.self_asks.push((sub, demand));
    }
    fn discarded(&mut self, count: usize, reason: DiscardReason) {
        self.discarded.push((count, reason));
    }
    fn report(&mut self, report: Report) {
        self.reports.push(report);
    }
    fn replace_dropped(&mut self, count: usize) {
        self.replaced.push(count);
    }
}
