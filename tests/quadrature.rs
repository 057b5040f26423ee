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
