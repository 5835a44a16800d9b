//! The default dispatcher: each event to the consumer with the highest outstanding demand
//! (spec §12).
//!
//! Entries are kept sorted by descending demand, first-come first within a tie (the one
//! exception: right after the optional first-dispatch shuffle). An ask moves its entry to just
//! before the first entry with strictly smaller demand. One dispatch gives
//! each consumer at most one message. Demand of a cancelled consumer becomes `pending`: it was
//! already requested upstream, so later asks are reduced by it and leftovers pay it off.
//!
//! A subscription carrying a `selector` or a `partition` is refused
//! ([`Refusal::SelectorNotSupported`], [`Refusal::PartitionNotSupported`]): this dispatcher
//! would ignore them, and a consumer that asked for some events only must not silently get
//! all of them.
//!
//! Options ([`DemandOptions`], spec §12.9): an explicit `max_demand` for the warning of
//! §12.4, and `shuffle_demands_on_first_dispatch` with a seed, which spreads the first
//! dispatch across consumers whose demands tie (GenStage #277).
//!
//! ```
//! use genstage::dispatcher::{DemandDispatcher, DemandOptions, Dispatcher, Recorded};
//! use genstage::{StageId, SubId, Subscribe};
//!
//! let (s1, s2) = (SubId::new(StageId(0), StageId(1), 0), SubId::new(StageId(0), StageId(2), 0));
//! let opts = Subscribe::<char>::new().validate().unwrap();
//! let mut d: DemandDispatcher = DemandDispatcher::with_options(DemandOptions::new().max_demand(3)).unwrap();
//! let mut ctx = Recorded::default();
//! d.subscribe(s1, &opts, &mut ctx).unwrap();
//! d.subscribe(s2, &opts, &mut ctx).unwrap();
//! assert_eq!(d.ask(s1, 3, &mut ctx), 3);
//! assert_eq!(d.ask(s2, 2, &mut ctx), 2);
//! let mut events: std::collections::VecDeque<char> = "abcdef".chars().collect();
//! d.dispatch(&mut events, &mut ctx);
//! // The highest demand first, one message each; what nobody asked for is left over.
//! assert_eq!(ctx.sent, vec![(s1, vec!['a', 'b', 'c']), (s2, vec!['d', 'e'])]);
//! assert_eq!(events, ['f']);
//! ```

use super::{DispatchContext, Dispatcher, drain_front};
use crate::id::SubId;
use crate::message::Report;
use crate::options::{OptionsError, SubscribeOptions};
use crate::reason::{Reason, Refusal};
use crate::rng::SplitMix64;
use crate::storage::{DefaultStorage, Deque, List, Storage};

/// Options of the [`DemandDispatcher`] (spec §12.9), as a builder.
///
/// ```
/// use genstage::dispatcher::DemandOptions;
/// let opts = DemandOptions::new().max_demand(50).shuffle_demands_on_first_dispatch(7);
/// assert_eq!(opts.max(), Some(50));
/// assert_eq!(opts.shuffle_seed(), Some(7));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DemandOptions {
    max_demand: Option<usize>,
    shuffle_seed: Option<u64>,
}

impl DemandOptions {
    /// The defaults: no explicit `max_demand`, no shuffle.
    pub const fn new() -> Self {
        Self {
            max_demand: None,
            shuffle_seed: None,
        }
    }
    /// The demand one consumer is expected to ask at most (≥ 1); larger asks are reported
    /// ([`Report::DemandAboveMax`]) and served as usual. Unset, the first demand ever asked
    /// sets it (spec §12.4). Useful when consumers ask manually with varying amounts (#291).
    pub const fn max_demand(mut self, max: usize) -> Self {
        self.max_demand = Some(max);
        self
    }
    /// Shuffle the consumers once, on the first dispatch that can send anything, with a
    /// [SplitMix64] seeded by `seed`: the same seed always gives the
    /// same order. Later dispatches follow the demands as usual.
    ///
    /// Without it, consumers that tie on demand are served in subscription order, so with
    /// many producers the first consumer gets every producer's first batch.
    ///
    /// Two departures from GenStage, which shuffles on the very first dispatch: a dispatch
    /// with nobody to send to (events emitted before anyone subscribed or asked) does not use
    /// the shuffle up, and after the shuffle the consumers with demand stay ahead of those
    /// without (in shuffled order), where GenStage could put a zero-demand consumer first and
    /// leave over events that others had asked for.
    pub const fn shuffle_demands_on_first_dispatch(mut self, seed: u64) -> Self {
        self.shuffle_seed = Some(seed);
        self
    }
    /// The explicit `max_demand`, if set.
    pub const fn max(&self) -> Option<usize> {
        self.max_demand
    }
    /// The shuffle seed, if the shuffle is on.
    pub const fn shuffle_seed(&self) -> Option<u64> {
        self.shuffle_seed
    }
}

/// The default dispatcher. See the [module docs](self).
pub struct DemandDispatcher<S: Storage = DefaultStorage> {
    entries: S::List<(usize, SubId)>,
    pending: usize,
    max: Option<usize>,
    /// The seed of the shuffle still to come, if any.
    shuffle: Option<u64>,
}

impl<S: Storage> Default for DemandDispatcher<S> {
    fn default() -> Self {
        Self {
            entries: Default::default(),
            pending: 0,
            max: None,
            shuffle: None,
        }
    }
}

impl<S: Storage> DemandDispatcher<S> {
    /// A dispatcher with default options.
    pub fn new() -> Self {
        Self::default()
    }
    /// A dispatcher with options (`max_demand` must be ≥ 1).
    pub fn with_options(opts: DemandOptions) -> Result<Self, OptionsError> {
        if opts.max_demand == Some(0) {
            return Err(OptionsError::DispatcherMaxDemandZero);
        }
        Ok(Self {
            max: opts.max_demand,
            shuffle: opts.shuffle_seed,
            ..Self::default()
        })
    }
    /// Demand of cancelled consumers not yet paid off by leftovers.
    pub fn pending(&self) -> usize {
        self.pending
    }
    /// `(outstanding demand, subscription)` in dispatch order.
    pub fn entries(&self) -> &[(usize, SubId)] {
        self.entries.as_slice()
    }
    /// The expected maximum demand, once known.
    pub fn max_demand(&self) -> Option<usize> {
        self.max
    }
    /// True while the first-dispatch shuffle is still to come.
    pub fn shuffle_pending(&self) -> bool {
        self.shuffle.is_some()
    }

    fn position(&self, sub: SubId) -> Option<usize> {
        self.entries.as_slice().iter().position(|e| e.1 == sub)
    }

    /// Inserts before the first entry with strictly smaller demand.
    fn insert_sorted(&mut self, demand: usize, sub: SubId) {
        let at = self
            .entries
            .as_slice()
            .iter()
            .position(|e| e.0 < demand)
            .unwrap_or(self.entries.len());
        // Removing an entry just made room, so this cannot be refused.
        let inserted = self.entries.insert(at, (demand, sub));
        debug_assert!(inserted.is_ok(), "an entry was removed just before");
    }

    /// The first-dispatch shuffle (spec §12.5 step 1), once some entry has demand.
    ///
    /// GenStage shuffles on the very first dispatch, even one with no consumer to send to (which
    /// wastes the option when events are emitted before anyone subscribes), and may then stop
    /// at a zero-demand entry that the shuffle put first, leaving events over that others had
    /// asked for. Here the shuffle waits for a dispatch that can send something, and entries
    /// with demand stay ahead of those without (their relative order shuffled).
    fn shuffle_once(&mut self) {
        let Some(seed) = self.shuffle else { return };
        let entries = self.entries.as_mut_slice();
        if !entries.iter().any(|e| e.0 > 0) {
            return;
        }
        self.shuffle = None;
        SplitMix64::new(seed).shuffle(entries);
        // Stable partition: entries with demand first.
        let mut with_demand = 0;
        for i in 0..entries.len() {
            if entries[i].0 > 0 {
                entries[with_demand..=i].rotate_right(1);
                with_demand += 1;
            }
        }
    }
}

impl<E, S: Storage> Dispatcher<E> for DemandDispatcher<S> {
    fn subscribe<C: DispatchContext<E>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        _ctx: &mut C,
    ) -> Result<usize, Reason> {
        if opts.selector().is_some() {
            return Err(Reason::Refused(Refusal::SelectorNotSupported));
        }
        if opts.partition().is_some() {
            return Err(Reason::Refused(Refusal::PartitionNotSupported));
        }
        self.entries
            .push((0, sub))
            .map_err(|_| Reason::Refused(Refusal::Full))?;
        Ok(0)
    }

    fn ask<C: DispatchContext<E>>(&mut self, sub: SubId, demand: usize, ctx: &mut C) -> usize {
        let max = *self.max.get_or_insert(demand);
        if demand > max {
            ctx.report(Report::DemandAboveMax { sub, max, demand });
        }
        let Some(i) = self.position(sub) else {
            return 0;
        };
        let (current, _) = self.entries.remove(i);
        self.insert_sorted(current.saturating_add(demand), sub);
        let paid = self.pending.min(demand);
        self.pending -= paid;
        demand - paid
    }

    fn cancel<C: DispatchContext<E>>(&mut self, sub: SubId, _ctx: &mut C) -> usize {
        if let Some(i) = self.position(sub) {
            let (demand, _) = self.entries.remove(i);
            self.pending = self.pending.saturating_add(demand);
        }
        0
    }

    /// The consumers' outstanding demand, all of it: buffered events go to them before any
    /// newer event, whatever `pending` says about upstream demand.
    fn ready(&self) -> usize {
        self.entries.as_slice().iter().map(|e| e.0).sum()
    }

    fn dispatch<Q: Deque<E>, C: DispatchContext<E>>(&mut self, events: &mut Q, ctx: &mut C) {
        if !events.is_empty() {
            self.shuffle_once();
        }
        while !events.is_empty() {
            let Some(&(demand, sub)) = self.entries.as_slice().first() else {
                break;
            };
            if demand == 0 {
                break;
            }
            let n = demand.min(events.len());
            #[cfg(feature = "alloc")]
            if n == events.len()
                && let Some(all) = events.as_vec()
            {
                // Everything to one consumer: the whole buffer changes hands.
                ctx.deliver_all(sub, all);
                self.entries.remove(0);
                self.insert_sorted(demand - n, sub);
                continue;
            }
            ctx.deliver(sub, drain_front(events, n));
            self.entries.remove(0);
            self.insert_sorted(demand - n, sub);
        }
        self.pending = self.pending.saturating_sub(events.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_report_what_was_set() {
        let none = DemandOptions::new();
        assert_eq!((none.max(), none.shuffle_seed()), (None, None));
        let set = DemandOptions::new()
            .max_demand(7)
            .shuffle_demands_on_first_dispatch(42);
        assert_eq!((set.max(), set.shuffle_seed()), (Some(7), Some(42)));
    }

    #[test]
    fn the_first_shuffle_keeps_consumers_with_demand_first_in_shuffled_order() {
        use crate::id::StageId;
        use crate::storage::Fixed;
        let sub = |n: u32| SubId::new(StageId(0), StageId(n), 0);
        let start = [
            (2, sub(1)),
            (0, sub(2)),
            (2, sub(3)),
            (0, sub(4)),
            (2, sub(5)),
        ];
        for seed in 0..32 {
            let opts = DemandOptions::new().shuffle_demands_on_first_dispatch(seed);
            let mut d = DemandDispatcher::<Fixed<8, 8>>::with_options(opts).unwrap();
            for e in start {
                d.entries.push(e).unwrap();
            }
            d.shuffle_once();
            let mut want = start;
            SplitMix64::new(seed).shuffle(&mut want);
            let with: heapless::Vec<_, 8> = want.iter().filter(|e| e.0 > 0).copied().collect();
            let without: heapless::Vec<_, 8> = want.iter().filter(|e| e.0 == 0).copied().collect();
            let got = d.entries.as_slice();
            assert_eq!(&got[..3], with.as_slice(), "seed {seed}");
            assert_eq!(&got[3..], without.as_slice(), "seed {seed}");
            assert!(d.shuffle.is_none(), "the shuffle happens once");
        }
    }
}
