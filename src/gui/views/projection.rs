//! The vectors' view: data and chains projected on two axes (two coordinates or the data's
//! principal components), and for a mixture each component's share of the samples.

use super::*;

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
        .projection()
        .map_or(("", ""), |p| (p.names[0].as_str(), p.names[1].as_str()));
    // The axes stay on the projected data (fixed per run: the basis is), unless the view
    // is to follow the samples.
    let mut plot = Plot::new(("projection_plot", opts.fit_samples))
        .id(projection_plot_id(opts.fit_samples))
        .data_aspect(1.0)
        .height(plot_h)
        .labelled_axes(xn, Some(yn))
        .nice_axes(40.0);
    if !opts.fit_samples
        && let Some([x0, x1, y0, y1]) = v.projection().and_then(|d| extent(&d.data))
    {
        let (mx, my) = ((x1 - x0).max(1e-6) * 0.1, (y1 - y0).max(1e-6) * 0.1);
        // Widened here to the plot's own aspect (one unit as many pixels on both axes):
        // left to egui_plot, the equal aspect shrank the taller range and cut the data
        // in a short window.
        let (w, h) = (
            f64::from((ui.available_width() - 70.0).max(50.0)),
            f64::from((plot_h - 40.0).max(50.0)),
        );
        let (xr, yr) = (x1 - x0 + 2.0 * mx, y1 - y0 + 2.0 * my);
        let unit = (xr / w).max(yr / h);
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        plot = plot
            .default_x_bounds(cx - unit * w / 2.0, cx + unit * w / 2.0)
            .default_y_bounds(cy - unit * h / 2.0, cy + unit * h / 2.0);
    }
    plot.show(ui, |p| {
        if opts.show_data
            && let Some(d) = v.projection()
        {
            p.points(
                Points::new("data", points(&d.data, 1500))
                    .color(theme::DATA)
                    .radius(1.5),
            );
        }
        if let Some(c) = v.chains() {
            chains_overlay(p, c, opts);
        }
    });
    energy_histograms_ui(ui, &v.energy_populations);
    if let Some(cov) = &v.coverage {
        coverage_ui(ui, cov);
    }
}

/// The projection plot's id (where egui_plot keeps its bounds), fixed axes or fitted.
#[must_use]
pub fn projection_plot_id(fit_samples: bool) -> egui::Id {
    egui::Id::unique(("projection_plot", fit_samples))
}

/// [x₀, x₁, y₀, y₁] of points given as (x, y) pairs; `None` for none.
fn extent(xy: &[f32]) -> Option<[f64; 4]> {
    let mut b = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in xy.chunks_exact(2) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        b = [b[0].min(x), b[1].max(x), b[2].min(y), b[3].max(y)];
    }
    b.iter().all(|v| v.is_finite()).then_some(b)
}

/// The replay buffer, the sampler's batch and the chain paths, as the options ask, over
/// either view.
pub(super) fn chains_overlay(p: &mut egui_plot::PlotUi<'_>, v: &Chains, opts: &SamplesOptions) {
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

pub(super) fn path_lines(p: &mut egui_plot::PlotUi<'_>, chains: usize, path: &[f32]) {
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

/// Each mixture component's share of the sampler's batch beside its true weight.
pub(super) fn coverage_ui(ui: &mut Ui, cov: &[(f64, f64)]) {
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
        .labelled_axes("mixture component", Some("share"))
        .show(ui, |p| {
            p.bar_chart(BarChart::new("share of the samples", shares).color(theme::SAMPLES));
            p.bar_chart(BarChart::new("true weight", weights).color(theme::DATA));
        });
}
