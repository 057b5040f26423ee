//! Plot axes and points shared by every view: numbers on the 1-2-5 grid with the decimals
//! their step needs, one format per scale, points thinned to what is drawn.

use super::*;

pub(in crate::gui) fn points(xs: &[f32], max: usize) -> PlotPoints<'static> {
    let n = xs.len() / 2;
    let stride = n.div_ceil(max.max(1)).max(1);
    xs.chunks_exact(2)
        .step_by(stride)
        .map(|r| [f64::from(r[0]), f64::from(r[1])])
        .collect::<Vec<_>>()
        .into()
}

/// The smallest of 1, 2 and 5 times a power of ten that is at least `want`.
#[must_use]
pub fn nice_step(want: f64) -> f64 {
    if !(want.is_finite() && want > 0.0) {
        return 1.0;
    }
    let p = 10_f64.powf(want.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= want * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// Grid marks on a 1-2-5 scale whose labelled steps lie at least `label_px` apart (egui
/// plot labels only steps far enough apart, and with its powers of ten alone a plot
/// 300 points wide over 770 steps shows one number, 0), with a minor line between.
pub fn nice_grid(label_px: f64) -> impl Fn(egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    move |input| {
        // egui plot's base step is 8 points of the axis (its smallest grid spacing).
        let units_per_px = input.base_step_size / 8.0;
        let major = nice_step(label_px * units_per_px);
        // One minor line between labelled ones: more would cover the heat map.
        let minor = major / 2.0;
        let (lo, hi) = input.bounds;
        let mut marks = Vec::new();
        if !(lo.is_finite() && hi.is_finite()) || minor <= 0.0 || (hi - lo) / minor > 2000.0 {
            return marks;
        }
        #[allow(clippy::cast_possible_truncation)]
        let (first, last) = ((lo / minor).ceil() as i64, (hi / minor).floor() as i64);
        for k in first..=last {
            #[allow(clippy::cast_precision_loss)]
            let value = k as f64 * minor;
            let on_major = k % 2 == 0;
            marks.push(egui_plot::GridMark {
                value,
                step_size: if on_major { major } else { minor },
            });
        }
        marks
    }
}

/// One format for every label of a scale from `lo` to `hi`: scientific when its largest
/// magnitude is below 0.01 or from 10⁴, otherwise fixed with the decimals that give the
/// largest three significant digits (0.0358, 0.0096, 0.0009 — not 9.58e-3 beside 0.0358).
pub fn scale_format(lo: f64, hi: f64) -> impl Fn(f64) -> String {
    let m = lo.abs().max(hi.abs());
    let scientific = m > 0.0 && !(1e-2..1e4).contains(&m);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = if m > 0.0 {
        (2 - m.log10().floor() as i32).max(0) as usize
    } else {
        0
    };
    move |v| {
        if scientific {
            format!("{v:.2e}")
        } else {
            format!("{v:.decimals$}")
        }
    }
}

/// Axis labels with room kept for them from the first frame: egui_plot measures an axis
/// one frame late, and a window that is idle (paused) draws no second frame, so a label
/// would stay drawn over the tick numbers (seen at 1 024 px). Call before
/// [`NiceAxes::nice_axes`], which keeps these axes and sets their numbers.
pub trait LabelledAxes {
    #[must_use]
    fn labelled_axes(self, x: &str, y: Option<&str>) -> Self;
}

/// The x axis's numbers and its label under them.
const LABELLED_X: f32 = 34.0;
/// The y axis's numbers (up to about six characters) and its label beside them.
const LABELLED_Y: f32 = 58.0;

impl LabelledAxes for Plot<'_> {
    fn labelled_axes(self, x: &str, y: Option<&str>) -> Self {
        let plot = self.custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label(x)
                .min_thickness(LABELLED_X),
        ]);
        match y {
            Some(y) => plot.custom_y_axes(vec![
                egui_plot::AxisHints::new_y()
                    .label(y)
                    .min_thickness(LABELLED_Y)
                    // A short plot's minor numbers (0.25 between 0.2 and 0.3) stay
                    // hidden until they have room: they were drawn over their neighbours.
                    .label_spacing(28.0..=40.0),
            ]),
            None => plot,
        }
    }
}

/// Axes on the 1-2-5 grid with the decimals each step needs ([`nice_grid`],
/// [`grid_label`]): x numbers at least 70 points apart, y numbers `y_px`.
pub trait NiceAxes {
    #[must_use]
    fn nice_axes(self, y_px: f64) -> Self;
}

impl NiceAxes for Plot<'_> {
    fn nice_axes(self, y_px: f64) -> Self {
        self.x_grid_spacer(nice_grid(70.0))
            .x_axis_formatter(grid_label)
            .y_grid_spacer(nice_grid(y_px))
            .y_axis_formatter(grid_label)
    }
}

/// An axis number with the decimals its step needs (0.95 beside 1.00, not 1.0 twice).
#[must_use]
pub fn grid_label(mark: egui_plot::GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let step = mark.step_size.abs();
    let v = mark.value;
    if step >= 1e5 || (step > 0.0 && step < 1e-4) {
        return format!("{v:.1e}");
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let from_step = if step > 0.0 {
        (-(step.log10() + 1e-9).floor()).max(0.0) as usize
    } else {
        0
    };
    // No "-0".
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    // As many decimals as the value itself needs (a minor mark at 0.25 between 0 and 0.5
    // reads 0.25, not a rounded 0.2).
    let tol = step.max(1e-12) * 1e-6;
    #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
    let decimals = (from_step..from_step + 4)
        .find(|d| {
            let f = 10_f64.powi(*d as i32);
            ((v * f).round() / f - v).abs() < tol
        })
        .unwrap_or(from_step + 3);
    format!("{v:.decimals$}")
}

/// A number for a scale's label: 3 significant digits.
#[must_use]
pub fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.2e}")
    } else {
        let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_steps_are_one_two_five() {
        assert!((nice_step(0.13) - 0.2).abs() < 1e-12);
        assert!((nice_step(3.0) - 5.0).abs() < 1e-12);
        assert!((nice_step(700.0) - 1000.0).abs() < 1e-9);
        // 770 steps over 330 points with labels 90 points apart: every 500 steps a number.
        let marks = nice_grid(90.0)(egui_plot::GridInput {
            bounds: (0.0, 770.0),
            base_step_size: 770.0 / 330.0 * 8.0,
        });
        let labelled: Vec<f64> = marks
            .iter()
            .filter(|m| (m.step_size - 500.0).abs() < 1e-9)
            .map(|m| m.value)
            .collect();
        assert_eq!(labelled, vec![0.0, 500.0]);
    }

    #[test]
    fn axis_numbers_carry_their_step_s_decimals() {
        let l =
            |value, step_size| grid_label(egui_plot::GridMark { value, step_size }, &(0.0..=1.0));
        assert_eq!([l(0.95, 0.05), l(1.0, 0.05)], ["0.95", "1.00"]);
        assert_eq!(
            [l(0.4, 0.2), l(500.0, 500.0), l(-1e-17, 0.5)],
            ["0.4", "500", "0.0"]
        );
    }

    #[test]
    fn a_scale_has_one_format() {
        let f = scale_format(8.56e-4, 0.0358);
        assert_eq!(
            [f(8.56e-4), f(9.58e-3), f(0.0358)],
            ["0.0009", "0.0096", "0.0358"]
        );
        let g = scale_format(-120.0, 3.0);
        assert_eq!([g(-120.0), g(3.0)], ["-120", "3"]);
        assert_eq!(scale_format(0.0, 2e-5)(1e-5), "1.00e-5");
    }

    #[test]
    fn ticks_read_short() {
        assert_eq!(tick(0.12345), "0.123");
        assert_eq!(tick(12.345), "12.3");
        assert_eq!(tick(-3.0), "-3.00");
        assert_eq!(tick(1.5e-5), "1.50e-5");
    }
}
