//! Unit tests of the partition dispatcher.
use super::*;
use crate::dispatcher::Recorded;
use crate::id::StageId;
use crate::options::OptionsError;
use crate::options::Subscribe;
use crate::storage::Fixed;
use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

fn sub(n: u32) -> SubId {
    SubId::new(StageId(0), StageId(n), 0)
}
fn on(p: usize) -> SubscribeOptions<u32> {
    Subscribe::new().partition(p).validate().unwrap()
}
fn mod2(x: u32) -> Option<(u32, usize)> {
    Some((x, (x % 2) as usize))
}
fn all_to_p0(x: u32) -> Option<(u32, usize)> {
    Some((x, 0))
}
fn events(range: core::ops::RangeInclusive<u32>) -> VecDeque<u32> {
    range.collect()
}

#[test]
fn default_hash_is_pinned_splitmix64_of_the_value() {
    assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    assert_eq!(splitmix64(1), 0x910A_2DEC_8902_5CC1);
    assert_eq!(splitmix64(42), 0xBDD7_3226_2FEB_6E95);
    assert_eq!(splitmix64(u64::MAX), 0xE4D9_7177_1B65_2C20);
    let four: Vec<usize> = (0u64..16).map(|x| default_partition(&x, 4)).collect();
    assert_eq!(four, [3, 1, 2, 1, 2, 2, 0, 3, 2, 0, 2, 1, 3, 3, 2, 1]);
    let three: Vec<usize> = (0u32..12).map(|x| default_partition(&x, 3)).collect();
    assert_eq!(three, [1, 2, 1, 0, 1, 2, 2, 0, 1, 1, 1, 0]);
    // The value decides, not the type.
    assert_eq!(default_partition(&7u8, 4), default_partition(&7i128, 4));
    assert_eq!(default_partition(&7usize, 4), default_partition(&7u128, 4));
    assert_eq!((-1i8).partition_key(), u64::MAX);
    assert_eq!((-1i128).partition_key(), u64::MAX);
    assert_eq!((-1isize).partition_key(), u64::MAX);
    assert_eq!(u128::from(u64::MAX).partition_key(), u64::MAX);
    // Beyond 64 bits the high half is folded in.
    let big = (1u128 << 64) + 5;
    assert_eq!(big.partition_key(), 0x910A_2DEC_8902_5CC4);
    assert_eq!(default_partition(&big, 4), 3);
    assert_eq!(((1i128 << 64) + 5).partition_key(), big.partition_key());
    assert_eq!(('a'.partition_key(), true.partition_key()), (97, 1));
    assert_eq!(false.partition_key(), 0);
    assert_eq!((&&5u16).partition_key(), 5);
    assert_eq!(default_partition(&5u16, 0), 0);
}

#[test]
fn default_hash_routes_by_splitmix64() {
    let mut d: PartitionDispatcher<u64> = PartitionDispatcher::with_default_hash(4).unwrap();
    let mut ctx = Recorded::default();
    for p in 0..4 {
        d.subscribe(
            sub(p as u32),
            &Subscribe::new().partition(p).validate().unwrap(),
            &mut ctx,
        )
        .unwrap();
        d.ask(sub(p as u32), 10, &mut ctx);
    }
    let mut q: VecDeque<u64> = (0..8).collect();
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(
        ctx.sent,
        vec![
            (sub(0), vec![6]),
            (sub(1), vec![1, 3]),
            (sub(2), vec![2, 4, 5]),
            (sub(3), vec![0, 7]),
        ]
    );
}

#[test]
fn constructor_errors_are_typed() {
    let e = PartitionDispatcher::<u32, Fixed<2, 2>>::new(3, mod2).err();
    assert_eq!(
        e,
        Some(PartitionsError::ExceedsStorage {
            partitions: 3,
            capacity: 2
        })
    );
    assert_eq!(
        e.unwrap().to_string(),
        "expected partitions to be at most the storage capacity 2, got: 3"
    );
    assert_eq!(
        OptionsError::from(e.unwrap()),
        OptionsError::Partitions(PartitionsError::ExceedsStorage {
            partitions: 3,
            capacity: 2
        })
    );
    assert_eq!(
        OptionsError::from(e.unwrap()).to_string(),
        "expected partitions to be at most the storage capacity 2, got: 3"
    );
    assert!(PartitionDispatcher::<u32, Fixed<2, 2>>::new(2, mod2).is_ok());
}

#[test]
fn q18_demand_used_up_exactly_by_a_dispatch_is_zero_demand_and_an_info_passes() {
    let mut d: PartitionDispatcher<u32> = PartitionDispatcher::new(2, mod2).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.ask(sub(1), 2, &mut ctx);
    let mut q: VecDeque<u32> = VecDeque::from([0, 2]);
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(ctx.sent, vec![(sub(1), vec![0, 2])]);
    assert_eq!((d.demand(0), d.queued(0)), (0, 0));
    d.info(MarkerId(1), &mut ctx);
    assert_eq!(ctx.released, vec![MarkerId(1)], "nothing is ahead of it");
    // The same state as a fresh partition: a cancel gives nothing back.
    assert_eq!(d.cancel(sub(1), &mut ctx), 0);
    assert_eq!(d.pending(), 0);
}

#[test]
fn q18_a_marker_reached_when_an_ask_is_used_up_exactly_passes_at_once() {
    let mut d: PartitionDispatcher<u32> = PartitionDispatcher::new(1, all_to_p0).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.ask(sub(1), 1, &mut ctx);
    // Owe one event to a partition with no demand: ask, cancel, resubscribe.
    d.cancel(sub(1), &mut ctx);
    d.subscribe(sub(2), &on(0), &mut ctx).unwrap();
    let mut q = events(1..=1);
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(d.queued(0), 1);
    d.info(MarkerId(7), &mut ctx);
    assert!(ctx.released.is_empty(), "1 is ahead of it");
    assert_eq!(d.markers(0), 1);
    d.ask(sub(2), 1, &mut ctx);
    assert_eq!(ctx.sent, vec![(sub(2), vec![1])]);
    assert_eq!(
        ctx.released,
        vec![MarkerId(7)],
        "GenStage would wait for the next ask"
    );
    assert_eq!((d.demand(0), d.queued(0), d.markers(0)), (0, 0, 0));
}

#[test]
fn markers_split_runs_and_wait_for_every_partition_that_holds_them() {
    let mut d: PartitionDispatcher<u32> = PartitionDispatcher::new(2, mod2).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.subscribe(sub(2), &on(1), &mut ctx).unwrap();
    assert_eq!(d.ask(sub(1), 1, &mut ctx), 1);
    assert_eq!(d.ask(sub(2), 3, &mut ctx), 3);
    let mut q = events(1..=4); // 1 -> p1, 2 -> p0, 3 -> p1, 4 -> p0
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(ctx.sent, vec![(sub(1), vec![2]), (sub(2), vec![1, 3])]);
    // p0 queued [4], p1 has demand 1.
    assert_eq!((d.queued(0), d.demand(1)), (1, 1));
    d.info(MarkerId(1), &mut ctx); // behind 4 in p0 only
    assert_eq!((d.markers(0), d.markers(1)), (1, 0));
    assert_eq!(d.ask(sub(2), 4, &mut ctx), 4);
    let mut q = events(5..=8); // 5 -> p1, 6 -> p0, 7 -> p1, 8 -> p0
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(ctx.sent[2..], [(sub(2), vec![5, 7])]);
    // p0: [4], m1, [6, 8]; p1: demand 3, no queue.
    d.info(MarkerId(2), &mut ctx);
    assert_eq!((d.markers(0), d.markers(1)), (2, 0));
    assert!(ctx.released.is_empty());
    d.ask(sub(1), 10, &mut ctx);
    assert_eq!(ctx.sent[3..], [(sub(1), vec![4]), (sub(1), vec![6, 8])]);
    assert_eq!(ctx.released, vec![MarkerId(1), MarkerId(2)]);
    assert_eq!(d.demand(0), 7);
}

#[test]
fn a_marker_held_by_two_partitions_is_released_by_the_last_one() {
    let mut d: PartitionDispatcher<u32> = PartitionDispatcher::new(2, mod2).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.subscribe(sub(2), &on(1), &mut ctx).unwrap();
    d.ask(sub(1), 2, &mut ctx);
    d.cancel(sub(1), &mut ctx); // pending 2, waiting 2
    d.subscribe(sub(3), &on(0), &mut ctx).unwrap();
    let mut q = events(1..=2);
    d.dispatch(&mut q, &mut ctx); // p1: [1], p0: [2]
    d.info(MarkerId(9), &mut ctx);
    assert_eq!((d.markers(0), d.markers(1)), (1, 1));
    assert_eq!(d.ask(sub(3), 1, &mut ctx), 0, "paid by pending");
    assert!(ctx.released.is_empty(), "p1 still holds it");
    assert_eq!(d.ask(sub(2), 1, &mut ctx), 0);
    assert_eq!(ctx.released, vec![MarkerId(9)]);
    assert_eq!(ctx.sent, vec![(sub(3), vec![2]), (sub(2), vec![1])]);
}

#[test]
fn cancel_with_a_queue_drops_counts_and_gives_the_demand_back() {
    let mut d: PartitionDispatcher<u32> = PartitionDispatcher::new(1, all_to_p0).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.ask(sub(1), 3, &mut ctx);
    d.cancel(sub(1), &mut ctx);
    d.subscribe(sub(2), &on(0), &mut ctx).unwrap();
    let mut q = events(1..=3);
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(d.queued(0), 3);
    d.info(MarkerId(0), &mut ctx);
    assert_eq!(d.cancel(sub(2), &mut ctx), 3);
    assert_eq!(ctx.discarded, vec![(3, DiscardReason::PartitionCancelled)]);
    assert_eq!(ctx.released, vec![MarkerId(0)]);
    assert_eq!((d.waiting(), d.pending(), d.queued(0)), (3, 3, 0));
    assert_eq!(d.discards().cancelled, 3);
    assert_eq!(d.discards().total(), 3);
    // Unknown subscriptions change nothing.
    assert_eq!(d.ask(sub(9), 5, &mut ctx), 0);
    assert_eq!(d.cancel(sub(9), &mut ctx), 0);
    assert_eq!((d.waiting(), d.pending()), (3, 3));
}

#[test]
fn a_subscription_holds_one_partition_only() {
    let mut d: PartitionDispatcher<u32> = PartitionDispatcher::new(2, mod2).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    assert_eq!(
        d.subscribe(sub(1), &on(1), &mut ctx),
        Err(Reason::DuplicatedSubscription)
    );
    assert_eq!(d.subscriber(1), None);
}

#[test]
fn fixed_storage_flushes_full_queues_with_demand_in_several_messages() {
    let mut d: PartitionDispatcher<u32, Fixed<2, 2>> =
        PartitionDispatcher::new(2, all_to_p0).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.ask(sub(1), 5, &mut ctx);
    let mut q = events(1..=6);
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(
        ctx.sent,
        vec![
            (sub(1), vec![1, 2]),
            (sub(1), vec![3, 4]),
            (sub(1), vec![5])
        ]
    );
    assert_eq!(q, [6]);
    assert_eq!((d.waiting(), d.demand(0), d.queued(0)), (0, 0, 0));
}

#[test]
fn fixed_storage_holds_events_back_unhashed_when_a_queue_is_full() {
    let mut d: PartitionDispatcher<u32, Fixed<2, 2>> = PartitionDispatcher::new(2, mod2).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.subscribe(sub(2), &on(1), &mut ctx).unwrap();
    d.ask(sub(2), 6, &mut ctx); // p0 has no demand
    let mut q = events(1..=8);
    d.dispatch(&mut q, &mut ctx);
    // 1 -> p1, 2 -> p0, 3 -> p1, 4 -> p0: p0 is full, so 5.. stay unhashed.
    assert_eq!(ctx.sent, vec![(sub(2), vec![1, 3])]);
    assert_eq!(q, [5, 6, 7, 8]);
    assert_eq!((d.queued(0), d.waiting()), (2, 2));
    assert!(ctx.discarded.is_empty(), "nothing is lost");
    // p0 drains; the leftovers go through on the next dispatch.
    d.ask(sub(1), 2, &mut ctx);
    assert_eq!(ctx.sent[1], (sub(1), vec![2, 4]));
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(ctx.sent[2..], [(sub(2), vec![5, 7])]);
    assert!(q.is_empty());
    assert_eq!((d.queued(0), d.demand(1), d.waiting()), (2, 2, 0));
}

#[test]
fn fixed_storage_without_room_for_a_marker_reports_and_releases_it() {
    let mut d: PartitionDispatcher<u32, Fixed<1, 1>> =
        PartitionDispatcher::new(1, all_to_p0).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.ask(sub(1), 1, &mut ctx);
    d.cancel(sub(1), &mut ctx);
    // Another consumer takes the partition with no demand yet: the event owed for the first
    // one's ask waits in the queue.
    d.subscribe(sub(2), &on(0), &mut ctx).unwrap();
    let mut q = events(1..=1);
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(d.queued(0), 1);
    d.info(MarkerId(1), &mut ctx);
    assert!(ctx.released.is_empty());
    d.info(MarkerId(2), &mut ctx);
    assert_eq!(ctx.reports, vec![Report::SelfQueueFull]);
    assert_eq!(ctx.released, vec![MarkerId(2)]);
}

#[test]
fn discard_total_adds_every_cause() {
    let d = PartitionDiscards {
        by_hash: 2,
        unknown_partition: 3,
        cancelled: 5,
        abandoned: 7,
        orphaned: 11,
    };
    assert_eq!(d.total(), 28);
    assert_eq!(PartitionDiscards::default().total(), 0);
}

#[test]
fn events_for_a_partition_whose_consumer_left_are_dropped_counted_and_replaced() {
    let mut d: PartitionDispatcher<u32> = PartitionDispatcher::new(2, mod2).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    d.subscribe(sub(2), &on(1), &mut ctx).unwrap();
    assert_eq!(d.ask(sub(1), 4, &mut ctx), 4);
    d.cancel(sub(2), &mut ctx); // partition 1 is orphaned
    let mut q = events(1..=4);
    d.dispatch(&mut q, &mut ctx);
    // 2 and 4 went to partition 0; 1 and 3 had nobody: dropped, counted, demand replaced.
    assert_eq!(ctx.sent, vec![(sub(1), vec![2, 4])]);
    assert_eq!(d.discards().orphaned, 2);
    assert_eq!(ctx.discarded, vec![(2, DiscardReason::PartitionCancelled)]);
    assert_eq!(ctx.replaced, vec![2]);
    assert_eq!(d.queued(1), 0, "nothing is held for good");
    // A consumer that takes the partition again gets what is routed to it from then on.
    d.subscribe(sub(3), &on(1), &mut ctx).unwrap();
    d.ask(sub(3), 1, &mut ctx);
    let mut q = events(5..=6);
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(ctx.sent.last(), Some(&(sub(3), vec![5])));
}

/// `by(n, f)` routes exactly as `new(n, |e| Some((e, f(&e))))`: the same messages, discards,
/// replaced demand and counters, over asks and dispatches of many sizes (both paths of
/// `dispatch`: the bulk one when no more events are offered than are owed, the one event at a
/// time otherwise), with a partition function that also names partitions that do not exist.
#[test]
fn by_routes_exactly_as_new_with_the_same_partition_function() {
    fn part(x: &u32) -> usize {
        (x.wrapping_mul(2_654_435_761) >> 7) as usize % 5 // 5 names: partition 4 is unknown
    }
    fn moving(x: u32) -> Option<(u32, usize)> {
        let p = part(&x);
        Some((x, p))
    }
    let mut by: PartitionDispatcher<u32> = PartitionDispatcher::by(4, part).unwrap();
    let mut new: PartitionDispatcher<u32> = PartitionDispatcher::new(4, moving).unwrap();
    let (mut a, mut b) = (Recorded::default(), Recorded::default());
    for p in 0..4 {
        by.subscribe(sub(p as u32), &on(p), &mut a).unwrap();
        new.subscribe(sub(p as u32), &on(p), &mut b).unwrap();
    }
    let mut next = 0u32;
    let mut rng = 0x9e37_79b9u32;
    for round in 0..400 {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let p = (rng % 4) as usize;
        let n = (rng >> 8) as usize % 40;
        assert_eq!(
            by.ask(sub(p as u32), n, &mut a),
            new.ask(sub(p as u32), n, &mut b)
        );
        // Offer fewer, as many or more events than are owed.
        let offered = (rng >> 16) as usize % (by.waiting() + 8);
        let (mut qa, mut qb): (VecDeque<u32>, VecDeque<u32>) = (
            (next..next + offered as u32).collect(),
            (next..next + offered as u32).collect(),
        );
        next += offered as u32;
        by.dispatch(&mut qa, &mut a);
        new.dispatch(&mut qb, &mut b);
        assert_eq!(qa, qb, "round {round}: leftovers");
        assert_eq!(a.sent, b.sent, "round {round}: messages");
        assert_eq!(a.discarded, b.discarded, "round {round}: discards");
        assert_eq!(a.replaced, b.replaced, "round {round}: replaced demand");
        assert_eq!(by.waiting(), new.waiting());
        assert_eq!(by.discards(), new.discards());
        for p in 0..4 {
            assert_eq!(by.queued(p), new.queued(p));
            assert_eq!(by.demand(p), new.demand(p));
        }
    }
    // It did meet unknown partitions, on both paths.
    assert!(by.discards().unknown_partition > 0);
    assert!(a.sent.len() > 100);
}

#[test]
fn by_drops_and_counts_an_event_for_a_partition_that_does_not_exist() {
    let mut d: PartitionDispatcher<u32> =
        PartitionDispatcher::by(2, |x: &u32| if *x == 13 { 7 } else { 0 }).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    assert_eq!(d.ask(sub(1), 3, &mut ctx), 3);
    let mut q: VecDeque<u32> = [12, 13, 14].into_iter().collect();
    d.dispatch(&mut q, &mut ctx);
    assert_eq!(ctx.sent, vec![(sub(1), vec![12, 14])]);
    assert_eq!(ctx.discarded, vec![(1, DiscardReason::Dispatcher)]);
    assert_eq!(d.discards().unknown_partition, 1);
    // The dropped event's demand is still owed: the producer is asked to make up for it.
    assert_eq!(ctx.replaced, vec![1]);
    assert_eq!(
        PartitionDispatcher::<u32>::by(0, |_: &u32| 0).err(),
        Some(PartitionsError::NoPartitions)
    );
}
