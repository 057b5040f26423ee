//! Quadrature log Z against closed forms.

use ebm_workbench::data::DataBox;
use ebm_workbench::eval::quadrature;

/// E(x) = ½ xᵀAx ⇒ Z = 2π / √det A, so log Z = ln 2π − ½ ln det A.
#[test]
fn quadratic_energy_log_z_matches_closed_form() {
    for (a11, a12, a22) in [
        (1.0_f32, 0.0_f32, 1.0_f32),
        (2.0, 0.3, 0.5),
        (4.0, -1.0, 1.5),
    ] {
        let det = f64::from(a11 * a22 - a12 * a12);
        let exact = (2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln();
        let b = DataBox::square(8.0);
        let lz = quadrature::log_z(&b, 256, 1000, |x, e| {
            for (r, ev) in x.chunks_exact(2).zip(e.iter_mut()) {
                *ev = 0.5 * (a11 * r[0] * r[0] + 2.0 * a12 * r[0] * r[1] + a22 * r[1] * r[1]);
            }
        });
        assert!(
            (lz - exact).abs() < 0.01,
            "A = [[{a11}, {a12}], [{a12}, {a22}]]: quadrature {lz}, closed form {exact}"
        );
    }
}

/// A constant energy over the box integrates to the box's area.
#[test]
fn constant_energy_gives_box_area() {
    let b = DataBox::square(4.0);
    let lz = quadrature::log_z(&b, 64, 100, |_, e| e.fill(2.0));
    assert!((lz - (64.0_f64.ln() - 2.0)).abs() < 1e-9, "{lz}");
}

/// A box that is neither square nor centred, with an anisotropic gaussian off the
/// centre: an x/y swap in the grid or the cell area would move log Z and the mass.
/// E(x) = ½((x−1)²/0.5² + (y−2)²/1.5²) ⇒ log Z = ln(2π·0.5·1.5), the box [−2, 4]×[−6, 10]
/// holding all but a negligible part (±6 and ±5.3 standard deviations).
#[test]
fn an_oblong_box_integrates_the_right_way_round() {
    let b = DataBox {
        lo: vec![-2.0, -6.0],
        hi: vec![4.0, 10.0],
        bits: false,
    };
    let exact = (2.0 * std::f64::consts::PI * 0.5 * 1.5).ln();
    let lz = quadrature::log_z(&b, 256, 1000, |x, e| {
        for (r, ev) in x.chunks_exact(2).zip(e.iter_mut()) {
            *ev = 0.5 * ((r[0] - 1.0).powi(2) / 0.25 + (r[1] - 2.0).powi(2) / 2.25);
        }
    });
    assert!(
        (lz - exact).abs() < 1e-3,
        "quadrature {lz}, closed form {exact}"
    );
    // The grid runs x fastest, each point at its cell's centre.
    let g = 4;
    let pts = b.grid_points(g);
    assert_eq!(&pts[..4], &[-1.25, -4.0, 0.25, -4.0]);
    assert_eq!(&pts[2 * g..2 * g + 2], &[-1.25, 0.0]);
    assert!((b.volume() - 96.0).abs() < 1e-9);
}

/// The known densities integrate to one over their box, and the true NLL of a data set
/// is the entropy of its law within sampling error: −∫ p ln p by quadrature against the
/// mean −ln p of 20 000 drawn points (8 and 25 gaussians, the noiseless checkerboard).
#[test]
fn the_true_densities_are_normalised_and_match_their_samples() {
    use ebm_workbench::data::{DataSpec, Dataset, ToySet};
    for set in [
        ToySet::EightGaussians,
        ToySet::TwentyFiveGaussians,
        ToySet::Checkerboard,
    ] {
        let spec = DataSpec {
            source: ebm_workbench::data::DataSource::Toy(set),
            size: 20_000,
            held_out: 0.5,
            noise: (set == ToySet::Checkerboard).then_some(0.0),
            ..DataSpec::default()
        };
        let noise = spec.noise();
        let b = DataBox::square(set.half_width());
        let neg_log_p = |r: &[f32]| {
            -set.log_density([f64::from(r[0]), f64::from(r[1])], noise)
                .expect("a known density")
        };
        let lz = quadrature::log_z(&b, 512, 4096, |x, e| {
            for (r, ev) in x.chunks_exact(2).zip(e.iter_mut()) {
                #[allow(clippy::cast_possible_truncation)]
                let v = neg_log_p(r).min(1e30) as f32;
                *ev = v;
            }
        });
        assert!(lz.abs() < 2e-3, "{}: ∫p = exp({lz})", set.name());
        // The entropy by quadrature: Σ p·(−ln p)·cell over the grid (cells where p > 0).
        let g = 512;
        let cell = b.volume() / (g * g) as f64;
        let entropy: f64 = b
            .grid_points(g)
            .chunks_exact(2)
            .map(|r| {
                let nl = neg_log_p(r);
                if nl.is_finite() {
                    (-nl).exp() * nl * cell
                } else {
                    0.0
                }
            })
            .sum();
        let d = Dataset::generate(&spec);
        let vals: Vec<f64> = d.test.chunks_exact(2).map(neg_log_p).collect();
        assert!(
            vals.iter().all(|v| v.is_finite()),
            "{}: a point off the density",
            set.name()
        );
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let nll = d.true_nll().expect("a true NLL");
        assert!((nll - mean).abs() < 1e-9);
        assert!(
            (mean - entropy).abs() < 4.0 * sd / n.sqrt() + 2e-3,
            "{}: true NLL {mean} vs entropy {entropy} (sd {sd})",
            set.name()
        );
    }
}
