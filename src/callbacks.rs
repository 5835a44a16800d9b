//! What user callbacks are handed: [`Emit`] to send events (and ask, in manual mode),
//! [`Batch`] with the events to handle, [`Ctx`] for consumers, [`Reply`] for calls.

use crate::id::SubId;
use crate::reason::Reason;
use crate::storage::Deque;
use core::fmt;

/// Why a manual ask or cancel from a callback was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AskError {
    /// The subscription is not one of this stage's upstream subscriptions.
    UnknownSubscription,
    /// The subscription is in automatic mode; the stage asks for it.
    NotManual,
    /// This stage has no upstream side (a producer).
    NotAConsumer,
    /// The stage has stopped.
    Stopped,
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownSubscription => "unknown subscription",
            Self::NotManual => "the subscription's demand is automatic",
            Self::NotAConsumer => "a producer has no subscriptions to ask on",
            Self::Stopped => "the stage has stopped",
        })
    }
}

impl core::error::Error for AskError {}

/// The upstream side of a stage, as callbacks can reach it.
pub(crate) trait Upstream {
    fn ask(&mut self, sub: SubId, demand: usize) -> Result<(), AskError>;
    fn cancel(&mut self, sub: SubId, reason: Reason) -> Result<(), AskError>;
}

/// Something events can be pushed into, one at a time.
pub(crate) trait Sink<E> {
    fn push(&mut self, event: E) -> Result<(), E>;
    fn len(&self) -> usize;
    fn is_full(&self) -> bool;
}

impl<E, Q: Deque<E>> Sink<E> for Q {
    fn push(&mut self, event: E) -> Result<(), E> {
        self.push_back(event)
    }
    fn len(&self) -> usize {
        Deque::len(self)
    }
    fn is_full(&self) -> bool {
        Deque::is_full(self)
    }
}

/// Where an [`Emit`] puts events: the stage's run of emitted events, known by type so that
/// bulk emission compiles to a loop without a call per event.
pub(crate) enum EmitSink<'a, E> {
    /// A growable run.
    #[cfg(feature = "alloc")]
    Heap(&'a mut alloc::vec::Vec<E>),
    /// A fixed-capacity run.
    Fixed(&'a mut heapless::vec::VecView<E>),
    /// Anything else that takes events one by one.
    #[allow(dead_code)] // used by tests, and by storages that hold nothing
    Dyn(&'a mut dyn Sink<E>),
    /// Takes nothing (a storage that holds nothing).
    Closed,
}

/// Where a callback puts the events it emits; they are dispatched as soon as it returns.
///
/// A producer has no upstream, so its `Emit` has no `ask` (a producer_consumer's callbacks get
/// a [`Relay`], which does):
///
/// ```compile_fail
/// use genstage::prelude::*;
/// fn ask_anyway(out: &mut Emit<'_, u8>, sub: SubId) {
///     let _ = out.ask(sub, 1); // no such method: a producer has nothing to ask
/// }
/// ```
///
/// With growable storage a push never fails. With fixed storage the emit buffer holds as many
/// events as one container of the storage; a push beyond that hands the event back, so a
/// producer should remember unmet demand and emit the rest later (it must do so anyway when it
/// emits fewer events than asked, spec §7.3).
pub struct Emit<'a, E> {
    sink: EmitSink<'a, E>,
    unhandled: bool,
    now: u64,
}

impl<'a, E> Emit<'a, E> {
    pub(crate) fn new(sink: EmitSink<'a, E>) -> Self {
        Emit {
            sink,
            unhandled: false,
            now: 0,
        }
    }
    /// Sets the time the callback sees ([`now`](Self::now)).
    pub(crate) fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }
    /// The time, in the runtime's ticks, at which this callback runs: the value the runtime
    /// last gave the stage ([`Stage::set_now`](crate::runtime::Stage::set_now)). The core never
    /// reads a clock; the simulator passes its virtual clock, the thread runtime the
    /// nanoseconds since it started, and a stage nobody sets a time on sees 0.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// Marks the info message this `handle_info` was given as one the behaviour does not
    /// handle: the stage reports [`Report::UnhandledInfo`](crate::runtime::Report::UnhandledInfo). The
    /// default `handle_info` does this; elsewhere it does nothing.
    pub fn not_handled(&mut self) {
        self.unhandled = true;
    }
    pub(crate) fn was_unhandled(&self) -> bool {
        self.unhandled
    }
    /// Emits one event, or hands it back when the emit buffer is full (fixed storage).
    pub fn push(&mut self, event: E) -> Result<(), E> {
        match &mut self.sink {
            #[cfg(feature = "alloc")]
            EmitSink::Heap(v) => {
                v.push(event);
                Ok(())
            }
            EmitSink::Fixed(v) => v.push(event),
            EmitSink::Dyn(s) => s.push(event),
            EmitSink::Closed => Err(event),
        }
    }
    /// Emits events from `events` until it runs out or the emit buffer is full; returns how
    /// many were taken. Nothing is pulled from the iterator that was not taken.
    ///
    /// With fixed storage the count can be less than offered: a producer that counts what it
    /// was asked instead of what was taken skips events, so the count must be used.
    ///
    /// This is the bulk way to emit: with growable storage and an iterator of known length
    /// (a range, a mapped range, a slice's clones) room is made once and the events are
    /// moved in by one loop with no check per event. To emit a batch transformed event by
    /// event, [`extend_map`](Self::extend_map) does the same for the batch's buffer.
    #[must_use = "with fixed storage fewer events than offered may be taken; count what was"]
    pub fn extend<I: IntoIterator<Item = E>>(&mut self, events: I) -> usize {
        let events = events.into_iter();
        match &mut self.sink {
            #[cfg(feature = "alloc")]
            EmitSink::Heap(v) => {
                // `Vec::extend`: for an iterator of known length (a range, a mapped range, a
                // drain) room is made once and the events are moved in by one loop with no
                // check per event.
                let before = v.len();
                v.extend(events);
                v.len() - before
            }
            EmitSink::Fixed(v) => {
                let mut n = 0;
                if v.is_full() {
                    return 0;
                }
                for e in events {
                    if v.push(e).is_err() {
                        // Only reachable when full, and fullness is checked before pulling
                        // again.
                        break;
                    }
                    n += 1;
                    if v.is_full() {
                        break;
                    }
                }
                n
            }
            EmitSink::Dyn(s) => {
                let mut n = 0;
                if s.is_full() {
                    return 0;
                }
                for e in events {
                    if s.push(e).is_err() {
                        break;
                    }
                    n += 1;
                    if s.is_full() {
                        break;
                    }
                }
                n
            }
            EmitSink::Closed => 0,
        }
    }
    /// Emits `f(e)` for each event of `events`, in order, until they run out or the emit
    /// buffer is full; returns how many were taken (the rest of the batch is dropped with
    /// it). The same as `extend(events.map(f))`, and the fastest way to emit a batch
    /// transformed event by event: with growable storage it is one loop over the batch's
    /// buffer into room made once, with no check per event.
    ///
    /// ```
    /// use genstage::prelude::*;
    ///
    /// struct Double;
    /// impl ProducerConsumer for Double {
    ///     type In = u64;
    ///     type Out = u64;
    ///     fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
    ///         let _ = out.extend_map(events, |e| e * 2);
    ///         Flow::Continue
    ///     }
    /// }
    /// ```
    #[must_use = "with fixed storage fewer events than offered may be taken; count what was"]
    pub fn extend_map<T, F: FnMut(T) -> E>(&mut self, events: Batch<'_, T>, f: F) -> usize {
        #[cfg(feature = "alloc")]
        let mut events = events;
        #[cfg(feature = "alloc")]
        if let EmitSink::Heap(v) = &mut self.sink
            && let Some(lent) = events.take_heap()
        {
            let before = v.len();
            v.extend(lent.map(f));
            return v.len() - before;
        }
        self.extend(events.map(f))
    }
    /// Events emitted so far in this callback.
    pub fn len(&self) -> usize {
        match &self.sink {
            #[cfg(feature = "alloc")]
            EmitSink::Heap(v) => v.len(),
            EmitSink::Fixed(v) => v.len(),
            EmitSink::Dyn(s) => s.len(),
            EmitSink::Closed => 0,
        }
    }
    /// True when nothing was emitted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when a push would be refused (fixed storage only).
    pub fn is_full(&self) -> bool {
        match &self.sink {
            #[cfg(feature = "alloc")]
            EmitSink::Heap(_) => false,
            EmitSink::Fixed(v) => v.is_full(),
            EmitSink::Dyn(s) => s.is_full(),
            EmitSink::Closed => true,
        }
    }
}

/// What a producer_consumer's callbacks get: an [`Emit`] for the events they emit (through
/// `Deref`, so `out.extend(..)` works as on a producer) plus its upstream side, to ask on a
/// manual subscription and cancel a subscription. A producer's callbacks get a bare `Emit`:
/// it has no upstream, so it has no `ask` to fail at run time.
pub struct Relay<'a, E> {
    emit: Emit<'a, E>,
    upstream: &'a mut dyn Upstream,
}

impl<'a, E> Relay<'a, E> {
    pub(crate) fn new(emit: Emit<'a, E>, upstream: &'a mut dyn Upstream) -> Self {
        Relay { emit, upstream }
    }
    /// Sets the time the callback sees ([`Emit::now`], through `Deref`).
    pub(crate) fn at(mut self, now: u64) -> Self {
        self.emit.now = now;
        self
    }
    /// Asks for `demand` more events on a manual upstream subscription. An ask of 0 sends
    /// nothing.
    pub fn ask(&mut self, sub: SubId, demand: usize) -> Result<(), AskError> {
        self.upstream.ask(sub, demand)
    }
    /// Cancels an upstream subscription. The subscription ends when the producer confirms,
    /// and its cancel mode then applies.
    pub fn cancel(&mut self, sub: SubId, reason: Reason) -> Result<(), AskError> {
        self.upstream.cancel(sub, reason)
    }
}

impl<'a, E> core::ops::Deref for Relay<'a, E> {
    type Target = Emit<'a, E>;
    fn deref(&self) -> &Emit<'a, E> {
        &self.emit
    }
}

impl<E> core::ops::DerefMut for Relay<'_, E> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.emit
    }
}

/// What a consumer's callbacks can do besides returning: ask on manual subscriptions and
/// cancel subscriptions.
pub struct Ctx<'a> {
    upstream: &'a mut dyn Upstream,
    unhandled: bool,
    now: u64,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(upstream: &'a mut dyn Upstream) -> Self {
        Ctx {
            upstream,
            unhandled: false,
            now: 0,
        }
    }
    /// Sets the time the callback sees ([`now`](Self::now)).
    pub(crate) fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }
    /// The time, in the runtime's ticks, at which this callback runs (see [`Emit::now`]).
    pub fn now(&self) -> u64 {
        self.now
    }
    /// Marks the info message this `handle_info` was given as one the behaviour does not
    /// handle: the stage reports [`Report::UnhandledInfo`](crate::runtime::Report::UnhandledInfo). The
    /// default `handle_info` does this; elsewhere it does nothing.
    pub fn not_handled(&mut self) {
        self.unhandled = true;
    }
    pub(crate) fn was_unhandled(&self) -> bool {
        self.unhandled
    }
    /// Asks for `demand` more events on a manual subscription. An ask of 0 sends nothing.
    pub fn ask(&mut self, sub: SubId, demand: usize) -> Result<(), AskError> {
        self.upstream.ask(sub, demand)
    }
    /// Cancels a subscription. It ends when the producer confirms, and its cancel mode then
    /// applies (a permanent subscription stops this consumer, spec §15.5).
    pub fn cancel(&mut self, sub: SubId, reason: Reason) -> Result<(), AskError> {
        self.upstream.cancel(sub, reason)
    }
}

/// The events of one chunk, handed to `handle_events`. An exact-size iterator of owned events;
/// whatever the callback does not take is dropped when the batch is.
///
/// A batch lends the stage's buffer of incoming events: consuming it whole (`sum`, `fold`,
/// `for_each`, or `out.extend(batch.map(..))`) runs one loop over that buffer.
pub struct Batch<'a, E> {
    events: LentRun<'a, E>,
    sub: SubId,
}

/// Where a batch's events come from.
pub(crate) enum LentRun<'a, E> {
    /// Any iterator, of which the batch takes `left` events.
    Iter {
        events: &'a mut dyn Iterator<Item = E>,
        left: usize,
    },
    /// The front of a growable run.
    #[cfg(feature = "alloc")]
    Heap(alloc::vec::Drain<'a, E>),
    /// The front of a fixed-capacity run.
    Fixed(heapless::vec::Drain<'a, E, usize>),
    /// Nothing.
    #[allow(dead_code)] // for storages that hold nothing
    Empty,
}

impl<'a, E> Batch<'a, E> {
    /// The next `len` events of `events`.
    pub(crate) fn new(events: &'a mut dyn Iterator<Item = E>, len: usize, sub: SubId) -> Self {
        Batch {
            events: LentRun::Iter { events, left: len },
            sub,
        }
    }
    /// The events of a lent run.
    pub(crate) fn lend(events: LentRun<'a, E>, sub: SubId) -> Self {
        Batch { events, sub }
    }
    /// The subscription the events came on (GenStage's `from`).
    pub fn sub(&self) -> SubId {
        self.sub
    }
    /// The lent buffer, when it is a growable run's (it leaves the batch empty).
    #[cfg(feature = "alloc")]
    fn take_heap(&mut self) -> Option<alloc::vec::Drain<'a, E>> {
        match core::mem::replace(&mut self.events, LentRun::Empty) {
            LentRun::Heap(d) => Some(d),
            other => {
                self.events = other;
                None
            }
        }
    }
}

impl<E> Iterator for Batch<'_, E> {
    type Item = E;
    #[inline(always)]
    fn next(&mut self) -> Option<E> {
        match &mut self.events {
            #[cfg(feature = "alloc")]
            LentRun::Heap(d) => d.next(),
            LentRun::Fixed(d) => d.next(),
            LentRun::Iter { events, left } => {
                if *left == 0 {
                    return None;
                }
                let e = events.next();
                debug_assert!(e.is_some(), "a batch's source holds at least its length");
                *left -= 1;
                e
            }
            LentRun::Empty => None,
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.events {
            #[cfg(feature = "alloc")]
            LentRun::Heap(d) => d.len(),
            LentRun::Fixed(d) => d.len(),
            LentRun::Iter { left, .. } => *left,
            LentRun::Empty => 0,
        };
        (n, Some(n))
    }
    #[inline(always)]
    fn fold<B, F: FnMut(B, E) -> B>(mut self, init: B, mut f: F) -> B {
        // One loop over the lent buffer, with no dispatch per event.
        match core::mem::replace(&mut self.events, LentRun::Empty) {
            #[cfg(feature = "alloc")]
            LentRun::Heap(d) => d.fold(init, f),
            LentRun::Fixed(d) => d.fold(init, f),
            iter @ LentRun::Iter { .. } => {
                self.events = iter;
                let mut acc = init;
                for e in self.by_ref() {
                    acc = f(acc, e);
                }
                acc
            }
            LentRun::Empty => init,
        }
    }
}

impl<E> ExactSizeIterator for Batch<'_, E> {}

impl<E> Drop for Batch<'_, E> {
    fn drop(&mut self) {
        // A lent run drops what is left of it by itself; an iterator gives up the rest of
        // the chunk, so that the next chunk starts where this one ends.
        if let LentRun::Iter { .. } = self.events {
            for _ in self.by_ref() {}
        }
    }
}

impl<E> fmt::Debug for Batch<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").field("len", &self.len()).finish()
    }
}

/// The reply slot of a `handle_call`.
///
/// [`reply`](Reply::reply) answers after the events the callback emitted have been dispatched
/// (GenStage's `{:reply, r, events, s}`); [`reply_now`](Reply::reply_now) answers before them
/// (GenStage's `reply/2` then `{:noreply, events, s}`).
#[derive(Debug)]
pub struct Reply<M> {
    pub(crate) before: Option<M>,
    pub(crate) after: Option<M>,
}

impl<M> Reply<M> {
    pub(crate) fn new() -> Self {
        Self {
            before: None,
            after: None,
        }
    }
    /// Replies once the emitted events have been dispatched.
    pub fn reply(&mut self, msg: M) {
        self.after = Some(msg);
    }
    /// Replies before the emitted events are dispatched.
    pub fn reply_now(&mut self, msg: M) {
        self.before = Some(msg);
    }
    /// True once a reply was given.
    pub fn is_set(&self) -> bool {
        self.before.is_some() || self.after.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::StageId;
    use crate::storage::Fixed;
    use core::fmt::Write;

    /// Records the last request and answers with `answer`.
    struct Peer {
        answer: Result<(), AskError>,
        asked: Option<(SubId, usize)>,
        cancelled: Option<(SubId, Reason)>,
    }
    impl Upstream for Peer {
        fn ask(&mut self, sub: SubId, demand: usize) -> Result<(), AskError> {
            self.asked = Some((sub, demand));
            self.answer
        }
        fn cancel(&mut self, sub: SubId, reason: Reason) -> Result<(), AskError> {
            self.cancelled = Some((sub, reason));
            self.answer
        }
    }

    fn sub() -> SubId {
        SubId::new(StageId(0), StageId(1), 0)
    }

    #[test]
    fn emit_counts_what_was_emitted_and_says_when_full() {
        let mut sink = heapless::Deque::<u32, 2>::new();
        let mut out = Emit::new(EmitSink::Dyn(&mut sink));
        assert!(out.is_empty() && !out.is_full());
        assert_eq!(out.len(), 0);
        assert_eq!(out.push(1), Ok(()));
        assert!(!out.is_empty() && !out.is_full());
        assert_eq!(out.extend([2, 3, 4]), 1);
        assert_eq!((out.len(), out.is_full()), (2, true));
        assert_eq!(out.push(5), Err(5));
    }

    #[test]
    fn a_relay_emits_like_an_emit_and_passes_asks_and_cancels_on() {
        for answer in [Ok(()), Err(AskError::UnknownSubscription)] {
            let mut sink = heapless::Deque::<u32, 4>::new();
            let mut peer = Peer {
                answer,
                asked: None,
                cancelled: None,
            };
            let mut out = Relay::new(Emit::new(EmitSink::Dyn(&mut sink)), &mut peer);
            assert_eq!(out.extend([1, 2]), 2);
            assert_eq!(out.len(), 2);
            assert_eq!(out.ask(sub(), 3), answer);
            assert_eq!(out.cancel(sub(), Reason::Shutdown), answer);
            assert_eq!(peer.asked, Some((sub(), 3)));
            assert_eq!(peer.cancelled, Some((sub(), Reason::Shutdown)));
            assert_eq!(sink.len(), 2);
        }
    }

    #[test]
    fn ctx_passes_asks_and_cancels_on_and_returns_the_answer() {
        for answer in [Ok(()), Err(AskError::NotManual)] {
            let mut peer = Peer {
                answer,
                asked: None,
                cancelled: None,
            };
            let mut ctx = Ctx::new(&mut peer);
            assert_eq!(ctx.ask(sub(), 3), answer);
            assert_eq!(ctx.cancel(sub(), Reason::Shutdown), answer);
            assert_eq!(peer.asked, Some((sub(), 3)));
            assert_eq!(peer.cancelled, Some((sub(), Reason::Shutdown)));
        }
    }

    #[test]
    fn emit_relay_and_ctx_tell_the_time_they_were_given_and_zero_otherwise() {
        let mut sink = heapless::Deque::<u32, 2>::new();
        assert_eq!(Emit::new(EmitSink::Dyn(&mut sink)).now(), 0);
        assert_eq!(Emit::new(EmitSink::Dyn(&mut sink)).at(7).now(), 7);
        let mut peer = Peer {
            answer: Ok(()),
            asked: None,
            cancelled: None,
        };
        assert_eq!(
            Relay::new(Emit::new(EmitSink::Dyn(&mut sink)), &mut peer)
                .at(9)
                .now(),
            9
        );
        assert_eq!(Ctx::new(&mut peer).now(), 0);
        assert_eq!(Ctx::new(&mut peer).at(u64::MAX).now(), u64::MAX);
    }

    #[test]
    fn a_batch_knows_its_length_and_takes_all_of_it_even_when_dropped_early() {
        let mut source = 1..=10u32;
        {
            let mut batch = Batch::new(&mut source, 4, SubId::new(StageId(0), StageId(1), 0));
            assert_eq!(batch.len(), 4);
            assert_eq!(batch.size_hint(), (4, Some(4)));
            assert_eq!(batch.next(), Some(1));
            assert_eq!(batch.len(), 3);
            let mut text = heapless::String::<32>::new();
            write!(text, "{batch:?}").unwrap();
            assert_eq!(text, "Batch { len: 3 }");
            // Dropped with 2, 3 and 4 untaken.
        }
        assert_eq!(source.next(), Some(5));
        let mut source = 1..=3u32;
        let batch = Batch::new(&mut source, 2, SubId::new(StageId(0), StageId(1), 0));
        assert_eq!(batch.collect::<heapless::Vec<_, 4>>(), [1, 2]);
        assert_eq!(source.next(), Some(3));
    }

    #[test]
    fn a_batch_lent_from_a_run_folds_over_it_and_drops_what_is_left() {
        use crate::storage::Run;
        let mut run: heapless::Vec<u32, 8> = heapless::Vec::new();
        run.extend_from_slice(&[1, 2, 3, 4, 5]).unwrap();
        let mut batch = run.lend(3, sub());
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.next(), Some(1));
        assert_eq!(batch.sum::<u32>(), 2 + 3);
        assert_eq!(
            run.as_slice(),
            [4, 5],
            "the lent front is gone, the rest stays"
        );
        drop(run.lend(1, sub())); // not pulled: dropped with the batch
        assert_eq!(run.as_slice(), [5]);
    }

    #[test]
    fn extend_map_emits_a_transformed_batch_on_fixed_storage_up_to_its_room() {
        use crate::storage::Run;
        let mut input: heapless::Vec<u32, 8> = heapless::Vec::new();
        input.extend_from_slice(&[1, 2, 3, 4]).unwrap();
        let mut output: heapless::Vec<u64, 3> = heapless::Vec::new();
        let mut out = output.emit();
        assert_eq!(
            out.extend_map(input.lend(4, sub()), |e| u64::from(e) * 10),
            3
        );
        assert!(out.is_full());
        assert_eq!(output.as_slice(), [10, 20, 30]);
        assert!(
            input.is_empty(),
            "the batch's last event was dropped with it"
        );
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn extend_and_extend_map_emit_into_a_growable_run_in_bulk() {
        use crate::storage::Run;
        use alloc::vec::Vec;
        let mut input: Vec<u32> = (1..=5).collect();
        let mut output: Vec<u32> = Vec::new();
        let mut out = output.emit();
        assert_eq!(out.extend(0..3), 3);
        assert_eq!(out.extend_map(input.lend(2, sub()), |e| e * 10), 2);
        assert_eq!(out.extend(input.lend(3, sub()).map(|e| e + 100)), 3);
        assert_eq!((out.len(), out.is_full()), (8, false));
        assert_eq!(output, [0, 1, 2, 10, 20, 103, 104, 105]);
        assert!(input.is_empty());
    }

    #[test]
    fn a_reply_is_set_by_either_kind_of_answer() {
        let mut r = Reply::<u8>::new();
        assert!(!r.is_set());
        r.reply(1);
        assert!(r.is_set());
        let mut r = Reply::<u8>::new();
        r.reply_now(2);
        assert!(r.is_set());
        assert_eq!((r.before, r.after), (Some(2), None));
    }

    #[test]
    fn a_fixed_deque_is_a_sink_of_its_capacity() {
        let mut q: <Fixed<2, 2> as crate::storage::Storage>::Deque<u8> = Default::default();
        let sink: &mut dyn Sink<u8> = &mut q;
        assert_eq!((sink.len(), sink.is_full()), (0, false));
        sink.push(1).unwrap();
        sink.push(2).unwrap();
        assert_eq!((sink.len(), sink.is_full()), (2, true));
        assert_eq!(sink.push(3), Err(3));
    }
}
