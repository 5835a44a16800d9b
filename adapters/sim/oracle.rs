//! The oracles: the invariants of the design, checked by the simulator after every step when
//! [`Sim::check_invariants`](super::Sim::check_invariants) is on.
//!
//! * **no over-delivery**: a producer never sends a subscription more events than the asks
//!   it has received on it;
//! * **conservation**: for every producer-role stage, the events its behaviour emitted are
//!   all sent, still buffered, still held, or counted as discarded on its output side;
//! * **FIFO**: on every subscription, the events of each origin go out in the order of their
//!   sequence numbers (events are told apart by the key function given to
//!   [`Sim::event_keys`](super::Sim::event_keys));
//! * **infos in place**: an info keeps its place among the events (spec §10.6). A test marks
//!   the events a `handle_info` emits ([`Sim::info_marks`](super::Sim::info_marks)) with the
//!   place its info was sent at, "behind every event of origin `o` below `s`"; once such a
//!   marker has gone out on a subscription, no event of `o` below `s` may follow it there;
//! * **nothing after cancel**: a producer sends nothing on a subscription once it has
//!   handled its cancel (or its consumer's down), and events that reach a consumer on a
//!   subscription it has closed are counted as discarded, never handed to user code;
//! * **stats**: a producer's `events_out` counter equals the events the simulator saw it
//!   send.
//!
//! A violation stops the run with a panic that names the oracle, the seed, the step and the
//! last lines of the trace.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;
use genstage::SubId;
use genstage::runtime::{StageId, StageKind, StageStats, StageSummary};

/// Which invariant a [`Violation`] broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Oracle {
    /// More events sent on a subscription than asked.
    OverDelivery,
    /// Emitted events neither sent, held nor counted.
    Conservation,
    /// Events of one origin out of order on a subscription.
    Fifo,
    /// An event that was ahead of an info went out after the info's marker.
    InfoInPlace,
    /// Events sent or handed to user code after a cancel.
    AfterCancel,
    /// Counters that disagree with what the simulator saw.
    Stats,
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OverDelivery => "over-delivery",
            Self::Conservation => "conservation",
            Self::Fifo => "fifo",
            Self::InfoInPlace => "info-in-place",
            Self::AfterCancel => "after-cancel",
            Self::Stats => "stats",
        })
    }
}

/// A broken invariant: which, at what step, and what the simulator saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant.
    pub oracle: Oracle,
    /// The delivery step it was seen at (0 before the first step).
    pub step: u64,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} violated at step {}: {}",
            self.oracle, self.step, self.detail
        )
    }
}

/// An event's identity for the oracles: where it was made and its place in that origin's
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    /// Who made it (any number the test chooses: a stage number, a producer index).
    pub origin: u64,
    /// Its place in its origin's order, increasing.
    pub seq: u64,
}

/// Reads the keys of a type-erased batch (`&Vec<E>`), if it holds events of its type.
pub(super) type KeyReader = Box<dyn Fn(&dyn Any, &mut Vec<EventKey>) -> bool>;

/// Reads which events of a type-erased batch are info markers, and the place of each.
pub(super) type MarkReader = Box<dyn Fn(&dyn Any, &mut Vec<Option<EventKey>>) -> bool>;

#[derive(Default)]
struct SubBook {
    /// Asks delivered to the producer (saturating).
    credit: u64,
    /// Events the producer sent.
    sent: u64,
    /// The producer has handled its cancel.
    closed_at_producer: bool,
    /// The consumer has handled its cancel.
    closed_at_consumer: bool,
    /// The last sequence number sent per origin.
    last: BTreeMap<u64, u64>,
    /// Its consumer was restarted: a subscribe with this id is the fresh incarnation's.
    stale: bool,
    /// Per origin, the sequence number below which nothing may follow the info markers sent
    /// so far.
    floor: BTreeMap<u64, u64>,
}

#[derive(Default)]
struct ProducerBook {
    /// Events sent on all subscriptions, copies included.
    sent: u64,
    /// Distinct events sent, when their keys are known.
    unique: BTreeSet<EventKey>,
    /// Whether every batch it sent had keys.
    keyed: bool,
    unkeyed_batches: bool,
}

/// The oracles' bookkeeping.
#[derive(Default)]
pub(super) struct Books {
    pub(super) enabled: bool,
    pub(super) readers: Vec<KeyReader>,
    pub(super) mark_readers: Vec<MarkReader>,
    /// Per (stage, origin): one past the highest sequence number delivered to the stage.
    received: BTreeMap<(StageId, u64), u64>,
    marks: Vec<Option<EventKey>>,
    subs: BTreeMap<SubId, SubBook>,
    producers: BTreeMap<StageId, ProducerBook>,
    pub(super) violation: Option<Violation>,
    scratch: Vec<EventKey>,
    /// Open subscriptions, by what the simulator saw delivered: for seeded cancels.
    pub(super) open: BTreeSet<SubId>,
}

impl Books {
    fn fail(&mut self, oracle: Oracle, step: u64, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                oracle,
                step,
                detail,
            });
        }
    }

    /// `me` sends `batch` (an `&Vec<E>`, `len` events) on `sub`.
    pub(super) fn on_send(
        &mut self,
        me: StageId,
        sub: SubId,
        batch: &dyn Any,
        len: usize,
        step: u64,
    ) {
        if !self.enabled || sub.producer != me {
            return;
        }
        let book = self.subs.entry(sub).or_default();
        if book.closed_at_producer {
            let d = alloc::format!("{me} sent {len} events on {sub} after handling its cancel");
            self.fail(Oracle::AfterCancel, step, d);
            return;
        }
        book.sent += len as u64;
        if book.sent > book.credit {
            let (sent, credit) = (book.sent, book.credit);
            let d = alloc::format!(
                "{me} has sent {sent} events on {sub}, which asked for {credit} in all"
            );
            self.fail(Oracle::OverDelivery, step, d);
            return;
        }
        let mut keys = core::mem::take(&mut self.scratch);
        keys.clear();
        let keyed = self.readers.iter().any(|r| r(batch, &mut keys));
        let p = self.producers.entry(me).or_default();
        p.sent += len as u64;
        if !keyed {
            p.unkeyed_batches = true;
            self.scratch = keys;
            return;
        }
        p.keyed = true;
        p.unique.extend(keys.iter().copied());
        let mut marks = core::mem::take(&mut self.marks);
        marks.clear();
        let marked = self.mark_readers.iter().any(|r| r(batch, &mut marks));
        let book = self.subs.get_mut(&sub).expect("entered above");
        let mut bad = None;
        let mut misplaced = None;
        for (i, k) in keys.iter().enumerate() {
            match book.last.get(&k.origin) {
                Some(&last) if k.seq <= last => {
                    bad = Some((*k, last));
                    break;
                }
                _ => {
                    book.last.insert(k.origin, k.seq);
                }
            }
            if let Some(place) = marks.get(i).copied().flatten().filter(|_| marked) {
                let f = book.floor.entry(place.origin).or_insert(0);
                *f = (*f).max(place.seq);
            } else if let Some(&floor) = book.floor.get(&k.origin)
                && k.seq < floor
            {
                misplaced = Some((*k, floor));
                break;
            }
        }
        self.scratch = keys;
        self.marks = marks;
        if let Some((k, floor)) = misplaced {
            let d = alloc::format!(
                "{me} sent event {}:{} on {sub} after an info marker placed behind every event \
                 of origin {} below {floor}",
                k.origin,
                k.seq,
                k.origin
            );
            self.fail(Oracle::InfoInPlace, step, d);
        }
        if let Some((k, last)) = bad {
            let d = alloc::format!(
                "{me} sent event {}:{} on {sub} after event {}:{last}",
                k.origin,
                k.seq,
                k.origin
            );
            self.fail(Oracle::Fifo, step, d);
        }
    }

    /// A batch (an `&Vec<E>`) is delivered to the live stage `to`: with markers in use, its
    /// keys raise what the stage is known to have received.
    pub(super) fn on_receive(&mut self, to: StageId, batch: &dyn Any) {
        if !self.enabled || self.mark_readers.is_empty() {
            return;
        }
        let mut keys = core::mem::take(&mut self.scratch);
        keys.clear();
        if self.readers.iter().any(|r| r(batch, &mut keys)) {
            for k in &keys {
                let r = self.received.entry((to, k.origin)).or_insert(0);
                *r = (*r).max(k.seq.saturating_add(1));
            }
        }
        self.scratch = keys;
    }

    /// One past the highest sequence number of `origin` delivered to `stage` (0 if none).
    pub(super) fn received_below(&self, stage: StageId, origin: u64) -> u64 {
        self.received.get(&(stage, origin)).copied().unwrap_or(0)
    }

    /// An ask of `demand` on `sub` is delivered to its live producer.
    pub(super) fn on_ask(&mut self, sub: SubId, demand: usize) {
        if !self.enabled {
            return;
        }
        let b = self.subs.entry(sub).or_default();
        b.credit = b.credit.saturating_add(demand as u64);
    }

    /// A subscribe on `sub` is delivered to its live producer; it cancels `previous` first.
    pub(super) fn on_subscribe(&mut self, sub: SubId, previous: Option<SubId>) {
        if let Some(old) = previous {
            self.close_at_producer(old);
        }
        self.open.insert(sub);
        // An id seen before, whose consumer was restarted since (or that its producer has
        // closed): a restarted consumer's new subscription, as it numbers them afresh. Its
        // books start afresh.
        if let Some(b) = self.subs.get_mut(&sub)
            && (b.closed_at_producer || b.stale)
        {
            *b = SubBook::default();
        }
    }

    /// The stage at `stage` was restarted: what it sends from now on is a fresh stage's, and
    /// the subscriptions it had as a consumer belong to the incarnation that is gone.
    pub(super) fn restarted(&mut self, stage: StageId) {
        self.producers.remove(&stage);
        self.received.retain(|(s, _), _| *s != stage);
        for (sub, b) in self.subs.iter_mut() {
            if sub.consumer == stage {
                b.stale = true;
            }
        }
    }

    /// The producer of `sub` has handled (or sent) its cancel.
    pub(super) fn close_at_producer(&mut self, sub: SubId) {
        self.open.remove(&sub);
        if self.enabled {
            self.subs.entry(sub).or_default().closed_at_producer = true;
        }
    }

    /// The consumer of `sub` has handled its cancel.
    pub(super) fn close_at_consumer(&mut self, sub: SubId) {
        self.open.remove(&sub);
        if self.enabled {
            self.subs.entry(sub).or_default().closed_at_consumer = true;
        }
    }

    /// `at` handled the news that `gone` went down: their subscriptions are over.
    pub(super) fn on_down(&mut self, at: StageId, gone: StageId) {
        let ended: Vec<SubId> = self
            .open
            .iter()
            .filter(|s| {
                (s.producer == at && s.consumer == gone) || (s.producer == gone && s.consumer == at)
            })
            .copied()
            .collect();
        for s in ended {
            self.open.remove(&s);
        }
        if !self.enabled {
            return;
        }
        for (sub, b) in self.subs.iter_mut() {
            if sub.producer == at && sub.consumer == gone {
                b.closed_at_producer = true;
            }
            if sub.consumer == at && sub.producer == gone {
                b.closed_at_consumer = true;
            }
        }
    }

    /// Events asked on `sub` (as delivered to its producer) and not sent yet.
    pub(super) fn owed(&self, sub: SubId) -> u64 {
        self.subs
            .get(&sub)
            .map_or(0, |b| b.credit.saturating_sub(b.sent))
    }

    /// Whether events on `sub` must be discarded by its consumer.
    pub(super) fn closed_at_consumer(&self, sub: SubId) -> bool {
        self.enabled && self.subs.get(&sub).is_some_and(|b| b.closed_at_consumer)
    }

    /// Events on a closed subscription were delivered: the consumer's input discards must
    /// have grown by all of them.
    pub(super) fn check_discarded(
        &mut self,
        sub: SubId,
        len: usize,
        before: &StageStats,
        after: &StageStats,
        step: u64,
    ) {
        let counted = |s: &StageStats| s.discarded.unknown_subscription + s.discarded.stopped;
        let grew = counted(after) - counted(before);
        if grew != len as u64 {
            let d = alloc::format!(
                "{} was given {len} events on {sub} after handling its cancel and discarded \
                 only {grew}",
                sub.consumer
            );
            self.fail(Oracle::AfterCancel, step, d);
        }
    }

    /// Conservation and stats for one stage, after a step.
    pub(super) fn check_stage(&mut self, s: &StageSummary, step: u64) {
        if s.kind == StageKind::Consumer {
            return;
        }
        let empty = ProducerBook::default();
        let p = self.producers.get(&s.id).unwrap_or(&empty);
        let st = &s.stats;
        let unique = if p.keyed && !p.unkeyed_batches {
            p.unique.len() as u64
        } else {
            p.sent
        };
        let d = &st.discarded;
        let output_discards =
            d.buffer_full + d.dispatcher + d.partition_cancelled + d.accumulate_full + d.abandoned;
        let accounted = unique + s.buffered as u64 + s.held as u64 + output_discards;
        if accounted != st.emitted {
            let detail = alloc::format!(
                "{} emitted {} events, but sent {unique} (distinct) + buffered {} + held {} + \
                 discarded {output_discards} = {accounted}",
                s.id,
                st.emitted,
                s.buffered,
                s.held
            );
            self.fail(Oracle::Conservation, step, detail);
            return;
        }
        if st.events_out != p.sent {
            let d = alloc::format!(
                "{} counts {} events out, the simulator saw it send {}",
                s.id,
                st.events_out,
                p.sent
            );
            self.fail(Oracle::Stats, step, d);
        }
    }
}
