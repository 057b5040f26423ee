//! The plane's view: the data, the sampler's chains and the replay buffer over the heat map,
//! kept on the data box (points outside it drawn on its edge), with the chains' ages below.

use super::*;

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

/// Points of `xs` inside the box, and those outside moved onto its edge.
pub(super) fn split_by_box(xs: &[f32], b: &crate::data::DataBox) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
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
    view.chains()
        .map_or(0, |c| split_by_box(&c.samples, b).1.len())
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
            if let Some(v) = view.and_then(View::chains) {
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
                                .shape(egui_plot::MarkerShape::Circle)
                                .filled(false)
                                .radius(1.5),
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
        if let Some((_, ages)) = view.and_then(View::chains).and_then(|c| c.buffer.as_ref()) {
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
                .labelled_axes("steps a buffer chain has lived", Some("chains"))
                .show(ui, |p| {
                    p.bar_chart(BarChart::new("chains by age", bars).color(theme::BUFFER));
                });
        } else {
            ui.weak("No replay buffer (short-run or CD-k initialisation).");
        }
    }
    (area, bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_outside_the_box_go_to_its_edge() {
        let b = crate::data::DataBox {
            lo: vec![-1.0, -2.0],
            hi: vec![1.0, 2.0],
            bits: false,
        };
        let (inside, outside) = split_by_box(&[0.5, 0.5, 5.0, 0.0, 0.0, -1e10, f32::NAN, 0.0], &b);
        assert_eq!(inside, vec![[0.5, 0.5]]);
        assert_eq!(outside, vec![[1.0, 0.0], [0.0, -2.0]]);
    }
}
