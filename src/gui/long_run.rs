//! The long-run panel (points and vectors): C chains from the replay buffer run N more
//! steps of the sampler's rule on the current parameters, without touching training; it
//! shows where they end, their energy traces, and whether they agree (R̂, ESS).

use super::app::Request;
use super::fields::Num;
use super::images::mean;
use super::theme;
use super::views::{LabelledAxes as _, NiceAxes as _, points};
use crate::train::session::LongRun;
use crate::train::worker::Command;
use egui_plot::{Line, Plot, PlotPoints, Points};

/// What the panel holds between frames.
#[derive(Debug, Clone)]
pub struct LongRunState {
    pub open: bool,
    pub chains: usize,
    pub steps: usize,
    /// The last result (of this run of training).
    pub result: Option<LongRun>,
    /// A long run was asked for and has not come back.
    pub waiting: bool,
}

impl Default for LongRunState {
    fn default() -> Self {
        Self {
            open: false,
            chains: 16,
            steps: 2000,
            result: None,
            waiting: false,
        }
    }
}

/// The panel, when open; returns what it asks of the worker (a long run). `data_2d` are
/// the data on the view's two axes, drawn under the chains' ends.
pub fn long_run_window(
    ctx: &egui::Context,
    st: &mut LongRunState,
    data_2d: &[f32],
) -> Vec<Request> {
    let mut command = Vec::new();
    let mut open = st.open;
    // Over the centre and the plots, below the toolbar: not over the controls.
    let right = ctx.content_rect().right();
    egui::Window::new("Long run")
        .open(&mut open)
        .default_size([520.0, 520.0])
        .default_pos([(right - 560.0).max(0.0), 64.0])
        .show(ctx, |ui| {
            ui.label("Chains from the replay buffer (or the sampler's last batch, without one) run more steps of the sampler's rule on the current parameters; training is not touched. Is the model a density, or only a good short-run sampler?");
            ui.horizontal(|ui| {
                ui.label("Chains");
                ui.add(Num::new(&mut st.chains).range(2..=256).named("chains"));
                ui.label("Sampler steps");
                ui.add(Num::new(&mut st.steps).range(10..=100_000).speed(10).named("sampler steps"));
                let run = ui
                    .add_enabled(!st.waiting, egui::Button::new("Run chains"))
                    .on_hover_text("Run the chains now (the window stays live; the result replaces the last one).");
                if run.clicked() {
                    st.waiting = true;
                    command.push(Request::Worker(Command::LongRun {
                        chains: st.chains,
                        steps: st.steps,
                    }));
                }
                if st.waiting {
                    ui.spinner();
                }
            });
            let Some(r) = &st.result else {
                ui.weak("No long run yet.");
                return;
            };
            let chains = r.energy_trace.len();
            ui.label(format!(
                "At training step {}: {chains} chains × {} steps{}.",
                r.step,
                r.steps,
                r.acceptance
                    .map_or(String::new(), |a| format!(", acceptance {a:.3}"))
            ));
            ui.label(format!(
                "Mean energy: short run {:.3} → long run {:.3}",
                mean(&r.e_start),
                mean(&r.e_end)
            ));
            if r.rhat.1.is_finite() {
                let text = format!(
                    "rank-normalised R-hat {:.3} (largest, {}), bulk ESS {:.0} (smallest, {}) over the second half",
                    r.rhat.1, r.rhat.0, r.ess.1, r.ess.0
                );
                if r.rhat.1 > 1.01 {
                    ui.colored_label(theme::WARNING, format!("{text}: the chains do not agree yet — run longer, or they see different modes"));
                } else {
                    ui.label(text);
                }
            }
            ui.label(egui::RichText::new("Energy of each chain against sampler steps").strong());
            ui.label(egui::RichText::new("watch: traces that settle and overlap; a drift down means the long-run chains leave the data for lower energy").small().weak());
            Plot::new("long_run_traces")
                .height(170.0)
                .y_axis_min_width(40.0)
                .labelled_axes("sampler steps", None)
                .nice_axes(32.0)
                .show(ui, |p| {
                    for (c, tr) in r.energy_trace.iter().enumerate().take(32) {
                        #[allow(clippy::cast_precision_loss)]
                        let pts: Vec<[f64; 2]> = tr
                            .iter()
                            .enumerate()
                            .map(|(k, e)| [(k * r.every) as f64, f64::from(*e)])
                            .collect();
                        p.line(
                            Line::new(format!("chain {c}"), PlotPoints::from(pts))
                                .color(theme::layer(c).gamma_multiply(0.8))
                                .width(1.2),
                        );
                    }
                });
            if !r.end_2d.is_empty() {
                ui.horizontal(|ui| {
                    ui.label(egui::RichText::new("Where the chains end").strong());
                    ui.label(egui::RichText::new("■ data").color(theme::DATA));
                    ui.label(egui::RichText::new("■ short run (the start)").color(theme::SAMPLES));
                    ui.label(egui::RichText::new("■ long-run ends").color(theme::PATH));
                });
                Plot::new("long_run_ends")
                    .height(220.0)
                    .data_aspect(1.0)
                    .y_axis_min_width(36.0)
                    .nice_axes(40.0)
                    .show(ui, |p| {
                        p.points(Points::new("data", points(data_2d, 1500)).color(theme::DATA).radius(1.2));
                        p.points(
                            Points::new("short run", points(&r.start_2d, usize::MAX))
                                .color(theme::SAMPLES)
                                .radius(2.5),
                        );
                        p.points(
                            Points::new("long-run ends", points(&r.end_2d, usize::MAX))
                                .color(theme::PATH)
                                .shape(egui_plot::MarkerShape::Diamond)
                                .radius(3.5),
                        );
                    });
            }
        });
    st.open = open;
    command
}
