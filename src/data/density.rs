//! True log-densities of the toy sets whose density is known in closed form: the
//! gaussian mixtures (and the noiseless checkerboard). Their mean over the held-out split
//! is the true NLL, the floor that a model's NLL can reach; the difference is the KL gap.

use super::toy2d;

/// log of an equal-weight isotropic gaussian mixture at `x`.
fn mixture_log_density(x: [f64; 2], centres: &[[f64; 2]], std: f64) -> f64 {
    let var = std * std;
    let mut best = f64::NEG_INFINITY;
    let terms: Vec<f64> = centres
        .iter()
        .map(|c| {
            let d2 = (x[0] - c[0]).powi(2) + (x[1] - c[1]).powi(2);
            let t = -d2 / (2.0 * var);
            best = best.max(t);
            t
        })
        .collect();
    let sum: f64 = terms.iter().map(|t| (t - best).exp()).sum();
    #[allow(clippy::cast_precision_loss)]
    let k = centres.len() as f64;
    best + sum.ln() - k.ln() - (2.0 * std::f64::consts::PI * var).ln()
}

/// log p(x) of the 8 gaussians with noise `noise` (before the ÷1.414).
#[must_use]
pub fn eight_gaussians(x: [f64; 2], noise: f64) -> f64 {
    let c: Vec<[f64; 2]> = toy2d::eight_gaussian_centres()
        .iter()
        .map(|c| [f64::from(c[0]) / 1.414, f64::from(c[1]) / 1.414])
        .collect();
    mixture_log_density(x, &c, noise / 1.414)
}

/// log p(x) of the 25 gaussians with noise `noise` (before the ÷2.828).
#[must_use]
pub fn twenty_five_gaussians(x: [f64; 2], noise: f64) -> f64 {
    let c: Vec<[f64; 2]> = toy2d::twenty_five_gaussian_centres()
        .iter()
        .map(|c| [f64::from(c[0]) / 2.828, f64::from(c[1]) / 2.828])
        .collect();
    mixture_log_density(x, &c, noise / 2.828)
}

/// log p(x) of the noiseless checkerboard: uniform on 8 squares of area 4, so −ln 32 inside.
#[must_use]
pub fn checkerboard(x: [f64; 2]) -> f64 {
    let inside_box = x[0].abs() <= 4.0 && x[1].abs() <= 4.0;
    let col = (x[0] / 2.0).floor().rem_euclid(2.0);
    let row = (x[1] / 2.0).floor().rem_euclid(2.0);
    if inside_box && (col - row).abs() < 0.5 {
        -(32.0_f64.ln())
    } else {
        f64::NEG_INFINITY
    }
}
