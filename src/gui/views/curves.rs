//! The curves on the right: gradient terms, per layer, the NLL with its error band, the
//! energies, the sampler against the truth, acceptance, the classifier; marks on the
//! step axis and pinned runs.

use super::*;

/// Points drawn per curve at most; the history keeps more.
pub(super) const DRAWN: usize = 300;

pub(super) fn line(name: &str, s: &Series, c: Color32) -> Line<'static> {
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
    /// The last AIS result: (log Z, its standard error, quadrature log Z, whether its
    /// verdict trusts it).
    pub ais: Option<(f64, f64, Option<f64>, bool)>,
    /// Each pin: its label (the differences that matter most), every difference (its
    /// tooltip) and its curves.
    pub pins: &'a [(String, String, &'a MetricsHistory)],
    /// Outside the plane: the NLL is an AIS estimate and the sampler is compared with the
    /// reference term.
    pub by_ais: bool,
    /// Warnings at steps, drawn on every plot's step axis.
    pub marks: &'a [(usize, Mark)],
    /// Layers in the network's list (the output layer comes after them).
    pub list_layers: usize,
    /// Score matching: no sample term (its plots say so and the cosine is left out).
    pub score_matching: bool,
    /// The latest evaluation's NLL was not measurable: its step and why.
    pub nll_not_measurable: Option<(usize, String)>,
    /// How the NLL is obtained (quadrature, enumeration, AIS).
    pub method: crate::eval::Method,
    /// Whether the space has reference chains (MALA) for the sample term.
    pub reference: bool,
}

/// A plot's title, the key of its series (outside the plot, so that it covers no
/// curve), and one line on what to watch.
pub(super) fn header(ui: &mut Ui, title: &str, keys: &[(&str, Color32)], watch: &str) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        ui.strong(title);
        for (name, c) in keys {
            ui.label(egui::RichText::new(format!("■ {name}")).color(*c));
        }
    });
    // Readable under a bright title (11 px, a light grey), and short enough to leave the
    // plot its height.
    ui.label(
        egui::RichText::new(watch)
            .size(11.0)
            .color(egui::Color32::from_gray(175)),
    );
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

pub(super) fn mark_colour(m: Mark) -> Color32 {
    match m {
        Mark::Diverged => theme::ERROR,
        Mark::SamplerLost => theme::WARNING,
        Mark::Ais => theme::EXACT.gamma_multiply(0.7),
    }
}

/// The marks as vertical lines on a plot's step axis.
pub(super) fn draw_marks(p: &mut egui_plot::PlotUi<'_>, marks: &[(usize, Mark)]) {
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
    // Room right of the plots for the half of the last step number that overhangs
    // ("1000" was cut at the column's edge).
    ui.set_max_width(ui.available_width() - 14.0);
    let plots = 6
        + usize::from(c.per_layer)
        + usize::from(!h.acceptance.is_empty())
        + usize::from(!h.accuracy.is_empty() || !h.ce_loss.is_empty());
    #[allow(clippy::cast_precision_loss)]
    let height = ((ui.available_height() - 48.0 * plots as f32) / plots as f32).max(90.0);
    let curves = Curves {
        h,
        c,
        height,
        group: egui::Id::unique("curves_x"),
    };
    curves.legend(ui);
    curves.gradient_terms(ui);
    curves.per_layer(ui);
    curves.cosine(ui);
    curves.nll(ui);
    curves.sampler_vs_truth(ui);
    curves.energies(ui);
    curves.classifier(ui);
    curves.acceptance(ui);
    curves.step_time(ui);
}

/// One frame's curves: the history, what the window says of the run, each plot's height
/// and the step axis they share. Each plot is a method, in the order they are drawn.
struct Curves<'a> {
    h: &'a MetricsHistory,
    c: &'a CurvesContext<'a>,
    height: f32,
    group: egui::Id,
}

impl Curves<'_> {
    /// The plot `id`; where a drag or Ctrl + wheel has moved it off the run, a line
    /// above it says so with a one-click way back.
    fn plot(&self, ui: &mut egui::Ui, id: &str) -> Plot<'static> {
        let following = egui_plot::PlotMemory::load(ui.ctx(), curve_plot_id(id))
            .is_none_or(|m| m.auto_bounds.all());
        let mut back = false;
        if !following {
            ui.horizontal(|ui| {
                ui.colored_label(theme::WARNING, "moved: not following the run");
                back = ui
                    .small_button("Follow the run")
                    .on_hover_text("Back to the whole run, following its new steps (a double-click on the plot does the same).")
                    .clicked();
            });
        }
        let mut plot = Plot::new(id.to_string())
            .id(curve_plot_id(id))
            // The wheel scrolls the panel to the lower plots; it must not also pan the
            // plot under the pointer, which then stops following the run (a drag still
            // pans, Ctrl + wheel zooms, a double-click follows the run again).
            .allow_scroll(false)
            // The step axis starts at 0.
            .include_x(0.0)
            .height(self.height)
            .y_axis_min_width(40.0)
            .nice_axes(32.0)
            .link_axis(self.group, [true, false])
            .link_cursor(self.group, [true, false]);
        // Before the first step an empty plot shows steps 0 to 100 and values 0 to 1,
        // not egui_plot's ±0.4 around nothing.
        if self.h.received == 0 {
            plot = plot.include_x(100.0).include_y(0.0).include_y(1.0);
        }
        // Every plot spans the run's steps so far (at least 100), whatever its own series
        // hold: an NLL with one point at step 0 does not get a ±0.5 axis of its own, and
        // the stacked plots' steps line up.
        let last = self.h.loss.points.last().map_or(0.0, |p| p[0]);
        plot = plot.include_x(last.max(100.0));
        if back {
            plot = plot.reset();
        }
        plot
    }

    /// Pinned runs: faint dashed or dotted lines under the live ones, each pin its own
    /// colour and its own dash.
    fn pinned(&self, p: &mut egui_plot::PlotUi<'_>, series: fn(&MetricsHistory) -> &Series) {
        for (k, (label, _, h)) in self.c.pins.iter().enumerate() {
            p.line(
                line(label, series(h), theme::layer(k + 3).gamma_multiply(0.6))
                    .style(pin_dash(k).0)
                    .width(1.0),
            );
        }
    }

    /// The pinned runs' labels and the marks' key, above the plots.
    fn legend(&self, ui: &mut Ui) {
        let (marks, pins) = (self.c.marks, self.c.pins);
        if !pins.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.weak("pinned:");
                for (k, (label, all, _)) in pins.iter().enumerate() {
                    ui.label(
                        egui::RichText::new(format!("{} {label}", pin_dash(k).1))
                            .color(theme::layer(k + 3)),
                    )
                    .on_hover_text(all.as_str());
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
                        ui.label(
                            egui::RichText::new(format!("┆ {}", m.name())).color(mark_colour(*m)),
                        );
                    }
                }
            });
        }
    }

    /// |data term|, |sample term| and their difference.
    fn gradient_terms(&self, ui: &mut Ui) {
        let (h, c, marks) = (self.h, self.c, self.c.marks);
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
        self.plot(ui, "terms_plot").show(ui, |p| {
            p.line(line("|data term|", &h.data_term_norm, theme::DATA));
            p.line(line("|sample term|", &h.sample_term_norm, theme::SAMPLES));
            p.line(line("|difference|", &h.grad_norm, theme::DIFFERENCE));
            self.pinned(p, |h| &h.grad_norm);
            draw_marks(p, marks);
        });
    }

    /// The two terms of each layer, named as the network's list names them.
    fn per_layer(&self, ui: &mut Ui) {
        let (h, c, marks) = (self.h, self.c, self.c.marks);
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
            self.plot(ui, "layers_plot").show(ui, |p| {
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
    }

    /// cos(data term, sample term).
    fn cosine(&self, ui: &mut Ui) {
        let (h, c, marks) = (self.h, self.c, self.c.marks);
        if !c.score_matching {
            header(
                ui,
                "cos(data term, sample term)",
                &[("cos", theme::DIFFERENCE)],
                "watch: → 1 as the model matches the data (the samples then look like the data to every parameter).",
            );
            self.plot(ui, "cos_plot").include_y(1.0).show(ui, |p| {
                p.line(line("cos", &h.cos_terms, theme::DIFFERENCE));
                self.pinned(p, |h| &h.cos_terms);
                draw_marks(p, marks);
            });
        }
    }

    /// The held-out NLL, with the AIS error band and the true NLL where known.
    fn nll(&self, ui: &mut Ui) {
        let (h, c, marks) = (self.h, self.c, self.c.marks);
        let mut nll_keys = vec![("model NLL", theme::SAMPLES)];
        if c.true_nll.is_some() {
            nll_keys.push(("true NLL", theme::EXACT));
        }
        if c.by_ais {
            nll_keys.push(("± standard error", theme::SAMPLES.gamma_multiply(0.5)));
        }
        header(
            ui,
            &format!("Held-out NLL (nats, {})", c.method.name()),
            &nll_keys,
            "watch: falls towards the true NLL; the gap is KL(data ‖ model).",
        );
        let untrusted = h.nll_untrusted.len();
        if untrusted > 0 {
            // The estimates that are no likelihood stay off the plot; say so, and why.
            let total = untrusted + h.nll.len();
            let text = match &c.nll_not_measurable {
                Some((s, why)) => format!(
                    "Not measurable at step {s} ({untrusted} of {total} evaluations left off the plot): {why}."
                ),
                None => format!(
                    "{untrusted} of {total} evaluations were not measurable (AIS's weights failed their check) and are left off the plot."
                ),
            };
            ui.add(egui::Label::new(egui::RichText::new(text).color(theme::WARNING)).wrap());
        }
        if let Some((lz, se, quad, trusted)) = c.ais {
            let ais = if trusted {
                format!("AIS {lz:.4} ± {se:.4}")
            } else {
                format!("AIS not measurable (its estimate {lz:.4}; see the message)")
            };
            ui.label(
                egui::RichText::new(match quad {
                    Some(q) if c.method == crate::eval::Method::Quadrature => {
                        format!("log Z: quadrature {q:.4}, {ais}")
                    }
                    Some(q) => format!("log Z: exact {q:.4}, {ais}"),
                    None => format!("log Z: {ais}"),
                })
                .small(),
            );
        }
        self.plot(ui, "nll_plot").show(ui, |p| {
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
            self.pinned(p, |h| &h.nll);
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
    }

    /// What the update is measured against: the exact ML gradient (score matching), the
    /// reference chains' sample term (outside the plane) or the exact one (the plane).
    fn sampler_vs_truth(&self, ui: &mut Ui) {
        let (h, c, marks) = (self.h, self.c, self.c.marks);
        if !h.objective_cos_ml.is_empty() {
            header(
                ui,
                "The objective vs the exact ML gradient",
                &[("cos(g_objective, g_ML)", theme::EXACT)],
                "watch: 1 would be maximum likelihood's own direction; score matching follows another, and this says how far (every NLL evaluation).",
            );
            self.plot(ui, "objective_plot")
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
        } else if c.by_ais && !c.reference && h.sample_term_cos_reference.is_empty() {
            // AIS on bits (an RBM too large to sum over, or an energy of layers on more
            // bits than can be enumerated): neither an exact term nor MALA reference
            // chains exist to measure the sampler against.
            header(ui, "Sampler vs the truth", &[], "");
            ui.weak("Nothing to measure the sampler against here: with more than 20 bits (or an RBM with more than 24 hidden units) there is no exact sample term, and bits have no MALA reference chains. The NLL is AIS's.");
        } else if c.by_ais || !h.sample_term_cos_reference.is_empty() {
            // The reference means something only where its chains mixed: the comparison
            // is greyed where their R-hat says they did not (the latest decides the lines).
            let verdict = h.reference_rhat.last().map(crate::eval::verdict::reference);
            let mixed = verdict
                .as_ref()
                .is_none_or(crate::eval::verdict::Verdict::trusted);
            let (cos_colour, err_colour) = if mixed {
                (theme::EXACT, theme::SAMPLES)
            } else {
                (theme::UNTRUSTED, theme::UNTRUSTED.gamma_multiply(0.6))
            };
            header(
                ui,
                &format!(
                    "Sampler vs the reference sample term (split R-hat {})",
                    h.reference_rhat.last().map_or("–".into(), |r| format!(
                        "{r:.3}{}",
                        if mixed { "" } else { ", not mixed" }
                    ))
                ),
                &[
                    ("cos(g_sample, g_ref)", cos_colour),
                    ("relative error", err_colour),
                    ("split R-hat − 1", theme::WARNING),
                ],
                "watch: cos near 1 and the error small while split R-hat − 1 < 0.1 (long MALA chains as the reference; the classic split R-hat of Gelman et al.).",
            );
            if let Some(why) = verdict.as_ref().and_then(|v| v.reason()) {
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(format!(
                            "Greyed: {why}, so the cosine and the error measure nothing (more reference steps, or MALA/HMC chains that mix, may fix it)."
                        ))
                        .color(theme::WARNING),
                    )
                    .wrap(),
                );
            }
            let rhat_at: std::collections::HashMap<u64, f64> = h
                .reference_rhat
                .points
                .iter()
                .map(|[s, r]| (s.to_bits(), *r))
                .collect();
            // The evaluations whose chains had mixed, as dots in the cosine's colour.
            let trusted_cos: Vec<[f64; 2]> = h
                .sample_term_cos_reference
                .points
                .iter()
                .filter(|[s, _]| {
                    rhat_at
                        .get(&s.to_bits())
                        .is_some_and(|r| crate::eval::verdict::reference(*r).trusted())
                })
                .copied()
                .collect();
            self.plot(ui, "reference_plot")
                .include_y(0.0)
                .include_y(1.0)
                .show(ui, |p| {
                    p.line(line(
                        "cos(g_sample, g_ref)",
                        &h.sample_term_cos_reference,
                        cos_colour,
                    ));
                    p.points(
                        Points::new("cos(g_sample, g_ref)", PlotPoints::from(trusted_cos))
                            .color(theme::EXACT)
                            .radius(2.5),
                    );
                    p.line(line(
                        "relative error",
                        &h.sample_term_rel_err_reference,
                        err_colour,
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
            self.plot(ui, "exact_plot")
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
    }

    /// E(data), E(samples) and the loss.
    fn energies(&self, ui: &mut Ui) {
        let (h, marks) = (self.h, self.c.marks);
        if self.c.score_matching {
            // No samples train it: the data's energy and the objective alone.
            header(
                ui,
                "Energy and loss",
                &[("E(data)", theme::DATA), ("loss", theme::LOSS)],
                "watch: score matching fixes no level of E (only its slopes): a drifting E(data) is not a fault; the loss falls as the gradient matches the data's score.",
            );
            self.plot(ui, "energy_plot").show(ui, |p| {
                p.line(line("E(data)", &h.e_data, theme::DATA));
                p.line(line("loss", &h.loss, theme::LOSS));
                draw_marks(p, marks);
            });
            return;
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
        self.plot(ui, "energy_plot").show(ui, |p| {
            p.line(line("E(data)", &h.e_data, theme::DATA));
            p.line(line("E(samples)", &h.e_sample, theme::SAMPLES));
            p.line(line("loss", &h.loss, theme::LOSS));
            self.pinned(p, |h| &h.e_sample);
            draw_marks(p, marks);
        });
    }

    /// JEM: held-out accuracy, calibration error and the batch's cross-entropy.
    fn classifier(&self, ui: &mut Ui) {
        let (h, marks) = (self.h, self.c.marks);
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
            self.plot(ui, "classifier_plot")
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
    }

    /// The sampler's acceptance rate (MALA, HMC), with the adapted step.
    fn acceptance(&self, ui: &mut Ui) {
        let (h, marks) = (self.h, self.c.marks);
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
            self.plot(ui, "acceptance_plot")
                .include_y(0.0)
                .include_y(1.0)
                .show(ui, |p| {
                    p.line(line("accepted", &h.acceptance, theme::SAMPLES));
                    draw_marks(p, marks);
                });
        }
    }

    /// The step time, with spikes cut off the plot.
    fn step_time(&self, ui: &mut Ui) {
        let (h, marks) = (self.h, self.c.marks);
        let robust = robust_top(&h.step_ms);
        // What evaluating costs the run beside its steps.
        let total = |s: &Series| s.points.iter().map(|p| p[1]).sum::<f64>();
        let evaluations = h.eval_ms.points.last().map_or(String::new(), |last| {
            let (e, t) = (total(&h.eval_ms), total(&h.step_ms));
            format!(
                " Evaluations: {:.0} ms the last, {:.0} % of the run's time.",
                last[1],
                100.0 * e / (e + t).max(1e-9)
            )
        });
        header(
            ui,
            "Step time (ms)",
            &[("step", theme::LOSS)],
            &match robust {
                Some((top, _)) => format!(
                    "watch: steady; spikes above {top:.1} ms are cut off the plot.{evaluations}"
                ),
                None => {
                    format!("watch: steady; the sampler's steps and the batch set it.{evaluations}")
                }
            },
        );
        let mut time = self.plot(ui, "time_plot").include_y(0.0);
        if let Some((top, _)) = robust {
            time = time.auto_bounds([true, false]).default_y_bounds(0.0, top);
        }
        time.show(ui, |p| {
            p.line(line("step", &h.step_ms, theme::LOSS));
            draw_marks(p, marks);
        });
    }
}

/// A series moved by `by` (R̂ − 1 shares the axis of the cosine and the error).
pub(super) fn shifted(s: &Series, by: f64) -> Series {
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

/// Pin `k`'s dash on the plots and as the key draws it: four dashes in turn (with the
/// colours, the first sixteen pins differ in one or the other).
fn pin_dash(k: usize) -> (egui_plot::LineStyle, &'static str) {
    match k % 4 {
        0 => (egui_plot::LineStyle::dashed_loose(), "– –"),
        1 => (egui_plot::LineStyle::dotted_loose(), "· · ·"),
        2 => (egui_plot::LineStyle::dashed_dense(), "---"),
        _ => (egui_plot::LineStyle::dotted_dense(), "···"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
