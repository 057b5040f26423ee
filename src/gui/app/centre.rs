//! The centre of the window: the view of the run's space, chosen once when the run
//! starts ([`SpaceView`]), each with its own row of options: the plane's samples over
//! the heat map with the network under them, the projection of vectors, the image grids
//! (whose tabs are their options).

use super::*;

impl WorkbenchApp {
    /// The view's options, then the view of the run's space.
    pub(super) fn centre_ui(&mut self, ui: &mut egui::Ui) {
        // The view's own row wraps in a narrow window: it must not widen the centre under
        // the curves.
        let width = ui.max_rect().width();
        let asked = match self.run.space_view {
            SpaceView::Plane(_) => {
                ui.horizontal_wrapped(|ui| {
                    ui.set_max_width(width);
                    self.plane_options_ui(ui)
                })
                .inner
            }
            SpaceView::Projection(_) => {
                ui.horizontal_wrapped(|ui| {
                    ui.set_max_width(width);
                    self.projection_choice_ui(ui);
                    let asked = self.series_options_ui(ui);
                    ui.checkbox(&mut self.state.samples.fit_samples, "fit to samples")
                        .on_hover_text("Off: the axes stay on the projected data (with a margin), fixed for the run. On: the view follows the samples wherever they go.");
                    asked
                })
                .inner
            }
            SpaceView::Images(_) => Vec::new(),
        };
        self.handle(asked);
        // What the view draws: no replay buffer or chain paths where score matching
        // trains without a sampler (its buffer is never used).
        let mut shown = self.state.samples.clone();
        if self.worker_preset.objective.kind.is_score_matching() {
            shown.show_buffer = false;
            shown.show_paths = false;
        }
        match &mut self.run.space_view {
            SpaceView::Plane(pv) => {
                let units = self
                    .run
                    .view
                    .as_ref()
                    .filter(|_| self.state.samples.show_network)
                    .and_then(|v| v.units().map(|u| (v.step, u)));
                let full = ui.available_size();
                let view_h = if units.is_some() {
                    full.y * 0.64
                } else {
                    full.y
                };
                let (rect, bounds) = ui
                    .allocate_ui(egui::vec2(full.x, view_h), |ui| {
                        views::samples_ui(
                            ui,
                            &self.run.data,
                            self.run.view.as_ref(),
                            pv.texture.as_ref().map(|t| (t, pv.heat_range)),
                            &shown,
                            self.run.class_samples.as_ref(),
                            self.worker_preset.model.outputs,
                        )
                    })
                    .inner;
                if let Some((step, u)) = units {
                    super::super::network::network_ui(
                        ui,
                        u,
                        &self.run.data.data_box,
                        step,
                        &mut pv.network,
                    );
                }
                self.view_rect = Some(rect);
                self.view_bounds = Some(bounds);
            }
            SpaceView::Images(st) => {
                let asked = super::super::images::images_ui(
                    ui,
                    st,
                    self.run.view.as_ref(),
                    self.worker_preset.model.outputs,
                );
                self.handle(asked);
                if let Some(v) = self.run.view.as_ref() {
                    views::energy_histograms_ui(ui, &v.energy_populations);
                }
            }
            SpaceView::Projection(_) => {
                self.view_rect = Some(ui.max_rect());
                views::projection_ui(ui, self.run.view.as_ref(), &shown);
            }
        }
    }

    /// The plane's options: the heat map's kind, a classifier's classes and draws from
    /// p(x | y), the series, the network under the view, and whether the view follows
    /// the samples.
    fn plane_options_ui(&mut self, ui: &mut egui::Ui) -> Vec<Request> {
        let mut asked = Vec::new();
        let o = &mut self.state.samples;
        ui.selectable_value(&mut o.heat, HeatKind::Density, "density");
        ui.selectable_value(&mut o.heat, HeatKind::Energy, "energy");
        let k = self.worker_preset.model.outputs;
        if k > 1 {
            ui.selectable_value(&mut o.heat, HeatKind::Classes, "classes")
                .on_hover_text("The classifier's most probable class (K logits), brighter where the model puts more mass.");
            let shown = self.run.class_samples.as_ref().map(|c| c.0);
            let mut pick = None;
            egui::ComboBox::from_id_salt("class_samples")
                .selected_text(shown.map_or("p(x | y): none".into(), |c| format!("p(x | y = {c})")))
                .show_ui(ui, |ui| {
                    if ui.selectable_label(shown.is_none(), "none").clicked() {
                        pick = Some(None);
                    }
                    for c in 0..k {
                        if ui.selectable_label(shown == Some(c), format!("class {c}")).clicked() {
                            pick = Some(Some(c));
                        }
                    }
                })
                .response
                .on_hover_text("Draw from the classifier's class-conditional p(x | y) ∝ exp(f_y(x)): the sampler's rule, 150 steps from noise (pick again to redraw).");
            match pick {
                Some(Some(c)) => asked.push(Request::Worker(Command::ClassSamples(c))),
                Some(None) => self.run.class_samples = None,
                None => {}
            }
        } else if o.heat == HeatKind::Classes {
            o.heat = HeatKind::Density;
        }
        asked.extend(self.series_options_ui(ui));
        let o = &mut self.state.samples;
        if ui
            .checkbox(&mut o.show_network, "network")
            .on_hover_text("Draw the network under the view: each hidden unit's response over the data box and the weights between them.")
            .changed()
        {
            asked.push(Request::Worker(Command::UnitResponses(o.show_network)));
        }
        ui.checkbox(&mut o.fit_samples, "fit to samples").on_hover_text(
            "Off: the view stays on the data box and samples outside it are drawn on its edge (red crosses). On: the view follows the samples wherever they go.",
        );
        let out = self
            .run
            .view
            .as_ref()
            .map_or(0, |v| views::outside_count(v, &self.run.data.data_box));
        // Things that come and go stay at the end of the row, so that the boxes before
        // them do not move.
        if let Some((c, _)) = &self.run.class_samples {
            ui.colored_label(theme::class(*c), format!("◆ samples of class {c}"));
        }
        if out > 0 && !self.state.samples.fit_samples {
            ui.colored_label(
                theme::OUTSIDE,
                if out == 1 {
                    "1 sample outside the box (on its edge)".to_string()
                } else {
                    format!("{out} samples outside the box (on its edge)")
                },
            );
        }
        asked
    }

    /// The series the plane and the projection draw (the boxes are the view's key, in
    /// the series' colours), the chains' paths and the long run.
    fn series_options_ui(&mut self, ui: &mut egui::Ui) -> Vec<Request> {
        let mut asked = Vec::new();
        let sampler_trains = !self.worker_preset.objective.kind.is_score_matching();
        let o = &mut self.state.samples;
        let key = |t: &str, c: egui::Color32| egui::RichText::new(t).color(c).strong();
        ui.checkbox(&mut o.show_data, key("data", theme::DATA));
        ui.checkbox(&mut o.show_samples, key("samples", theme::SAMPLES));
        // Score matching trains without chains: no buffer, no paths to show.
        if sampler_trains {
            ui.checkbox(&mut o.show_buffer, key("buffer", theme::BUFFER.to_opaque()));
            if ui
                .checkbox(&mut o.show_paths, key("chain paths", theme::PATH))
                .changed()
            {
                let n = if o.show_paths { 8 } else { 0 };
                asked.push(Request::Worker(Command::ChainPaths(n)));
            }
        }
        if let Some(l) = self.run.space_view.long_run_mut()
            && ui
                .selectable_label(l.open, "Long run…")
                .on_hover_text("Run chains from the buffer on the current parameters, apart from training: their samples, energy traces, R-hat and ESS.")
                .clicked()
        {
            l.open = !l.open;
        }
        asked
    }
}
