//! What the window does with files and commands: open presets, data files, models and
//! examples (a broken file changes nothing and says why), save and export, and the
//! toolbar's commands.

use super::*;

impl WorkbenchApp {
    /// Opens a preset file; a broken one leaves everything as it was.
    pub fn open_preset(&mut self, path: &Path) {
        match Preset::load(path) {
            Ok(p) => {
                let path = path.to_path_buf();
                let about = Some(path.display().to_string());
                self.reset_saying(p, about, move |app| {
                    app.state.preset_path = Some(path.clone());
                    app.remember(&path);
                    app.message(false, format!("opened {}", path.display()));
                });
            }
            Err(e) => self.message(true, e.to_string()),
        }
    }

    /// Opens a file by its kind: a model (.safetensors), a data file (.csv, .tsv, .txt,
    /// .npy) or a preset.
    /// Keeps the live run's curves on the plots (up to six pins; the oldest goes first).
    pub fn pin_run(&mut self) {
        if self.run.history.received == 0 {
            self.message(true, "nothing to pin yet: train first");
            return;
        }
        if self.pins.len() == 6 {
            self.pins.remove(0);
        }
        self.pins.push(super::Pin {
            preset: self.worker_preset.clone(),
            history: self.run.history.clone(),
        });
        self.message(false, format!("pinned the run at step {}", self.run.step));
    }

    /// Opens a sweep folder in the comparison window; a folder that is not one says why.
    pub fn open_comparison(&mut self, dir: &Path) {
        match crate::gui::compare::Comparison::open(dir) {
            Ok(c) => {
                self.message(
                    false,
                    format!("comparing {} runs of {}", c.rows.len(), dir.display()),
                );
                self.comparison = Some(c);
            }
            Err(e) => self.message(true, e),
        }
    }

    pub fn open_any(&mut self, p: &Path) {
        if p.is_dir() {
            self.open_comparison(p);
            return;
        }
        if super::picker::is_metrics_csv(p) {
            match crate::gui::compare::Comparison::add_metrics_file(&mut self.comparison, p) {
                Ok(()) => self.message(false, format!("comparing {}", p.display())),
                Err(e) => self.message(true, e),
            }
            return;
        }
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "safetensors" => self.load_model(p),
            "ckpt" => {
                self.load_checkpoint(p);
            }
            "csv" | "tsv" | "txt" | "npy" => self.use_data_file(p),
            // MNIST's IDX files have no extension (or `.gz`): known by their magic.
            _ if crate::data::images::is_image_file(p) => self.use_data_file(p),
            _ => self.open_preset(p),
        }
    }

    /// Goes on from a checkpoint: its preset, data, parameters, optimiser, chains and
    /// curves replace the experiment. A damaged file changes nothing and says why.
    pub fn load_checkpoint(&mut self, path: &Path) -> bool {
        // The worker makes the session from it, with its data: a checkpoint that does not
        // fit (its data changed, a crafted file) changes nothing and says why.
        let read = crate::train::session::Checkpoint::load(path)
            .map_err(|e| e.to_string())
            .and_then(|ck| {
                let preset = ck
                    .preset()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((preset, ck))
            });
        let (preset, ck) = match read {
            Ok(r) => r,
            Err(e) => {
                self.message(true, format!("cannot resume: {e}"));
                return false;
            }
        };
        let step = ck.step();
        let path = path.to_path_buf();
        let about = Some(format!("cannot resume: {}", path.display()));
        let ck = Box::new(ck);
        let asked = self.start_over_with(
            preset,
            move |run| Command::Resume(ck, run),
            about,
            move |app| {
                app.run.step = step;
                app.remember(&path);
                app.message(false, format!("resumed {} at step {step}", path.display()));
            },
        );
        if let Err(e) = asked {
            self.message(true, e);
            return false;
        }
        true
    }

    /// Writes a checkpoint of the running experiment (the worker writes it, atomically,
    /// and says when it is done).
    pub fn save_checkpoint(&mut self, path: &Path) {
        self.send(Command::SaveCheckpoint(path.to_path_buf()));
    }

    /// Autosaves when the experiment has changed and the interval has passed.
    pub(super) fn autosave_tick(&mut self) {
        let Some(path) = self.autosave.clone() else {
            return;
        };
        if self.restore_offer.is_some()
            || self.run.step == self.run.autosaved_step
            || self.last_autosave.elapsed() < self.autosave_every
        {
            return;
        }
        self.last_autosave = Instant::now();
        self.run.autosaved_step = self.run.step;
        self.send(Command::Autosave(path));
    }

    /// Trains on the points of a CSV or NPY file from now on (asking first if that resets
    /// a trained model): every column is a feature until Data says otherwise. A file that
    /// cannot be used changes nothing and says why.
    pub fn use_data_file(&mut self, path: &Path) {
        let mut data = self.state.preset.data.clone();
        data.source = crate::data::DataSource::File(path.to_path_buf());
        data.columns = None;
        // A header that names a column `label` (or class, target, y): that column holds
        // the labels, not a feature.
        data.labels = crate::data::file::label_column(path);
        // Another file's labels do not belong to this one.
        data.labels_file = None;
        // The worker loads it (and it goes under Recent once it trains on it).
        self.state.preset.data = data;
        self.apply_edits();
        if let Some(c) = self.state.preset.data.labels {
            self.message(
                false,
                format!(
                    "column {c} of {} holds class labels (its header says so); untick Labels under Data to use it as a feature",
                    path.display()
                ),
            );
        }
    }

    /// Opens one of the bundled example presets by file name.
    pub fn open_example(&mut self, name: &str) {
        let Some((_, text)) = crate::preset::BUNDLED.iter().find(|(n, _)| *n == name) else {
            self.message(true, format!("no bundled example named {name}"));
            return;
        };
        match Preset::from_ron(text) {
            Ok(mut p) => {
                p.resolve_files(Path::new(crate::preset::BUNDLED_FOLDER));
                let name = name.to_string();
                self.reset_saying(p, Some(format!("the example {name}")), move |app| {
                    app.state.preset_path = None;
                    app.message(false, format!("opened the example {name}"));
                });
            }
            Err(e) => self.message(true, format!("bundled example {name}: {e}")),
        }
    }

    /// Loads a model file (its preset and parameters); a broken one changes nothing.
    pub fn load_model(&mut self, path: &Path) {
        match crate::export::load(path) {
            Ok(m) => {
                // The worker loads its data and checks that they still fit the model (a
                // file may have changed since): a misfit changes nothing and says why.
                // A file without its experiment goes onto the current data.
                let preset = m.experiment_on(&self.worker_preset);
                let path = path.to_path_buf();
                let model = Box::new(m);
                let about = Some(path.display().to_string());
                let asked = self.start_over_with(
                    preset,
                    move |run| Command::LoadParams(model, run),
                    about,
                    move |app| {
                        app.remember(&path);
                        app.message(false, format!("loaded model {}", path.display()));
                    },
                );
                if let Err(e) = asked {
                    self.message(true, e);
                }
            }
            Err(e) => self.message(true, e.to_string()),
        }
    }

    /// Saves the settings as a preset file (what Save preset… runs with the chosen name).
    pub fn save_preset(&mut self, path: &Path) {
        match self.state.preset.save(path) {
            Ok(()) => {
                self.state.preset_path = Some(path.to_path_buf());
                self.remember(path);
                self.message(false, format!("saved {}", path.display()));
            }
            Err(e) => self.message(true, format!("cannot save {}: {e}", path.display())),
        }
    }

    /// Asks the worker to write the model (the result arrives as a message).
    pub fn export_model(&mut self, path: &Path) {
        self.send(Command::Export(path.to_path_buf()));
    }

    /// Asks the worker to write every step's metrics as CSV.
    pub fn export_metrics(&mut self, path: &Path) {
        self.send(Command::ExportMetrics(path.to_path_buf()));
    }

    /// Writes the view as a PNG file: in a window, what it shows (heat map, axes, colour
    /// bar, samples, buffer, paths) cut from a screenshot at the screen's resolution; the
    /// image views as their grid; without a renderer (tests) the view drawn anew.
    pub fn export_png(&mut self, path: &Path) {
        let Some(v) = &self.run.view else {
            self.message(true, "nothing to export yet");
            return;
        };
        if v.images().is_none()
            && self.renderer
            && let Some(rect) = self.view_rect
        {
            let ppp = self.ctx.pixels_per_point();
            let out = path.to_path_buf();
            let tx = self.shots.0.clone();
            let ctx = self.ctx.clone();
            self.ctx.request_screenshot(move |img| {
                let r = crop_png(&img, rect, ppp).and_then(|bytes| {
                    crate::fs_util::write_atomic(&out, &bytes).map_err(|e| e.to_string())
                });
                let _ = tx.send(
                    r.map(|()| out.clone())
                        .map_err(|e| format!("cannot write {}: {e}", out.display())),
                );
                ctx.request_repaint();
            });
            return;
        }
        let png = if let Some(st) = self.run.space_view.images() {
            super::super::images::png(st, v)
        } else {
            views::view_png(v, &self.run.data, &self.state.samples, 768)
        };
        let r = png.and_then(|bytes| {
            crate::fs_util::write_atomic(path, &bytes).map_err(|e| e.to_string())
        });
        match r {
            Ok(()) => {
                self.remember(path);
                self.message(false, format!("wrote {}", path.display()));
            }
            Err(e) => self.message(true, format!("cannot write {}: {e}", path.display())),
        }
    }

    /// Whether there is a trained run that replacing would lose.
    #[must_use]
    pub fn has_trained_run(&self) -> bool {
        self.run.step > 0 || self.run.history.received > 0
    }

    /// Replaces the run as `r` asks, after asking the user when a trained run would be
    /// lost (as editing the network does).
    pub fn request(&mut self, r: Replace) {
        if self.pending_reset.is_some() || self.pending_replace.is_some() {
            self.message(true, "answer the open question first");
            return;
        }
        if self.has_trained_run() && r.replaces_run() {
            self.pause_to_ask();
            self.pending_replace = Some(r);
        } else {
            self.replace(r);
        }
    }

    /// Does what `r` asks, without asking.
    pub(super) fn replace(&mut self, r: Replace) {
        match r {
            Replace::Example(name) => self.open_example(&name),
            Replace::File(p) => self.open_any(&p),
            Replace::Reset => {
                let p = self.state.preset.clone();
                self.reset_to(p);
            }
        }
    }
}

/// An action that replaces the run (when it opens a preset, a model or a checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replace {
    Example(String),
    File(PathBuf),
    Reset,
}

impl Replace {
    /// Whether it starts another run (a data file asks by itself, through the edits; a
    /// sweep folder or a metrics file opens the comparison beside the run).
    #[must_use]
    pub fn replaces_run(&self) -> bool {
        match self {
            Self::Example(_) | Self::Reset => true,
            Self::File(p) => {
                matches!(
                    super::picker::file_kind(p),
                    Some("preset" | "model" | "checkpoint") | None
                ) && !p.is_dir()
            }
        }
    }

    /// The action in words, for the question.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Example(n) => format!("Opening the example {}", n.trim_end_matches(".ron")),
            Self::File(p) => format!(
                "Opening {}",
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            Self::Reset => "Reset".into(),
        }
    }
}

/// The part of a screenshot under `rect` (in points) as PNG bytes.
fn crop_png(img: &egui::ColorImage, rect: egui::Rect, ppp: f32) -> Result<Vec<u8>, String> {
    let [w, h] = img.size;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let px = |v: f32, max: usize| ((v * ppp).round().max(0.0) as usize).min(max);
    let (x0, x1) = (px(rect.left(), w), px(rect.right(), w));
    let (y0, y1) = (px(rect.top(), h), px(rect.bottom(), h));
    if x1 <= x0 || y1 <= y0 {
        return Err("the view is not on screen".into());
    }
    #[allow(clippy::cast_possible_truncation)]
    let mut out = image::RgbaImage::new((x1 - x0) as u32, (y1 - y0) as u32);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let c = img.pixels[(y0 + y as usize) * w + x0 + x as usize];
        *p = image::Rgba([c.r(), c.g(), c.b(), 255]);
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    out.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(bytes.into_inner())
}
