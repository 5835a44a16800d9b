//! The default dispatcher: each event to the consumer with the highest outstanding demand
//! (spec §12).
//!
//! Entries are kept sorted by descending demand, first-come first within a tie. An ask moves
//! its entry to just before the first entry with strictly smaller demand. One dispatch gives
//! each consumer at most one message. Demand of a cancelled consumer becomes `pending`: it was
//! already requested upstream, so later asks are reduced by it and leftovers pay it off.

use super::{DispatchContext, Dispatcher, drain_front};
use crate::id::SubId;
use crate::message::Report;
use crate::options::{OptionsError, SubscribeOptions};
use crate::reason::{Reason, Refusal};
use crate::storage::{DefaultStorage, Deque, List, Storage};

/// Options of the [`DemandDispatcher`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DemandOptions {
    /// The demand one consumer is expected to ask at most; larger asks are reported
    /// ([`Report::DemandAboveMax`]). Unset: the first demand ever asked.
    pub max_demand: Option<usize>,
}

/// The default dispatcher. See the [module docs](self).
pub struct DemandDispatcher<S: Storage = DefaultStorage> {
    entries: S::List<(usize, SubId)>,
    pending: usize,
    max: Option<usize>,
}

impl<S: Storage> Default for DemandDispatcher<S> {
    fn default() -> Self {
        DemandDispatcher {
            entries: Default::default(),
            pending: 0,
            max: None,
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
            return Err(OptionsError::Dispatcher(
                "expected max_demand to be equal to or greater than 1, got: 0",
            ));
        }
        Ok(DemandDispatcher {
            max: opts.max_demand,
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
}

impl<E, S: Storage> Dispatcher<E> for DemandDispatcher<S> {
    fn subscribe<C: DispatchContext<E>>(
        &mut self,
        sub: SubId,
        _opts: &SubscribeOptions<E>,
        _ctx: &mut C,
    ) -> Result<usize, Reason> {
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
        self.insert_sorted(current + demand, sub);
        let paid = self.pending.min(demand);
        self.pending -= paid;
        demand - paid
    }

    fn cancel<C: DispatchContext<E>>(&mut self, sub: SubId, _ctx: &mut C) -> usize {
        if let Some(i) = self.position(sub) {
            let (demand, _) = self.entries.remove(i);
            self.pending += demand;
        }
        0
    }

    fn dispatch<Q: Deque<E>, C: DispatchContext<E>>(&mut self, events: &mut Q, ctx: &mut C) {
        while !events.is_empty() {
            let Some(&(demand, sub)) = self.entries.as_slice().first() else {
                break;
            };
            if demand == 0 {
                break;
            }
            let n = demand.min(events.len());
            ctx.deliver(sub, drain_front(events, n));
            self.entries.remove(0);
            self.insert_sorted(demand - n, sub);
        }
        self.pending = self.pending.saturating_sub(events.len());
    }
}
