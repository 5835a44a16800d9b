//! Pushing events into a pipeline from other threads, with back-pressure: [`push_producer`]
//! gives a producer and a cloneable [`PushSender`] feeding it.

use super::builder;
use super::handle::ProducerHandle;
use super::sync::{self, Arc, Condvar, Mutex};
use core::fmt;
use core::time::Duration;
use genstage::dispatcher::{DemandDispatcher, Dispatcher};
use genstage::error::OptionsError;
use genstage::{Emit, Flow, Producer, ProducerOptions, Reason, storage::Heap};
use std::collections::VecDeque;
use std::time::Instant;

/// The wake-up a [`PushSender`] sends its producer; nothing else can make one.
#[derive(Debug)]
pub struct Wake(());

/// Why a push did not go in. Every variant hands the event back.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError<E> {
    /// The queue is full and the producer has no demand (`try_send`).
    Full(E),
    /// Still full when the timeout ran out (`send_timeout`).
    Timeout(E),
    /// The producer has stopped with `reason`.
    Closed {
        /// The event, not sent.
        event: E,
        /// Why the producer stopped.
        reason: Reason,
    },
}

impl<E> PushError<E> {
    /// The event that was not sent.
    pub fn into_inner(self) -> E {
        match self {
            Self::Full(e) | Self::Timeout(e) | Self::Closed { event: e, .. } => e,
        }
    }
}

impl<E> fmt::Debug for PushError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Closed { reason, .. } => write!(f, "Closed {{ reason: {reason:?}, .. }}"),
        }
    }
}

impl<E> fmt::Display for PushError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the push queue is full"),
            Self::Timeout(_) => f.write_str("the push queue stayed full until the timeout"),
            Self::Closed { reason, .. } => write!(f, "the producer has stopped ({reason})"),
        }
    }
}

impl<E> core::error::Error for PushError<E> {}

struct Queue<E> {
    items: VecDeque<E>,
    /// Demand the producer holds and has not served.
    demand: usize,
    /// A wake-up is on its way to the producer.
    wake_pending: bool,
    /// Live senders; at 0 the producer finishes once the queue is empty.
    senders: usize,
    closed: Option<Reason>,
    abandoned: u64,
}

struct PushShared<E> {
    queue: Mutex<Queue<E>>,
    space: Condvar,
    capacity: usize,
}

/// The producer behind [`push_producer`]: serves its demand from the push queue.
pub struct PushSource<E> {
    shared: Arc<PushShared<E>>,
}

impl<E> fmt::Debug for PushSource<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSource").finish_non_exhaustive()
    }
}

impl<E> PushSource<E> {
    fn flush(&mut self, out: &mut Emit<'_, E>) -> Flow {
        let mut q = self.shared.queue.lock();
        let k = q.demand.min(q.items.len());
        if k > 0 {
            let Queue { items, .. } = &mut *q;
            let taken = out.extend(items.drain(..k));
            debug_assert_eq!(taken, k, "growable storage takes everything");
            q.demand -= k;
            self.shared.space.notify_all();
        }
        if q.senders == 0 && q.items.is_empty() {
            Flow::StopWhenDrained(Reason::Normal)
        } else {
            Flow::Continue
        }
    }

    fn close(&self, reason: Reason) {
        let mut q = self.shared.queue.lock();
        if q.closed.is_none() {
            q.closed = Some(reason);
            q.abandoned += q.items.len() as u64;
            q.items.clear();
            self.shared.space.notify_all();
        }
    }
}

impl<E> Producer<Wake> for PushSource<E> {
    type Event = E;

    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, E>) -> Flow {
        self.shared.queue.lock().demand += demand;
        self.flush(out)
    }

    fn handle_info(&mut self, _: Wake, out: &mut Emit<'_, E>) -> Flow {
        self.shared.queue.lock().wake_pending = false;
        self.flush(out)
    }

    fn terminate(&mut self, reason: Reason) {
        self.close(reason);
    }
}

impl<E> Drop for PushSource<E> {
    fn drop(&mut self) {
        // Without `terminate`: a callback panicked.
        self.close(Reason::Panicked);
    }
}

/// A cloneable sender into a [`push_producer`]. Every clone keeps the producer alive; when
/// the last one is dropped, the producer emits what is queued and stops `Normal`.
pub struct PushSender<E: Send + 'static> {
    shared: Arc<PushShared<E>>,
    producer: ProducerHandle<E, Wake>,
}

impl<E: Send + 'static> fmt::Debug for PushSender<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSender")
            .field("producer", &self.producer)
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> Clone for PushSender<E> {
    fn clone(&self) -> Self {
        self.shared.queue.lock().senders += 1;
        Self {
            shared: self.shared.clone(),
            producer: self.producer.clone(),
        }
    }
}

impl<E: Send + 'static> Drop for PushSender<E> {
    fn drop(&mut self) {
        let wake = {
            let mut q = self.shared.queue.lock();
            q.senders -= 1;
            q.senders == 0 && !q.wake_pending && q.closed.is_none()
        };
        if wake {
            // The producer finishes once its queue is empty; a stopped one needs no word.
            let _ = self.producer.info(Wake(()));
        }
    }
}

impl<E: Send + 'static> PushSender<E> {
    /// Queues `event`, waiting while the queue is full (the producer has no demand for what
    /// it holds). A stopped producer hands it back.
    pub fn send(&self, event: E) -> Result<(), PushError<E>> {
        // Without a deadline the only errors are `Closed`.
        self.push(event, None)
    }

    /// Queues `event` if there is room now; hands it back otherwise.
    pub fn try_send(&self, event: E) -> Result<(), PushError<E>> {
        self.push(event, Some(Instant::now())).map_err(|e| match e {
            PushError::Timeout(event) => PushError::Full(event),
            other => other,
        })
    }

    /// Queues `event`, waiting at most `timeout` for room.
    pub fn send_timeout(&self, event: E, timeout: Duration) -> Result<(), PushError<E>> {
        self.push(event, Some(sync::deadline(timeout)))
    }

    /// The producer this sender feeds.
    pub fn producer(&self) -> &ProducerHandle<E, Wake> {
        &self.producer
    }

    /// Events accepted by a send that were still queued when the producer stopped (never
    /// emitted; counted here, since the producer never held them).
    pub fn abandoned(&self) -> u64 {
        self.shared.queue.lock().abandoned
    }

    fn push(&self, event: E, deadline: Option<Instant>) -> Result<(), PushError<E>> {
        let mut q = self.shared.queue.lock();
        loop {
            if let Some(reason) = q.closed {
                return Err(PushError::Closed { event, reason });
            }
            if q.items.len() < self.shared.capacity {
                q.items.push_back(event);
                let wake = q.demand > 0 && !q.wake_pending;
                q.wake_pending |= wake;
                drop(q);
                if wake {
                    // A producer that stopped meanwhile counted the event as abandoned.
                    let _ = self.producer.info(Wake(()));
                }
                return Ok(());
            }
            match deadline {
                None => self.shared.space.wait(&mut q),
                Some(d) => {
                    if self.shared.space.wait_until(&mut q, d)
                        && q.closed.is_none()
                        && q.items.len() >= self.shared.capacity
                    {
                        return Err(PushError::Timeout(event));
                    }
                }
            }
        }
    }
}

/// A producer fed from other threads through a [`PushSender`], with the default
/// [`DemandDispatcher`]. `capacity` bounds the events queued beyond the producer's demand
/// (0 is taken as 1): `send` waits while it is full.
///
/// Nothing is lost: an accepted event is emitted (then delivered or buffered like any
/// producer's), or, if the producer stops first, counted by [`PushSender::abandoned`].
///
/// ```
/// use genstage::threads;
/// use genstage::{CancelMode, ProducerOptions, Subscribe};
///
/// let (tx, producer) = threads::push_producer::<u64>(16, ProducerOptions::default())?;
/// let events = threads::stream(&producer, Subscribe::new().cancel(CancelMode::Transient))?;
/// let feeders: Vec<_> = (0..4u64)
///     .map(|t| {
///         let tx = tx.clone();
///         std::thread::spawn(move || (0..1_000).for_each(|i| tx.send(t * 1_000 + i).unwrap()))
///     })
///     .collect();
/// drop(tx); // the producer stops `Normal` once every sender is gone and its queue is empty
/// let mut all: Vec<u64> = events.collect();
/// feeders.into_iter().for_each(|f| f.join().unwrap());
/// all.sort_unstable();
/// assert_eq!(all, (0..4_000).collect::<Vec<_>>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn push_producer<E: Send + 'static>(
    capacity: usize,
    opts: ProducerOptions,
) -> Result<(PushSender<E>, ProducerHandle<E, Wake>), OptionsError> {
    push_producer_with(capacity, opts, DemandDispatcher::<Heap>::new())
}

/// [`push_producer`] with another dispatcher: with a
/// [`BroadcastDispatcher`](genstage::dispatcher::BroadcastDispatcher), every event pushed
/// goes to every consumer (GenStage's `QueueBroadcaster` example).
pub fn push_producer_with<E: Send + 'static, D: Dispatcher<E> + Send + 'static>(
    capacity: usize,
    opts: ProducerOptions,
    dispatcher: D,
) -> Result<(PushSender<E>, ProducerHandle<E, Wake>), OptionsError> {
    let shared = Arc::new(PushShared {
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            demand: 0,
            wake_pending: false,
            senders: 1,
            closed: None,
            abandoned: 0,
        }),
        space: Condvar::new(),
        capacity: capacity.max(1),
    });
    let source = PushSource {
        shared: shared.clone(),
    };
    let producer = builder().spawn_producer_with(source, opts, dispatcher)?;
    Ok((
        PushSender {
            shared,
            producer: producer.clone(),
        },
        producer,
    ))
}
