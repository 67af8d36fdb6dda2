//! The seeded generator every simulator draws its data and changes from.
//!
//! Same seed and salt, same sequence, on every platform (ChaCha8): a simulated tenant is a
//! pure function of its spec and the advances applied to it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) struct Gen {
    pub rng: ChaCha8Rng,
}

impl Gen {
    /// A stream for `seed`, one of several independent ones told apart by `salt`.
    pub fn new(seed: u64, salt: u64) -> Self {
        Self::mixed(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
    }

    /// A stream for an already mixed seed.
    pub fn mixed(seed: u64) -> Self {
        Gen { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { self.rng.gen_range(lo..hi) }
    }

    /// Uniform in `[0, len)`; 0 when `len` is 0.
    pub fn index(&mut self, len: usize) -> usize {
        if len == 0 { 0 } else { self.rng.gen_range(0..len) }
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// An index drawn in proportion to `weights` (a linear scan: for small lists).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.r#gen();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Log-normal around `median`.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Log-normal duration in whole seconds (at least one) around `median`.
    pub fn lognormal_secs(&mut self, median: f64, sigma: f64) -> i64 {
        self.lognormal(median, sigma).round().max(1.0) as i64
    }

    /// A random (version 4 layout) GUID, lower-case.
    pub fn guid(&mut self) -> String {
        let mut b: [u8; 16] = self.rng.r#gen();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }

    /// `n` characters drawn from `alphabet`.
    pub fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[self.index(alphabet.len())] as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_salts_differ() {
        let draw = |seed, salt| {
            let mut g = Gen::new(seed, salt);
            (0..8).map(|_| g.range(0, 1_000_000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42, 1), draw(42, 1));
        assert_ne!(draw(42, 1), draw(42, 2));
        assert_ne!(draw(42, 1), draw(43, 1));
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut g = Gen::new(7, 0);
        for _ in 0..1000 {
            assert!((3..9).contains(&g.range(3, 9)));
            assert_eq!(g.range(5, 5), 5);
            assert!(g.index(4) < 4);
            assert_eq!(g.index(0), 0);
            assert!(g.weighted(&[0.0, 1.0, 0.0]) == 1);
            assert!(g.lognormal_secs(60.0, 1.0) >= 1);
        }
        assert_eq!(g.weighted(&[]), 0);
        let id = g.guid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(g.string(b"ab", 10).bytes().all(|b| b == b'a' || b == b'b'));
    }
}
