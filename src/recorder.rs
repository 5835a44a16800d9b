//! [`Recorder`]: an [`Outbox`] that keeps every output in order (feature `alloc`). Tests and
//! simple run loops use it; runtimes implement [`Outbox`] themselves.

use crate::id::SubId;
use crate::message::{Outbox, Output};
use alloc::vec::Vec;

/// One recorded output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<In, Out, M> {
    /// A control output.
    Output(Output<In, M>),
    /// A batch of events for `sub`.
    Events(SubId, Vec<Out>),
}

/// An [`Outbox`] that records everything in order.
#[derive(Clone, Debug)]
pub struct Recorder<In, Out, M = ()> {
    /// What was output, oldest first.
    pub log: Vec<Record<In, Out, M>>,
}

impl<In, Out, M> Default for Recorder<In, Out, M> {
    fn default() -> Self {
        Self { log: Vec::new() }
    }
}

impl<In, Out, M> Recorder<In, Out, M> {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }
    /// Takes everything recorded so far.
    pub fn take(&mut self) -> Vec<Record<In, Out, M>> {
        core::mem::take(&mut self.log)
    }
    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }
}

impl<In, Out, M> Outbox<In, Out, M> for Recorder<In, Out, M> {
    fn push(&mut self, output: Output<In, M>) {
        self.log.push(Record::Output(output));
    }
    fn events<I: ExactSizeIterator<Item = Out>>(&mut self, sub: SubId, events: I) {
        self.log.push(Record::Events(sub, events.collect()));
    }
}
