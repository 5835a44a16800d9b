//! Tweets → image search → collages, on threads (the seed's second example).
//!
//! A producer of (stand-in) tweets, a producer_consumer that "searches" an image for each
//! tweet (stand-in work: a hash loop, the slow stage), and several collage makers on the
//! search stage's `DemandDispatcher`, each building collages of `N` images. The makers share
//! the work by asking for it; the search sets the pace; every tweet ends in a collage.
//!
//! `cargo run --release --example collage [tweets] [makers]`

use genstage::threads;
use genstage::*;
use std::hint::black_box;
use std::sync::mpsc::{Sender, channel};
use std::time::Instant;

/// Images per collage.
const N: usize = 16;

/// A stand-in tweet.
struct Tweet {
    id: u64,
    text: String,
}

/// The image found for a tweet.
struct Image {
    tweet: u64,
    pixels: u64,
}

/// Streams tweets until it has sent `total`, then stops when drained.
struct Tweets {
    next: u64,
    total: u64,
}

impl Producer for Tweets {
    type Event = Tweet;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, Tweet>) -> Flow {
        let end = (self.next + demand as u64).min(self.total);
        self.next += out.extend((self.next..end).map(|id| Tweet {
            id,
            text: format!("tweet #{id}: look at this #sunset"),
        })) as u64;
        if self.next == self.total {
            Flow::StopWhenDrained(Reason::Normal)
        } else {
            Flow::Continue
        }
    }
}

/// "Searches" an image per tweet: the slow stage.
struct ImageSearch;

impl ProducerConsumer for ImageSearch {
    type In = Tweet;
    type Out = Image;
    fn handle_events(&mut self, tweets: Batch<'_, Tweet>, out: &mut Relay<'_, Image>) -> Flow {
        let _found = out.extend(tweets.map(|t| {
            let mut h = t
                .text
                .bytes()
                .fold(t.id, |h, b| h.rotate_left(5) ^ u64::from(b));
            for _ in 0..20_000 {
                h = black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
            }
            Image {
                tweet: t.id,
                pixels: h,
            }
        }));
        Flow::Continue
    }
}

/// Builds collages of `N` images; reports what it made when it stops.
struct CollageMaker {
    name: usize,
    current: Vec<Image>,
    collages: u64,
    tweets: Vec<u64>,
    report: Sender<(usize, u64, Vec<u64>)>,
}

impl CollageMaker {
    fn finish_collage(&mut self) {
        if !self.current.is_empty() {
            let _layout = self.current.iter().fold(0u64, |a, i| a ^ i.pixels);
            self.tweets.extend(self.current.drain(..).map(|i| i.tweet));
            self.collages += 1;
        }
    }
}

impl Consumer for CollageMaker {
    type Event = Image;
    fn handle_events(&mut self, images: Batch<'_, Image>, _: &mut Ctx<'_>) -> Flow {
        for image in images {
            self.current.push(image);
            if self.current.len() == N {
                self.finish_collage();
            }
        }
        Flow::Continue
    }
}

impl Drop for CollageMaker {
    fn drop(&mut self) {
        self.finish_collage(); // the last, partial collage
        let _ = self
            .report
            .send((self.name, self.collages, core::mem::take(&mut self.tweets)));
    }
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let total = args.next().unwrap_or(20_000);
    let makers = args.next().unwrap_or(4) as usize;
    println!("{total} tweets, one image search, {makers} collage makers, {N} images a collage");

    let started = Instant::now();
    let tweets = threads::builder()
        .name("tweets")
        .spawn_producer(Tweets { next: 0, total }, ProducerOptions::default())
        .expect("valid options");
    let search = threads::builder()
        .name("image-search")
        .spawn_producer_consumer(ImageSearch, ProducerOptions::default())
        .expect("valid options");
    search
        .subscribe(&tweets, Subscribe::new().max_demand(64))
        .expect("valid options");
    let (report, reports) = channel();
    let makers: Vec<_> = (0..makers)
        .map(|name| {
            let maker = threads::builder()
                .name(format!("collage-{name}"))
                .spawn_consumer(CollageMaker {
                    name,
                    current: Vec::new(),
                    collages: 0,
                    tweets: Vec::new(),
                    report: report.clone(),
                });
            maker
                .subscribe(&search, Subscribe::new().max_demand(N).min_demand(0))
                .expect("valid options");
            maker
        })
        .collect();
    drop(report);

    let mut all = vec![tweets.any(), search.any()];
    all.extend(makers.iter().map(|m| m.any()));
    let exits = threads::join_all(all);
    let elapsed = started.elapsed();

    let mut seen = vec![false; total as usize];
    let mut results: Vec<_> = reports.iter().collect();
    results.sort_by_key(|r| r.0);
    for (name, collages, tweets) in &results {
        println!(
            "collage maker {name}: {collages:>5} collages from {:>6} tweets ({:.0}%)",
            tweets.len(),
            100.0 * tweets.len() as f64 / total as f64
        );
        for &t in tweets {
            assert!(!seen[t as usize], "tweet {t} in two collages");
            seen[t as usize] = true;
        }
    }
    let in_collages = seen.iter().filter(|s| **s).count();
    println!(
        "{in_collages} of {total} tweets ended in a collage, each exactly once, in {elapsed:.2?} \
         ({:.0} tweets/s: the image search sets the pace)",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "every stage stopped: {}",
        exits
            .iter()
            .map(|e| e.reason.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(in_collages as u64, total);
    assert!(exits.iter().all(|e| e.reason == Reason::Normal));
}
