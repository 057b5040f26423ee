//! Sums over a parameter-sized vector in f64, in running lanes: one running sum is a
//! chain of dependent additions (4 cycles each) the compiler may not reorder, and the
//! step's norms and cosine of the two terms over digits_jem's 84 000 parameters, summed
//! so, took a twentieth of the step, all of it on one core while the other waited.

/// Running sums per total.
const LANES: usize = 8;

/// Σ aᵢ², Σ bᵢ², Σ (aᵢ − bᵢ)² and Σ aᵢ·bᵢ over two vectors of one length, in f64.
#[must_use]
pub fn pair_sums(a: &[f32], b: &[f32]) -> [f64; 4] {
    assert_eq!(a.len(), b.len(), "two vectors of one length");
    let mut acc = [[0.0_f64; LANES]; 4];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    let mut add = |l: usize, x: f32, y: f32| {
        let (u, v) = (f64::from(x), f64::from(y));
        acc[0][l] += u * u;
        acc[1][l] += v * v;
        acc[2][l] += (u - v) * (u - v);
        acc[3][l] += u * v;
    };
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            add(l, x[l], y[l]);
        }
    }
    for (l, (x, y)) in ar.iter().zip(br).enumerate() {
        add(l, *x, *y);
    }
    acc.map(|lanes| lanes.iter().sum())
}

/// Σ aᵢ² in f64.
#[must_use]
pub fn sum_sq(a: &[f32]) -> f64 {
    let mut acc = [0.0_f64; LANES];
    let chunks = a.chunks_exact(LANES);
    let rest = chunks.remainder();
    for x in chunks {
        for (s, v) in acc.iter_mut().zip(x) {
            *s += f64::from(*v) * f64::from(*v);
        }
    }
    for (s, v) in acc.iter_mut().zip(rest) {
        *s += f64::from(*v) * f64::from(*v);
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the plain sums, on a length that leaves a remainder, with values of mixed
    /// sign and size.
    #[test]
    fn the_lane_sums_equal_the_plain_ones() {
        #[allow(clippy::cast_precision_loss)]
        let a: Vec<f32> = (0..1003)
            .map(|i| ((i * 37) % 101) as f32 * 0.01 - 0.5)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let b: Vec<f32> = (0..1003)
            .map(|i| ((i * 53) % 97) as f32 * 0.3 - 14.0)
            .collect();
        let plain = |f: &dyn Fn(f64, f64) -> f64| -> f64 {
            a.iter()
                .zip(&b)
                .map(|(x, y)| f(f64::from(*x), f64::from(*y)))
                .sum()
        };
        let want = [
            plain(&|u, _| u * u),
            plain(&|_, v| v * v),
            plain(&|u, v| (u - v) * (u - v)),
            plain(&|u, v| u * v),
        ];
        let got = pair_sums(&a, &b);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-12 * w.abs(), "{g} against {w}");
        }
        assert!((sum_sq(&b) - want[1]).abs() <= 1e-12 * want[1]);
        assert_eq!(pair_sums(&[], &[]), [0.0; 4]);
    }
}
