//! The 2-D toy data sets with the parameters of FFJORD's `lib/toy_data.py`
//! (Grathwohl, Chen et al., 2019), which most EBM papers plot, so that figures made here
//! compare with the literature. `noise` is the data set's own noise parameter (its
//! literature default where the preset leaves it out). Where FFJORD places points on a
//! regular `linspace` (moons, circles, rings), the angles here are drawn uniformly: with
//! the noise on top the two are the same distribution up to the discretisation. Each
//! generator also labels every point with the part it came from (mixture component,
//! moon, circle, ring, spiral, square, arm, half of the roll), for classifiers (JEM).

use rand::Rng;
use rand_distr::StandardNormal;
use std::f32::consts::PI;

fn normal(rng: &mut impl Rng) -> f32 {
    rng.sample(StandardNormal)
}

/// The centres of the 8 gaussians before the division by 1.414: radius 4 on the axes and
/// diagonals.
#[must_use]
pub fn eight_gaussian_centres() -> [[f32; 2]; 8] {
    let mut c = [[0.0; 2]; 8];
    for (k, ck) in c.iter_mut().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let a = k as f32 * PI / 4.0;
        *ck = [4.0 * a.cos(), 4.0 * a.sin()];
    }
    c
}

/// 8 gaussians: (centre + noise·N(0, I)) / 1.414; FFJORD's noise is 0.5.
pub fn eight_gaussians(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    let c = eight_gaussian_centres();
    for _ in 0..n {
        let k = rng.random_range(0..8);
        labels.push(u32::try_from(k).unwrap_or(u32::MAX));
        out.push((c[k][0] + noise * normal(rng)) / 1.414);
        out.push((c[k][1] + noise * normal(rng)) / 1.414);
    }
}

/// The centres of the 25 gaussians before the division by 2.828: a 5×5 lattice with step 2.
#[must_use]
pub fn twenty_five_gaussian_centres() -> Vec<[f32; 2]> {
    let mut c = Vec::with_capacity(25);
    for x in -2..=2_i8 {
        for y in -2..=2_i8 {
            c.push([2.0 * f32::from(x), 2.0 * f32::from(y)]);
        }
    }
    c
}

/// 25 gaussians (the WGAN-GP toy set): (centre + noise·N(0, I)) / 2.828; noise 0.05.
pub fn twenty_five_gaussians(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    let c = twenty_five_gaussian_centres();
    for _ in 0..n {
        let k = rng.random_range(0..25);
        labels.push(u32::try_from(k).unwrap_or(u32::MAX));
        out.push((c[k][0] + noise * normal(rng)) / 2.828);
        out.push((c[k][1] + noise * normal(rng)) / 2.828);
    }
}

/// Two moons (scikit-learn's `make_moons`, noise 0.1), then ·2 + (−1, −0.2).
pub fn two_moons(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    let n_out = n / 2;
    for i in 0..n {
        let t = rng.random::<f32>() * PI;
        labels.push(u32::from(i >= n_out));
        let (x, y) = if i < n_out {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 1.0 - t.sin() - 0.5)
        };
        out.push((x + noise * normal(rng)) * 2.0 - 1.0);
        out.push((y + noise * normal(rng)) * 2.0 - 0.2);
    }
}

/// Two circles (scikit-learn's `make_circles`, factor 0.5, noise 0.08), then ·3.
pub fn circles(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    let n_out = n / 2;
    for i in 0..n {
        let t = rng.random::<f32>() * 2.0 * PI;
        let r = if i < n_out { 1.0 } else { 0.5 };
        labels.push(u32::from(i >= n_out));
        out.push((r * t.cos() + noise * normal(rng)) * 3.0);
        out.push((r * t.sin() + noise * normal(rng)) * 3.0);
    }
}

/// Four concentric rings of radii 3, 2.25, 1.5, 0.75 with N(0, 0.08²) noise.
pub fn rings(n: usize, noise: f32, rng: &mut impl Rng, out: &mut Vec<f32>, labels: &mut Vec<u32>) {
    let q = n / 4;
    for i in 0..n {
        // The first ring takes the remainder, as FFJORD does.
        let ring = if i < n - 3 * q {
            0
        } else {
            1 + (i - (n - 3 * q)) / q.max(1)
        };
        labels.push(u32::try_from(ring.min(3)).unwrap_or(3));
        #[allow(clippy::cast_precision_loss)]
        let r = 1.0 - 0.25 * ring.min(3) as f32;
        let t = rng.random::<f32>() * 2.0 * PI;
        out.push(3.0 * r * t.cos() + noise * normal(rng));
        out.push(3.0 * r * t.sin() + noise * normal(rng));
    }
}

/// Two spirals: radius ∝ √u over 540°, uniform jitter 0.5, ÷3, then N(0, 0.1²) noise.
pub fn two_spirals(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    for i in 0..n {
        let t = rng.random::<f32>().sqrt() * 540.0 * (2.0 * PI) / 360.0;
        let dx = -t.cos() * t + rng.random::<f32>() * 0.5;
        let dy = t.sin() * t + rng.random::<f32>() * 0.5;
        let s = if i % 2 == 0 { 1.0 } else { -1.0 };
        labels.push(u32::from(i % 2 == 1));
        out.push(s * dx / 3.0 + noise * normal(rng));
        out.push(s * dy / 3.0 + noise * normal(rng));
    }
}

/// Checkerboard: uniform on the 8 dark squares of side 2 in [−4, 4]²; `noise` adds
/// N(0, noise²) jitter (FFJORD has none).
pub fn checkerboard(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    for _ in 0..n {
        let x1 = rng.random::<f32>() * 4.0 - 2.0;
        let u = rng.random::<f32>();
        let lower = rng.random_range(0..2_u8);
        let x2 = u - 2.0 * f32::from(lower);
        // The square: its column (x1's floor, −2..=1) and whether it is the lower one.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        labels.push(((x1.floor() + 2.0) as u32).min(3) * 2 + u32::from(lower));
        let x2 = x2 + x1.floor().rem_euclid(2.0);
        let (jx, jy) = if noise > 0.0 {
            (noise * normal(rng), noise * normal(rng))
        } else {
            (0.0, 0.0)
        };
        out.push(x1 * 2.0 + jx);
        out.push(x2 * 2.0 + jy);
    }
}

/// Pinwheel: 5 arms, radial std `noise` (0.3), tangential std `noise`/3 (0.1), rate 0.25, ·2.
pub fn pinwheel(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    for _ in 0..n {
        let arm = rng.random_range(0..5_u8);
        labels.push(u32::from(arm));
        let r = 1.0 + noise * normal(rng);
        let t = noise / 3.0 * normal(rng);
        let angle = 2.0 * PI * f32::from(arm) / 5.0 + 0.25 * r.exp();
        let (s, c) = angle.sin_cos();
        out.push(2.0 * (r * c + t * s));
        out.push(2.0 * (-r * s + t * c));
    }
}

/// Swiss roll (scikit-learn's `make_swiss_roll`, noise 1.0), coordinates (x, z) ÷ 5.
pub fn swiss_roll(
    n: usize,
    noise: f32,
    rng: &mut impl Rng,
    out: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) {
    for _ in 0..n {
        let t = 1.5 * PI * (1.0 + 2.0 * rng.random::<f32>());
        // Inner and outer half of the roll.
        labels.push(u32::from(t >= 3.0 * PI));
        out.push((t * t.cos() + noise * normal(rng)) / 5.0);
        out.push((t * t.sin() + noise * normal(rng)) / 5.0);
    }
}
