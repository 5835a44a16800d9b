//! Typed handles to the stages of one simulator.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};
use genstage::StageId;

/// Names a stage of type `T` inside the [`Sim`](super::Sim) that made it.
pub struct Handle<T> {
    pub(super) id: StageId,
    pub(super) sim: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    pub(super) fn new(id: StageId, sim: u32) -> Self {
        Self {
            id,
            sim,
            _t: PhantomData,
        }
    }
    /// The stage's address.
    pub fn id(&self) -> StageId {
        self.id
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Handle<T> {}
impl<T> core::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Handle({})", self.id)
    }
}

/// Tells simulators apart, so that a handle cannot name a stage of another one.
static NEXT_SIM: AtomicU32 = AtomicU32::new(0);

/// A fresh simulator identity.
pub(super) fn next_sim() -> u32 {
    NEXT_SIM.fetch_add(1, Ordering::Relaxed)
}
