//! The window's frame around the views: toolbar, status bar, the left column of
//! settings, the projection chooser, and the confirmation before a reset.

use super::*;

/// Starts the toolbar's next row unless `width` points are left on this one: a group
/// (Train, Step, Reset; the label and its menu) wraps whole rather than split across
/// rows. Measured against the window: a wrapping row's own width is not the window's,
/// and a nested layout would not wrap at all.
fn keep_together(ui: &mut egui::Ui, width: f32) {
    if ui.ctx().content_rect().right() - ui.cursor().left() < width {
        ui.end_row();
    }
}

/// What the toolbar's device menu is for.
const DEVICE_TIP: &str = "Where candle runs: the autograd engine, and the Auto engine on a GPU (the fast engine is the CPU's). Every device is listed with what it is, or why it cannot be used here. Changing it resets.";

/// A modal question with a heading, a text and two answers: `Some(true)` for the first
/// (yes), `Some(false)` for the second, `None` while it waits.
fn question(
    ctx: &egui::Context,
    id: &str,
    heading: &str,
    text: &str,
    (yes, no): (&str, &str),
) -> Option<bool> {
    let mut decision = None;
    egui::Modal::new(egui::Id::unique(id)).show(ctx, |ui| {
        ui.heading(heading);
        ui.label(text);
        ui.horizontal(|ui| {
            if ui.button(yes).clicked() {
                decision = Some(true);
            }
            if ui.button(no).clicked() {
                decision = Some(false);
            }
        });
    });
    decision
}

impl WorkbenchApp {
    pub(super) fn toolbar_ui(&mut self, ui: &mut egui::Ui, rate: f64) {
        let mut clicked = None;
        // Wraps onto a second row in a narrow window rather than running off it.
        ui.horizontal_wrapped(|ui| {
            for c in [
                UiCommand::OpenPreset,
                UiCommand::SavePreset,
                UiCommand::ExportModel,
                UiCommand::LoadModel,
                UiCommand::SaveCheckpoint,
                UiCommand::ExportMetrics,
                UiCommand::ExportPng,
            ] {
                if ui.button(c.text()).on_hover_text(c.tooltip()).clicked() {
                    clicked = Some(c);
                }
            }
            ui.menu_button("Examples", |ui| {
                ui.set_max_width(440.0);
                // Twenty examples with their descriptions are taller than most
                // windows: the list scrolls within the window's height.
                let room =
                    (ui.ctx().content_rect().bottom() - ui.min_rect().top() - 24.0).max(120.0);
                // Grouped by the kind of data: the plane, vectors, images, bits.
                let examples: Vec<(&str, &str, String)> = crate::preset::BUNDLED
                    .iter()
                    .map(|(name, text)| {
                        let p = Preset::from_ron(text).ok();
                        let kind = match p.as_ref().map(|p| &p.data.source) {
                            Some(crate::data::DataSource::Target(_)) => "Vectors",
                            Some(
                                crate::data::DataSource::Images(_)
                                | crate::data::DataSource::File(_),
                            ) => "Images",
                            Some(crate::data::DataSource::Bits(_)) => "Bits",
                            _ => "The plane",
                        };
                        (*name, kind, p.map(|p| p.description).unwrap_or_default())
                    })
                    .collect();
                // At least `room` tall too: the menu's first (sizing) frame measures it
                // in egui's default area of 400 points, and it kept that height.
                egui::ScrollArea::vertical()
                    .max_height(room)
                    .min_scrolled_height(room)
                    .show(ui, |ui| {
                        ui.label(
                            egui::RichText::new("Times measured here with `train` on 2 CPU cores: to show it (the NLL halfway to its best, or 80 % of the best accuracy) and the whole run. The window, drawing as it trains, takes up to twice as long.")
                                .small()
                                .weak(),
                        );
                        for group in ["The plane", "Vectors", "Images", "Bits"] {
                            ui.label(egui::RichText::new(group).heading());
                            for (name, _, about) in examples.iter().filter(|e| e.1 == group) {
                                // Each example with what it is and what it shows.
                                let clicked = ui
                                    .button(
                                        egui::RichText::new(name.trim_end_matches(".ron")).strong(),
                                    )
                                    .clicked();
                                ui.weak(about);
                                ui.add_space(2.0);
                                if clicked {
                                    self.request(Replace::Example((*name).to_string()));
                                    ui.close();
                                }
                            }
                            ui.add_space(4.0);
                        }
                    });
            });
            ui.menu_button("Recent", |ui| {
                // What can still be opened, each with its kind.
                let openable: Vec<(PathBuf, &str)> = self
                    .state
                    .recent
                    .iter()
                    .filter_map(|p| {
                        file_kind(p)
                            .filter(|k| !matches!(*k, "metrics" | "image"))
                            .map(|k| (p.clone(), k))
                    })
                    .collect();
                if openable.is_empty() {
                    ui.weak("nothing yet");
                }
                for (p, kind) in openable {
                    let name = p.file_name().map_or_else(
                        || p.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    if ui
                        .button(format!("{kind}: {name}"))
                        .on_hover_text(p.display().to_string())
                        .clicked()
                    {
                        self.request(Replace::File(p));
                        ui.close();
                    }
                }
            });
            ui.separator();
            keep_together(ui, 170.0);
            let train = if self.run.running {
                UiCommand::Pause
            } else {
                UiCommand::Train
            };
            for c in [train, UiCommand::Step, UiCommand::Reset] {
                if ui.button(c.text()).on_hover_text(c.tooltip()).clicked() {
                    clicked = Some(c);
                }
            }
            ui.separator();
            let mut compare = vec![UiCommand::PinRun];
            if !self.pins.is_empty() {
                compare.push(UiCommand::ClearPins);
            }
            compare.push(UiCommand::CompareRuns);
            keep_together(ui, if self.pins.is_empty() { 190.0 } else { 280.0 });
            for c in compare {
                if ui.button(c.text()).on_hover_text(c.tooltip()).clicked() {
                    clicked = Some(c);
                }
            }
            // The message log: warnings said since it was last looked at keep their
            // colour on its button until it is opened.
            let unread = self.log.unread;
            let text = if unread > 0 {
                egui::RichText::new(format!("Messages ({unread} new)")).color(theme::WARNING)
            } else {
                egui::RichText::new("Messages")
            };
            if ui
                .button(text)
                .on_hover_text("Every warning, error and change said this session, with its step and time (the status bar shows only the latest).")
                .clicked()
            {
                self.log.open = !self.log.open;
            }
            ui.separator();
            keep_together(ui, 190.0);
            ui.label("Device").on_hover_text(DEVICE_TIP);
            panels::device_combo(ui, &mut self.state.preset.device, self.devices.found());
            ui.separator();
            let rate = if self.run.running {
                format!("{rate:.1} steps/s")
            } else {
                "paused".into()
            };
            let p = &self.worker_preset;
            let engine = if p.engine.uses_candle(p.device) {
                format!("candle autograd, {}", p.device.name())
            } else if p.model.rbm().is_some() {
                "RBM engine, CPU".to_string()
            } else {
                "fast engine, CPU".to_string()
            };
            // The data's name only where it is not the preset's too.
            let data = self.run.data.spec.name();
            let name = &self.state.preset.name;
            // One piece: in a narrow window it moves to the next row whole.
            ui.add(
                egui::Label::new(if data == *name {
                    format!("{name} · {engine} · {rate}")
                } else {
                    format!("{name} · {data} · {engine} · {rate}")
                })
                .wrap_mode(egui::TextWrapMode::Extend),
            );
        });
        if let Some(c) = clicked {
            self.run_command(c);
        }
    }

    /// Why the NLL of evaluation step `step` is not measurable: AIS's verdict from its
    /// weights' ESS and the preset's chains.
    pub(super) fn nll_untrusted_reason(&self, step: usize) -> String {
        #[allow(clippy::cast_precision_loss)]
        let at = step as f64;
        let ess = self
            .run
            .history
            .nll_ess
            .points
            .iter()
            .rev()
            .find(|p| p[0] == at)
            .map(|p| p[1]);
        let chains = self.worker_preset.eval.ais_chains;
        ess.and_then(|e| {
            crate::eval::verdict::ais(e, chains, 0.0, None)
                .reason()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "AIS's importance weights failed their check".into())
    }

    pub(super) fn status_ui(&mut self, ui: &mut egui::Ui, frame_ms: f64) {
        ui.horizontal(|ui| {
            ui.label(format!("step {}", self.run.step));
            ui.separator();
            // The NLL of the last evaluation, and which step that was.
            let nll = self.run.history.nll.points.last().map_or("–".into(), |[s, n]| {
                // AIS's standard error and its weights' ESS, where they belong to this point.
                let at = |series: &crate::gui::history::Series| {
                    series.points.last().filter(|p| p[0] == *s).map(|p| p[1])
                };
                let ais = match (at(&self.run.history.nll_stderr), at(&self.run.history.nll_ess)) {
                    (Some(se), Some(ess)) => format!(" ± {se:.4}, AIS weights' ESS {ess:.1}"),
                    (Some(se), None) => format!(" ± {se:.4}"),
                    _ => String::new(),
                };
                format!("{n:.4}{ais} (held out, at step {s})")
            });
            let no_estimator = crate::eval::Method::for_model(
                self.run.data.space,
                &self.worker_preset.model,
            ) == crate::eval::Method::Unavailable;
            if no_estimator {
                ui.label(
                    egui::RichText::new("NLL not measurable (no estimator)").color(theme::WARNING),
                )
                .on_hover_text(format!(
                    "No estimator of log Z for this energy on {}: AIS moves along the gradient, and more than {} bits cannot be enumerated. An RBM has one (Network › RBM instead).",
                    self.run.data.space.describe(),
                    crate::data::space::MAX_ENUMERATED_BITS
                ));
            } else if let Some(s) = self.run.history.latest_nll_untrusted() {
                // The latest evaluation's AIS failed its verdict: no number as an NLL.
                ui.label(
                    egui::RichText::new(format!("NLL not measurable (at step {s})"))
                        .color(theme::WARNING),
                )
                .on_hover_text(format!(
                    "{}. The estimate stays in the metrics CSV (nll, nll_trusted = 0). More AIS chains or temperatures (Objective › Evaluation) may make it measurable.",
                    self.nll_untrusted_reason(s)
                ));
            } else {
                ui.label(format!("NLL {nll}"))
                    .on_hover_text("Outside the plane log Z is an AIS estimate: its standard error is the spread over bootstrap resamples of the chains, and the ESS of its weights says how many chains count. Under 10 % of the chains, the NLL is said to be not measurable.");
            }
            ui.separator();
            if let Some(s) = self.run.autosaved_at {
                ui.weak(format!("autosaved at step {s}"))
                    .on_hover_text("The running experiment is saved every minute; after a crash the window offers it back.");
                ui.separator();
            }
            if self.run.running {
                ui.label(format!(
                    "frame {frame_ms:.1} ms ({:.0} fps), layout {:.1} ms",
                    1e3 / frame_ms.max(1e-3),
                    self.ui_ms
                ));
            } else {
                ui.label("idle");
            }
            ui.separator();
            // The latest message, but a warning not yet read stays ahead of the neutral
            // notes after it; one line (the layout does not move), the whole text on
            // hover and in Messages.
            let shown = if self.log.unread > 0 {
                self.messages
                    .iter()
                    .rev()
                    .find(|m| m.error)
                    .or(self.messages.back())
            } else {
                self.messages.back()
            };
            if let Some(m) = shown {
                let text = if m.error {
                    egui::RichText::new(&m.text).color(theme::ERROR)
                } else {
                    egui::RichText::new(&m.text)
                };
                ui.add(egui::Label::new(text).truncate())
                    .on_hover_text(&m.text);
            }
        });
    }

    pub(super) fn settings_ui(&mut self, ui: &mut egui::Ui) {
        let mut asked = Vec::new();
        egui::ScrollArea::both().show(ui, |ui| {
            egui::CollapsingHeader::new("Data")
                .default_open(true)
                .show(ui, |ui| {
                    let n = self.run.data.n_train() + self.run.data.n_test();
                    asked = panels::data_ui(
                        ui,
                        &mut self.state.preset.data,
                        self.run.true_nll,
                        n,
                        self.run.data.space,
                    );
                });
            egui::CollapsingHeader::new("Network")
                .default_open(true)
                .show(ui, |ui| {
                    panels::network_ui(
                        ui,
                        &mut self.state.preset.model,
                        self.run.data.space,
                    );
                });
            egui::CollapsingHeader::new("Sampler")
                .default_open(true)
                .show(ui, |ui| {
                    if self.state.preset.objective.kind.is_score_matching() {
                        ui.colored_label(
                            theme::WARNING,
                            "None is used for training: score matching learns without samples. These settings serve Long run… only.",
                        );
                    }
                    panels::sampler_ui(
                        ui,
                        &mut self.state.preset.sampler,
                        self.run.data.space.allows(),
                        self.state.preset.model.rbm(),
                    );
                });
            egui::CollapsingHeader::new("Objective and optimiser")
                .default_open(true)
                .show(ui, |ui| {
                    panels::objective_ui(
                        ui,
                        &mut self.state.preset,
                        self.run.data.classes,
                        self.run.data.space,
                    );
                });
            egui::CollapsingHeader::new("Run")
                .default_open(true)
                .show(ui, |ui| {
                    panels::run_ui(ui, &mut self.state.preset);
                });
        });
        self.handle(asked);
    }

    /// After a crash or a kill: offers the autosaved experiment back.
    pub(super) fn restore_ui(&mut self, ctx: &egui::Context) {
        let Some((path, step, name)) = self.restore_offer.clone() else {
            return;
        };
        let decision = question(
            ctx,
            "restore_autosave",
            "Restore the last experiment?",
            &format!(
                "The window did not close cleanly last time. Its experiment ({name}) was autosaved at step {step}."
            ),
            ("Restore", "Discard"),
        );
        match decision {
            Some(true) => {
                self.restore_offer = None;
                // A file that cannot be resumed is kept aside, not overwritten by the
                // next autosave.
                let aside = move |path: &Path| {
                    let _ = std::fs::rename(path, path.with_extension("failed.ckpt"));
                };
                if self.load_checkpoint(&path) {
                    self.if_it_fails(move |_| aside(&path));
                } else {
                    aside(&path);
                }
            }
            Some(false) => {
                self.restore_offer = None;
                let _ = std::fs::remove_file(&path);
            }
            None => {}
        }
    }

    /// Before an action replaces a trained run: asks.
    pub(super) fn replace_ui(&mut self, ctx: &egui::Context) {
        let Some(pending) = self.pending_replace.clone() else {
            return;
        };
        let decision = question(
            ctx,
            "confirm_replace",
            "Replace the trained run?",
            &format!(
                "{} replaces the run trained for {} steps: its parameters and plots are lost. Save checkpoint… first keeps them.",
                pending.describe(),
                self.run.step
            ),
            ("Replace", "Cancel"),
        );
        match decision {
            Some(true) => {
                self.pending_replace = None;
                self.resume_after_question = false;
                self.replace(pending);
            }
            Some(false) => {
                self.pending_replace = None;
                self.resume_after_no();
            }
            None => {}
        }
    }

    pub(super) fn confirm_ui(&mut self, ctx: &egui::Context) {
        let Some(pending) = self.pending_reset.clone() else {
            return;
        };
        let decision = question(
            ctx,
            "confirm_reset",
            "Reset the parameters?",
            &format!(
                "{} starts the model over: the trained parameters and the plots are lost.",
                pending.why
            ),
            ("Reset and apply", "Cancel"),
        );
        match decision {
            Some(true) => {
                self.pending_reset = None;
                self.resume_after_question = false;
                if !self.reset_to(pending.preset) {
                    self.state.preset = self.sent.clone();
                }
            }
            Some(false) => {
                self.pending_reset = None;
                // A value clamped on its way into the change that was not made.
                self.forget(Topic::Clamp);
                self.resume_after_no();
                self.state.preset = self.sent.clone();
            }
            None => {}
        }
    }

    /// How the view projects points of more than two dimensions: the data's principal
    /// components or two coordinates.
    pub(super) fn projection_choice_ui(&mut self, ui: &mut egui::Ui) {
        use crate::data::projection::ProjectionKind;
        let current = self
            .run
            .view
            .as_ref()
            .and_then(|v| v.projection())
            .map_or(ProjectionKind::Pca, |p| p.kind);
        let d = self.run.data.dim;
        let mut pick = current;
        let pca = matches!(current, ProjectionKind::Pca);
        if ui
            .selectable_label(pca, "principal components")
            .on_hover_text("The data's first two principal components (fixed when the run starts).")
            .clicked()
        {
            pick = ProjectionKind::Pca;
        }
        let (mut i, mut j) = match current {
            ProjectionKind::Coordinates(i, j) => (i, j),
            ProjectionKind::Pca => (0, 1),
        };
        let coords = ui
            .selectable_label(!pca, "coordinates")
            .on_hover_text("Two of the data's coordinates.")
            .clicked();
        let a = ui.add(
            crate::gui::fields::Num::new(&mut i)
                .range(0..=d.saturating_sub(1))
                .prefix("x"),
        );
        let b = ui.add(
            crate::gui::fields::Num::new(&mut j)
                .range(0..=d.saturating_sub(1))
                .prefix("x"),
        );
        if coords || a.changed() || b.changed() {
            pick = ProjectionKind::Coordinates(i, j);
        }
        if pick != current {
            self.send(Command::Project(pick));
        }
    }
}
