//! Draining a simulated pipeline into the caller: [`SimStream`], an `Iterator` over the
//! events of a producer that steps the simulation as it is pulled (GenStage's `stream`).

use super::*;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use genstage::runtime::ConsumerStage;
use genstage::{Batch, CancelMode, Cancellation, Ctx, Flow, SubscribeOptions, Subscribed};

/// Why a [`SimStream`] stopped before its clean end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// A subscription ended in a way that ends the stream (spec §18.4): a permanent one, for
    /// any reason (a producer that finished `Normal` included), or a transient one, for an
    /// abnormal reason. Every event that arrived before it was yielded.
    Closed {
        /// The subscription that ended.
        sub: SubId,
        /// Why it ended.
        reason: Reason,
    },
    /// Subscribing failed (invalid options, a foreign handle).
    Subscribe(SubscribeError),
    /// The simulation went idle with the subscription still open: nothing more can come
    /// (on threads the iterator would wait for ever).
    Stalled,
    /// The stream's consumer stage was stopped from outside (a kill, a seeded crash) with
    /// this reason.
    Stopped(Reason),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed { sub, reason } => {
                write!(f, "the stream closed: subscription {sub} ended ({reason})")
            }
            Self::Subscribe(e) => write!(f, "the stream could not subscribe: {e}"),
            Self::Stalled => f.write_str("the simulation went idle with the stream still open"),
            Self::Stopped(reason) => write!(f, "the stream's consumer stopped ({reason})"),
        }
    }
}

impl core::error::Error for StreamError {}

/// What the stream's consumer and its iterator share.
struct Shared<E> {
    events: VecDeque<E>,
    subs: Vec<(SubId, CancelMode)>,
    end: Option<Result<(), StreamError>>,
}

/// The stream's consumer: queues what it gets for the iterator and says how the stream
/// ended.
pub struct Feed<E> {
    shared: Rc<RefCell<Shared<E>>>,
}

impl<E> Consumer for Feed<E> {
    type Event = E;

    fn handle_subscribe(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        _: &mut Ctx<'_>,
    ) -> Subscribed {
        self.shared
            .borrow_mut()
            .subs
            .push((sub, opts.cancel_mode()));
        Subscribed::Automatic
    }

    fn handle_events(&mut self, events: Batch<'_, E>, _: &mut Ctx<'_>) -> Flow {
        let mut shared = self.shared.borrow_mut();
        if shared.end.is_none() {
            shared.events.extend(events);
        }
        Flow::Continue
    }

    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _: &mut Ctx<'_>) -> Flow {
        let mut shared = self.shared.borrow_mut();
        let Some(at) = shared.subs.iter().position(|(s, _)| *s == sub) else {
            return Flow::Continue;
        };
        let (_, mode) = shared.subs.swap_remove(at);
        if shared.end.is_some() {
            return Flow::Continue;
        }
        let reason = how.reason();
        if mode.stops_on(&reason) {
            // The stage stops with `reason` right after this (its cancel mode).
            shared.end = Some(Err(StreamError::Closed { sub, reason }));
            Flow::Continue
        } else if shared.subs.is_empty() {
            shared.end = Some(Ok(()));
            Flow::Stop(Reason::Normal)
        } else {
            Flow::Continue
        }
    }
}

/// The stream's consumer stage.
pub type FeedStage<E> = ConsumerStage<Feed<E>>;

/// An `Iterator` over the events of a producer of the simulation (GenStage's `stream`), made
/// by [`Sim::stream`]. Each `next` hands over an event that has arrived, or steps the
/// simulation until one does.
///
/// - **Demand** follows the subscribe options as for any consumer (spec §5); the simulation
///   is stepped only while nothing is left to hand over, so at most one message of events
///   waits in the stream.
/// - **Ending** (spec §18.4): it ends (`None`) once its subscription is gone cleanly (a
///   temporary one for any reason, a transient one for a clean one). When a permanent
///   subscription ends, for any reason, or a transient one abnormally, it stops too, and
///   [`error`](Self::error) says why ([`StreamError::Closed`]); so it does when the simulation
///   goes idle with the subscription open ([`StreamError::Stalled`]) or when its consumer is
///   stopped from outside ([`StreamError::Stopped`]). [`try_iter`](Self::try_iter) yields
///   that error as its last item instead. Events that arrived before the end are all yielded.
/// - **Dropping** it early cancels its subscription with [`Reason::Normal`] and stops its
///   consumer `Normal`, without running the simulation; what is still on its way to the
///   consumer is dropped when it arrives, and counted.
///
/// While it lives it holds the simulator; [`sim`](Self::sim) reads it.
pub struct SimStream<'s, E: 'static> {
    sim: &'s mut Sim,
    consumer: Handle<FeedStage<E>>,
    shared: Rc<RefCell<Shared<E>>>,
}

impl<E: 'static> fmt::Debug for SimStream<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared.borrow();
        f.debug_struct("SimStream")
            .field("consumer", &self.consumer)
            .field("waiting", &shared.events.len())
            .field("end", &shared.end)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Drains `producer` into the caller: adds a consumer that subscribes to it with `opts`
    /// and returns a [`SimStream`], an `Iterator` over its events that steps the simulation
    /// as it is pulled. The producer's demand mode is left as it is (a producer in
    /// accumulate mode is switched by the caller, see [`with`](Self::with)).
    ///
    /// ```
    /// use genstage::sim::Sim;
    /// use genstage::{CancelMode, FromIter, Subscribe};
    ///
    /// let mut sim = Sim::seeded(7);
    /// let source = sim.producer(FromIter::new(1..=1_000u64));
    /// // Transient: the source finishing `Normal` ends the stream cleanly.
    /// let opts = Subscribe::new().max_demand(100).cancel(CancelMode::Transient);
    /// let events = sim.stream(source, opts).unwrap();
    /// assert_eq!(events.sum::<u64>(), 500_500);
    ///
    /// // Taking part of an endless source cancels the subscription when it is dropped.
    /// let endless = sim.producer(FromIter::new(0u64..));
    /// let first: Vec<u64> = sim.stream(endless, Subscribe::new()).unwrap().take(3).collect();
    /// assert_eq!(first, [0, 1, 2]);
    /// sim.run_until_idle(); // the cancel reaches the source; nothing asks any more
    /// ```
    pub fn stream<P>(
        &mut self,
        producer: Handle<P>,
        opts: Subscribe<P::Out>,
    ) -> Result<SimStream<'_, P::Out>, StreamError>
    where
        P: ProducerRole,
        P::Out: 'static,
    {
        let shared = Rc::new(RefCell::new(Shared {
            events: VecDeque::new(),
            subs: Vec::new(),
            end: None,
        }));
        let feed = Feed {
            shared: shared.clone(),
        };
        let consumer = self.consumer::<Feed<P::Out>, ()>(feed);
        if let Err(e) = self.subscribe(consumer, producer, opts) {
            self.kill(consumer, Reason::Normal);
            return Err(StreamError::Subscribe(e));
        }
        Ok(SimStream {
            sim: self,
            consumer,
            shared,
        })
    }
}

impl<'s, E: 'static> SimStream<'s, E> {
    /// Why it stopped yielding, once it has and if it was not a clean end.
    pub fn error(&self) -> Option<StreamError> {
        self.shared.borrow().end.and_then(Result::err)
    }

    /// The same stream, yielding `Ok(event)` and, when it ends on an error, one last `Err`.
    pub fn try_iter(self) -> TrySimStream<'s, E> {
        TrySimStream {
            stream: self,
            reported: false,
        }
    }

    /// The stream's consumer stage (for its stats, or to act on it).
    pub fn consumer(&self) -> Handle<FeedStage<E>> {
        self.consumer
    }

    /// The simulator it runs.
    pub fn sim(&self) -> &Sim {
        self.sim
    }
}

impl<E: 'static> Iterator for SimStream<'_, E> {
    type Item = E;

    fn next(&mut self) -> Option<E> {
        loop {
            {
                let mut shared = self.shared.borrow_mut();
                if let Some(e) = shared.events.pop_front() {
                    return Some(e);
                }
                if shared.end.is_some() {
                    return None;
                }
                if let Some(reason) = self.sim.stopped(self.consumer) {
                    shared.end = Some(Err(StreamError::Stopped(reason)));
                    return None;
                }
            }
            if !self.sim.step() {
                self.shared.borrow_mut().end = Some(Err(StreamError::Stalled));
            }
        }
    }
}

impl<E: 'static> Drop for SimStream<'_, E> {
    fn drop(&mut self) {
        if self.sim.stopped(self.consumer).is_some() {
            return;
        }
        let subs: Vec<SubId> = self.shared.borrow().subs.iter().map(|s| s.0).collect();
        self.sim.with(self.consumer, |stage, out| {
            for sub in subs {
                // A subscription that already ended answers with an error: nothing to do.
                let _ = stage.cancel(sub, Reason::Normal, out);
            }
        });
        self.sim.kill(self.consumer, Reason::Normal);
    }
}

/// A [`SimStream`] that yields `Result`s: `Ok` for each event, then one `Err` if it ended on
/// an error (see [`SimStream::try_iter`]).
#[derive(Debug)]
pub struct TrySimStream<'s, E: 'static> {
    stream: SimStream<'s, E>,
    reported: bool,
}

impl<E: 'static> Iterator for TrySimStream<'_, E> {
    type Item = Result<E, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.stream.next() {
            return Some(Ok(e));
        }
        match self.stream.error() {
            Some(err) if !self.reported => {
                self.reported = true;
                Some(Err(err))
            }
            _ => None,
        }
    }
}
