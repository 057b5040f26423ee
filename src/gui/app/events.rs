//! The link from the worker: its events drained under a time budget each frame (what
//! belongs to a run that was reset is dropped), the heat map's texture, frame timing.

use super::*;

impl WorkbenchApp {
    pub(super) fn drain(&mut self, ctx: &egui::Context) {
        let budget = Instant::now();
        while let Some((run, e)) = self.worker.try_recv() {
            // What a run that was replaced sends is dropped: its curves, views, notes and
            // errors belong to a run the window no longer shows. Files written are
            // reported whichever run wrote them.
            // A run the worker started replaces the one shown, whether the window still
            // waits for it or a later one (the worker trains it from now on).
            if let Event::Restarted {
                preset,
                data,
                true_nll,
            } = e
            {
                if run > self.run.id {
                    self.run_started(run, *preset, data, true_nll);
                }
                continue;
            }
            if run != self.run.id
                && !e.outlives_its_run()
                && !matches!(e, Event::RestartFailed { .. })
            {
                continue;
            }
            match e {
                Event::Restarted { .. } => {}
                Event::Metrics(rows) => {
                    for r in &rows {
                        self.run.history.push(r);
                        if let Some(w) = self.run.lag.check(r) {
                            self.message_about(Topic::Lag, true, w);
                            self.run.marks.push((r.step, Mark::SamplerLost));
                        }
                    }
                    if let Some(r) = rows.last() {
                        self.run.step = r.step;
                    }
                }
                Event::View(v) => self.run.view = Some(*v),
                Event::State { running, step } => {
                    self.run.running = running;
                    self.run.step = step;
                }
                Event::Diverged(err) => {
                    self.run.running = false;
                    self.resume_after_question = false;
                    // The steps the roll-back undid leave the plots (with the spike they
                    // drew); the mark stays where it happened.
                    if let Some(at) = err.rolled_back_to() {
                        self.run.history.truncate_after(at);
                        self.run.step = at;
                    }
                    self.message_about(Topic::Divergence, true, format!("{err} — training paused"));
                    self.run.marks.push((err.step(), Mark::Diverged));
                }
                Event::Saved(p) => {
                    self.remember(&p);
                    self.message(false, format!("wrote {}", p.display()));
                }
                Event::Failed(m) => {
                    // A long run that failed does not come back.
                    if let Some(l) = self.run.space_view.long_run_mut() {
                        l.waiting = false;
                    }
                    self.message(true, m);
                }
                Event::Autosaved(step) => self.run.autosaved_at = Some(step),
                Event::RestartFailed { message, .. } => {
                    // The run before goes on: its events count still, and the window shows
                    // its settings again.
                    if self.starting.as_ref().is_some_and(|s| s.run == run) {
                        self.run_failed(&message);
                    }
                }
                Event::RolledBack(at) => {
                    self.run.history.truncate_after(at);
                    self.run.step = at;
                }
                Event::WriteFailed(m) => self.message(true, m),
                Event::Finished(step) => {
                    self.run.running = false;
                    self.resume_after_question = false;
                    self.message_about(
                        Topic::Finished,
                        false,
                        format!("finished {step} steps — Train to continue"),
                    );
                }
                Event::Applied(p) => {
                    // Say what changed, and from when.
                    let changed = crate::sweep::differences(&self.worker_preset, &p);
                    if !changed.is_empty() {
                        let what: Vec<String> = changed
                            .iter()
                            .map(|(k, a, b)| super::change_text(k, a, b))
                            .collect();
                        self.message_about(
                            Topic::Applied,
                            false,
                            format!("from step {}: {}", self.run.step + 1, what.join(", ")),
                        );
                    }
                    self.worker_preset = *p;
                }
                Event::InitialNll { nll, trusted, ess } => {
                    let h = &mut self.run.history;
                    if h.nll.is_empty() && h.nll_untrusted.is_empty() {
                        h.push_nll(0, nll, trusted);
                        if let Some(ess) = ess {
                            h.nll_ess.push(0, ess);
                        }
                    }
                }
                Event::ClassSamples {
                    step,
                    class,
                    points,
                } => {
                    if let SpaceView::Images(st) = &mut self.run.space_view {
                        // A row per class: the rows say what they are.
                        st.class_rows.insert(class, points);
                    } else {
                        self.message(
                            false,
                            format!(
                                "{} draws from p(x | class {class}) at step {step}",
                                points.len() / self.run.data.dim.max(1)
                            ),
                        );
                        self.run.class_samples = Some((class, points));
                    }
                }
                Event::LongRun(r) => {
                    let from = if matches!(
                        self.worker_preset.sampler.init,
                        crate::sampler::Init::ReplayBuffer { .. }
                    ) {
                        "the buffer"
                    } else {
                        "the sampler's last batch"
                    };
                    self.message(
                        false,
                        format!(
                            "long run at step {}: {} chains, {} steps from {from}",
                            r.step,
                            r.start.len() / self.run.data.dim.max(1),
                            r.steps
                        ),
                    );
                    match &mut self.run.space_view {
                        SpaceView::Images(st) => st.long_run = Some(*r),
                        v => {
                            if let Some(l) = v.long_run_mut() {
                                l.waiting = false;
                                l.result = Some(*r);
                            }
                        }
                    }
                }
                Event::Ais {
                    step,
                    result,
                    log_z_quadrature,
                    verdict,
                } => {
                    self.run.marks.push((step, Mark::Ais));
                    self.run.ais = Some((
                        result.forward.log_z,
                        result.forward.stderr,
                        log_z_quadrature,
                        verdict.trusted(),
                    ));
                    let rev = result.reverse.map_or(String::new(), |r| {
                        format!(", reverse {:.4} ± {:.4}", r.log_z, r.stderr)
                    });
                    let quad = log_z_quadrature.map_or_else(
                        || "no exact log Z here".to_string(),
                        |q| {
                            if self.run.data.space.allows().quadrature {
                                format!("by quadrature {q:.4}")
                            } else {
                                format!("exact (enumeration) {q:.4}")
                            }
                        },
                    );
                    let ais = match verdict.reason() {
                        None => format!(
                            "AIS {:.4} ± {:.4} (weights' ESS {:.1}){rev}",
                            result.forward.log_z, result.forward.stderr, result.forward.ess
                        ),
                        Some(why) => format!(
                            "AIS not measurable: {why} (its estimate {:.4}{rev})",
                            result.forward.log_z
                        ),
                    };
                    self.message(
                        !verdict.trusted(),
                        format!("step {step}: log Z {quad}; {ais}"),
                    );
                }
            }
            if budget.elapsed() > Duration::from_millis(4) {
                ctx.request_repaint();
                break;
            }
        }
    }

    pub(super) fn update_texture(&mut self, ctx: &egui::Context) {
        // Only the plane's view has a heat map (and no zero-sized texture elsewhere).
        let SpaceView::Plane(pv) = &mut self.run.space_view else {
            return;
        };
        let Some(v) = &self.run.view else { return };
        let Some(heat) = v.heat() else { return };
        let key = (v.step, self.state.samples.heat);
        if pv.texture_kind == Some(key) && pv.texture.is_some() {
            return;
        }
        let img = views::heat_image(heat, self.state.samples.heat);
        pv.heat_range = views::heat_range(heat, self.state.samples.heat);
        match &mut pv.texture {
            Some(t) => t.set(img, TextureOptions::LINEAR),
            None => pv.texture = Some(ctx.load_texture("heat_map", img, TextureOptions::LINEAR)),
        }
        pv.texture_kind = Some(key);
    }

    pub(super) fn frame_stats(&mut self) -> (f64, f64) {
        let now = Instant::now();
        if let Some(last) = self.last_frame {
            self.frame_times
                .push_back(now.duration_since(last).as_secs_f64());
            while self.frame_times.len() > 60 {
                self.frame_times.pop_front();
            }
        }
        self.last_frame = Some(now);
        #[allow(clippy::cast_precision_loss)]
        let mean = self.frame_times.iter().sum::<f64>() / self.frame_times.len().max(1) as f64;
        // Steps per second over the last second or so.
        let (t0, s0, rate) = self.rate;
        let dt = now.duration_since(t0).as_secs_f64();
        if dt > 0.5 {
            #[allow(clippy::cast_precision_loss)]
            let r = self.run.step.saturating_sub(s0) as f64 / dt;
            self.rate = (now, self.run.step, if self.run.running { r } else { 0.0 });
        }
        (mean * 1e3, rate)
    }
}
