//! A tiny seeded random number generator for the core's few random choices.
//!
//! The core never reads entropy: anything random (today, the
//! [`DemandDispatcher`](crate::dispatcher::DemandDispatcher)'s shuffle on first dispatch) comes from a
//! [SplitMix64] seeded by the caller, so the same seed gives the same choice on every
//! platform, with or without `std`. SplitMix64 (Steele, Lea and Flood, 2014) is small, fast
//! and statistically good enough for load balancing; it is not cryptographic.
//!
//! ```
//! use genstage::rng::SplitMix64;
//! let mut a = SplitMix64::new(42);
//! let mut b = SplitMix64::new(42);
//! assert_eq!(a.next_u64(), b.next_u64()); // same seed, same sequence
//!
//! let mut items = [1, 2, 3, 4, 5];
//! SplitMix64::new(7).shuffle(&mut items);
//! let mut sorted = items;
//! sorted.sort();
//! assert_eq!(sorted, [1, 2, 3, 4, 5]); // a permutation
//! ```

/// The SplitMix64 generator: 64 bits of state, one add and a mix per output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SplitMix64 {
    state: u64,
}

/// SplitMix64's increment, the golden ratio in 64 bits.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The first output of the SplitMix64 generator seeded with `x`: `x` plus the golden-ratio
/// increment `0x9E3779B97F4A7C15`, then SplitMix64's finalizer (shifts 30, 27, 31 and the
/// multipliers `0xBF58476D1CE4E5B9`, `0x94D049BB133111EB`). A bijection on `u64` that spreads
/// consecutive values evenly; the generator and the partition dispatcher's default hash share
/// it.
///
/// ```
/// assert_eq!(genstage::rng::splitmix64(0), 0xE220_A839_7B1D_CDAF);
/// ```
pub const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let z = splitmix64(self.state);
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        z
    }

    /// A number uniformly drawn from `0..n`; 0 when `n` is 0.
    ///
    /// Lemire's multiply-and-shift with rejection, so there is no modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let n = n as u64;
        // Values of the low half below this threshold would make some results likelier.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// Shuffles `items` in place (Fisher–Yates): every permutation is equally likely.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn matches_the_reference_sequence() {
        // Outputs of the reference C implementation (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(1_234_567);
        let got = [
            r.next_u64(),
            r.next_u64(),
            r.next_u64(),
            r.next_u64(),
            r.next_u64(),
        ];
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut r = SplitMix64::new(3);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = r.below(7);
            assert!(x < 7);
            seen[x] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn shuffle_is_a_permutation_fixed_by_the_seed() {
        let mut a = [0u8, 1, 2, 3, 4, 5, 6, 7];
        let mut b = a;
        SplitMix64::new(11).shuffle(&mut a);
        SplitMix64::new(11).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a;
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5, 6, 7]);
        // Some seed moves something.
        let moved = (0..16u64).any(|s| {
            let mut c = [0u8, 1, 2, 3, 4, 5, 6, 7];
            SplitMix64::new(s).shuffle(&mut c);
            c != [0, 1, 2, 3, 4, 5, 6, 7]
        });
        assert!(moved);
    }

    #[test]
    fn below_is_the_high_half_of_draw_times_n_with_rare_rejections() {
        // For n = 7 the rejection threshold is 2^64 mod 7 = 2: a draw is redrawn only when
        // draw * 7 mod 2^64 < 2, so each result here comes from exactly one draw.
        let (mut r, mut raw) = (SplitMix64::new(5), SplitMix64::new(5));
        for _ in 0..1000 {
            let want = ((u128::from(raw.next_u64()) * 7) >> 64) as usize;
            assert_eq!(r.below(7), want);
        }
    }
}
