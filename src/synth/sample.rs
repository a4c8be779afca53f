//! Sampling primitives for the synthesizer, on a generator whose algorithm is
//! fixed (Xoshiro256++, seeded through SplitMix64) and with transcendental
//! functions from `libm` (a pure-Rust port of musl's) rather than the
//! platform's math library: the same seed gives bit-identical values on every
//! machine and with every version of the standard library.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};

/// One SplitMix64 step: a bijective mix of a 64-bit state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random stream.
pub struct Rng {
    inner: Xoshiro256PlusPlus,
    spare_normal: Option<f64>,
}

impl Rng {
    /// The stream for part `index` of what `stream` names (a table, a day),
    /// under the user's `seed`. Streams are independent of the order and the
    /// thread in which they are drawn, which is what makes chunked parallel
    /// generation reproducible.
    pub fn derive(seed: u64, stream: u64, index: u64) -> Self {
        let mut state = seed;
        let _ = splitmix64(&mut state);
        state ^= stream.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let _ = splitmix64(&mut state);
        state ^= index.wrapping_mul(0xA076_1D64_78BD_642F);
        let mut bytes = [0_u8; 32];
        for word in bytes.chunks_exact_mut(8) {
            word.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        Self {
            inner: Xoshiro256PlusPlus::from_seed(bytes),
            spare_normal: None,
        }
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let bits = (self.inner.next_u64() >> 11) as f64;
        bits * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform integer in `0..n` (`n` > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.inner.next_u64()) * u128::from(n);
        #[allow(clippy::cast_possible_truncation)]
        let value = (wide >> 64) as u64;
        value
    }

    /// Uniform in `[low, high)`.
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Marsaglia's polar method: no trigonometry; the
    /// second value is kept for the next call).
    pub fn normal(&mut self) -> f64 {
        if let Some(value) = self.spare_normal.take() {
            return value;
        }
        loop {
            let x = 2.0 * self.unit() - 1.0;
            let y = 2.0 * self.unit() - 1.0;
            let r2 = x * x + y * y;
            if r2 > 0.0 && r2 < 1.0 {
                let factor = libm::sqrt(-2.0 * libm::log(r2) / r2);
                self.spare_normal = Some(y * factor);
                return x * factor;
            }
        }
    }

    /// Poisson-distributed count (Knuth's product method; `lambda` is small here).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        let limit = libm::exp(-lambda.clamp(0.0, 60.0));
        let mut product = self.unit();
        let mut count = 0;
        while product > limit && count < 1_000 {
            product *= self.unit();
            count += 1;
        }
        count
    }
}

/// A discrete distribution over `0..n` from non-negative weights, drawn by
/// inverting the cumulative weights. A guide table (one entry per item: the
/// first item whose cumulative weight passes each of n equal steps) makes a
/// draw start next to its answer, so it costs a step or two instead of a
/// binary search through a million users' weights.
#[derive(Debug, Clone)]
pub struct Weighted {
    cumulative: Vec<f64>,
    guide: Vec<u32>,
}

impl Weighted {
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        let steps = cumulative.len();
        let mut guide = Vec::with_capacity(steps);
        let mut item = 0;
        for step in 0..steps {
            let threshold = total * step as f64 / steps as f64;
            while item + 1 < steps && cumulative[item] <= threshold {
                item += 1;
            }
            guide.push(u32::try_from(item).unwrap_or(u32::MAX));
        }
        Self { cumulative, guide }
    }

    /// A draw among the first `prefix` items only (all when `prefix` is larger).
    pub fn pick_within(&self, rng: &mut Rng, prefix: usize) -> usize {
        let prefix = prefix.min(self.cumulative.len());
        if prefix == 0 {
            return 0;
        }
        let target = rng.unit() * self.cumulative[prefix - 1];
        let total = self.cumulative[self.cumulative.len() - 1];
        // The guide entry at or below the target: every item before it has
        // a cumulative weight at or below the target too.
        let step = if total > 0.0 {
            ((target / total * self.guide.len() as f64) as usize).min(self.guide.len() - 1)
        } else {
            0
        };
        let mut item = (self.guide[step] as usize).min(prefix - 1);
        while item > 0 && self.cumulative[item - 1] > target {
            item -= 1;
        }
        while item < prefix - 1 && self.cumulative[item] <= target {
            item += 1;
        }
        item
    }

    pub fn pick(&self, rng: &mut Rng) -> usize {
        self.pick_within(rng, self.cumulative.len())
    }
}

/// Draws among many items by weight in constant time (Walker's alias
/// method: each of n equal columns holds its own item up to a threshold and
/// one alias above it), each column packed with the items' signup days so a
/// draw restricted to the users signed up by some day reads one cache line.
#[derive(Debug, Clone)]
pub struct AliasTable {
    columns: Vec<AliasColumn>,
}

#[derive(Debug, Clone, Copy)]
struct AliasColumn {
    /// Below this (a uniform in [0, 1) scaled to u32) the column's own item wins.
    threshold: u32,
    alias: u32,
    own_day: i32,
    alias_day: i32,
}

impl AliasTable {
    /// `weights[i]` and `days[i]` of item `i`; weights must not all be zero.
    pub fn new(weights: &[f64], days: &[i32]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
        let scale = if total > 0.0 { n as f64 / total } else { 0.0 };
        let mut scaled: Vec<f64> = weights.iter().map(|w| w.max(0.0) * scale).collect();
        let mut columns: Vec<AliasColumn> = (0..n)
            .map(|i| AliasColumn {
                threshold: u32::MAX,
                alias: u32::try_from(i).unwrap_or(u32::MAX),
                own_day: days[i],
                alias_day: days[i],
            })
            .collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            columns[s].threshold = (scaled[s] * f64::from(u32::MAX)) as u32;
            columns[s].alias = u32::try_from(l).unwrap_or(u32::MAX);
            columns[s].alias_day = days[l];
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers (rounding) keep themselves: threshold MAX.
        Self { columns }
    }

    /// An alias table without days: every draw is accepted.
    pub fn from_weights(weights: &[f64]) -> Self {
        Self::new(weights, &vec![0; weights.len()])
    }

    /// An item drawn by weight (from a table made with [`Self::from_weights`]).
    pub fn pick(&self, rng: &mut Rng) -> usize {
        self.pick_by_day(rng, i32::MAX).unwrap_or(0)
    }

    /// `count` items whose day is at most `day`, drawn by weight among those,
    /// into `out`. All the table reads of a batch are issued in one tight
    /// loop with no branch on their results, so the processor keeps many
    /// cache misses in flight at once (one per draw otherwise waits for the
    /// last); the few draws of users not signed up yet are redrawn after.
    pub fn pick_many_by_day(&self, rng: &mut Rng, day: i32, count: usize, out: &mut Vec<usize>) {
        out.clear();
        out.extend((0..count).map(|_| {
            let bits = rng.inner.next_u64();
            let column = ((u128::from(bits >> 32) * self.columns.len() as u128) >> 32) as usize;
            let entry = self.columns[column];
            let own = (bits as u32) < entry.threshold;
            let (item, item_day) = if own {
                (column, entry.own_day)
            } else {
                (entry.alias as usize, entry.alias_day)
            };
            // usize::MAX marks a draw to redo.
            if item_day <= day { item } else { usize::MAX }
        }));
        for slot in out.iter_mut().filter(|slot| **slot == usize::MAX) {
            *slot = self.pick_by_day(rng, day).unwrap_or(0);
        }
    }

    /// An item whose day is at most `day`, drawn by weight among those;
    /// `None` after many misses (no such item, or nearly none).
    pub fn pick_by_day(&self, rng: &mut Rng, day: i32) -> Option<usize> {
        for _ in 0..10_000 {
            let bits = rng.inner.next_u64();
            let column = ((u128::from(bits >> 32) * self.columns.len() as u128) >> 32) as usize;
            let entry = self.columns[column];
            let (item, item_day) = if (bits as u32) < entry.threshold {
                (column, entry.own_day)
            } else {
                (entry.alias as usize, entry.alias_day)
            };
            if item_day <= day {
                return Some(item);
            }
        }
        None
    }
}

/// Splits `total` into parts proportional to `weights` that sum to exactly
/// `total` (largest remainders get the leftover units; ties go to the first).
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().map(|w| w.max(0.0)).sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    #[allow(clippy::cast_precision_loss)]
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| w.max(0.0) / sum * total as f64)
        .collect();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut parts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let assigned: u64 = parts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order
        .iter()
        .cycle()
        .take(usize::try_from(total.saturating_sub(assigned)).unwrap_or(usize::MAX))
    {
        parts[i] += 1;
    }
    parts
}

/// Standard normal cumulative distribution, from `libm::erfc`.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal density.
pub fn normal_pdf(z: f64) -> f64 {
    libm::exp(-0.5 * z * z) / libm::sqrt(std::f64::consts::TAU)
}

/// The centre `c` such that `clamp(N(c, sd), 0, 1)` has mean `target`, so a
/// clipped normal still hits a published average (found by bisection; the
/// clamped mean grows with `c`).
pub fn clamped_normal_centre(target: f64, sd: f64) -> f64 {
    let clamped_mean = |c: f64| {
        // E[clamp(X, 0, 1)] = E[X] + E[(0 - X)+] - E[(X - 1)+]
        let above = |k: f64| {
            let z = (k - c) / sd;
            sd * normal_pdf(z) + (c - k) * (1.0 - normal_cdf(z))
        };
        let below_zero = {
            let z = (0.0 - c) / sd;
            sd * normal_pdf(z) - (c - 0.0) * normal_cdf(z)
        };
        c + below_zero - above(1.0)
    };
    let (mut low, mut high) = (-1.0, 2.0);
    for _ in 0..100 {
        let mid = 0.5 * (low + high);
        if clamped_mean(mid) < target {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |seed, stream, index| {
            let mut rng = Rng::derive(seed, stream, index);
            (0..4).map(|_| rng.below(1_000_000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42, 1, 7), draw(42, 1, 7));
        assert_ne!(draw(42, 1, 7), draw(42, 1, 8));
        assert_ne!(draw(42, 1, 7), draw(42, 2, 7));
        assert_ne!(draw(42, 1, 7), draw(43, 1, 7));
        // Pinned values: a change of generator, seeding or sampling would
        // silently change every user's data.
        let mut rng = Rng::derive(42, 3, 7);
        let pinned = (
            rng.below(1_000_000),
            rng.below(1_000_000),
            (rng.unit() * 1e6).round(),
            (rng.normal() * 1e6).round(),
        );
        assert_eq!(pinned, (107_977, 957_717, 990_568.0, 454_963.0));
    }

    #[test]
    fn apportion_sums_exactly() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(0, &[1.0, 2.0]), vec![0, 0]);
        let parts = apportion(100_000, &[1.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.25]);
        assert_eq!(parts.iter().sum::<u64>(), 100_000);
    }

    #[test]
    fn clamped_normal_hits_its_mean() {
        let centre = clamped_normal_centre(0.618, 0.26);
        let mut rng = Rng::derive(1, 2, 3);
        let n = 200_000;
        let mean: f64 = (0..n)
            .map(|_| (centre + 0.26 * rng.normal()).clamp(0.0, 1.0))
            .sum::<f64>()
            / f64::from(n);
        assert!((mean - 0.618).abs() < 0.003, "{mean}");
    }

    #[test]
    fn alias_draws_follow_weights_within_a_day() {
        let weights = [1.0, 3.0, 0.0, 4.0, 2.0];
        let days = [0, 0, 0, 5, -3];
        let table = AliasTable::new(&weights, &days);
        let mut rng = Rng::derive(5, 5, 5);
        let mut counts = [0_u32; 5];
        for _ in 0..60_000 {
            counts[table.pick_by_day(&mut rng, 10).expect("draw")] += 1;
        }
        assert_eq!(counts[2], 0);
        for (i, w) in weights.iter().enumerate() {
            let share = f64::from(counts[i]) / 60_000.0;
            assert!((share - w / 10.0).abs() < 0.01, "{i}: {share}");
        }
        // On day 0 only items 0, 1 and 4 (weights 1, 3, 2) are eligible.
        let mut counts = [0_u32; 5];
        for _ in 0..60_000 {
            counts[table.pick_by_day(&mut rng, 0).expect("draw")] += 1;
        }
        assert_eq!(counts[3], 0);
        assert!((f64::from(counts[1]) / 60_000.0 - 0.5).abs() < 0.01);
        assert_eq!(table.pick_by_day(&mut rng, -10), None);
        // Batched draws follow the same weights.
        let mut drawn = Vec::new();
        table.pick_many_by_day(&mut rng, 0, 60_000, &mut drawn);
        let share = drawn.iter().filter(|&&i| i == 1).count() as f64 / 60_000.0;
        assert!((share - 0.5).abs() < 0.01, "{share}");
        assert!(drawn.iter().all(|&i| days[i] <= 0));
    }

    #[test]
    fn guided_picks_match_a_binary_search() {
        let mut rng = Rng::derive(9, 9, 9);
        let weights: Vec<f64> = (0..5_000)
            .map(|i| {
                if i % 7 == 0 {
                    0.0
                } else {
                    libm::exp(rng.normal())
                }
            })
            .collect();
        let table = Weighted::new(weights.iter().copied());
        for prefix in [1, 2, 17, 2_500, 5_000, 9_999] {
            let mut a = Rng::derive(1, 2, prefix as u64);
            let mut b = Rng::derive(1, 2, prefix as u64);
            for _ in 0..2_000 {
                let picked = table.pick_within(&mut a, prefix);
                let limit = prefix.min(weights.len());
                let target = b.unit() * table.cumulative[limit - 1];
                let expected = table.cumulative[..limit]
                    .partition_point(|&c| c <= target)
                    .min(limit - 1);
                assert_eq!(picked, expected, "prefix {prefix}");
                assert!(weights[picked] > 0.0 || limit == 1);
            }
        }
    }

    #[test]
    fn weighted_picks_follow_weights_and_prefixes() {
        let weights = Weighted::new([1.0, 0.0, 3.0]);
        let mut rng = Rng::derive(7, 0, 0);
        let mut counts = [0_u32; 3];
        for _ in 0..40_000 {
            counts[weights.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((f64::from(counts[2]) / 40_000.0 - 0.75).abs() < 0.01);
        assert!((0..100).all(|_| weights.pick_within(&mut rng, 1) == 0));
    }
}
