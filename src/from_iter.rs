//! [`FromIter`]: a producer backed by any iterator (GenStage's `from_enumerable`), for every
//! runtime.
//!
//! ```
//! use genstage::prelude::*;
//! use genstage::{CancelMode, FromIter};
//!
//! #[derive(Default)]
//! struct Count(u64);
//! impl Consumer for Count {
//!     type Event = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
//!         self.0 += events.count() as u64;
//!         Flow::Continue
//!     }
//! }
//!
//! # #[cfg(feature = "sim")] {
//! let mut sim = genstage::sim::Sim::new(1);
//! let source = sim.producer(FromIter::new(0..10_000u64));
//! let sink = sim.consumer(Count::default());
//! sim.subscribe(sink, source, Subscribe::new().cancel(CancelMode::Transient)).unwrap();
//! sim.run_until_idle();
//! // The source ran dry and stopped `Normal` once its buffer was taken; the transient
//! // subscription ended cleanly, so the consumer keeps running.
//! assert_eq!(sim.stage(sink).behaviour().0, 10_000);
//! assert_eq!(sim.stopped(source), Some(Reason::Normal));
//! assert_eq!(sim.stopped(sink), None);
//! # }
//! ```

use crate::behaviour::{Flow, Producer};
use crate::callbacks::Emit;
use crate::id::SubId;
use crate::options::SubscribeOptions;
use crate::reason::{Cancellation, Reason};
use core::iter::Peekable;

/// What a [`FromIter`] producer does when a consumer leaves (GenStage's `on_cancel`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnCancel {
    /// Keep running (the default): a later consumer takes the rest.
    #[default]
    Continue,
    /// Stop with [`Reason::Normal`] once no consumer is left.
    Stop,
}

/// A producer that emits the items of an iterator as they are asked for, then stops.
///
/// - Each demand of `n` pulls at most `n` items; nothing is pulled ahead of demand except one
///   look-ahead item, which tells the producer that the source is dry as soon as its last
///   item is emitted (so a consumer that asked for exactly what is left still sees the end).
/// - Once the iterator is exhausted the producer returns
///   [`Flow::StopWhenDrained`]`(`[`Reason::Normal`]`)`: it stops `Normal` after every event
///   it emitted was taken from its buffer. A demand after that emits nothing.
/// - [`OnCancel::Stop`] stops it `Normal` when its last consumer leaves, whatever the reason.
///
/// Dispatcher and demand mode are the stage's own options (`ProducerOptions`), as for any
/// producer. With fixed storage a demand larger than the emit buffer pulls only what the
/// buffer takes (the rest of that demand is not served until the next demand).
pub struct FromIter<I: Iterator> {
    iter: Peekable<I>,
    on_cancel: OnCancel,
    consumers: usize,
}

impl<I: Iterator> FromIter<I> {
    /// A producer of `items`, continuing when consumers leave.
    pub fn new<T: IntoIterator<IntoIter = I>>(items: T) -> Self {
        Self {
            iter: items.into_iter().peekable(),
            on_cancel: OnCancel::Continue,
            consumers: 0,
        }
    }

    /// Sets what happens when a consumer leaves.
    #[must_use]
    pub fn on_cancel(mut self, on_cancel: OnCancel) -> Self {
        self.on_cancel = on_cancel;
        self
    }

    fn dry(&mut self) -> bool {
        self.iter.peek().is_none()
    }
}

impl<I: Iterator> core::fmt::Debug for FromIter<I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FromIter")
            .field("on_cancel", &self.on_cancel)
            .field("consumers", &self.consumers)
            .finish_non_exhaustive()
    }
}

impl<I: Iterator> Producer for FromIter<I> {
    type Event = I::Item;

    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, I::Item>) -> Flow {
        let _ = out.extend(self.iter.by_ref().take(demand));
        if self.dry() {
            Flow::StopWhenDrained(Reason::Normal)
        } else {
            Flow::Continue
        }
    }

    fn handle_subscribe(&mut self, _: SubId, _: &SubscribeOptions<I::Item>) -> Flow {
        self.consumers += 1;
        Flow::Continue
    }

    fn handle_cancel(&mut self, _: Cancellation, _: SubId, _: &mut Emit<'_, I::Item>) -> Flow {
        self.consumers = self.consumers.saturating_sub(1);
        if self.on_cancel == OnCancel::Stop && self.consumers == 0 {
            Flow::Stop(Reason::Normal)
        } else {
            Flow::Continue
        }
    }
}
