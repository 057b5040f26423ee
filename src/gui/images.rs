//! The image views: grids of held-out data, the sampler's batch, the replay buffer (with
//! each chain's age), one chain as a filmstrip, a row of class-conditional samples per
//! class (JEM), and short-run samples next to where long runs take them.

use super::app::Request;
use crate::image_grid::{Picture, grid};
use crate::train::session::LongRun;
use crate::train::worker::{Command, ImageView, View};
use egui::{Color32, TextureHandle, TextureOptions, Ui};
use std::collections::{BTreeMap, HashMap};

/// Which pictures the centre shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageTab {
    #[default]
    Samples,
    Buffer,
    Data,
    Chain,
    Classes,
    LongRun,
    Filters,
}

impl ImageTab {
    const ALL: [Self; 7] = [
        Self::Samples,
        Self::Buffer,
        Self::Data,
        Self::Chain,
        Self::Classes,
        Self::LongRun,
        Self::Filters,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Samples => "samples",
            Self::Buffer => "buffer",
            Self::Data => "data",
            Self::Chain => "one chain",
            Self::Classes => "class rows",
            Self::LongRun => "long run",
            Self::Filters => "filters",
        }
    }

    fn tooltip(self) -> &'static str {
        match self {
            Self::Samples => {
                "The sampler's latest batch: what the sample term of the gradient is computed on."
            }
            Self::Buffer => {
                "Chains of the replay buffer spread over it, oldest first; the number on each is its age in training steps."
            }
            Self::Data => "Held-out images.",
            Self::Chain => "One chain through the last sampler run: its start, then every step.",
            Self::Classes => {
                "For a classifier (JEM): one row of draws from p(x | y) ∝ exp(f_y(x)) per class."
            }
            Self::LongRun => {
                "Chains from the buffer, then the same chains after thousands more steps on the current energy: what the model really holds, next to what training's short runs see."
            }
            Self::Filters => {
                "An RBM's weights, one picture per hidden unit, each scaled to its own range: white its largest weight, black its smallest."
            }
        }
    }
}

/// Chains and steps of the long run the button starts.
pub const LONG_RUN_CHAINS: usize = 32;
pub const LONG_RUN_STEPS: usize = 2000;

/// What the image views keep between frames.
#[derive(Default)]
pub struct ImageState {
    pub tab: ImageTab,
    /// Draws of each class (JEM), as they arrive.
    pub class_rows: BTreeMap<usize, Vec<f32>>,
    pub long_run: Option<LongRun>,
    /// Whether the worker records a chain (for the filmstrip).
    pub recording: bool,
    textures: HashMap<String, (u64, TextureHandle)>,
}

impl std::fmt::Debug for ImageState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageState")
            .field("tab", &self.tab)
            .field("class_rows", &self.class_rows.len())
            .field("long_run", &self.long_run.is_some())
            .finish_non_exhaustive()
    }
}

/// A cheap fingerprint of pixels, to rebuild a texture only when they change.
fn fingerprint(step: usize, px: &[f32]) -> u64 {
    let mut h = step as u64 ^ ((px.len() as u64) << 32);
    for v in px.iter().step_by((px.len() / 64).max(1)) {
        h = h.rotate_left(7) ^ u64::from(v.to_bits());
    }
    h
}

impl ImageState {
    /// Forgets everything of the last run (a reset or another data set).
    pub fn clear(&mut self) {
        self.class_rows.clear();
        self.long_run = None;
        self.textures.clear();
        // A new session records no chain until the tab asks again.
        self.recording = false;
    }

    /// Draws `pic` at `zoom` screen pixels a picture pixel; returns where it landed.
    fn show(&mut self, ui: &mut Ui, key: &str, fp: u64, pic: &Picture, zoom: f32) -> egui::Rect {
        let stale = self.textures.get(key).is_none_or(|(f, _)| *f != fp);
        if stale {
            let img = egui::ColorImage::from_rgb([pic.width, pic.height], &pic.rgb);
            let tex = ui.ctx().load_texture(key, img, TextureOptions::NEAREST);
            self.textures.insert(key.to_string(), (fp, tex));
        }
        let Some((_, tex)) = self.textures.get(key) else {
            return egui::Rect::NOTHING;
        };
        #[allow(clippy::cast_precision_loss)]
        let size = egui::vec2(pic.width as f32 * zoom, pic.height as f32 * zoom);
        ui.add(egui::Image::new((tex.id(), size))).rect
    }
}

/// Screen pixels per picture pixel so that `cols` tiles of `w` columns fill `width`.
fn zoom_for(width: f32, cols: usize, w: usize) -> f32 {
    #[allow(clippy::cast_precision_loss)]
    let px = (cols * (w + 1) + 1) as f32;
    (width / px).floor().clamp(1.0, 12.0)
}

/// Tiles a row for `n` images (square-ish grids of at most 16 a row).
fn columns(n: usize) -> usize {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let c = (n as f64).sqrt().ceil() as usize;
    c.clamp(1, 16)
}

/// The pixels the current tab shows as one grid (`None` for the tabs of several grids,
/// or before there is anything): for the window and for the PNG export.
#[must_use]
pub fn current_grid(st: &ImageState, v: &ImageView) -> Option<(Vec<f32>, usize)> {
    let d = v.shape.iter().product::<usize>().max(1);
    let px = match st.tab {
        ImageTab::Samples => v.samples.clone(),
        ImageTab::Buffer => v.buffer.clone(),
        ImageTab::Data => v.data.clone(),
        ImageTab::Chain => v.filmstrip.clone(),
        ImageTab::Filters => v.filters.clone(),
        ImageTab::Classes => {
            // One row per class, as many columns as the longest row (short rows padded
            // with the lowest pixel value).
            let cols = st.class_rows.values().map(|r| r.len() / d).max()?;
            let mut px = Vec::new();
            for r in st.class_rows.values() {
                px.extend_from_slice(r);
                px.resize(px.len() + (cols - r.len() / d) * d, v.range.0);
            }
            return Some((px, cols));
        }
        ImageTab::LongRun => {
            // Short run above, long run below, chain by chain.
            let r = st.long_run.as_ref()?;
            let n = r.start.len() / d;
            let cols = columns(n);
            let mut px = r.start.clone();
            px.resize(n.div_ceil(cols) * cols * d, v.range.0);
            px.extend_from_slice(&r.end);
            return Some((px, cols));
        }
    };
    if px.is_empty() {
        return None;
    }
    let n = px.len() / d;
    let cols = if st.tab == ImageTab::Chain {
        n.min(11)
    } else {
        columns(n)
    };
    Some((px, cols))
}

/// The current tab's grid as a PNG (the window's export for images).
///
/// # Errors
/// Nothing to draw yet, or an encoding error, as text.
pub fn png(st: &ImageState, view: &View) -> Result<Vec<u8>, String> {
    let v = view.images().ok_or("no images in this view")?;
    let (px, cols) = current_grid(st, v).ok_or("nothing to draw in this view yet")?;
    grid(&px, v.shape, v.range, cols, 8).png()
}

/// The mean, as f64 (0 for none).
pub(super) fn mean(v: &[f32]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = v.len().max(1) as f64;
    v.iter().map(|x| f64::from(*x)).sum::<f64>() / n
}

/// The image views; returns what the user's clicks ask of the worker.
pub fn images_ui(
    ui: &mut Ui,
    st: &mut ImageState,
    view: Option<&View>,
    classes: usize,
) -> Vec<Request> {
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        let filters = view
            .and_then(View::images)
            .is_some_and(|v| !v.filters.is_empty());
        for t in ImageTab::ALL {
            if (t == ImageTab::Classes && classes < 2) || (t == ImageTab::Filters && !filters) {
                continue;
            }
            ui.selectable_value(&mut st.tab, t, t.name())
                .on_hover_text(t.tooltip());
        }
    });
    if st.tab == ImageTab::Classes && classes < 2 {
        st.tab = ImageTab::Samples;
    }
    // The filmstrip needs the worker to record a chain.
    let want = st.tab == ImageTab::Chain;
    if want != st.recording {
        st.recording = want;
        commands.push(Request::Worker(Command::ChainPaths(usize::from(want))));
    }
    let Some(view) = view else {
        ui.weak("Waiting for the first view…");
        return commands;
    };
    let Some(v) = view.images() else {
        return commands;
    };
    let width = ui.available_width();
    let d = v.shape.iter().product::<usize>().max(1);
    match st.tab {
        ImageTab::Classes => {
            ui.horizontal(|ui| {
                if ui
                    .button("Draw class rows")
                    .on_hover_text("Draw a row from p(x | y) for every class: the sampler's rule, 150 steps from noise.")
                    .clicked()
                {
                    for c in 0..classes {
                        commands.push(Request::Worker(Command::ClassSamples(c)));
                    }
                }
                ui.weak(format!("{} of {classes} classes drawn", st.class_rows.len()));
            });
            let rows: Vec<(usize, Vec<f32>)> =
                st.class_rows.iter().map(|(c, r)| (*c, r.clone())).collect();
            let cols = rows.iter().map(|(_, r)| r.len() / d).max().unwrap_or(1);
            let zoom = zoom_for(width - 60.0, cols, v.shape[2]).min(6.0);
            for (c, r) in rows {
                ui.horizontal(|ui| {
                    ui.label(format!("class {c}"));
                    let pic = grid(&r, v.shape, v.range, cols, 1);
                    st.show(
                        ui,
                        &format!("class_row_{c}"),
                        fingerprint(c, &r),
                        &pic,
                        zoom,
                    );
                });
            }
        }
        ImageTab::LongRun => {
            // From the replay buffer where there is one, the sampler's batch otherwise.
            let from = if view.images().is_some_and(|v| !v.buffer.is_empty()) {
                "the buffer"
            } else {
                "the last batch"
            };
            ui.horizontal(|ui| {
                if ui
                    .button(format!("Run {LONG_RUN_STEPS} steps from {from}"))
                    .on_hover_text(ImageTab::LongRun.tooltip())
                    .clicked()
                {
                    commands.push(Request::Worker(Command::LongRun {
                        chains: LONG_RUN_CHAINS,
                        steps: LONG_RUN_STEPS,
                    }));
                }
            });
            if let Some(r) = st.long_run.clone() {
                ui.label(format!(
                    "step {}: {} chains, mean E {:.3} in the buffer -> {:.3} after {} more steps{}",
                    r.step,
                    r.start.len() / d,
                    mean(&r.e_start),
                    mean(&r.e_end),
                    r.steps,
                    r.acceptance
                        .map_or(String::new(), |a| format!(" (acceptance {a:.2})"))
                ));
                if r.rhat.1.is_finite() {
                    ui.label(format!(
                        "rank-normalised R-hat {:.3} (largest, {}), bulk ESS {:.0} (smallest, {}) over the second half",
                        r.rhat.1, r.rhat.0, r.ess.1, r.ess.0
                    ));
                }
                let n = r.start.len() / d;
                let cols = columns(n);
                let zoom = zoom_for(width / 2.0 - 12.0, cols, v.shape[2]);
                ui.horizontal_top(|ui| {
                    for (name, px) in [
                        ("what training's short runs see", &r.start),
                        ("after the long run", &r.end),
                    ] {
                        ui.vertical(|ui| {
                            ui.label(name);
                            let pic = grid(px, v.shape, v.range, cols, 1);
                            st.show(ui, name, fingerprint(r.step, px), &pic, zoom);
                        });
                    }
                });
            } else {
                ui.weak("Not run yet.");
            }
        }
        tab => {
            let Some((px, cols)) = current_grid(st, v) else {
                ui.weak(match tab {
                    ImageTab::Buffer => "No replay buffer (short-run or CD-k initialisation).",
                    ImageTab::Chain => "The chain is recorded from the next training step on.",
                    _ => "Nothing yet.",
                });
                return commands;
            };
            let zoom = zoom_for(width, cols, v.shape[2]).min(
                ((ui.available_height() - 200.0).max(100.0)
                    / ((px.len() / d).div_ceil(cols) * (v.shape[1] + 1) + 1) as f32)
                    .floor()
                    .max(1.0),
            );
            let pic = grid(&px, v.shape, v.range, cols, 1);
            let rect = st.show(ui, tab.name(), fingerprint(view.step, &px), &pic, zoom);
            if tab == ImageTab::Buffer {
                // Each chain's age on its tile.
                let (tw, th) = (v.shape[2] + 1, v.shape[1] + 1);
                let painter = ui.painter_at(rect);
                for (k, age) in v.buffer_ages.iter().enumerate() {
                    #[allow(clippy::cast_precision_loss)]
                    let at = rect.min
                        + egui::vec2(
                            (1 + (k % cols) * tw) as f32 * zoom + 1.0,
                            (1 + (k / cols) * th) as f32 * zoom + 1.0,
                        );
                    painter.text(
                        at,
                        egui::Align2::LEFT_TOP,
                        age.to_string(),
                        egui::FontId::monospace(9.0),
                        Color32::from_rgb(255, 200, 60),
                    );
                }
                ui.weak(format!(
                    "{} of the buffer's chains, oldest first (ages in training steps)",
                    v.buffer_ages.len()
                ));
            }
        }
    }
    commands
}
