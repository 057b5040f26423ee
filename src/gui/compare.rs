//! Comparing runs: a sweep folder's runs (its `summary.csv` and each run's
//! `metrics.csv`) overlaid on one plot, in a table sortable by any column; a run's preset
//! and model load back with one click.

use super::history::MetricsHistory;
use super::theme;
use super::views::LabelledAxes as _;
use crate::train::metrics::{METRICS, Metric, from_csv};
use egui_plot::{Line, Plot, PlotPoints};
use std::path::{Path, PathBuf};

/// The held-out NLL, the curve a comparison opens on.
fn nll() -> &'static Metric {
    Metric::named("nll").expect("the table has the NLL")
}

/// A sweep folder, read.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub dir: PathBuf,
    /// `summary.csv`'s columns and rows (as text).
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Each row's curves (`None`: the run has no metrics yet).
    pub runs: Vec<Option<MetricsHistory>>,
    /// Which rows are drawn.
    pub shown: Vec<bool>,
    /// The table's order: a column and whether ascending.
    pub sort: Option<(usize, bool)>,
    /// The metric the plot overlays (any of the table's that a run has).
    pub curve: &'static Metric,
    pub open: bool,
}

impl Comparison {
    /// Reads `dir/summary.csv` and every run's `metrics.csv`.
    ///
    /// # Errors
    /// A folder without a summary, or a metrics file that is not one, naming the file.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let path = dir.join("summary.csv");
        let (header, rows) = crate::sweep::read_summary(dir)?;
        let mut runs = Vec::with_capacity(rows.len());
        for r in &rows {
            let index: usize = r[0]
                .parse()
                .map_err(|_| format!("{}: `{}` is not a run number", path.display(), r[0]))?;
            let m = crate::sweep::run_dir(dir, index).join("metrics.csv");
            runs.push(match std::fs::read_to_string(&m) {
                Err(_) => None,
                Ok(t) => {
                    let rows = from_csv(&t).map_err(|e| format!("{}: {e}", m.display()))?;
                    let mut h = MetricsHistory::default();
                    // The NLL before the first step, from the run's record: the curves
                    // start at step 0, as the window's own do.
                    if let Some(nll) = crate::sweep::outcome(dir, index).and_then(|o| o.initial_nll)
                    {
                        h.push_nll(0, nll, true);
                    }
                    for row in &rows {
                        h.push(row);
                    }
                    Some(h)
                }
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            header,
            shown: vec![true; rows.len()],
            rows,
            runs,
            sort: None,
            curve: nll(),
            open: true,
        })
    }

    /// Adds a metrics CSV (as `train --metrics` or Export metrics write it) to a
    /// comparison of loose files, started by the first one.
    ///
    /// # Errors
    /// A file that is not a metrics CSV, naming it.
    pub fn add_metrics_file(this: &mut Option<Self>, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read ({e})", path.display()))?;
        let rows = from_csv(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut h = MetricsHistory::default();
        for r in &rows {
            h.push(r);
        }
        let files = match this {
            Some(c) if c.header.get(1).map(String::as_str) == Some("file") => c,
            _ => this.insert(Self {
                dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
                header: ["index", "file", "steps", "final_nll"]
                    .map(String::from)
                    .to_vec(),
                rows: Vec::new(),
                runs: Vec::new(),
                shown: Vec::new(),
                sort: None,
                curve: nll(),
                open: true,
            }),
        };
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        files.rows.push(vec![
            files.rows.len().to_string(),
            name,
            rows.last().map_or(0, |r| r.step).to_string(),
            h.nll.last().map_or(String::new(), |n| format!("{n:.6}")),
        ]);
        files.runs.push(Some(h));
        files.shown.push(true);
        files.open = true;
        Ok(())
    }

    /// The metrics some run measured, in the table's order.
    fn measured(&self) -> Vec<&'static Metric> {
        METRICS
            .iter()
            .filter(|m| {
                self.runs
                    .iter()
                    .flatten()
                    .any(|h| !h.series.of(m).is_empty())
            })
            .collect()
    }

    /// Whether this compares loose metrics files (no run folders, nothing to load).
    #[must_use]
    pub fn loose_files(&self) -> bool {
        self.header.get(1).map(String::as_str) == Some("file")
    }

    /// The rows in the table's order.
    #[must_use]
    pub fn order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.rows.len()).collect();
        if let Some((c, asc)) = self.sort {
            let key = |i: &usize| self.rows[*i].get(c).cloned().unwrap_or_default();
            idx.sort_by(|a, b| {
                let (ka, kb) = (key(a), key(b));
                let o = match (ka.parse::<f64>(), kb.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y),
                    _ => ka.cmp(&kb),
                };
                if asc { o } else { o.reverse() }
            });
        }
        idx
    }

    /// A run's name in the legend: its number and its axes' values.
    fn label(&self, i: usize) -> String {
        let r = &self.rows[i];
        if self.loose_files() {
            return r.get(1).cloned().unwrap_or_default();
        }
        let axes: Vec<String> = self
            .header
            .iter()
            .zip(r)
            .skip(2)
            .take_while(|(h, _)| h.as_str() != "final_nll")
            .map(|(h, v)| format!("{} {v}", h.rsplit('.').next().unwrap_or(h)))
            .collect();
        format!(
            "run {:0>4} seed {} ({})",
            r[0],
            r.get(1).map_or("", |s| s.as_str()),
            axes.join(", ")
        )
    }

    /// The comparison window. Returns the model file of a run the user asked to load.
    pub fn ui(&mut self, ctx: &egui::Context) -> Option<PathBuf> {
        let mut load = None;
        let mut open = self.open;
        // Below the toolbar, over the centre and the plots rather than the controls.
        let right = ctx.content_rect().right();
        egui::Window::new("Compare runs")
            .open(&mut open)
            .default_size([760.0, 620.0])
            .default_pos([(right - 800.0).max(0.0), 64.0])
            .show(ctx, |ui| {
                ui.label(self.dir.display().to_string());
                ui.horizontal(|ui| {
                    ui.label("Curve");
                    egui::ComboBox::from_id_salt("compare_curve")
                        .selected_text(self.curve.label)
                        .show_ui(ui, |ui| {
                            for c in self.measured() {
                                if ui
                                    .selectable_label(c.name == self.curve.name, c.label)
                                    .clicked()
                                {
                                    self.curve = c;
                                }
                            }
                        });
                    if ui.button("all").clicked() {
                        self.shown.iter_mut().for_each(|s| *s = true);
                    }
                    if ui.button("none").clicked() {
                        self.shown.iter_mut().for_each(|s| *s = false);
                    }
                });
                egui::ScrollArea::both().max_height(220.0).show(ui, |ui| {
                    egui::Grid::new("compare_table")
                        .striped(true)
                        .show(ui, |ui| {
                            ui.label("shown");
                            ui.label("");
                            for (c, h) in self.header.clone().iter().enumerate() {
                                let mark = match self.sort {
                                    Some((s, true)) if s == c => " [asc]",
                                    Some((s, false)) if s == c => " [desc]",
                                    _ => "",
                                };
                                if ui
                                    .button(format!("{h}{mark}"))
                                    .on_hover_text("Sort by this column (again: the other way)")
                                    .clicked()
                                {
                                    self.sort =
                                        Some((c, !matches!(self.sort, Some((s, true)) if s == c)));
                                }
                            }
                            ui.end_row();
                            for i in self.order() {
                                // The run's colour on the plot: its own, whatever the
                                // order of the rows.
                                ui.checkbox(
                                    &mut self.shown[i],
                                    egui::RichText::new("■").color(theme::layer(i)),
                                );
                                let loose = self.loose_files();
                                let b = ui.push_id(("load run", i), |ui| {
                                    ui.add_enabled(
                                        !loose,
                                        egui::Button::new(format!("load {:0>4}", self.rows[i][0])),
                                    )
                                    .on_hover_text(
                                        "Open this run's preset and model in the window.",
                                    )
                                    .on_disabled_hover_text(
                                        "A metrics file alone has no model to open.",
                                    )
                                });
                                if b.inner.clicked() {
                                    load = Some(i);
                                }
                                for v in &self.rows[i] {
                                    ui.label(v);
                                }
                                ui.end_row();
                            }
                        });
                });
                // The key beside the plot, not over its curves; each run keeps its
                // colour when the table is sorted.
                let shown: Vec<usize> = self
                    .order()
                    .into_iter()
                    .filter(|i| self.shown[*i] && self.runs[*i].is_some())
                    .collect();
                ui.horizontal_top(|ui| {
                    let key_w = 220.0;
                    Plot::new("compare_plot")
                        .height(260.0)
                        .width((ui.available_width() - key_w).max(200.0))
                        .labelled_axes("step", Some(self.curve.label))
                        .show(ui, |p| {
                            for &i in &shown {
                                let Some(h) = &self.runs[i] else { continue };
                                let s = h.series.of(self.curve);
                                p.line(
                                    Line::new(self.label(i), PlotPoints::from(s.points.clone()))
                                        .color(theme::layer(i))
                                        .width(1.5),
                                );
                            }
                        });
                    egui::ScrollArea::vertical()
                        .id_salt("compare_key")
                        .max_height(260.0)
                        .show(ui, |ui| {
                            ui.vertical(|ui| {
                                ui.set_max_width(key_w);
                                for &i in &shown {
                                    ui.add(
                                        egui::Label::new(
                                            egui::RichText::new(format!("■ {}", self.label(i)))
                                                .color(theme::layer(i)),
                                        )
                                        .wrap(),
                                    );
                                }
                            });
                        });
                });
            });
        self.open = open;
        load.and_then(|i| {
            let index: usize = self.rows[i][0].parse().ok()?;
            Some(crate::sweep::run_dir(&self.dir, index).join("model.safetensors"))
        })
    }
}
