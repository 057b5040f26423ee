//! Data: a toy set, a target density, or the user's file (its columns, labels and
//! pixels), with its size, noise, seed and held-out fraction.

use super::*;
use crate::data::DataSource;
use std::path::Path;

/// Data set (or the user's file), size, noise, seed and held-out fraction. Returns what
/// the user asked of the window (to choose a data file: the window opens the dialog).
pub fn data_ui(
    ui: &mut Ui,
    d: &mut DataSpec,
    true_nll: Option<f64>,
    n_points: usize,
    space: Space,
) -> Vec<Request> {
    let mut pick_file = false;
    let images = matches!(space, Space::Image { .. });
    egui::Grid::new("data_grid").num_columns(2).show(ui, |ui| {
        if let Some(f) = d.file().map(Path::to_path_buf).filter(|_| images) {
            row(ui, "File", "Your images (NPY or MNIST IDX); drop another file on the window to replace it.", |ui| {
                ui.horizontal(|ui| {
                    ui.label(d.name()).on_hover_text(f.display().to_string());
                    if ui.button("Change…").clicked() {
                        pick_file = true;
                    }
                })
                .response
            });
            ui.label("Images");
            ui.label(format!("{n_points} of {}", space.describe()));
            ui.end_row();
            if let Some(l) = &d.labels_file {
                ui.label("Labels");
                ui.label(l.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()))
                    .on_hover_text(l.display().to_string());
                ui.end_row();
            }
            pixels_ui(ui, d);
            ui.label("");
            if ui.button("Use a toy set").on_hover_text("Back to the generated data sets.").clicked() {
                d.source = DataSource::Toy(ToySet::EightGaussians);
                d.labels_file = None;
            }
            ui.end_row();
        } else if let Some(f) = d.file().map(Path::to_path_buf) {
            row(ui, "File", "The points of your file (CSV or NPY); drop another file on the window to replace it.", |ui| {
                ui.horizontal(|ui| {
                    ui.label(d.name()).on_hover_text(f.display().to_string());
                    if ui.button("Change…").clicked() {
                        pick_file = true;
                    }
                })
                .response
            });
            ui.label("Points");
            ui.label(format!("{n_points}"));
            ui.end_row();
            row(ui, "Columns", "The file's columns used as features, numbered from 0 and separated by commas (e.g. 0, 2, 5); empty: every column but the labels. Enter applies.", |ui| {
                columns_field(ui, &mut d.columns)
            });
            let mut has_labels = d.labels.is_some();
            let mut label_col = d.labels.unwrap_or(2);
            row(ui, "Labels", "A column of class labels (whole numbers from 0) makes the data usable for JEM.", |ui| {
                ui.horizontal(|ui| {
                    let c = ui.checkbox(&mut has_labels, "column");
                    let v = ui.add_enabled(has_labels, Num::new(&mut label_col).range(0..=999)).accessible_name("label column");
                    if c.changed() || v.changed() {
                        d.labels = has_labels.then_some(label_col);
                    }
                })
                .response
            });
            ui.label("");
            if ui
                .button("Use a toy set")
                .on_hover_text("Back to the generated data sets.")
                .clicked()
            {
                d.source = DataSource::Toy(ToySet::EightGaussians);
                d.columns = None;
                d.labels = None;
                d.labels_file = None;
            }
            ui.end_row();
        } else if let DataSource::Bits(set) = &mut d.source {
            // Bits need a sampler that flips them: another source comes with another
            // example (Examples), whose sampler fits it.
            row(ui, "Source", "Binary data: bars and stripes (known distribution; up to 20 bits, log Z, the NLL and the sample term are summed over every state) or the bundled digits binarized at half their range (64 bits: exact for an RBM's hidden layer). Other data: open an example.", |ui| {
                ui.label(format!("{} (bits)", set.name()))
            });
            if let crate::data::BitSet::BarsStripes(n) = set {
                row(ui, "Size n", "Bars and stripes of n×n bits (2 to 4): every row or every column on or off, 2^(n+1) − 2 patterns, uniformly.", |ui| {
                    ui.add(Num::new(n).range(2..=4))
                });
                row(ui, "Size", "Points in all, held-out split included.", |ui| {
                    ui.add(Num::new(&mut d.size).range(100..=200_000).speed(100))
                });
            } else {
                binarize_ui(ui, &mut d.binarize);
            }
        } else {
            // 0: toy set, 1: synthetic target, 2: bundled images.
            let mut source = match d.source {
                DataSource::Target(_) => 1,
                DataSource::Images(_) => 2,
                DataSource::Toy(_) | DataSource::File(_) | DataSource::Bits(_) => 0,
            };
            let names = ["toy set (plane)", "synthetic target", "digits (images)"];
            row(ui, "Source", "A 2-D toy set of the EBM literature (exact quadrature, heat maps), a synthetic target of any dimension with a known density (NLL by AIS, views projected), or the bundled 8×8 handwritten digits (image grids, NLL by AIS).", |ui| {
                egui::ComboBox::from_id_salt("data_source")
                    .selected_text(names[source])
                    .show_ui(ui, |ui| {
                        for (k, n) in names.iter().enumerate() {
                            ui.selectable_value(&mut source, k, *n);
                        }
                    })
                    .response
            });
            match source {
                1 if d.target().is_none() => {
                    d.source = DataSource::Target(Target::Mixture {
                        dim: 16,
                        components: 8,
                        spread: 1.0,
                        std: 0.5,
                    });
                }
                2 if d.images().is_none() => {
                    d.source = DataSource::Images(crate::data::ImageSet::Digits);
                }
                0 if !matches!(d.source, DataSource::Toy(_)) => {
                    d.source = DataSource::Toy(ToySet::EightGaussians);
                }
                _ => {}
            }
            if d.images().is_some() {
                ui.label("Images");
                ui.label(format!("{n_points} of {}", space.describe()));
                ui.end_row();
                pixels_ui(ui, d);
            } else if let DataSource::Target(t) = &mut d.source {
                target_ui(ui, t);
            } else if let DataSource::Toy(set) = &mut d.source {
                row(ui, "Set", "The toy data set (FFJORD's parameters).", |ui| {
                    egui::ComboBox::from_id_salt("data_set")
                        .selected_text(set.name())
                        .show_ui(ui, |ui| {
                            for s in ToySet::ALL {
                                ui.selectable_value(set, s, s.name());
                            }
                        })
                        .response
                });
            }
            let tip = "Train on your own points: a CSV (or tab/space separated) or NumPy .npy file, every column a feature (choose columns and a label column afterwards). You can also drop the file on the window.";
            row(ui, "Or", tip, |ui| {
                let r = ui.button("your data file…");
                if r.clicked() {
                    pick_file = true;
                }
                r
            });
            if d.images().is_none() {
                row(
                    ui,
                    "Size",
                    "Points in all, held-out split included.",
                    |ui| ui.add(Num::new(&mut d.size).range(100..=200_000).speed(100)),
                );
            }
            if matches!(d.source, DataSource::Toy(_)) {
                let mut noise = d.noise();
                let tip = "The set's noise parameter (its literature default until changed).";
                row(ui, "Noise", tip, |ui| {
                    let r = ui.add(Num::new(&mut noise).range(0.0..=5.0).speed(0.005));
                    if r.changed() {
                        d.noise = Some(noise);
                    }
                    r
                });
            }
        }
        row(ui, "Seed", "Seed of the data draw.", |ui| {
            ui.add(Num::new(&mut d.seed))
        });
        row(
            ui,
            "Held out",
            "Fraction of points used only for the NLL.",
            |ui| {
                ui.add(
                    Num::new(&mut d.held_out)
                        .range(0.05..=0.5)
                        .speed(0.005),
                )
            },
        );
    });
    match true_nll {
        Some(n) => ui.label(format!("True NLL of the held-out split: {n:.4} nats")),
        None => ui.weak("True density unknown for this data."),
    };
    if pick_file {
        vec![Request::Action(UiCommand::LoadData)]
    } else {
        Vec::new()
    }
}

/// Images: the pixel range and the noise added to every data batch.
fn pixels_ui(ui: &mut Ui, d: &mut DataSpec) {
    use crate::data::PixelRange;
    row(
        ui,
        "Pixels",
        "The range pixels are scaled to; the sampler's box (clamp) and uniform starts follow it.",
        |ui| {
            egui::ComboBox::from_id_salt("pixels")
                .selected_text(match d.pixels {
                    PixelRange::ZeroOne => "[0, 1]",
                    PixelRange::MinusOneOne => "[-1, 1]",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut d.pixels, PixelRange::ZeroOne, "[0, 1]");
                    ui.selectable_value(&mut d.pixels, PixelRange::MinusOneOne, "[-1, 1]");
                })
                .response
        },
    );
    row(
        ui,
        "Batch noise",
        "Standard deviation of Gaussian noise added to every data batch as it is drawn (JEM and IGEBM use 0.03): it keeps the model from collapsing onto the few grey levels.",
        |ui| ui.add(Num::new(&mut d.batch_noise).range(0.0..=1.0).speed(0.001)),
    );
}

/// The list of feature columns as text (`0, 2, 5`; empty: all), applied on Enter or
/// when the field loses focus, when it parses; the text being typed is kept in egui's
/// memory meanwhile.
fn columns_field(ui: &mut egui::Ui, columns: &mut Option<Vec<usize>>) -> egui::Response {
    let shown = columns.as_ref().map_or(String::new(), |c| {
        c.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    });
    let id = ui.scope_id().with("feature columns");
    let mut text = ui
        .data_mut(|m| m.get_temp::<String>(id))
        .unwrap_or_else(|| shown.clone());
    let r = ui.add(
        egui::TextEdit::singleline(&mut text)
            .hint_text("all")
            .desired_width(110.0),
    );
    if r.lost_focus() {
        let parsed: Result<Vec<usize>, _> = text
            .split([',', ' ', ';'])
            .filter(|t| !t.is_empty())
            .map(str::parse::<usize>)
            .collect();
        if let Ok(list) = parsed {
            let mut seen = std::collections::BTreeSet::new();
            if list.iter().all(|c| seen.insert(*c)) {
                *columns = (!list.is_empty()).then_some(list);
            }
        }
        ui.data_mut(|m| m.remove::<String>(id));
    } else if r.has_focus() {
        ui.data_mut(|m| m.insert_temp(id, text));
    }
    r
}

/// A synthetic target's kind and parameters.
fn target_ui(ui: &mut Ui, t: &mut Target) {
    let name = |t: &Target| match t {
        Target::Mixture { .. } => "gaussian mixture",
        Target::Funnel { .. } => "Neal's funnel",
        Target::ManyWell { .. } => "many-well",
    };
    row(
        ui,
        "Target",
        "A gaussian mixture of any dimension; Neal's funnel (v ~ N(0, 9), x_i | v ~ N(0, e^v)); many-well (independent double wells x1⁴ − 6x1² − 0.5x1 + 0.5x2²). All have a known density.",
        |ui| {
            egui::ComboBox::from_id_salt("target_kind")
                .selected_text(name(t))
                .show_ui(ui, |ui| {
                    for choice in [
                        Target::Mixture {
                            dim: 16,
                            components: 8,
                            spread: 1.0,
                            std: 0.5,
                        },
                        Target::Funnel { dim: 10 },
                        Target::ManyWell { dim: 32 },
                    ] {
                        let same = std::mem::discriminant(t) == std::mem::discriminant(&choice);
                        if ui.selectable_label(same, name(&choice)).clicked() && !same {
                            *t = choice;
                        }
                    }
                })
                .response
        },
    );
    match t {
        Target::Mixture {
            dim,
            components,
            spread,
            std,
        } => {
            row(ui, "Dimension", "Coordinates of a point.", |ui| {
                ui.add(Num::new(dim).range(2..=4096))
            });
            row(ui, "Components", "Gaussians of equal weight.", |ui| {
                ui.add(Num::new(components).range(1..=1000))
            });
            row(
                ui,
                "Spread",
                "Centres are uniform in [−spread, spread] on every coordinate (drawn once, from the dimension and the number of components).",
                |ui| ui.add(Num::new(spread).range(0.0..=100.0).speed(0.05)),
            );
            row(ui, "Std", "Standard deviation of each component.", |ui| {
                ui.add(Num::new(std).range(0.01..=100.0).speed(0.01))
            });
        }
        Target::Funnel { dim } => {
            row(ui, "Dimension", "v and dim − 1 coordinates x_i.", |ui| {
                ui.add(Num::new(dim).range(2..=4096))
            });
        }
        Target::ManyWell { dim } => {
            let mut wells = *dim / 2;
            row(
                ui,
                "Wells",
                "Independent double wells, two coordinates each.",
                |ui| {
                    let r = ui.add(Num::new(&mut wells).range(1..=2048));
                    *dim = 2 * wells.max(1);
                    r
                },
            );
        }
    }
}

/// How grey images become bits: at half their range, or each pixel 1 with probability its
/// grey level, drawn once from a seed.
fn binarize_ui(ui: &mut Ui, b: &mut crate::data::Binarize) {
    use crate::data::Binarize;
    row(
        ui,
        "Binarize",
        "At half the range: a pixel is 1 where its grey level is at least half. Stochastic: each pixel is 1 with probability its grey level, drawn once from the seed (binarized MNIST's way, Salakhutdinov & Murray 2008): the data keep their grey levels as frequencies.",
        |ui| {
            ui.horizontal(|ui| {
                let mut stochastic = matches!(b, Binarize::Stochastic(_));
                let r = ui.checkbox(&mut stochastic, "stochastic");
                if r.changed() {
                    *b = if stochastic {
                        Binarize::Stochastic(0)
                    } else {
                        Binarize::Threshold
                    };
                }
                if let Binarize::Stochastic(seed) = b {
                    ui.add(
                        Num::new(seed)
                            .range(0..=u64::from(u32::MAX))
                            .prefix("seed "),
                    );
                }
                r
            })
            .inner
        },
    );
}
