//! The invariants, each a check over a run's journal and snapshots: the demand walk against
//! the reference model (invariant 4, also used by invariant 1), no over-delivery, conservation
//! of events, FIFO and info markers, and nothing after cancel.

use crate::journal::{Cb, Ev, J, Wire};
use crate::model::{Step, reference_chunks};
use crate::router::{P, PC, RAW, Run};
use genstage::runtime::{Output, Record, Report, ToConsumer, ToProducer};
use genstage::{StageId, SubId};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

// ---------------------------------------------------------------------------------------------
// Invariant 4: demand, walked with the reference model
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct ModelSub {
    /// `None` until `handle_subscribe` answered.
    manual: Option<bool>,
    max: usize,
    min: usize,
    d: usize,
    /// Still known to its consumer (no cancel or down arrived yet).
    alive: bool,
    /// Producer_consumer only: messages queued, not yet taken up.
    msgs: VecDeque<usize>,
    /// Steps still expected, in order.
    plan: VecDeque<Step>,
    /// Demand asked on this subscription (every ask output).
    asked: u64,
    /// Events handed to the consumer's `handle_events` from this subscription.
    events: u64,
}

#[derive(Clone, Copy)]
pub(crate) struct Checks {
    pub(crate) asks: bool,
    pub(crate) excess: bool,
    pub(crate) outstanding: bool,
}

/// Walks the journal with the reference model of every subscription of every consumer-role
/// stage and checks each `handle_events` call, each `Ask` of an automatic subscription and each
/// excess report (as `checks` says) against it, plus the stages' outstanding counters at every
/// snapshot.
pub(crate) fn check_demand(run: &Run, checks: Checks) -> Result<(), TestCaseError> {
    let mut subs: BTreeMap<SubId, ModelSub> = BTreeMap::new();
    let mut stopped: HashSet<StageId> = HashSet::new();
    let mut snaps = run.snaps.iter().peekable();
    let keep = |s: &Step| match s {
        Step::Chunk(_) => true,
        Step::Ask(_) => checks.asks,
        Step::Excess(_) => checks.excess,
    };
    for i in 0..=run.journal.len() {
        while let Some(snap) = snaps.next_if(|s| s.at == i) {
            for st in &snap.stages {
                for (sub, stats) in &st.subs {
                    let m = subs.get(sub).expect("subscribed through the journal");
                    prop_assert!(
                        m.plan.is_empty(),
                        "#{i}: {sub} still owes {:?} after the operation",
                        m.plan
                    );
                    if st.id == PC && st.stopped.is_none() {
                        // Queued messages are the ones not yet taken up.
                        let queued: usize = subs
                            .iter()
                            .filter(|(s, _)| s.consumer == PC)
                            .map(|(_, m)| m.msgs.iter().sum::<usize>())
                            .sum();
                        prop_assert_eq!(queued, st.queued, "#{}: producer_consumer queue", i);
                    }
                    if checks.outstanding && m.manual == Some(false) && st.stopped.is_none() {
                        prop_assert_eq!(
                            stats.outstanding as usize,
                            m.d,
                            "#{}: outstanding demand of {}",
                            i,
                            sub
                        );
                        prop_assert!(m.d <= m.max);
                    }
                    if st.stopped.is_none() {
                        prop_assert_eq!(stats.asked, m.asked, "#{}: demand asked on {}", i, sub);
                        prop_assert_eq!(stats.events, m.events, "#{}: events on {}", i, sub);
                    }
                }
            }
        }
        let Some(j) = run.journal.get(i) else { break };
        // Which subscription and step this entry is, if any.
        let mut step: Option<(SubId, Step)> = None;
        match j {
            J::In { at, wire } if *at != P && *at != RAW => {
                if *at != PC {
                    // A consumer does everything for a message before its next input.
                    for (sub, m) in subs.range(..).filter(|(s, _)| s.consumer == *at) {
                        prop_assert!(m.plan.is_empty(), "#{i}: {sub} still owes {:?}", m.plan);
                    }
                }
                if stopped.contains(at) {
                    continue;
                }
                match wire {
                    Wire::Events(sub, ids) if !ids.is_empty() => {
                        if let Some(m) = subs.get_mut(sub)
                            && m.alive
                        {
                            if *at == PC {
                                m.msgs.push_back(ids.len());
                            } else {
                                m.plan = plan_for(m, ids.len()).into_iter().filter(keep).collect();
                            }
                        }
                    }
                    Wire::ToConsumer(ToConsumer::Cancel { sub, .. }) => {
                        if let Some(m) = subs.get_mut(sub) {
                            m.alive = false;
                        }
                    }
                    Wire::Down(stage, _) => {
                        for (_, m) in subs
                            .iter_mut()
                            .filter(|(s, _)| s.consumer == *at && s.producer == *stage)
                        {
                            m.alive = false;
                        }
                    }
                    _ => {}
                }
            }
            J::Out {
                at,
                rec: Record::Output(out),
            } => match out {
                Output::ToProducer(ToProducer::Subscribe { sub, opts, .. }) => {
                    prop_assert_eq!(sub.consumer, *at);
                    subs.insert(
                        *sub,
                        ModelSub {
                            manual: None,
                            max: opts.max_demand(),
                            min: opts.min_demand(),
                            d: 0,
                            alive: true,
                            msgs: VecDeque::new(),
                            plan: VecDeque::new(),
                            asked: 0,
                            events: 0,
                        },
                    );
                }
                Output::ToProducer(ToProducer::Ask { sub, demand }) => {
                    let m = subs.get_mut(sub);
                    prop_assert!(m.is_some(), "#{i}: ask on {sub}, never subscribed");
                    let m = m.expect("checked");
                    m.asked += *demand as u64;
                    if m.manual != Some(true) && checks.asks {
                        step = Some((*sub, Step::Ask(*demand)));
                    }
                }
                Output::Report(Report::Excess { sub, excess }) if checks.excess => {
                    step = Some((*sub, Step::Excess(*excess)));
                }
                Output::Stop(_) => {
                    stopped.insert(*at);
                    for (_, m) in subs.iter_mut().filter(|(s, _)| s.consumer == *at) {
                        m.plan.clear();
                    }
                }
                _ => {}
            },
            J::Cb {
                cb: Cb::Subscribed(sub, manual),
                ..
            } => {
                let m = subs.get_mut(sub).expect("subscribe output comes first");
                m.manual = Some(*manual);
                if !*manual {
                    m.d = m.max;
                    if checks.asks {
                        m.plan.push_back(Step::Ask(m.max));
                    }
                }
            }
            J::Cb {
                at,
                cb: Cb::Events(sub, ids),
            } if *at != P => {
                if let Some(m) = subs.get_mut(sub) {
                    m.events += ids.len() as u64;
                }
                step = Some((*sub, Step::Chunk(ids.len())));
            }
            _ => {}
        }
        if let Some((sub, got)) = step {
            let m = subs.get_mut(&sub);
            prop_assert!(m.is_some(), "#{i}: {got:?} on {sub}, never subscribed");
            let m = m.expect("checked");
            if m.plan.is_empty()
                && sub.consumer == PC
                && let Some(n) = m.msgs.pop_front()
            {
                m.plan = plan_for(m, n).into_iter().filter(keep).collect();
            }
            let want = m.plan.pop_front();
            prop_assert_eq!(
                Some(got),
                want,
                "#{}: {} did {:?}; the reference model expected {:?} (then {:?})",
                i,
                sub,
                got,
                want,
                m.plan
            );
        }
    }
    Ok(())
}

/// The steps for a message of `n` events taken up now.
fn plan_for(m: &mut ModelSub, n: usize) -> Vec<Step> {
    match (m.alive, m.manual) {
        // Manual (spec §6.2), or queued from a subscription since removed (spec §16.8): one
        // chunk, no ask, no excess check.
        (true, Some(true)) | (false, _) => vec![Step::Chunk(n)],
        (true, _) => reference_chunks(m.max, m.min, &mut m.d, n),
    }
}

// ---------------------------------------------------------------------------------------------
// The invariants
// ---------------------------------------------------------------------------------------------

/// Invariant 1: on every subscription, at every point of the run, a producer has sent at most
/// what it was asked for; excess from the raw peer is reported as the model says and counted.
pub(crate) fn check_no_over_delivery(run: &Run) -> Result<(), TestCaseError> {
    let mut asked: HashMap<SubId, usize> = HashMap::new();
    let mut sent: HashMap<SubId, usize> = HashMap::new();
    let mut reported: HashMap<StageId, u64> = HashMap::new();
    for (i, j) in run.journal.iter().enumerate() {
        match j {
            J::In {
                at,
                wire: Wire::ToProducer(ToProducer::Ask { sub, demand }),
            } if *at != RAW => *asked.entry(*sub).or_default() += demand,
            J::Out {
                at,
                rec: Record::Events(sub, ids),
            } if *at != RAW => {
                prop_assert_eq!(sub.producer, *at);
                let s = sent.entry(*sub).or_default();
                *s += ids.len();
                let a = asked.get(sub).copied().unwrap_or(0);
                prop_assert!(*s <= a, "#{i}: {at} sent {s} events on {sub}, asked {a}");
            }
            J::Out {
                at,
                rec: Record::Output(Output::Report(Report::Excess { sub, excess })),
            } => {
                prop_assert_eq!(
                    sub.producer,
                    RAW,
                    "#{}: excess reported on a real producer's subscription",
                    i
                );
                *reported.entry(*at).or_default() += *excess as u64;
            }
            _ => {}
        }
    }
    let last = run.snaps.last().expect("a final snapshot");
    for st in &last.stages {
        prop_assert_eq!(
            st.stats.excess,
            reported.get(&st.id).copied().unwrap_or(0),
            "{}: excess counted vs reported",
            st.id
        );
    }
    check_demand(
        run,
        Checks {
            asks: false,
            excess: true,
            outstanding: true,
        },
    )
}

/// Invariant 2: every event is accounted for at every snapshot — at its producer it was sent,
/// is buffered or held, or was counted as discarded; on the wire it is in flight; at its
/// consumer-role stage it was handed to `handle_events`, is queued, or was counted as discarded.
/// No id is sent or handled twice, nor anything that was never emitted or never arrived.
pub(crate) fn check_conservation(run: &Run) -> Result<(), TestCaseError> {
    let mut emitted: HashMap<StageId, HashSet<Ev>> = HashMap::new();
    let mut sent: HashMap<StageId, usize> = HashMap::new();
    let mut sent_ids: HashSet<Ev> = HashSet::new();
    let mut arrived: HashMap<StageId, HashSet<Ev>> = HashMap::new();
    let mut arrived_stopped: HashMap<StageId, usize> = HashMap::new();
    let mut arrived_from: HashMap<StageId, usize> = HashMap::new();
    let mut handled: HashMap<StageId, HashSet<Ev>> = HashMap::new();
    let mut stopped: HashSet<StageId> = HashSet::new();
    let mut snaps = run.snaps.iter().peekable();
    let len = |m: &HashMap<StageId, HashSet<Ev>>, id: StageId| m.get(&id).map_or(0, HashSet::len);
    let num = |m: &HashMap<StageId, usize>, id: StageId| m.get(&id).copied().unwrap_or(0);
    for i in 0..=run.journal.len() {
        while let Some(snap) = snaps.next_if(|s| s.at == i) {
            for st in &snap.stages {
                let d = &st.stats.discarded;
                let out_lost = d.buffer_full
                    + d.accumulate_full
                    + d.dispatcher
                    + d.partition_cancelled
                    + d.abandoned;
                let in_lost = d.unknown_subscription + d.stopped + d.input_queue_full;
                if st.id == P || st.id == PC {
                    let (e, s) = (len(&emitted, st.id), num(&sent, st.id));
                    prop_assert_eq!(st.stats.emitted as usize, e, "#{}: {} emitted", i, st.id);
                    prop_assert_eq!(st.stats.events_out as usize, s, "#{}: {} sent", i, st.id);
                    prop_assert_eq!(
                        e - s,
                        st.buffered + st.held + out_lost as usize,
                        "#{}: {} emitted {} and sent {}: buffered {}, held {}, discarded {:?}",
                        i,
                        st.id,
                        e,
                        s,
                        st.buffered,
                        st.held,
                        d
                    );
                }
                if st.id != P {
                    let (a, h) = (len(&arrived, st.id), len(&handled, st.id));
                    prop_assert_eq!(
                        st.stats.events_in as usize,
                        a - num(&arrived_stopped, st.id),
                        "#{}: {} events in",
                        i,
                        st.id
                    );
                    prop_assert_eq!(
                        a - h,
                        st.queued + in_lost as usize,
                        "#{}: {} got {} and handled {}: queued {}, discarded {:?}",
                        i,
                        st.id,
                        a,
                        h,
                        st.queued,
                        d
                    );
                }
            }
            for from in [P, PC, RAW] {
                prop_assert_eq!(
                    num(&sent, from) - num(&arrived_from, from),
                    snap.in_flight.get(&from).copied().unwrap_or(0),
                    "#{}: events from {} in flight",
                    i,
                    from
                );
            }
        }
        let Some(j) = run.journal.get(i) else { break };
        match j {
            J::Cb {
                at,
                cb: Cb::Emitted(ids),
            } => {
                let set = emitted.entry(*at).or_default();
                for id in ids {
                    prop_assert!(set.insert(*id), "#{i}: {id} emitted twice");
                }
            }
            J::Out {
                at,
                rec: Record::Events(sub, ids),
            } => {
                prop_assert_eq!(sub.producer, *at);
                prop_assert!(!ids.is_empty(), "#{i}: an empty events message");
                if *at == RAW {
                    emitted.entry(RAW).or_default().extend(ids.iter().copied());
                }
                let mine = emitted.entry(*at).or_default();
                for id in ids {
                    prop_assert!(mine.contains(id), "#{i}: {at} sent {id}, never emitted");
                    prop_assert!(sent_ids.insert(*id), "#{i}: {id} sent twice");
                }
                *sent.entry(*at).or_default() += ids.len();
            }
            J::In {
                at,
                wire: Wire::Events(sub, ids),
            } => {
                let set = arrived.entry(*at).or_default();
                for id in ids {
                    prop_assert!(set.insert(*id), "#{i}: {id} arrived twice at {at}");
                }
                *arrived_from.entry(sub.producer).or_default() += ids.len();
                if stopped.contains(at) {
                    *arrived_stopped.entry(*at).or_default() += ids.len();
                }
            }
            J::Cb {
                at,
                cb: Cb::Events(_, ids),
            } => {
                let got = arrived.entry(*at).or_default();
                let set = handled.entry(*at).or_default();
                for id in ids {
                    prop_assert!(got.contains(id), "#{i}: {at} handled {id}, never arrived");
                    prop_assert!(set.insert(*id), "#{i}: {at} handled {id} twice");
                }
            }
            J::Out {
                at,
                rec: Record::Output(Output::Stop(_)),
            } => {
                stopped.insert(*at);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Invariant 3. With `infos` false: per-subscription FIFO (what a producer sends on a
/// subscription, what arrives and what `handle_events` gets are in emission order), and a
/// producer_consumer handles its input in arrival order across all its producers. With `infos`
/// true: info markers keep their place (each info is handled after every event emitted or
/// queued before it was given has been sent or handled), and infos are handled in order.
pub(crate) fn check_fifo(run: &Run, infos: bool) -> Result<(), TestCaseError> {
    let mut last_sent: HashMap<SubId, Ev> = HashMap::new();
    let mut last_arrived: HashMap<SubId, Ev> = HashMap::new();
    let mut last_handled: HashMap<SubId, Ev> = HashMap::new();
    // For the info checks: where each event was emitted, sent, arrived and handled.
    let mut emitted_at: Vec<(Ev, StageId, usize)> = Vec::new();
    let mut sent_at: HashMap<Ev, usize> = HashMap::new();
    let mut arrived_pc: Vec<(Ev, usize)> = Vec::new();
    let mut handled_pc: HashMap<Ev, usize> = HashMap::new();
    let mut issued: Vec<(StageId, u32, usize)> = Vec::new();
    let mut info_handled: HashMap<u32, usize> = HashMap::new();
    let mut handled_infos: HashMap<StageId, Vec<u32>> = HashMap::new();
    // accumulating[i]: positions ≤ i at which the producer was accumulating.
    let mut accumulating: Vec<usize> = Vec::with_capacity(run.journal.len());
    let mut acc = run.cfg.accumulate;
    let mut pc_arrival_index: HashMap<Ev, usize> = HashMap::new();
    let mut last_pc_arrival_index: Option<usize> = None;
    for (i, j) in run.journal.iter().enumerate() {
        match j {
            J::Mode { at, accumulate } if *at == P => acc = *accumulate,
            J::Cb {
                at,
                cb: Cb::Emitted(ids),
            } => emitted_at.extend(ids.iter().map(|&e| (e, *at, i))),
            J::Out {
                at,
                rec: Record::Events(sub, ids),
            } => {
                for &e in ids {
                    if let Some(&prev) = last_sent.get(sub) {
                        prop_assert!(
                            infos || prev < e,
                            "#{i}: {at} sent {e} after {prev} on {sub}"
                        );
                    }
                    last_sent.insert(*sub, e);
                    sent_at.insert(e, i);
                }
            }
            J::In {
                at,
                wire: Wire::Events(sub, ids),
            } => {
                for &e in ids {
                    if let Some(&prev) = last_arrived.get(sub) {
                        prop_assert!(infos || prev < e, "#{i}: {e} arrived after {prev} on {sub}");
                    }
                    last_arrived.insert(*sub, e);
                    if *at == PC {
                        pc_arrival_index.insert(e, arrived_pc.len());
                        arrived_pc.push((e, i));
                    }
                }
            }
            J::Cb {
                at,
                cb: Cb::Events(sub, ids),
            } => {
                for &e in ids {
                    if let Some(&prev) = last_handled.get(sub) {
                        prop_assert!(
                            infos || prev < e,
                            "#{i}: {at} handled {e} after {prev} from {sub}"
                        );
                    }
                    last_handled.insert(*sub, e);
                    if *at == PC {
                        // Across all its producers, in arrival order (spec §16.3, §20.4).
                        let k = pc_arrival_index[&e];
                        if let Some(prev) = last_pc_arrival_index {
                            prop_assert!(
                                infos || prev < k,
                                "#{i}: the producer_consumer handled {e} out of arrival order"
                            );
                        }
                        last_pc_arrival_index = Some(k);
                        handled_pc.insert(e, i);
                    }
                }
            }
            J::InfoIssued { at, id } => issued.push((*at, *id, i)),
            J::Cb {
                at,
                cb: Cb::Info(id),
            } => {
                info_handled.insert(*id, i);
                handled_infos.entry(*at).or_default().push(*id);
            }
            _ => {}
        }
        let before = accumulating.last().copied().unwrap_or(0);
        accumulating.push(before + usize::from(acc));
    }
    if !infos {
        return Ok(());
    }
    let accumulating_within =
        |a: usize, b: usize| accumulating[b] - if a == 0 { 0 } else { accumulating[a - 1] } > 0;
    for &(at, id, t) in &issued {
        let Some(&h) = info_handled.get(&id) else {
            continue;
        };
        // Every event emitted before the info was given is sent before it is handled, unless
        // it was never sent (discarded, or still buffered) or it may have been held by
        // accumulate mode, which infos do not wait for (spec §8.5, Q10).
        for &(e, x, pe) in emitted_at.iter().take_while(|&&(_, _, pe)| pe < t) {
            if x != at {
                continue;
            }
            if let Some(&ps) = sent_at.get(&e)
                && ps > h
                && !(at == P && accumulating_within(pe, h))
            {
                prop_assert!(
                    false,
                    "#{h}: info {id} handled at {at} before event {e} (emitted #{pe}, before the \
                     info was given at #{t}) was sent at #{ps}"
                );
            }
        }
        // At a producer_consumer, every event queued before the info is handled before it.
        if at == PC {
            for &(e, pa) in arrived_pc.iter().take_while(|&&(_, pa)| pa < t) {
                if let Some(&ph) = handled_pc.get(&e) {
                    prop_assert!(
                        ph < h,
                        "#{h}: info {id} handled before event {e} (arrived #{pa}, before the info \
                         was given at #{t}) was handled at #{ph}"
                    );
                }
            }
        }
    }
    // Infos are handled in the order they were given (and none is skipped).
    for (at, got) in &handled_infos {
        let given: Vec<u32> = issued
            .iter()
            .filter(|(x, _, _)| x == at)
            .map(|&(_, id, _)| id)
            .collect();
        prop_assert!(
            given.starts_with(got),
            "{at}: infos given {given:?}, handled {got:?}"
        );
    }
    Ok(())
}

/// Invariant 5: once `handle_cancel` ran for a subscription, its consumer's `handle_events`
/// never sees it again, and its producer sends nothing more on it; once a stage stopped, none
/// of its callbacks runs and it outputs nothing.
pub(crate) fn check_nothing_after_cancel(run: &Run) -> Result<(), TestCaseError> {
    let mut cancelled: HashSet<(StageId, SubId)> = HashSet::new();
    let mut stopped: HashSet<StageId> = HashSet::new();
    for (i, j) in run.journal.iter().enumerate() {
        match j {
            J::Cb { at, cb } => {
                prop_assert!(
                    !stopped.contains(at),
                    "#{i}: {at} ran {cb:?} after it stopped"
                );
                match cb {
                    Cb::Cancel(sub, _) => {
                        prop_assert!(
                            cancelled.insert((*at, *sub)),
                            "#{i}: {at} handle_cancel twice for {sub}"
                        );
                    }
                    Cb::Events(sub, ids) => prop_assert!(
                        !cancelled.contains(&(*at, *sub)),
                        "#{i}: {at} handle_events({ids:?}) from {sub} after its handle_cancel"
                    ),
                    _ => {}
                }
            }
            J::Out { at, rec } => {
                prop_assert!(
                    !stopped.contains(at),
                    "#{i}: {at} output {rec:?} after it stopped"
                );
                match rec {
                    Record::Events(sub, ids) => prop_assert!(
                        !cancelled.contains(&(*at, *sub)),
                        "#{i}: {at} sent {ids:?} on {sub} after its handle_cancel"
                    ),
                    Record::Output(Output::Stop(_)) => {
                        stopped.insert(*at);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(())
}
