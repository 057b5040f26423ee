//! Read-only views: the samples over the model's heat map, and the curves.

use super::history::{MetricsHistory, Series};
use super::theme;
use crate::data::Dataset;
use crate::train::worker::View;
use egui::{Color32, ColorImage, TextureHandle, Ui};
use egui_plot::{Bar, BarChart, HLine, Line, Plot, PlotImage, PlotPoint, PlotPoints, Points};

/// What the heat map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HeatKind {
    Density,
    Energy,
    /// A classifier's most probable class, brighter where the model puts more mass.
    Classes,
}

/// Builds the heat map image from a view: row 0 at the top (largest y).
#[must_use]
pub fn heat_image(view: &View, kind: HeatKind) -> ColorImage {
    let g = view.grid;
    if let (HeatKind::Classes, Some((best, _))) = (kind, &view.classes) {
        // Class colour, shaded by the density's square root (so that thin tails show).
        #[allow(clippy::cast_possible_truncation)]
        let density: Vec<f32> = view
            .energies
            .iter()
            .map(|e| ((-(f64::from(*e)) - view.log_z).exp() as f32).sqrt())
            .collect();
        let top = density.iter().copied().fold(1e-12_f32, f32::max);
        let mut pixels = Vec::with_capacity(g * g);
        for j in (0..g).rev() {
            for i in 0..g {
                let c = theme::class(best[j * g + i] as usize);
                let shade = 0.25 + 0.75 * density[j * g + i] / top;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let f = |v: u8| (f32::from(v) * shade) as u8;
                pixels.push(egui::Color32::from_rgb(f(c.r()), f(c.g()), f(c.b())));
            }
        }
        return ColorImage::new([g, g], pixels);
    }
    let vals: Vec<f32> = match kind {
        HeatKind::Energy => view.energies.iter().map(|e| -e).collect(),
        HeatKind::Density | HeatKind::Classes => view
            .energies
            .iter()
            .map(|e| (-(f64::from(*e)) - view.log_z).exp() as f32)
            .collect(),
    };
    let (lo, hi) = vals
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let span = (hi - lo).max(1e-12);
    let mut pixels = Vec::with_capacity(g * g);
    for j in (0..g).rev() {
        for i in 0..g {
            pixels.push(theme::heat((vals[j * g + i] - lo) / span));
        }
    }
    ColorImage::new([g, g], pixels)
}

pub(super) fn points(xs: &[f32], max: usize) -> PlotPoints<'static> {
    let n = xs.len() / 2;
    let stride = n.div_ceil(max.max(1)).max(1);
    xs.chunks_exact(2)
        .step_by(stride)
        .map(|r| [f64::from(r[0]), f64::from(r[1])])
        .collect::<Vec<_>>()
        .into()
}

/// Options of the samples view.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SamplesOptions {
    pub heat: HeatKind,
    pub show_data: bool,
    pub show_samples: bool,
    pub show_buffer: bool,
    pub show_paths: bool,
    /// Fit the view to the samples (off: it stays on the data box).
    pub fit_samples: bool,
    /// Draw the network's units under the view (the plane).
    pub show_network: bool,
}

impl Default for SamplesOptions {
    fn default() -> Self {
        Self {
            heat: HeatKind::Density,
            show_data: true,
            show_samples: true,
            show_buffer: false,
            show_paths: false,
            fit_samples: false,
            show_network: true,
        }
    }
}

/// The centre outside the plane: data, samples, buffer and chain paths projected on the
/// view's two axes; below, the energies of data, samples and uniform noise, and for a
/// mixture each component's share of the samples against its weight.
pub fn projection_ui(ui: &mut Ui, view: Option<&View>, opts: &SamplesOptions) {
    let Some(v) = view else {
        ui.weak("Waiting for the first view…");
        return;
    };
    let below = 170.0 + if v.coverage.is_some() { 150.0 } else { 0.0 };
    let plot_h = (ui.available_height() - below).max(200.0);
    let (xn, yn) = v
        .projection
        .as_ref()
        .map_or(("", ""), |p| (p.names[0].as_str(), p.names[1].as_str()));
    Plot::new("projection_plot")
        .data_aspect(1.0)
        .height(plot_h)
        .nice_axes(40.0)
        .x_axis_label(xn)
        .y_axis_label(yn)
        .show(ui, |p| {
            if opts.show_data
                && let Some(d) = &v.projection
            {
                p.points(
                    Points::new("data", points(&d.data, 1500))
                        .color(theme::DATA)
                        .radius(1.5),
                );
            }
            chains_overlay(p, v, opts);
        });
    energy_histograms_ui(ui, &v.energy_populations);
    if let Some(cov) = &v.coverage {
        coverage_ui(ui, cov);
    }
}

/// The replay buffer, the sampler's batch and the chain paths, as the options ask, over
/// either view.
fn chains_overlay(p: &mut egui_plot::PlotUi<'_>, v: &View, opts: &SamplesOptions) {
    if opts.show_buffer
        && let Some((buf, _)) = &v.buffer
    {
        p.points(
            Points::new("replay buffer", points(buf, 1500))
                .color(theme::BUFFER)
                .radius(1.0),
        );
    }
    if opts.show_samples {
        p.points(
            Points::new("samples", points(&v.samples, 2000))
                .color(theme::SAMPLES)
                .radius(2.0),
        );
    }
    if opts.show_paths
        && let Some((chains, path)) = &v.paths
    {
        path_lines(p, *chains, path);
    }
}

fn path_lines(p: &mut egui_plot::PlotUi<'_>, chains: usize, path: &[f32]) {
    let chains = chains.max(1);
    let steps = path.len() / (2 * chains);
    for c in 0..chains.min(8) {
        let pts: Vec<[f64; 2]> = (0..steps)
            .filter_map(|s| {
                let k = (s * chains + c) * 2;
                path.get(k..k + 2)
                    .map(|r| [f64::from(r[0]), f64::from(r[1])])
            })
            .collect();
        p.line(
            Line::new("chain paths", PlotPoints::from(pts))
                .color(theme::PATH)
                .width(1.5),
        );
    }
}

/// Histograms of E on held-out data, on the sampler's batch and on uniform noise in the
/// box, on shared bins: where the samples sit between data and noise.
pub fn energy_histograms_ui(ui: &mut Ui, e: &crate::train::worker::EnergyPopulations) {
    let all = e
        .data
        .iter()
        .chain(&e.samples)
        .chain(&e.noise)
        .chain(&e.ood)
        .copied();
    let (lo, hi) = all
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !(lo.is_finite() && hi.is_finite()) {
        return;
    }
    let bins = 40_usize;
    let width = f64::from((hi - lo).max(1e-6)) / bins as f64;
    let hist = |xs: &[f32], name: &str, color: Color32| {
        let mut counts = vec![0_usize; bins];
        for v in xs.iter().filter(|v| v.is_finite()) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let k = ((f64::from(v - lo) / width) as usize).min(bins - 1);
            counts[k] += 1;
        }
        let n = xs.len().max(1) as f64;
        let bars: Vec<Bar> = counts
            .iter()
            .enumerate()
            .map(|(k, c)| {
                Bar::new(f64::from(lo) + (k as f64 + 0.5) * width, *c as f64 / n).width(width)
            })
            .collect();
        BarChart::new(name.to_string(), bars).color(color)
    };
    let mut keys = vec![("E(uniform noise)", theme::NOISE)];
    if !e.ood.is_empty() {
        keys.push(("E(pixel-shuffled data)", theme::OOD));
    }
    keys.push(("E(samples)", theme::SAMPLES));
    keys.push(("E(held-out data)", theme::DATA));
    header(
        ui,
        "Energies of data, samples and noise",
        &keys,
        "watch: samples sit on the data's energies, noise well above them.",
    );
    Plot::new("energy_histograms")
        .height(140.0)
        .y_axis_min_width(40.0)
        .nice_axes(32.0)
        .x_axis_label("E(x)")
        .y_axis_label("share")
        .show(ui, |p| {
            p.bar_chart(hist(&e.noise, "E(uniform noise)", theme::NOISE));
            if !e.ood.is_empty() {
                p.bar_chart(hist(&e.ood, "E(pixel-shuffled data)", theme::OOD));
            }
            p.bar_chart(hist(&e.samples, "E(samples)", theme::SAMPLES));
            p.bar_chart(hist(&e.data, "E(held-out data)", theme::DATA));
        });
}

/// Each mixture component's share of the sampler's batch beside its true weight.
fn coverage_ui(ui: &mut Ui, cov: &[(f64, f64)]) {
    let shares: Vec<Bar> = cov
        .iter()
        .enumerate()
        .map(|(k, (s, _))| Bar::new(k as f64 - 0.18, *s).width(0.35))
        .collect();
    let weights: Vec<Bar> = cov
        .iter()
        .enumerate()
        .map(|(k, (_, w))| Bar::new(k as f64 + 0.18, *w).width(0.35))
        .collect();
    header(
        ui,
        "Mode coverage",
        &[
            ("share of the samples", theme::SAMPLES),
            ("true weight", theme::DATA),
        ],
        "watch: the two bars of each component alike; an empty orange bar is a mode the chains never reach.",
    );
    Plot::new("mode_coverage")
        .height(120.0)
        .y_axis_min_width(40.0)
        .x_axis_label("mixture component")
        .y_axis_label("share")
        .show(ui, |p| {
            p.bar_chart(BarChart::new("share of the samples", shares).color(theme::SAMPLES));
            p.bar_chart(BarChart::new("true weight", weights).color(theme::DATA));
        });
}

/// The heat map's values at its two ends (colour 0 and colour 1), in the units the colour
/// bar shows: the density p(x) for densities and classes, the energy E(x) for energies.
#[must_use]
pub fn heat_range(view: &View, kind: HeatKind) -> Option<(f64, f64)> {
    if view.grid == 0 {
        return None;
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for e in &view.energies {
        let v = match kind {
            HeatKind::Energy => -f64::from(*e),
            HeatKind::Density | HeatKind::Classes => (-f64::from(*e) - view.log_z).exp(),
        };
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    Some(match kind {
        // The scale runs over −E: its low end is the highest energy.
        HeatKind::Energy => (-lo, -hi),
        HeatKind::Density | HeatKind::Classes => (lo, hi),
    })
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

/// Width of the colour bar beside the heat map.
pub const COLOUR_BAR_WIDTH: f32 = 92.0;

/// The colour bar beside the heat map: the scale with its values and units, or for a
/// classifier's map the colour of each class.
pub fn colour_bar(ui: &mut Ui, kind: HeatKind, range: Option<(f64, f64)>, classes: usize) {
    let h = ui.available_height();
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(COLOUR_BAR_WIDTH, h), egui::Sense::hover());
    // What it shows, for screen readers (and tests): its painted text is not a widget.
    let described = match (kind, range) {
        (HeatKind::Classes, _) if classes > 1 => {
            format!("colour key: class colours 0 to {}", classes - 1)
        }
        (HeatKind::Energy, Some((lo, hi))) => {
            format!(
                "colour bar: energy E(x) from {} to {} nats",
                tick(lo),
                tick(hi)
            )
        }
        (_, Some((lo, hi))) => format!(
            "colour bar: density p(x) from {} to {} per unit area",
            tick(lo),
            tick(hi)
        ),
        _ => "colour bar".to_string(),
    };
    let _ = response.accessible_name(described);
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    let font = egui::FontId::proportional(12.0);
    if kind == HeatKind::Classes && classes > 1 {
        painter.text(
            rect.left_top() + egui::vec2(4.0, 4.0),
            egui::Align2::LEFT_TOP,
            "class",
            font.clone(),
            text,
        );
        for k in 0..classes.min(20) {
            #[allow(clippy::cast_precision_loss)]
            let y = rect.top() + 24.0 + 18.0 * k as f32;
            let sw =
                egui::Rect::from_min_size(egui::pos2(rect.left() + 4.0, y), egui::vec2(14.0, 14.0));
            painter.rect_filled(sw, 2.0, theme::class(k));
            painter.text(
                egui::pos2(rect.left() + 24.0, y + 7.0),
                egui::Align2::LEFT_CENTER,
                format!("{k}"),
                font.clone(),
                text,
            );
        }
        painter.text(
            egui::pos2(
                rect.left() + 4.0,
                rect.top() + 30.0 + 18.0 * classes.min(20) as f32,
            ),
            egui::Align2::LEFT_TOP,
            "brighter:\nmore mass",
            font,
            ui.visuals().weak_text_color(),
        );
        return;
    }
    let Some((lo, hi)) = range else { return };
    let (title, unit) = match kind {
        HeatKind::Energy => ("E(x)", "nats"),
        HeatKind::Density | HeatKind::Classes => ("p(x)", "per unit area"),
    };
    painter.text(
        rect.left_top() + egui::vec2(4.0, 2.0),
        egui::Align2::LEFT_TOP,
        title,
        font.clone(),
        text,
    );
    painter.text(
        rect.left_top() + egui::vec2(4.0, 16.0),
        egui::Align2::LEFT_TOP,
        unit,
        egui::FontId::proportional(10.0),
        ui.visuals().weak_text_color(),
    );
    let bar = egui::Rect::from_min_max(
        egui::pos2(rect.left() + 4.0, rect.top() + 36.0),
        egui::pos2(rect.left() + 20.0, rect.bottom() - 10.0),
    );
    let n = 64;
    for i in 0..n {
        #[allow(clippy::cast_precision_loss)]
        let (t0, t1) = (i as f32 / n as f32, (i + 1) as f32 / n as f32);
        // Colour 1 (the top of the scale) at the top.
        let r = egui::Rect::from_min_max(
            egui::pos2(bar.left(), bar.bottom() - t1 * bar.height()),
            egui::pos2(bar.right(), bar.bottom() - t0 * bar.height() + 0.5),
        );
        painter.rect_filled(r, 0.0, theme::heat((t0 + t1) / 2.0));
    }
    let fmt = scale_format(lo, hi);
    for k in 0..=4 {
        let t = f64::from(k) / 4.0;
        let v = lo + t * (hi - lo);
        #[allow(clippy::cast_possible_truncation)]
        let y = bar.bottom() - t as f32 * bar.height();
        painter.line_segment(
            [egui::pos2(bar.right(), y), egui::pos2(bar.right() + 4.0, y)],
            (1.0, text),
        );
        painter.text(
            egui::pos2(bar.right() + 6.0, y),
            egui::Align2::LEFT_CENTER,
            fmt(v),
            font.clone(),
            text,
        );
    }
}

/// Points of `xs` inside the box, and those outside moved onto its edge.
fn split_by_box(xs: &[f32], b: &crate::data::DataBox) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for r in xs.chunks_exact(2) {
        let (x, y) = (r[0], r[1]);
        if x.is_nan() || y.is_nan() {
            continue;
        }
        let cx = x.clamp(b.lo[0], b.hi[0]);
        let cy = y.clamp(b.lo[1], b.hi[1]);
        if cx == x && cy == y {
            inside.push([f64::from(x), f64::from(y)]);
        } else {
            outside.push([f64::from(cx), f64::from(cy)]);
        }
    }
    (inside, outside)
}

/// How many of the sampler's points lie outside the data box.
#[must_use]
pub fn outside_count(view: &View, b: &crate::data::DataBox) -> usize {
    split_by_box(&view.samples, b).1.len()
}

/// The centre: heat map, data, samples, buffer and chain paths, with the colour bar; below
/// it the chain ages. The view stays on the data box (samples outside it are drawn on its
/// edge) unless asked to fit the samples. Returns the rectangle it drew in and the
/// plot's bounds `[x min, x max, y min, y max]`.
pub fn samples_ui(
    ui: &mut Ui,
    data: &Dataset,
    view: Option<&View>,
    // The heat map's texture and the values at its ends (both made once per view).
    heat: Option<(&TextureHandle, Option<(f64, f64)>)>,
    opts: &SamplesOptions,
    class_samples: Option<&(usize, Vec<f32>)>,
    classes: usize,
) -> (egui::Rect, [f64; 4]) {
    let b = &data.data_box;
    let hist_h = if opts.show_buffer { 120.0 } else { 0.0 };
    let plot_h = (ui.available_height() - hist_h - 8.0).max(200.0);
    let (x0, x1) = (f64::from(b.lo[0]), f64::from(b.hi[0]));
    let (y0, y1) = (f64::from(b.lo[1]), f64::from(b.hi[1]));
    let (mx, my) = ((x1 - x0) * 0.02, (y1 - y0) * 0.02);
    let (texture, range) = (heat.map(|h| h.0), heat.and_then(|h| h.1));
    let mut drawn = egui::Rect::NOTHING;
    let mut bounds = [0.0; 4];
    let row = ui.horizontal(|ui| {
        let avail_w = (ui.available_width() - COLOUR_BAR_WIDTH - 8.0).max(200.0);
        let mut plot = Plot::new(("samples_plot", opts.fit_samples))
            .y_axis_min_width(36.0)
            .nice_axes(60.0);
        plot = if opts.fit_samples {
            plot.data_aspect(1.0)
                .height(plot_h)
                .width(avail_w)
                .auto_bounds(true)
                .include_x(x0)
                .include_x(x1)
                .include_y(y0)
                .include_y(y1)
        } else {
            // The whole box at one unit per unit on both axes: the plot takes the box's
            // shape (plus its axes' margins) rather than cutting an axis to fit.
            let (ax, ay) = (44.0, 22.0);
            #[allow(clippy::cast_possible_truncation)]
            let aspect = ((x1 - x0 + 2.0 * mx) / (y1 - y0 + 2.0 * my)) as f32;
            let w = avail_w.min((plot_h - ay) * aspect + ax);
            let h = (w - ax) / aspect + ay;
            plot.width(w)
                .height(h)
                .default_x_bounds(x0 - mx, x1 + mx)
                .default_y_bounds(y0 - my, y1 + my)
        };
        let r = plot.show(ui, |p| {
            if let Some(t) = texture {
                let centre = PlotPoint::new((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                p.image(PlotImage::new(
                    "",
                    t.id(),
                    centre,
                    [b.hi[0] - b.lo[0], b.hi[1] - b.lo[1]],
                ));
            }
            if opts.show_data {
                if data.train_labels.is_empty() {
                    p.points(
                        Points::new("data", points(&data.train, 600))
                            .color(theme::DATA)
                            .radius(1.5),
                    );
                } else {
                    // Coloured by label.
                    let k = data.classes.max(1);
                    let mut by: Vec<Vec<[f64; 2]>> = vec![Vec::new(); k];
                    let n = data.train_labels.len();
                    let stride = n.div_ceil(1200).max(1);
                    for (i, y) in data.train_labels.iter().enumerate().step_by(stride) {
                        let r = &data.train[2 * i..2 * i + 2];
                        by[(*y as usize).min(k - 1)].push([f64::from(r[0]), f64::from(r[1])]);
                    }
                    for (c, pts) in by.into_iter().enumerate() {
                        p.points(
                            Points::new(format!("data, class {c}"), PlotPoints::from(pts))
                                .color(theme::class(c))
                                .radius(2.0),
                        );
                    }
                }
            }
            if let Some((c, xs)) = class_samples {
                p.points(
                    Points::new(format!("samples of class {c}"), points(xs, 1000))
                        .color(theme::class(*c))
                        .shape(egui_plot::MarkerShape::Diamond)
                        .radius(3.0),
                );
            }
            if let Some(v) = view {
                if opts.fit_samples {
                    chains_overlay(p, v, opts);
                } else {
                    if opts.show_buffer
                        && let Some((buf, _)) = &v.buffer
                    {
                        let (inside, _) = split_by_box(buf, b);
                        let stride = inside.len().div_ceil(1500).max(1);
                        let pts: Vec<[f64; 2]> = inside.into_iter().step_by(stride).collect();
                        p.points(
                            Points::new("replay buffer", PlotPoints::from(pts))
                                .color(theme::BUFFER)
                                .radius(1.0),
                        );
                    }
                    if opts.show_samples {
                        let (inside, outside) = split_by_box(&v.samples, b);
                        p.points(
                            Points::new("samples", PlotPoints::from(inside))
                                .color(theme::SAMPLES)
                                .radius(2.0),
                        );
                        if !outside.is_empty() {
                            p.points(
                                Points::new("samples outside the box", PlotPoints::from(outside))
                                    .color(theme::OUTSIDE)
                                    .shape(egui_plot::MarkerShape::Cross)
                                    .radius(4.0),
                            );
                        }
                    }
                    if opts.show_paths
                        && let Some((chains, path)) = &v.paths
                    {
                        path_lines(p, *chains, path);
                    }
                }
            }
        });
        drawn = r.response.rect;
        let pb = r.transform.bounds();
        bounds = [pb.min()[0], pb.max()[0], pb.min()[1], pb.max()[1]];
        colour_bar(ui, opts.heat, range, classes);
    });
    // The plot with its axes' numbers and the colour bar: what Export view PNG cuts out.
    let area = row.response.rect.union(drawn);
    if opts.show_buffer {
        if let Some((_, ages)) = view.and_then(|v| v.buffer.as_ref()) {
            let max = ages.iter().copied().max().unwrap_or(0).max(1);
            let bins = 40_usize;
            let mut counts = vec![0_u32; bins];
            for a in ages {
                #[allow(clippy::cast_possible_truncation)]
                let k = ((u64::from(*a) * bins as u64) / (u64::from(max) + 1)) as usize;
                counts[k.min(bins - 1)] += 1;
            }
            let width = f64::from(max + 1) / bins as f64;
            let bars: Vec<Bar> = counts
                .iter()
                .enumerate()
                .map(|(k, c)| Bar::new((k as f64 + 0.5) * width, f64::from(*c)).width(width))
                .collect();
            Plot::new("ages_plot")
                .height(hist_h)
                .x_axis_label("steps a buffer chain has lived")
                .y_axis_label("chains")
                .show(ui, |p| {
                    p.bar_chart(BarChart::new("chains by age", bars).color(theme::BUFFER));
                });
        } else {
            ui.weak("No replay buffer (short-run or CD-k initialisation).");
        }
    }
    (area, bounds)
}

/// Points drawn per curve at most; the history keeps more.
const DRAWN: usize = 300;

fn line(name: &str, s: &Series, c: Color32) -> Line<'static> {
    let stride = s.points.len().div_ceil(DRAWN).max(1);
    let mut pts: Vec<[f64; 2]> = s.points.iter().step_by(stride).copied().collect();
    if let Some(last) = s.points.last()
        && pts.last() != Some(last)
    {
        pts.push(*last);
    }
    // 2 px: without feathering (software rendering) thinner lines break up. No "band"
    // drawing: egui_plot draws a series whose points come closer than a pixel as one
    // vertical span per pixel column, which leaves a noisy curve as unconnected dots.
    Line::new(name.to_string(), PlotPoints::from(pts))
        .color(c)
        .width(2.0)
        .allow_band(false)
}

/// What the curves show besides the run's own history.
pub struct CurvesContext<'a> {
    pub true_nll: Option<f64>,
    pub per_layer: bool,
    /// The last AIS result: (log Z, its standard error, quadrature log Z).
    pub ais: Option<(f64, f64, Option<f64>)>,
    pub pins: &'a [(String, &'a MetricsHistory)],
    /// Outside the plane: the NLL is an AIS estimate and the sampler is compared with the
    /// reference term.
    pub by_ais: bool,
    /// Warnings at steps, drawn on every plot's step axis.
    pub marks: &'a [(usize, Mark)],
    /// Layers in the network's list (the output layer comes after them).
    pub list_layers: usize,
    /// Score matching: no sample term (its plots say so and the cosine is left out).
    pub score_matching: bool,
}

/// A plot's title, the key of its series (outside the plot, so that it covers no
/// curve), and one line on what to watch.
fn header(ui: &mut Ui, title: &str, keys: &[(&str, Color32)], watch: &str) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        ui.strong(title);
        for (name, c) in keys {
            ui.label(egui::RichText::new(format!("■ {name}")).color(*c));
        }
    });
    ui.label(egui::RichText::new(watch).small().weak());
}

/// A warning drawn on the curves' step axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Diverged,
    SamplerLost,
    Ais,
}

impl Mark {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Diverged => "diverged (rolled back)",
            Self::SamplerLost => "sampler lost the model",
            Self::Ais => "AIS run",
        }
    }
}

fn mark_colour(m: Mark) -> Color32 {
    match m {
        Mark::Diverged => theme::ERROR,
        Mark::SamplerLost => theme::WARNING,
        Mark::Ais => theme::EXACT.gamma_multiply(0.7),
    }
}

/// The marks as vertical lines on a plot's step axis.
fn draw_marks(p: &mut egui_plot::PlotUi<'_>, marks: &[(usize, Mark)]) {
    for (step, m) in marks {
        #[allow(clippy::cast_precision_loss)]
        p.vline(
            egui_plot::VLine::new("", *step as f64)
                .color(mark_colour(*m))
                .width(1.5)
                .style(egui_plot::LineStyle::dashed_loose()),
        );
    }
}

/// A y range that a few spikes do not flatten: up to 1.5 × the 95th percentile when the
/// largest value is more than three times it. Returns the range's top and whether values
/// lie above it.
#[must_use]
pub fn robust_top(s: &Series) -> Option<(f64, bool)> {
    let mut v: Vec<f64> = s
        .points
        .iter()
        .map(|p| p[1])
        .filter(|v| v.is_finite())
        .collect();
    if v.len() < 10 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let q = v[((v.len() as f64 * 0.95) as usize).min(v.len() - 1)];
    let max = *v.last()?;
    (max > 3.0 * q && q > 0.0).then_some((1.5 * q, true))
}

/// The right column: gradient terms, per-layer terms, NLL, energies and loss, the
/// classifier's accuracy and calibration (JEM), the sampler's acceptance rate (MALA,
/// HMC), step time. Each plot names its series above it and says what to watch; the
/// marks of divergences, lost samplers and AIS runs are on every step axis.
pub fn curves_ui(ui: &mut Ui, h: &MetricsHistory, c: &CurvesContext<'_>) {
    let pins = c.pins;
    // Pinned runs: faint dashed lines under the live ones, one colour each.
    let pinned = |p: &mut egui_plot::PlotUi<'_>, series: fn(&MetricsHistory) -> &Series| {
        for (k, (label, h)) in pins.iter().enumerate() {
            p.line(
                line(label, series(h), theme::layer(k + 3).gamma_multiply(0.6))
                    .style(egui_plot::LineStyle::dashed_dense())
                    .width(1.0),
            );
        }
    };
    let plots = 6
        + usize::from(c.per_layer)
        + usize::from(!h.acceptance.is_empty())
        + usize::from(!h.accuracy.is_empty() || !h.ce_loss.is_empty());
    #[allow(clippy::cast_precision_loss)]
    let height = ((ui.available_height() - 48.0 * plots as f32) / plots as f32).max(90.0);
    let group = egui::Id::unique("curves_x");
    let marks = c.marks;
    let plot = |id: &str| {
        Plot::new(id.to_string())
            .id(curve_plot_id(id))
            // The wheel scrolls the panel to the lower plots; it must not also pan the
            // plot under the pointer, which then stops following the run (a drag still
            // pans, Ctrl + wheel zooms, a double-click follows the run again).
            .allow_scroll(false)
            .height(height)
            .y_axis_min_width(40.0)
            .nice_axes(32.0)
            .link_axis(group, [true, false])
            .link_cursor(group, [true, false])
    };
    if !pins.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.weak("pinned (dashed):");
            for (k, (label, _)) in pins.iter().enumerate() {
                ui.label(egui::RichText::new(label).color(theme::layer(k + 3)));
            }
        });
    }
    if !marks.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.weak("marks on the step axis:");
            let mut seen = Vec::new();
            for (_, m) in marks {
                if !seen.contains(m) {
                    seen.push(*m);
                    ui.label(egui::RichText::new(format!("┆ {}", m.name())).color(mark_colour(*m)));
                }
            }
        });
    }
    header(
        ui,
        "Gradient terms",
        &[
            ("|data term|", theme::DATA),
            ("|sample term|", theme::SAMPLES),
            ("|difference|", theme::DIFFERENCE),
        ],
        if c.score_matching {
            "score matching draws no samples: no sample term; the update is the objective's own gradient (below)."
        } else {
            "watch: |difference| → 0 as the model matches the data; the two terms stay close."
        },
    );
    plot("terms_plot").show(ui, |p| {
        p.line(line("|data term|", &h.data_term_norm, theme::DATA));
        p.line(line("|sample term|", &h.sample_term_norm, theme::SAMPLES));
        p.line(line("|difference|", &h.grad_norm, theme::DIFFERENCE));
        pinned(p, |h| &h.grad_norm);
        draw_marks(p, marks);
    });
    if c.per_layer {
        // Named as the network's list names them: "layer i", then the output layer.
        let name = |n: &str| {
            let i = n
                .strip_prefix("layers.")
                .and_then(|i| i.parse::<usize>().ok());
            match i {
                Some(i) if i < c.list_layers => format!("layer {i}"),
                Some(_) => "output layer".to_string(),
                None => n.to_string(),
            }
        };
        let names: Vec<(String, Color32)> = h
            .layers
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (name(n), theme::layer(i)))
            .collect();
        let keys: Vec<(&str, Color32)> = names.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        header(
            ui,
            "Per layer",
            &keys,
            "solid: |data term|, dashed: |sample term|; a layer whose two lines part is where the model and the sampler disagree.",
        );
        plot("layers_plot").show(ui, |p| {
            for (i, (n, d, s)) in h.layers.iter().enumerate() {
                let n = name(n);
                p.line(line(&format!("{n} data"), d, theme::layer(i)));
                p.line(
                    line(&format!("{n} sample"), s, theme::layer(i))
                        .style(egui_plot::LineStyle::dashed_loose()),
                );
            }
            draw_marks(p, marks);
        });
    }
    if !c.score_matching {
        header(
            ui,
            "cos(data term, sample term)",
            &[("cos", theme::DIFFERENCE)],
            "watch: → 1 as the model matches the data (the samples then look like the data to every parameter).",
        );
        plot("cos_plot").include_y(1.0).show(ui, |p| {
            p.line(line("cos", &h.cos_terms, theme::DIFFERENCE));
            pinned(p, |h| &h.cos_terms);
            draw_marks(p, marks);
        });
    }
    let mut nll_keys = vec![("model NLL", theme::SAMPLES)];
    if c.true_nll.is_some() {
        nll_keys.push(("true NLL", theme::EXACT));
    }
    if c.by_ais {
        nll_keys.push(("± standard error", theme::SAMPLES.gamma_multiply(0.5)));
    }
    header(
        ui,
        if c.by_ais {
            "Held-out NLL (nats, AIS)"
        } else {
            "Held-out NLL (nats, quadrature)"
        },
        &nll_keys,
        "watch: falls towards the true NLL; the gap is KL(data ‖ model).",
    );
    if let Some((lz, se, quad)) = c.ais {
        ui.label(
            egui::RichText::new(match quad {
                Some(q) => format!("log Z: quadrature {q:.4}, AIS {lz:.4} ± {se:.4}"),
                None => format!("log Z: AIS {lz:.4} ± {se:.4}"),
            })
            .small(),
        );
    }
    plot("nll_plot").show(ui, |p| {
        if c.by_ais {
            // The ±1 standard error band around the AIS estimates.
            let se: std::collections::HashMap<u64, f64> = h
                .nll_stderr
                .points
                .iter()
                .map(|[s, v]| (s.to_bits(), *v))
                .collect();
            let band = |sign: f64| -> Vec<[f64; 2]> {
                h.nll
                    .points
                    .iter()
                    .filter_map(|[s, n]| se.get(&s.to_bits()).map(|e| [*s, n + sign * e]))
                    .collect()
            };
            for sign in [1.0, -1.0] {
                p.line(
                    Line::new("± standard error", PlotPoints::from(band(sign)))
                        .color(theme::SAMPLES.gamma_multiply(0.5))
                        .style(egui_plot::LineStyle::dashed_dense()),
                );
            }
        }
        p.line(line("model NLL", &h.nll, theme::SAMPLES));
        pinned(p, |h| &h.nll);
        // The evaluations as dots on the same series.
        p.points(
            Points::new("model NLL", PlotPoints::from(h.nll.points.clone()))
                .color(theme::SAMPLES)
                .radius(2.0),
        );
        if let Some(t) = c.true_nll {
            p.hline(HLine::new("true NLL", t).color(theme::EXACT));
        }
        draw_marks(p, marks);
    });
    if !h.objective_cos_ml.is_empty() {
        header(
            ui,
            "The objective vs the exact ML gradient",
            &[("cos(g_objective, g_ML)", theme::EXACT)],
            "watch: 1 would be maximum likelihood's own direction; score matching follows another, and this says how far (every NLL evaluation).",
        );
        plot("objective_plot")
            .include_y(-1.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line(
                    "cos(g_objective, g_ML)",
                    &h.objective_cos_ml,
                    theme::EXACT,
                ));
                p.points(
                    Points::new(
                        "cos(g_objective, g_ML)",
                        PlotPoints::from(h.objective_cos_ml.points.clone()),
                    )
                    .color(theme::EXACT)
                    .radius(2.0),
                );
                draw_marks(p, marks);
            });
    } else if c.by_ais || !h.sample_term_cos_reference.is_empty() {
        header(
            ui,
            &format!(
                "Sampler vs the reference sample term (split R-hat {})",
                h.reference_rhat.last().map_or("–".into(), |r| format!(
                    "{r:.3}{}",
                    if r > 1.1 { ", not mixed" } else { "" }
                ))
            ),
            &[
                ("cos(g_sample, g_ref)", theme::EXACT),
                ("relative error", theme::SAMPLES),
                ("split R-hat − 1", theme::WARNING),
            ],
            "watch: cos near 1 and the error small while split R-hat − 1 < 0.1 (long MALA chains as the reference; the classic split R-hat of Gelman et al.).",
        );
        plot("reference_plot")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line(
                    "cos(g_sample, g_ref)",
                    &h.sample_term_cos_reference,
                    theme::EXACT,
                ));
                p.line(line(
                    "relative error",
                    &h.sample_term_rel_err_reference,
                    theme::SAMPLES,
                ));
                p.line(line(
                    "split R-hat − 1",
                    &shifted(&h.reference_rhat, -1.0),
                    theme::WARNING,
                ));
                draw_marks(p, marks);
            });
    } else {
        header(
            ui,
            "Sampler vs the exact sample term",
            &[
                ("cos(g_sample, g*)", theme::EXACT),
                ("|g_sample − g*| / |g*|", theme::SAMPLES),
            ],
            "watch: cos near 1: the sampler follows the model; a drop means its samples lag behind (every NLL evaluation).",
        );
        plot("exact_plot")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line(
                    "cos(g_sample, g*)",
                    &h.sample_term_cos_exact,
                    theme::EXACT,
                ));
                p.line(line(
                    "|g_sample − g*| / |g*|",
                    &h.sample_term_rel_err,
                    theme::SAMPLES,
                ));
                p.points(
                    Points::new(
                        "cos(g_sample, g*)",
                        PlotPoints::from(h.sample_term_cos_exact.points.clone()),
                    )
                    .color(theme::EXACT)
                    .radius(2.0),
                );
                draw_marks(p, marks);
            });
    }
    header(
        ui,
        "Energies and loss",
        &[
            ("E(data)", theme::DATA),
            ("E(samples)", theme::SAMPLES),
            ("loss", theme::LOSS),
        ],
        "watch: E(data) and E(samples) stay together; a widening gap or a runaway means the sampler lost the model.",
    );
    plot("energy_plot").show(ui, |p| {
        p.line(line("E(data)", &h.e_data, theme::DATA));
        p.line(line("E(samples)", &h.e_sample, theme::SAMPLES));
        p.line(line("loss", &h.loss, theme::LOSS));
        pinned(p, |h| &h.e_sample);
        draw_marks(p, marks);
    });
    if !h.accuracy.is_empty() || !h.ce_loss.is_empty() {
        header(
            ui,
            &format!(
                "JEM: accuracy {}, ECE {}",
                h.accuracy.last().map_or("–".into(), |a| format!("{a:.3}")),
                h.ece.last().map_or("–".into(), |e| format!("{e:.3}")),
            ),
            &[
                ("held-out accuracy", theme::EXACT),
                ("ECE", theme::DIFFERENCE),
                ("batch cross-entropy", theme::LOSS),
            ],
            "watch: accuracy up and ECE (calibration error) low while the energy also learns the data.",
        );
        plot("classifier_plot")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line("held-out accuracy", &h.accuracy, theme::EXACT));
                p.points(
                    Points::new(
                        "held-out accuracy",
                        PlotPoints::from(h.accuracy.points.clone()),
                    )
                    .color(theme::EXACT)
                    .radius(2.0),
                );
                p.line(line("ECE", &h.ece, theme::DIFFERENCE));
                p.line(line("batch cross-entropy", &h.ce_loss, theme::LOSS));
                draw_marks(p, marks);
            });
    }
    if let Some(last) = h.acceptance.last() {
        header(
            ui,
            &match h.step_size.last() {
                Some(step) => {
                    format!("Sampler acceptance rate (last {last:.3}; adapted step {step:.4})")
                }
                None => format!("Sampler acceptance rate (last {last:.3})"),
            },
            &[("accepted", theme::SAMPLES)],
            "watch: about 0.57 for MALA and 0.65 for HMC; near 0 the chains stand still, near 1 the step could be larger.",
        );
        plot("acceptance_plot")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line("accepted", &h.acceptance, theme::SAMPLES));
                draw_marks(p, marks);
            });
    }
    let robust = robust_top(&h.step_ms);
    header(
        ui,
        "Step time (ms)",
        &[("step", theme::LOSS)],
        &match robust {
            Some((top, _)) => {
                format!("watch: steady; spikes above {top:.1} ms are cut off the plot.")
            }
            None => "watch: steady; the sampler's steps and the batch set it.".to_string(),
        },
    );
    let mut time = plot("time_plot").include_y(0.0);
    if let Some((top, _)) = robust {
        time = time.auto_bounds([true, false]).default_y_bounds(0.0, top);
    }
    time.show(ui, |p| {
        p.line(line("step", &h.step_ms, theme::LOSS));
        draw_marks(p, marks);
    });
}

/// The samples view as a PNG image (`size` pixels square): the heat map, the data, the
/// buffer, the samples and the chain paths as shown, in the window's colours (where no
/// renderer can take a screenshot of the window).
///
/// # Errors
/// A PNG encoding error, as text.
pub fn view_png(
    view: &View,
    data: &Dataset,
    opts: &SamplesOptions,
    size: u32,
) -> Result<Vec<u8>, String> {
    let g = view.grid;
    let mut img = image::RgbaImage::new(size, size);
    if g > 0 {
        let heat = heat_image(view, opts.heat);
        for (px, py, p) in img.enumerate_pixels_mut() {
            #[allow(clippy::cast_possible_truncation)]
            let i = ((u64::from(px) * g as u64) / u64::from(size)) as usize;
            #[allow(clippy::cast_possible_truncation)]
            let j = ((u64::from(py) * g as u64) / u64::from(size)) as usize;
            let c = heat.pixels[j.min(g - 1) * g + i.min(g - 1)];
            *p = image::Rgba([c.r(), c.g(), c.b(), 255]);
        }
    } else {
        for p in img.pixels_mut() {
            *p = image::Rgba([20, 20, 24, 255]);
        }
    }
    // The plane's data box, or outside the plane the projected points' bounding box.
    let data_pts: &[f32] = match &view.projection {
        Some(pd) => &pd.data,
        None => &data.train,
    };
    let (lo, hi) = if g > 0 {
        (data.data_box.lo.clone(), data.data_box.hi.clone())
    } else {
        let mut lo = [f32::INFINITY; 2];
        let mut hi = [f32::NEG_INFINITY; 2];
        for r in data_pts.chunks_exact(2).chain(view.samples.chunks_exact(2)) {
            for j in 0..2 {
                lo[j] = lo[j].min(r[j]);
                hi[j] = hi[j].max(r[j]);
            }
        }
        let pad = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-3) * 0.05;
        (
            lo.iter().map(|v| v - pad).collect(),
            hi.iter().map(|v| v + pad).collect(),
        )
    };
    let mut dot = |x: f32, y: f32, c: Color32, r: i64| {
        let fx = (x - lo[0]) / (hi[0] - lo[0]);
        let fy = (hi[1] - y) / (hi[1] - lo[1]);
        #[allow(clippy::cast_possible_truncation)]
        let (cx, cy) = ((fx * size as f32) as i64, (fy * size as f32) as i64);
        for dy in -r..=r {
            for dx in -r..=r {
                let (x, y) = (cx + dx, cy + dy);
                if dx * dx + dy * dy <= r * r
                    && (0..i64::from(size)).contains(&x)
                    && (0..i64::from(size)).contains(&y)
                {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    img.put_pixel(x as u32, y as u32, image::Rgba([c.r(), c.g(), c.b(), 255]));
                }
            }
        }
    };
    if opts.show_data {
        let n = data_pts.len() / 2;
        for r in data_pts.chunks_exact(2).step_by((n / 1500).max(1)) {
            dot(r[0], r[1], theme::DATA, 1);
        }
    }
    if opts.show_buffer
        && let Some((buf, _)) = &view.buffer
    {
        let n = buf.len() / 2;
        for r in buf.chunks_exact(2).step_by((n / 1500).max(1)) {
            dot(r[0], r[1], theme::BUFFER, 1);
        }
    }
    if opts.show_samples {
        for r in view.samples.chunks_exact(2) {
            dot(r[0], r[1], theme::SAMPLES, 2);
        }
    }
    if opts.show_paths
        && let Some((chains, path)) = &view.paths
    {
        // Each chain's moves as short runs of dots.
        let chains = (*chains).max(1);
        let steps = path.len() / (2 * chains);
        for c in 0..chains.min(8) {
            for s in 1..steps {
                let (a, b) = ((s - 1) * chains + c, s * chains + c);
                let (p, q) = (&path[2 * a..2 * a + 2], &path[2 * b..2 * b + 2]);
                for k in 0..=8 {
                    #[allow(clippy::cast_precision_loss)]
                    let t = k as f32 / 8.0;
                    dot(
                        p[0] + t * (q[0] - p[0]),
                        p[1] + t * (q[1] - p[1]),
                        theme::PATH,
                        1,
                    );
                }
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

/// A series moved by `by` (R̂ − 1 shares the axis of the cosine and the error).
fn shifted(s: &Series, by: f64) -> Series {
    let mut out = s.clone();
    for p in &mut out.points {
        p[1] += by;
    }
    out
}

/// The id of a curve plot (`loss_plot`, `nll_plot`, …) in the right-hand panel, under
/// which egui_plot keeps its memory (the bounds, whether they follow the data).
#[must_use]
pub fn curve_plot_id(name: &str) -> egui::Id {
    egui::Id::unique(("curve_plot", name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_outside_the_box_go_to_its_edge() {
        let b = crate::data::DataBox {
            lo: vec![-1.0, -2.0],
            hi: vec![1.0, 2.0],
        };
        let (inside, outside) = split_by_box(&[0.5, 0.5, 5.0, 0.0, 0.0, -1e10, f32::NAN, 0.0], &b);
        assert_eq!(inside, vec![[0.5, 0.5]]);
        assert_eq!(outside, vec![[1.0, 0.0], [0.0, -2.0]]);
    }

    #[test]
    fn a_few_spikes_do_not_set_the_step_time_range() {
        let mut s = Series::default();
        for i in 0..100 {
            s.push(
                i,
                if i % 40 == 7 {
                    500.0
                } else {
                    2.0 + 0.01 * i as f64
                },
            );
        }
        let (top, cut) = robust_top(&s).expect("a robust range");
        assert!(cut && top < 10.0, "{top}");
        let mut calm = Series::default();
        for i in 0..100 {
            calm.push(i, 2.0);
        }
        assert_eq!(robust_top(&calm), None);
    }

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
