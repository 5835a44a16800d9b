//! Automatic demand on the consumer side of one subscription (spec §5).
//!
//! A subscription in automatic mode keeps `outstanding` demand between `min` and `max`. Each
//! incoming message is cut into chunks of at most `max − min` events; a chunk that brings
//! outstanding demand down to `min` or below is followed (after `handle_events` for it) by an
//! ask that refills to exactly `max`. Events beyond what was asked are still delivered, reported
//! as excess, and do not lower demand further.
//!
//! With max 1000 / min 750 and messages of 100 events, outstanding goes 900, 800, and the third
//! message takes it to 700, so the stage asks for **300** (not 250: the refill point is per
//! chunk, not per event):
//!
//! ```
//! use genstage::demand::AutoDemand;
//! let mut d = AutoDemand::new(1000, 750);
//! let asks: Vec<usize> = (0..3)
//!     .flat_map(|_| d.plan(100).map(|c| c.ask).collect::<Vec<_>>())
//!     .collect();
//! assert_eq!(asks, [0, 0, 300]);
//! assert_eq!(d.outstanding(), 1000);
//! ```

/// Demand accounting for one automatic subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoDemand {
    max: usize,
    min: usize,
    outstanding: usize,
}

/// One chunk of an incoming message: hand `len` events to `handle_events`, then ask `ask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Events in this chunk (≥ 1).
    pub len: usize,
    /// Events in this chunk beyond what was asked for.
    pub excess: usize,
    /// Demand to ask for after the chunk was handled (0: no ask).
    pub ask: usize,
}

impl AutoDemand {
    /// A subscription that has just asked for `max` (`min < max` is checked by the options).
    pub const fn new(max: usize, min: usize) -> Self {
        Self {
            max,
            min,
            outstanding: max,
        }
    }
    /// Demand asked for and not yet received.
    pub const fn outstanding(&self) -> usize {
        self.outstanding
    }
    /// `max_demand`.
    pub const fn max(&self) -> usize {
        self.max
    }
    /// `min_demand`.
    pub const fn min(&self) -> usize {
        self.min
    }
    /// Plans the next chunk of a message with `remaining` events not yet planned, against the
    /// message's arrival `budget` (the outstanding demand when it arrived). Updates the
    /// accounting; `None` once the message is used up. [`plan`](Self::plan) wraps this.
    pub fn next_chunk(&mut self, remaining: &mut usize, budget: &mut usize) -> Option<Chunk> {
        if *remaining == 0 {
            return None;
        }
        let len = (*remaining).min(self.max - self.min);
        *remaining -= len;
        let (counted, excess) = if len > *budget {
            let counted = *budget;
            *budget = 0;
            (counted, len - counted)
        } else {
            *budget -= len;
            (len, 0)
        };
        let left = self.outstanding - counted;
        let ask = if left <= self.min {
            self.outstanding = self.max;
            self.max - left
        } else {
            self.outstanding = left;
            0
        };
        Some(Chunk { len, excess, ask })
    }

    /// Plans an incoming message of `len` events, updating the accounting as the plan is
    /// consumed. An empty message yields no chunk.
    pub fn plan(&mut self, len: usize) -> ChunkPlan<'_> {
        let budget = self.outstanding;
        ChunkPlan {
            demand: self,
            remaining: len,
            budget,
        }
    }
}

/// The chunks of one message, in order. See [`AutoDemand::plan`].
#[derive(Debug)]
pub struct ChunkPlan<'a> {
    demand: &'a mut AutoDemand,
    remaining: usize,
    budget: usize,
}

impl ChunkPlan<'_> {
    /// Events of the message not yet planned.
    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

impl Iterator for ChunkPlan<'_> {
    type Item = Chunk;
    fn next(&mut self) -> Option<Chunk> {
        self.demand
            .next_chunk(&mut self.remaining, &mut self.budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(d: &mut AutoDemand, n: usize) -> heapless::Vec<Chunk, 16> {
        d.plan(n).collect()
    }

    #[test]
    fn default_chunking_asks_after_each_half() {
        let mut d = AutoDemand::new(1000, 500);
        let c = plan(&mut d, 1000);
        assert_eq!(
            c.as_slice(),
            [
                Chunk {
                    len: 500,
                    excess: 0,
                    ask: 500
                },
                Chunk {
                    len: 500,
                    excess: 0,
                    ask: 500
                }
            ]
        );
        assert_eq!(d.outstanding(), 1000);
    }

    #[test]
    fn excess_events_are_chunked_but_do_not_lower_demand() {
        let mut d = AutoDemand::new(10, 5);
        let c = plan(&mut d, 15);
        assert_eq!(
            c.as_slice(),
            [
                Chunk {
                    len: 5,
                    excess: 0,
                    ask: 5
                },
                Chunk {
                    len: 5,
                    excess: 0,
                    ask: 5
                },
                Chunk {
                    len: 5,
                    excess: 5,
                    ask: 0
                }
            ]
        );
        assert_eq!(d.outstanding(), 10);
    }

    #[test]
    fn small_messages_accumulate_until_min_is_crossed() {
        let mut d = AutoDemand::new(100, 80);
        assert_eq!(plan(&mut d, 10)[0].ask, 0);
        assert_eq!(d.outstanding(), 90);
        assert_eq!(plan(&mut d, 10)[0].ask, 20);
        assert_eq!(d.outstanding(), 100);
    }

    #[test]
    fn empty_message_has_no_chunk() {
        let mut d = AutoDemand::new(10, 5);
        assert!(plan(&mut d, 0).is_empty());
    }

    #[test]
    fn accessors_report_the_plan_state() {
        let mut d = AutoDemand::new(10, 4);
        assert_eq!((d.max(), d.min(), d.outstanding()), (10, 4, 10));
        let mut p = d.plan(9);
        assert_eq!(p.remaining(), 9);
        assert_eq!(p.next().map(|c| c.len), Some(6));
        assert_eq!(p.remaining(), 3);
        assert_eq!(p.next().map(|c| c.len), Some(3));
        assert_eq!(p.remaining(), 0);
        assert_eq!(p.next(), None);
    }
}
