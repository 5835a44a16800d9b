//! What the runtime tells `tracing` (feature `tracing`): subscribes, cancels, refused
//! subscribes, discards, excess events and other reports, stops and panics, each with the
//! stage's name. Without the feature every function here is empty and the runtime prints
//! nothing.

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use genstage::error::SubscribeError;

use genstage::runtime::Report;

use genstage::{Reason, SubId};

/// A subscribe went out.
pub(super) fn subscribe(stage: &str, sub: SubId) {
    #[cfg(feature = "tracing")]
    tracing::debug!(stage, %sub, "subscribe");
}

/// A cancel went out (either direction).
pub(super) fn cancel(stage: &str, sub: SubId, reason: Reason) {
    #[cfg(feature = "tracing")]
    tracing::debug!(stage, %sub, %reason, "cancel");
}

/// A subscribe was refused before anything was sent.
pub(super) fn refused(stage: &str, error: &SubscribeError) {
    #[cfg(feature = "tracing")]
    tracing::warn!(stage, %error, "subscribe refused");
}

/// A report of the core: discards, excess events, protocol errors.
pub(super) fn report(stage: &str, report: &Report) {
    #[cfg(feature = "tracing")]
    match report {
        Report::Discarded { count, reason, log } => {
            if *log {
                tracing::warn!(stage, count, ?reason, "discarded events");
            } else {
                tracing::trace!(stage, count, ?reason, "discarded events");
            }
        }
        Report::Excess { sub, excess } => {
            tracing::warn!(stage, %sub, excess, "events beyond the demand asked");
        }
        other => tracing::info!(stage, report = ?other, "protocol report"),
    }
}

/// A consumer supervisor's child did not start (or restart).
#[cfg(not(loom))]
pub(super) fn child_not_started(stage: &str, reason: Reason) {
    #[cfg(feature = "tracing")]
    tracing::warn!(stage, %reason, "a child did not start");
}

/// A consumer supervisor's child ended abnormally.
#[cfg(not(loom))]
pub(super) fn child_failed(stage: &str, child: super::ChildId, reason: Reason) {
    #[cfg(feature = "tracing")]
    tracing::warn!(stage, %child, %reason, "a child ended abnormally");
}

/// A consumer supervisor went over its restart intensity.
#[cfg(not(loom))]
pub(super) fn restart_limit(stage: &str, max_restarts: u32, period: core::time::Duration) {
    #[cfg(feature = "tracing")]
    tracing::error!(
        stage,
        max_restarts,
        ?period,
        "too many restarts; the supervisor stops"
    );
}

/// A stopping consumer supervisor left children running.
#[cfg(not(loom))]
pub(super) fn children_left_running(stage: &str, count: usize) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        stage,
        count,
        "children still running when the supervisor stopped"
    );
}

/// The stage stopped.
pub(super) fn stopped(stage: &str, reason: Reason) {
    #[cfg(feature = "tracing")]
    tracing::info!(stage, %reason, "stopped");
}

/// A callback panicked.
pub(super) fn panicked(stage: &str, message: &str) {
    #[cfg(feature = "tracing")]
    tracing::error!(stage, message, "a callback panicked; the stage stops");
}
