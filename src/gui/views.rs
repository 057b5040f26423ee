//! Read-only views: the samples over the model's heat map, and the curves.

use super::history::{MetricsHistory, Series};
use super::theme;
use crate::data::Dataset;
use crate::train::worker::View;
use egui::{Color32, ColorImage, TextureHandle, Ui};
use egui_plot::{
    Bar, BarChart, HLine, Legend, Line, Plot, PlotImage, PlotPoint, PlotPoints, Points,
};

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

fn points(xs: &[f32], max: usize) -> PlotPoints<'static> {
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
}

impl Default for SamplesOptions {
    fn default() -> Self {
        Self {
            heat: HeatKind::Density,
            show_data: true,
            show_samples: true,
            show_buffer: false,
            show_paths: false,
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
        .legend(Legend::default())
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
                .width(1.0),
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
    Plot::new("energy_histograms")
        .height(160.0)
        .legend(Legend::default())
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
    Plot::new("mode_coverage")
        .height(140.0)
        .legend(Legend::default())
        .x_axis_label("mixture component")
        .y_axis_label("share")
        .show(ui, |p| {
            p.bar_chart(BarChart::new("share of the samples", shares).color(theme::SAMPLES));
            p.bar_chart(BarChart::new("true weight", weights).color(theme::DATA));
        });
}

/// The centre: heat map, data, samples, buffer and chain paths; below it the chain ages.
pub fn samples_ui(
    ui: &mut Ui,
    data: &Dataset,
    view: Option<&View>,
    texture: Option<&TextureHandle>,
    opts: &SamplesOptions,
    class_samples: Option<&(usize, Vec<f32>)>,
) {
    let b = &data.data_box;
    let hist_h = if opts.show_buffer { 120.0 } else { 0.0 };
    let plot_h = (ui.available_height() - hist_h - 8.0).max(200.0);
    Plot::new("samples_plot")
        .data_aspect(1.0)
        .height(plot_h)
        .legend(Legend::default())
        .include_x(f64::from(b.lo[0]))
        .include_x(f64::from(b.hi[0]))
        .include_y(f64::from(b.lo[1]))
        .include_y(f64::from(b.hi[1]))
        .show(ui, |p| {
            if let Some(t) = texture {
                let centre = PlotPoint::new(
                    f64::from(b.lo[0] + b.hi[0]) / 2.0,
                    f64::from(b.lo[1] + b.hi[1]) / 2.0,
                );
                let name = match opts.heat {
                    HeatKind::Density => "model density",
                    HeatKind::Energy => "−energy",
                    HeatKind::Classes => "most probable class",
                };
                p.image(PlotImage::new(
                    name,
                    t.id(),
                    centre,
                    [b.hi[0] - b.lo[0], b.hi[1] - b.lo[1]],
                ));
            }
            if opts.show_data {
                p.points(
                    Points::new("data", points(&data.train, 600))
                        .color(theme::DATA)
                        .radius(1.5),
                );
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
                chains_overlay(p, v, opts);
            }
        });
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
                .legend(Legend::default())
                .x_axis_label("steps a buffer chain has lived")
                .show(ui, |p| {
                    p.bar_chart(BarChart::new("chains by age", bars).color(theme::BUFFER));
                });
        } else {
            ui.weak("No replay buffer (short-run or CD-k initialisation).");
        }
    }
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

/// The right column: gradient terms, per-layer terms, NLL, energies and loss, the
/// classifier's accuracy and calibration (JEM), the sampler's acceptance rate (MALA,
/// HMC), step time.
pub fn curves_ui(
    ui: &mut Ui,
    h: &MetricsHistory,
    true_nll: Option<f64>,
    per_layer: bool,
    ais: Option<(f64, f64, Option<f64>)>,
    pins: &[(String, &MetricsHistory)],
    // Outside the plane: the NLL is an AIS estimate and the sampler is compared with the
    // reference term.
    by_ais: bool,
) {
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
        + usize::from(per_layer)
        + usize::from(!h.acceptance.is_empty())
        + usize::from(!h.accuracy.is_empty() || !h.ce_loss.is_empty());
    #[allow(clippy::cast_precision_loss)]
    let height = ((ui.available_height() - 26.0 * plots as f32) / plots as f32).max(90.0);
    let group = egui::Id::unique("curves_x");
    let plot = |id: &str| {
        Plot::new(id.to_string())
            .height(height)
            .legend(Legend::default())
            .link_axis(group, [true, false])
            .link_cursor(group, [true, false])
    };
    ui.label("Gradient terms: |data|, |sample|, |difference|");
    plot("terms_plot").show(ui, |p| {
        p.line(line("|data term|", &h.data_term_norm, theme::DATA));
        p.line(line("|sample term|", &h.sample_term_norm, theme::SAMPLES));
        p.line(line("|difference|", &h.grad_norm, theme::DIFFERENCE));
        pinned(p, |h| &h.grad_norm);
    });
    if per_layer {
        ui.label("Per layer: |data term| (solid), |sample term| (dashed)");
        plot("layers_plot").show(ui, |p| {
            for (i, (name, d, s)) in h.layers.iter().enumerate() {
                p.line(line(&format!("{name} data"), d, theme::layer(i)));
                p.line(
                    line(&format!("{name} sample"), s, theme::layer(i))
                        .style(egui_plot::LineStyle::dashed_loose()),
                );
            }
        });
    }
    ui.label("cos(data term, sample term)");
    plot("cos_plot").include_y(1.0).show(ui, |p| {
        p.line(line("cos", &h.cos_terms, theme::DIFFERENCE));
        pinned(p, |h| &h.cos_terms);
    });
    ui.label(if by_ais {
        "Held-out NLL (nats, AIS ± standard error)"
    } else {
        "Held-out NLL (nats, quadrature)"
    });
    plot("nll_plot").show(ui, |p| {
        if by_ais {
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
            p.line(
                Line::new("± standard error", PlotPoints::from(band(1.0)))
                    .color(theme::SAMPLES.gamma_multiply(0.5))
                    .style(egui_plot::LineStyle::dashed_dense()),
            );
            p.line(
                Line::new("± standard error", PlotPoints::from(band(-1.0)))
                    .color(theme::SAMPLES.gamma_multiply(0.5))
                    .style(egui_plot::LineStyle::dashed_dense()),
            );
        }
        p.line(line("model NLL", &h.nll, theme::SAMPLES));
        pinned(p, |h| &h.nll);
        p.points(
            Points::new("evaluations", PlotPoints::from(h.nll.points.clone()))
                .color(theme::SAMPLES)
                .radius(2.0),
        );
        if let Some(t) = true_nll {
            p.hline(HLine::new("true NLL", t).color(theme::EXACT));
        }
        if let Some((lz, se, quad)) = ais {
            p.text(
                egui_plot::Text::new(
                    "AIS",
                    PlotPoint::new(0.0, h.nll.last().unwrap_or(0.0)),
                    match quad {
                        Some(q) => format!("log Z: quadrature {q:.4}, AIS {lz:.4} ± {se:.4}"),
                        None => format!("log Z: AIS {lz:.4} ± {se:.4}"),
                    },
                )
                .anchor(egui::Align2::LEFT_TOP),
            );
        }
    });
    if by_ais || !h.sample_term_cos_reference.is_empty() {
        ui.label(format!(
            "Sampler vs the reference sample term (long MALA chains; R-hat {})",
            h.reference_rhat.last().map_or("–".into(), |r| format!(
                "{r:.3}{}",
                if r > 1.1 { ", not mixed" } else { "" }
            ))
        ));
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
                    "|g_sample − g_ref| / |g_ref|",
                    &h.sample_term_rel_err_reference,
                    theme::SAMPLES,
                ));
                p.line(line(
                    "R-hat − 1",
                    &shifted(&h.reference_rhat, -1.0),
                    theme::WARNING,
                ));
            });
    } else {
        ui.label("Sampler vs the exact sample term (grid, every NLL evaluation)");
        plot("exact_plot")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line(
                    "cos(g_sample, g*_sample)",
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
                        "cos(g_sample, g*_sample)",
                        PlotPoints::from(h.sample_term_cos_exact.points.clone()),
                    )
                    .color(theme::EXACT)
                    .radius(2.0),
                );
            });
    }
    ui.label("Mean energy of data and samples; loss");
    plot("energy_plot").show(ui, |p| {
        p.line(line("E(data)", &h.e_data, theme::DATA));
        p.line(line("E(samples)", &h.e_sample, theme::SAMPLES));
        p.line(line("loss", &h.loss, theme::LOSS));
        pinned(p, |h| &h.e_sample);
    });
    if !h.accuracy.is_empty() || !h.ce_loss.is_empty() {
        ui.label(format!(
            "JEM: held-out accuracy {}, ECE {}; batch cross-entropy",
            h.accuracy.last().map_or("–".into(), |a| format!("{a:.3}")),
            h.ece.last().map_or("–".into(), |e| format!("{e:.3}")),
        ));
        plot("classifier_plot")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line("accuracy", &h.accuracy, theme::EXACT));
                p.points(
                    Points::new("accuracy", PlotPoints::from(h.accuracy.points.clone()))
                        .color(theme::EXACT)
                        .radius(2.0),
                );
                p.line(line("ECE", &h.ece, theme::DIFFERENCE));
                p.line(line("cross-entropy", &h.ce_loss, theme::LOSS));
            });
    }
    if let Some(last) = h.acceptance.last() {
        ui.label(match h.step_size.last() {
            Some(step) => {
                format!("Sampler acceptance rate (last {last:.3}; adapted step {step:.4})")
            }
            None => format!("Sampler acceptance rate (last {last:.3})"),
        });
        plot("acceptance_plot")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(line("accepted", &h.acceptance, theme::SAMPLES));
            });
    }
    ui.label("Step time (ms)");
    plot("time_plot").show(ui, |p| {
        p.line(line("step ms", &h.step_ms, theme::LOSS));
    });
}

/// The samples view as a PNG image (`size` pixels square): the heat map, the data and
/// the samples, in the window's colours.
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
    if opts.show_samples {
        for r in view.samples.chunks_exact(2) {
            dot(r[0], r[1], theme::SAMPLES, 2);
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
