//! Draining a pipeline into the calling thread: [`Stream`], an `Iterator` of the events of
//! one or more producers (GenStage's `stream`).

use super::Runtime;
use super::handle::{ConsumerHandle, Handle};
use super::kind::Upstream;
use super::sync::{Arc, Mutex};
use core::fmt;
use genstage::error::{OptionsError, SubscribeError};
use genstage::{
    Batch, CancelMode, Cancellation, Consumer, Ctx, DemandMode, Flow, Reason, SubId, Subscribe,
    SubscribeOptions, Subscribed,
};
use std::boxed::Box;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::vec::Vec;

/// Why a [`Stream`] stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// A subscription ended in a way that ends the stream (spec §18.4): a permanent one, for
    /// any reason (a producer that finished `Normal` included), or a transient one, for an
    /// abnormal reason. Events that arrived before it were all yielded.
    Closed {
        /// The subscription that ended.
        sub: SubId,
        /// Why it ended.
        reason: Reason,
    },
    /// Subscribing failed at start-up (a refusal by the producer arrives as
    /// [`Closed`](Self::Closed) instead, as it does in GenStage).
    Subscribe(SubscribeError),
    /// The stream's consumer thread stopped without saying why: it panicked or was stopped
    /// from outside with `reason`.
    Consumer(Reason),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed { sub, reason } => {
                write!(
                    f,
                    "the stream closed: subscription {sub:?} ended ({reason})"
                )
            }
            Self::Subscribe(e) => write!(f, "the stream could not subscribe: {e}"),
            Self::Consumer(reason) => write!(f, "the stream's consumer stopped ({reason})"),
        }
    }
}

impl core::error::Error for StreamError {}

type Connect<E> = Box<dyn FnOnce(&ConsumerHandle<E>) -> Result<(), SubscribeError> + Send>;
type Settle = Box<dyn FnOnce(SubId) + Send>;
/// Chunk buffers handed back from the iterator to the stream's consumer.
type Spare<E> = Arc<Mutex<Vec<VecDeque<E>>>>;
/// Emptied chunks kept for reuse: the iterator may hand back a second before the consumer
/// took the first.
const SPARE_CHUNKS: usize = 2;

/// The producers a [`Stream`] will drain, with their subscribe options, checked as they are
/// added. Nothing is subscribed until [`start`](Self::start).
pub struct StreamBuilder<E> {
    connects: Vec<Connect<E>>,
    /// Per producer, run once its subscription is made on the consumer's side: sets the
    /// demand mode and waits until the producer has taken the subscription.
    settles: Vec<Settle>,
    demand: Option<DemandMode>,
    runtime: Runtime,
}

impl<E> fmt::Debug for StreamBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamBuilder")
            .field("producers", &self.connects.len())
            .field("demand", &self.demand)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> Default for StreamBuilder<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Send + 'static> StreamBuilder<E> {
    /// No producers yet; demand mode [`DemandMode::Forward`] (spec §18.3); the global runtime.
    pub fn new() -> Self {
        Self {
            connects: Vec::new(),
            settles: Vec::new(),
            demand: Some(DemandMode::Forward),
            runtime: Runtime::global().clone(),
        }
    }

    /// Adds `producer` with `opts`. Invalid options are refused here, with the same typed
    /// error as a subscribe, before anything is subscribed.
    pub fn from<K: Upstream, I: Send + 'static, M: Send + 'static>(
        mut self,
        producer: &Handle<K, I, E, M>,
        opts: Subscribe<E>,
    ) -> Result<Self, OptionsError> {
        opts.validate()?;
        let producer = producer.clone();
        let demand = self.demand;
        let p = producer.clone();
        self.connects.push(Box::new(move |consumer| {
            // Without waiting: once the first producer sends events, the consumer waits for
            // the iterator to pull them, and would answer no later request.
            consumer.subscribe_async(&p, opts)
        }));
        self.settles.push(Box::new(move |sub| {
            // Both are requests the producer answers in turn, after the subscribe the
            // consumer sent before telling us `sub`: once answered, the producer has taken
            // the subscription. A stopped producer answers neither; the subscription
            // reports the stop.
            match demand {
                Some(mode) => {
                    let _ = producer.set_demand_mode(mode);
                }
                None => {
                    let _ = producer.subscription_stats(sub);
                }
            }
        }));
        Ok(self)
    }

    /// The demand mode set on every producer once subscribed (default `Forward`, which
    /// releases a producer started in accumulate mode); `None` leaves the modes alone.
    /// Applies to producers added after this call.
    #[must_use]
    pub fn demand(mut self, mode: Option<DemandMode>) -> Self {
        self.demand = mode;
        self
    }

    /// Runs the stream's consumer in `runtime` instead of the global one.
    #[must_use]
    pub fn runtime(mut self, runtime: &Runtime) -> Self {
        self.runtime = runtime.clone();
        self
    }

    /// Starts the stream's consumer and subscribes it to every producer, in order. When it
    /// returns every producer has taken its subscription (and has its demand mode), so a
    /// broadcast producer counts the stream among its consumers from then on: what it emits
    /// afterwards reaches the stream too. Events it emitted before are not replayed (start
    /// it in accumulate mode to hold them, see `DemandMode`).
    pub fn start(self) -> Result<Stream<E>, StreamError> {
        // A rendezvous: the consumer hands over a chunk only when the iterator pulls one, so
        // the ask that follows the chunk (spec §18.2) waits for the pull.
        let (tx, rx) = sync_channel(0);
        let (subscribed, subs) = channel();
        let spare = Arc::new(Mutex::new(Vec::with_capacity(SPARE_CHUNKS)));
        // It waits for the iterator's pulls: a thread of its own, never a worker.
        let consumer = self
            .runtime
            .builder()
            .own_thread()
            .spawn_consumer::<Feed<E>, ()>(Feed {
                tx,
                spare: spare.clone(),
                subs: Vec::new(),
                subscribed,
                to_subscribe: self.connects.len(),
                closed: false,
            });
        let mut stream = Stream {
            rx: Some(rx),
            batch: VecDeque::new(),
            spare,
            end: None,
            subs: Vec::new(),
            consumer: Some(consumer),
        };
        let wanted = self.connects.len();
        for connect in self.connects {
            let consumer = stream.consumer.as_ref().expect("set above");
            // On an error, dropping the stream cancels what was subscribed and joins the
            // consumer.
            connect(consumer).map_err(StreamError::Subscribe)?;
        }
        // Every subscribe has been handled on the consumer's side (it takes requests in
        // order, and all of them were queued before any producer could send an event that
        // would make it wait for a pull).
        while stream.subs.len() < wanted {
            match subs.recv() {
                Ok(sub) => stream.subs.push(sub),
                Err(_) => return Err(StreamError::Consumer(stream.consumer().join())),
            }
        }
        // Then each producer takes its subscription and gets its demand mode (spec §18.3:
        // the modes are set once subscribed), in order.
        for (settle, &sub) in self.settles.into_iter().zip(&stream.subs) {
            settle(sub);
        }
        if stream.subs.is_empty() {
            stream.end = Some(Ok(()));
        }
        Ok(stream)
    }
}

/// Drains `producer` into the calling thread: shorthand for
/// [`StreamBuilder::new`]`().from(producer, opts)?.start()`.
///
/// ```
/// use genstage::threads;
/// use genstage::{CancelMode, FromIter, ProducerOptions, Subscribe};
///
/// let source = threads::spawn_producer(FromIter::new(1..=1_000u64), ProducerOptions::default())?;
/// // Transient: the source finishing `Normal` ends the stream cleanly.
/// let events = threads::stream(&source, Subscribe::new().max_demand(100).cancel(CancelMode::Transient))?;
/// assert_eq!(events.sum::<u64>(), 500_500);
///
/// // Taking part of an endless source cancels the subscription when the stream is dropped.
/// let endless = threads::spawn_producer(FromIter::new(0u64..), ProducerOptions::default())?;
/// let first: Vec<u64> = threads::stream(&endless, Subscribe::new())?.take(3).collect();
/// assert_eq!(first, [0, 1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stream<K: Upstream, I: Send + 'static, E: Send + 'static, M: Send + 'static>(
    producer: &Handle<K, I, E, M>,
    opts: Subscribe<E>,
) -> Result<Stream<E>, StreamError> {
    StreamBuilder::new()
        .from(producer, opts)
        .map_err(|e| StreamError::Subscribe(SubscribeError::Options(e)))?
        .start()
}

enum Fed<E> {
    Events(VecDeque<E>),
    End(Result<(), StreamError>),
}

/// The stream's consumer: hands each chunk to the iterator and says how the stream ended.
struct Feed<E> {
    tx: SyncSender<Fed<E>>,
    /// The iterator's emptied chunks, for the next ones: a few buffers take turns, so a
    /// running stream allocates nothing per chunk.
    spare: Spare<E>,
    subs: Vec<(SubId, CancelMode)>,
    /// Tells [`StreamBuilder::start`] each subscription made.
    subscribed: Sender<SubId>,
    /// Subscriptions still to be made: the stream cannot have run out before they are.
    to_subscribe: usize,
    /// The iterator is gone: what still arrives is dropped (the stream is being cancelled).
    closed: bool,
}

impl<E> Feed<E> {
    fn end(&mut self, outcome: Result<(), StreamError>) {
        // The receiver may be gone; then nobody is waiting for the outcome.
        let _ = self.tx.send(Fed::End(outcome));
        self.closed = true;
    }
}

impl<E> Consumer for Feed<E> {
    type Event = E;

    fn handle_subscribe(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        _: &mut Ctx<'_>,
    ) -> Subscribed {
        self.subs.push((sub, opts.cancel_mode()));
        let _ = self.subscribed.send(sub);
        self.to_subscribe = self.to_subscribe.saturating_sub(1);
        Subscribed::Automatic
    }

    fn handle_events(&mut self, events: Batch<'_, E>, ctx: &mut Ctx<'_>) -> Flow {
        if self.closed {
            return Flow::Continue; // `events` drops what it holds
        }
        let mut chunk = self.spare.lock().pop().unwrap_or_default();
        chunk.extend(events);
        if self.tx.send(Fed::Events(chunk)).is_err() {
            // The stream was dropped instead of pulling this chunk: cancel every
            // subscription now, so that no ask follows a chunk nobody pulled.
            self.closed = true;
            for &(sub, _) in &self.subs {
                let _ = ctx.cancel(sub, Reason::Normal);
            }
        }
        Flow::Continue
    }

    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _: &mut Ctx<'_>) -> Flow {
        let Some(at) = self.subs.iter().position(|(s, _)| *s == sub) else {
            return Flow::Continue;
        };
        let (_, mode) = self.subs.swap_remove(at);
        if self.closed {
            return Flow::Continue;
        }
        let reason = how.reason();
        if mode.stops_on(&reason) {
            // The stage stops with `reason` right after this (its cancel mode).
            self.end(Err(StreamError::Closed { sub, reason }));
            Flow::Continue
        } else if self.subs.is_empty() && self.to_subscribe == 0 {
            self.end(Ok(()));
            Flow::Stop(Reason::Normal)
        } else {
            Flow::Continue
        }
    }
}

/// An `Iterator` over the events of the producers a [`StreamBuilder`] named, pulled into the
/// calling thread (GenStage's `stream`).
///
/// - **Demand** follows the subscribe options exactly as for any consumer (spec §5): each
///   chunk's ask is sent when the iterator pulls that chunk, so at most `max_demand` events
///   per producer are ever on their way.
/// - **Ending** (spec §18.4): the iterator ends (`None`) once no subscription remains
///   (temporary ones, or transient ones that ended cleanly). When a permanent subscription
///   ends, for any reason, or a transient one ends abnormally, it also stops yielding, and
///   [`error`](Self::error) says why; [`try_iter`](Self::try_iter) yields that error as its
///   last item instead. A peer's failure never panics the caller.
/// - **Dropping** it early (after `take(10)`, say) cancels every remaining subscription with
///   [`Reason::Normal`] and joins the stream's consumer thread before `drop` returns: no
///   thread is left, and events already on their way are dropped with it (counted as the
///   consumer's [`lost_in_flight`](super::Handle::lost_in_flight) if they arrive after it
///   stopped).
pub struct Stream<E: Send + 'static> {
    rx: Option<Receiver<Fed<E>>>,
    batch: VecDeque<E>,
    /// Where the emptied chunk goes back to the consumer.
    spare: Spare<E>,
    end: Option<Result<(), StreamError>>,
    subs: Vec<SubId>,
    consumer: Option<ConsumerHandle<E>>,
}

impl<E: Send + 'static> fmt::Debug for Stream<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("subscriptions", &self.subs)
            .field("pending", &self.batch.len())
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> Stream<E> {
    /// The subscriptions it made, in the order the producers were added.
    pub fn subscriptions(&self) -> &[SubId] {
        &self.subs
    }

    /// Why it stopped yielding, once it has and if it was not a clean end.
    pub fn error(&self) -> Option<StreamError> {
        self.end.and_then(Result::err)
    }

    /// The same stream, yielding `Ok(event)` and, when it ends on an error, one last `Err`.
    pub fn try_iter(self) -> TryStream<E> {
        TryStream {
            stream: self,
            reported: false,
        }
    }

    /// The stream's consumer stage (for its stats).
    pub fn consumer(&self) -> &ConsumerHandle<E> {
        self.consumer.as_ref().expect("present until dropped")
    }

    fn refill(&mut self) -> bool {
        while self.end.is_none() {
            let Some(rx) = &self.rx else { return false };
            if self.batch.capacity() > 0 {
                // Empty by now: the consumer fills it with a later chunk.
                let mut spare = self.spare.lock();
                if spare.len() < SPARE_CHUNKS {
                    spare.push(core::mem::take(&mut self.batch));
                }
            }
            match rx.recv() {
                Ok(Fed::Events(events)) => {
                    self.batch = events;
                    if !self.batch.is_empty() {
                        return true;
                    }
                }
                Ok(Fed::End(outcome)) => self.end = Some(outcome),
                Err(_) => {
                    // The consumer stopped without a word: a panic, or a stop from outside.
                    let reason = self.consumer().join();
                    self.end = Some(Err(StreamError::Consumer(reason)));
                }
            }
        }
        false
    }
}

impl<E: Send + 'static> Iterator for Stream<E> {
    type Item = E;

    fn next(&mut self) -> Option<E> {
        if let Some(e) = self.batch.pop_front() {
            return Some(e);
        }
        if self.refill() {
            self.batch.pop_front()
        } else {
            None
        }
    }
}

impl<E: Send + 'static> Drop for Stream<E> {
    fn drop(&mut self) {
        // Unblocks a consumer waiting to hand over a chunk; it drops what still comes.
        drop(self.rx.take());
        if let Some(consumer) = self.consumer.take() {
            if consumer.exit().is_none() {
                for &sub in &self.subs {
                    // A subscription that already ended answers with an error: nothing to do.
                    let _ = consumer.cancel(sub, Reason::Normal);
                }
                consumer.stop(Reason::Normal);
            }
            consumer.join();
        }
    }
}

/// A [`Stream`] that yields `Result`s: `Ok` for each event, then one `Err` if it ended on an
/// error (see [`Stream::try_iter`]).
#[derive(Debug)]
pub struct TryStream<E: Send + 'static> {
    stream: Stream<E>,
    reported: bool,
}

impl<E: Send + 'static> Iterator for TryStream<E> {
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
