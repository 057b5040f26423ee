//! The left column's editors. Each edits one part of the draft preset and nothing else;
//! the app decides what the edit means for the running experiment.

use super::app::{Request, UiCommand};
use super::fields::Num;
use crate::data::target::Target;
use crate::data::{Allows, Space};
use crate::data::{DataSpec, ToySet};
use crate::device::{DeviceInfo, DeviceSpec};
use crate::energy::{Activation, Architecture, LayerSpec, ModelSpec};
use crate::optim::{OptimizerKind, OptimizerSpec};
use crate::preset::{EngineChoice, EvalSpec, ObjectiveKind, ObjectiveSpec, Preset};
use crate::sampler::{Init, SamplerKind, SamplerSpec};
use egui::Ui;

fn row(ui: &mut Ui, label: &str, tip: &str, add: impl FnOnce(&mut Ui) -> egui::Response) {
    super::fields::set_row(label);
    ui.label(label).on_hover_text(tip);
    add(ui).on_hover_text(tip);
    ui.end_row();
}

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
        if let Some(f) = d.file.clone().filter(|_| images) {
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
                d.file = None;
                d.labels_file = None;
                d.images = None;
            }
            ui.end_row();
        } else if let Some(f) = d.file.clone() {
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
                d.file = None;
                d.columns = None;
                d.labels = None;
                d.labels_file = None;
                d.images = None;
            }
            ui.end_row();
        } else {
            // 0: toy set, 1: synthetic target, 2: bundled images.
            let mut source = if d.target.is_some() {
                1
            } else if d.images.is_some() {
                2
            } else {
                0
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
                1 if d.target.is_none() => {
                    d.images = None;
                    d.target = Some(Target::Mixture {
                        dim: 16,
                        components: 8,
                        spread: 1.0,
                        std: 0.5,
                    });
                }
                2 if d.images.is_none() => {
                    d.target = None;
                    d.images = Some(crate::data::ImageSet::Digits);
                }
                0 => {
                    d.target = None;
                    d.images = None;
                }
                _ => {}
            }
            if d.images.is_some() {
                ui.label("Images");
                ui.label(format!("{n_points} of {}", space.describe()));
                ui.end_row();
                pixels_ui(ui, d);
            } else if let Some(t) = d.target.as_mut() {
                target_ui(ui, t);
            } else {
                row(ui, "Set", "The toy data set (FFJORD's parameters).", |ui| {
                    egui::ComboBox::from_id_salt("data_set")
                        .selected_text(d.set.name())
                        .show_ui(ui, |ui| {
                            for s in ToySet::ALL {
                                ui.selectable_value(&mut d.set, s, s.name());
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
            if d.images.is_none() {
                row(
                    ui,
                    "Size",
                    "Points in all, held-out split included.",
                    |ui| ui.add(Num::new(&mut d.size).range(100..=200_000).speed(100)),
                );
            }
            if d.target.is_none() && d.images.is_none() {
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

/// The layer list: add, remove, reorder; widths, convolutions, pooling and activations;
/// the shape after every layer, any shape error before training, and the parameter count.
pub fn network_ui(ui: &mut Ui, m: &mut ModelSpec, input_shape: &[usize]) {
    let input = crate::energy::spec::Shape::of_input(input_shape);
    let text = match input {
        crate::energy::spec::Shape::Flat(n) => format!("Input: {n} numbers a point"),
        crate::energy::spec::Shape::Map([c, h, w]) => format!("Input: {c}×{h}×{w} images"),
    };
    ui.label(text).on_hover_text(
        "The data's shape: a vector of numbers, or channels × rows × columns for images.",
    );
    // The shapes after each layer: all of them when the network fits its input; up to
    // the first layer that does not fit otherwise.
    let (shapes, problem) = match Architecture::for_shape(m, input_shape) {
        Ok(a) => (a.shapes, None),
        Err(e) => {
            let head = ModelSpec {
                layers: m.layers[..e.layer.min(m.layers.len())].to_vec(),
                outputs: m.outputs,
            };
            let mut shapes = Architecture::for_shape(&head, input_shape)
                .map(|a| a.shapes)
                .unwrap_or_default();
            shapes.truncate(e.layer);
            (shapes, Some(e))
        }
    };
    let mut remove = None;
    let mut swap = None;
    let n = m.layers.len();
    for i in 0..n {
        ui.horizontal(|ui| {
            ui.label(format!("{i}"));
            let l = &mut m.layers[i];
            egui::ComboBox::from_id_salt(("layer_kind", i))
                .width(78.0)
                .selected_text(layer_kind(*l))
                .show_ui(ui, |ui| {
                    let kinds = [
                        LayerSpec::Linear(64),
                        LayerSpec::Conv2d {
                            channels: 16,
                            kernel: 3,
                            stride: 1,
                            padding: 1,
                        },
                        LayerSpec::AvgPool2d(2),
                        LayerSpec::MaxPool2d(2),
                        LayerSpec::Flatten,
                    ];
                    for k in kinds
                        .into_iter()
                        .chain(Activation::ALL.into_iter().map(LayerSpec::act))
                    {
                        let same = std::mem::discriminant(&k) == std::mem::discriminant(l);
                        if ui.selectable_label(same, layer_kind(k)).clicked() && !same {
                            *l = k;
                        }
                    }
                })
                .response
                .accessible_name(format!("layer {i} kind"))
                .on_hover_text("A Linear layer, a 2-D convolution, pooling, Flatten or an activation. Convolutions and pooling need images; a Linear after them flattens by itself.");
            match l {
                LayerSpec::Linear(w) => {
                    ui.add(Num::new(w).range(LayerSpec::LINEAR_WIDTH).prefix("width "))
                        .on_hover_text("Outputs of this layer.");
                }
                LayerSpec::Conv2d {
                    channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    ui.add(Num::new(channels).range(LayerSpec::CONV_CHANNELS).prefix("ch "))
                        .on_hover_text("Output channels.");
                    ui.add(Num::new(kernel).range(LayerSpec::CONV_KERNEL).prefix("k "))
                        .on_hover_text("Kernel size (k × k).");
                    ui.add(Num::new(stride).range(LayerSpec::CONV_STRIDE).prefix("s "))
                        .on_hover_text("Stride.");
                    let max_pad = kernel.saturating_sub(1);
                    ui.add(Num::new(padding).range(0..=max_pad).prefix("p "))
                        .on_hover_text("Zero padding on every side (less than the kernel).");
                }
                LayerSpec::AvgPool2d(k) | LayerSpec::MaxPool2d(k) => {
                    ui.add(Num::new(k).range(LayerSpec::POOL_WINDOW).prefix("k "))
                        .on_hover_text("Window and stride (k × k).");
                }
                _ => {}
            }
            match (shapes.get(i), &problem) {
                // For vectors in, the width says it; for images every shape (maps and
                // where they flatten).
                (Some(s), _) if matches!(input, crate::energy::spec::Shape::Map(_)) => {
                    ui.weak(format!("-> {}", s.describe()))
                        .on_hover_text("The shape after this layer.");
                }
                (Some(_), _) => {}
                (None, Some(e)) if e.layer == i => {
                    ui.colored_label(ui.visuals().error_fg_color, "does not fit")
                        .on_hover_text(&e.message);
                }
                _ => {}
            }
            // Compact: the row fits the column with a convolution's four fields.
            if ui
                .small_button("↑")
                .on_hover_text("Move up")
                .accessible_name(format!("move layer {i} up"))
                .clicked()
                && i > 0
            {
                swap = Some((i - 1, i));
            }
            if ui
                .small_button("↓")
                .on_hover_text("Move down")
                .accessible_name(format!("move layer {i} down"))
                .clicked()
                && i + 1 < n
            {
                swap = Some((i, i + 1));
            }
            if ui
                .small_button("✕")
                .on_hover_text("Remove this layer")
                .accessible_name(format!("remove layer {i}"))
                .clicked()
            {
                remove = Some(i);
            }
        });
    }
    if let Some((a, b)) = swap {
        m.layers.swap(a, b);
    }
    if let Some(i) = remove {
        m.layers.remove(i);
    }
    ui.horizontal(|ui| {
        if ui.button("+ Linear").clicked() {
            m.layers.push(LayerSpec::Linear(64));
        }
        if ui.button("+ SiLU").clicked() {
            m.layers.push(LayerSpec::Silu);
        }
        if matches!(input, crate::energy::spec::Shape::Map(_))
            && ui
                .button("+ Conv2d")
                .on_hover_text("A 3×3 convolution with 16 channels (padding 1).")
                .clicked()
        {
            m.layers.push(LayerSpec::Conv2d {
                channels: 16,
                kernel: 3,
                stride: 1,
                padding: 1,
            });
        }
    });
    ui.horizontal(|ui| {
        ui.label(format!("{} -> Linear(", if n == 0 { "x" } else { "…" }));
        ui.add(Num::new(&mut m.outputs).range(1..=100))
            .on_hover_text("1: the network's output is the energy. K > 1: K class logits f(x), with E(x) = −logsumexp f(x) (a classifier as an EBM; JEM trains the logits on labels too).");
        ui.label(if m.outputs == 1 {
            ") = energy"
        } else {
            ") = logits, E = −logsumexp"
        });
    });
    match &problem {
        None => {
            let arch = Architecture::for_shape(m, input_shape);
            let count = arch.map(|a| a.n_params).unwrap_or_default();
            ui.label(format!("Parameters: {count}"));
            if !m.is_mlp() {
                ui.weak("Convolutions and pooling run through candle (engine Auto or Autograd).");
            }
        }
        Some(e) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("The network does not fit its input: {e}"),
            );
        }
    }
}

/// The name of a layer's kind in the layer list.
fn layer_kind(l: LayerSpec) -> &'static str {
    match l {
        LayerSpec::Linear(_) => "Linear",
        LayerSpec::Conv2d { .. } => "Conv2d",
        LayerSpec::AvgPool2d(_) => "AvgPool2d",
        LayerSpec::MaxPool2d(_) => "MaxPool2d",
        LayerSpec::Flatten => "Flatten",
        other => other.activation().map_or("?", Activation::name),
    }
}

/// The sampler's rule, steps, initialisation, clamping, with the implied temperature.
pub fn sampler_ui(ui: &mut Ui, s: &mut SamplerSpec, allows: Allows) {
    egui::Grid::new("sampler_grid").num_columns(2).show(ui, |ui| {
        row(ui, "Rule", "SGLD: x ← x − a·∇E + s·ε (a, s decoupled, JEM style).\nLangevin: x ← x − η·∇E + √(2η)·ε (T = 1).\nMALA: the Langevin move as a proposal with a Metropolis test: exact at any step size.\nHMC: momentum, leapfrog steps and a Metropolis test: exact, long moves.\nExact: draws from the model on the grid (2-D), the unbiased reference.", |ui| {
            egui::ComboBox::from_id_salt("sampler_kind")
                .selected_text(s.kind.name())
                .show_ui(ui, |ui| {
                    let a = if s.kind == SamplerKind::Exact { 0.1 } else { s.kind.step_size() };
                    let noise = if matches!(s.kind, SamplerKind::Sgld { .. }) { s.kind.noise() } else { (2.0 * a).sqrt() };
                    let choices = [
                        SamplerKind::Sgld { step_size: a, noise },
                        SamplerKind::Langevin { step_size: a },
                        SamplerKind::Mala { step_size: a },
                        SamplerKind::Hmc { step_size: a, leapfrog_steps: 5 },
                        SamplerKind::Exact,
                    ];
                    for choice in choices.into_iter().filter(|c| *c != SamplerKind::Exact || allows.exact_sampler) {
                        let selected = std::mem::discriminant(&s.kind) == std::mem::discriminant(&choice);
                        if ui.selectable_label(selected, choice.name()).clicked() && !selected {
                            s.kind = choice;
                        }
                    }
                })
                .response
        });
        match &mut s.kind {
            SamplerKind::Sgld { step_size, noise } => {
                row(ui, "Step size", "a: the gradient step (safe to change while training).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
                row(ui, "Noise", "s: the noise's standard deviation per step (safe to change while training).", |ui| {
                    ui.add(Num::new(noise).range(0.0..=10.0).speed(0.001))
                });
            }
            SamplerKind::Langevin { step_size } => {
                row(ui, "Step size", "η; the noise is √(2η) (safe to change while training).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
            }
            SamplerKind::Mala { step_size } => {
                row(ui, "Step size", "η of the Langevin proposal; larger steps are accepted less often (about 0.57 is the classic target).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
            }
            SamplerKind::Hmc { step_size, leapfrog_steps } => {
                row(ui, "Step size", "ε of each leapfrog step (about 0.65 acceptance is the classic target).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
                row(ui, "Leapfrog steps", "L per HMC step: each costs one gradient, so a step costs L gradients.", |ui| {
                    ui.add(Num::new(leapfrog_steps).range(1..=100))
                });
            }
            SamplerKind::Exact => {
                ui.label("Draws");
                ui.label("exact samples from the grid")
                    .on_hover_text("A cell by its probability softmax(−E), a point uniformly inside it: the unbiased reference (2-D).");
                ui.end_row();
            }
        }
        if s.kind.is_metropolis() {
            let mut adapt = s.target_acceptance.is_some();
            let mut target = s.target_acceptance.unwrap_or(match s.kind {
                SamplerKind::Mala { .. } => 0.57,
                _ => 0.65,
            });
            row(ui, "Adapt step", "Move the step size after every training step towards this acceptance rate (the step above is where it starts).", |ui| {
                ui.horizontal(|ui| {
                    let c = ui.checkbox(&mut adapt, "to acceptance");
                    let v = ui.add_enabled(adapt, Num::new(&mut target).range(0.05..=0.99).speed(0.005)).accessible_name("target acceptance rate");
                    if c.changed() || v.changed() {
                        s.target_acceptance = adapt.then_some(target);
                    }
                })
                .response
            });
        }
        row(ui, "Steps (K)", "Sampler steps per training step.", |ui| {
            ui.add(Num::new(&mut s.steps).range(0..=1000))
        });
    });
    let gradients =
        s.steps * s.kind.gradients_per_step() + usize::from(s.kind.is_metropolis() && s.steps > 0);
    if s.kind != SamplerKind::Exact {
        ui.weak(format!("{gradients} gradient evaluations per training step"))
            .on_hover_text("The sampler's cost: K steps, times L leapfrog steps for HMC; MALA and HMC also evaluate the start.");
    }
    let t = s.kind.temperature();
    if matches!(s.kind, SamplerKind::Sgld { .. }) {
        ui.horizontal(|ui| {
            let text = format!(
                "Temperature T = s²/(2a) = {}",
                crate::sampler::format_temperature(t)
            );
            if (0.5..=2.0).contains(&t) {
                ui.label(text)
            } else {
                ui.colored_label(super::theme::WARNING, text)
            }
            .on_hover_text("The chains follow p^(1/T); only T = 1 samples the model itself. Outside the plane the AIS NLL is that of exp(−E/T), the law the chains follow.");
            if ui
                .button("Proper Langevin (T = 1)")
                .on_hover_text("Set noise = √(2·step) so that the chains sample p_θ.")
                .clicked()
            {
                let a = s.kind.step_size();
                s.kind = SamplerKind::Sgld {
                    step_size: a,
                    noise: (2.0 * a).sqrt(),
                };
            }
        });
    }
    egui::Grid::new("init_grid").num_columns(2).show(ui, |ui| {
        row(ui, "Start", "Replay buffer (persistent chains), fresh noise (short-run), or the data batch (CD-k). Changing it resets.", |ui| {
            egui::ComboBox::from_id_salt("init_kind")
                .selected_text(s.init.name())
                .show_ui(ui, |ui| {
                    let rb = Init::ReplayBuffer { size: 10_000, reinit_prob: 0.05 };
                    for choice in [rb, Init::Noise, Init::Data] {
                        let sel = std::mem::discriminant(&s.init) == std::mem::discriminant(&choice);
                        if ui.selectable_label(sel, choice.name()).clicked() && !sel {
                            s.init = choice;
                        }
                    }
                })
                .response
        });
        if let Init::ReplayBuffer { size, reinit_prob } = &mut s.init {
            row(ui, "Buffer size", "Chains kept between training steps.", |ui| {
                ui.add(Num::new(size).range(1..=1_000_000).speed(100))
            });
            row(ui, "Re-init prob.", "Chance that a drawn chain restarts from uniform noise.", |ui| {
                ui.add(Num::new(reinit_prob).range(0.0..=1.0).speed(0.005))
            });
        }
        row(ui, "Clamp", "Clamp the chains to the data box after every step.", |ui| {
            ui.checkbox(&mut s.clamp, "")
        });
    });
}

/// The objective (maximum likelihood or JEM), the optimiser and the evaluation settings.
/// `data_classes` is the number of classes of the loaded data (0: unlabelled).
pub fn objective_ui(ui: &mut Ui, p: &mut Preset, data_classes: usize, space: Space) {
    let classes = data_classes;
    let labelled = data_classes >= 2;
    let Preset {
        objective: ObjectiveSpec { alpha, kind },
        optimizer: o,
        eval:
            EvalSpec {
                eval_every,
                grid,
                ais_chains,
                ais_temperatures,
                ais_steps,
                ..
            },
        model,
        ..
    } = p;
    let o: &mut OptimizerSpec = o;
    egui::Grid::new("objective_grid")
        .num_columns(2)
        .show(ui, |ui| {
            row(
                ui,
                "Objective",
                "Maximum likelihood (contrastive divergence), or JEM: a classifier with one logit per class trained on the labels (cross-entropy) and, through E = −logsumexp f, as an EBM.",
                |ui| {
                    egui::ComboBox::from_id_salt("objective_kind")
                        .selected_text(kind.name())
                        .show_ui(ui, |ui| {
                            if ui
                                .selectable_label(*kind == ObjectiveKind::MaximumLikelihood, "maximum likelihood")
                                .clicked()
                            {
                                *kind = ObjectiveKind::MaximumLikelihood;
                            }
                            let jem = ui
                                .add_enabled(
                                    labelled,
                                    egui::Button::selectable(matches!(kind, ObjectiveKind::Jem { .. }), "JEM (hybrid)"),
                                )
                                .on_disabled_hover_text("JEM needs labels: a toy set, or a data file with a label column (Data → Labels).");
                            if jem.clicked() && !matches!(kind, ObjectiveKind::Jem { .. }) {
                                *kind = ObjectiveKind::Jem { ce_weight: 1.0 };
                                // One logit per class of the data.
                                model.outputs = classes;
                            }
                            if ui
                                .selectable_label(matches!(kind, ObjectiveKind::Dsm { .. }), "denoising score matching")
                                .on_hover_text("∇ₓE at x + σε matches ε/σ (Vincent 2011): learns the energy without a sampler.")
                                .clicked()
                                && !matches!(kind, ObjectiveKind::Dsm { .. })
                            {
                                *kind = ObjectiveKind::Dsm { sigma: 0.1 };
                            }
                            if ui
                                .selectable_label(matches!(kind, ObjectiveKind::Ssm { .. }), "sliced score matching")
                                .on_hover_text("E[−vᵀ∇²E v + ½(vᵀ∇E)²] over random directions v (Song et al. 2019): no sampler, no noise level.")
                                .clicked()
                                && !matches!(kind, ObjectiveKind::Ssm { .. })
                            {
                                *kind = ObjectiveKind::Ssm { projections: 1 };
                            }
                        })
                        .response
                },
            );
            if let ObjectiveKind::Dsm { sigma } = kind {
                row(
                    ui,
                    "Noise σ",
                    "The noise level: the model learns the data blurred by N(0, σ²) (safe to change while training).",
                    |ui| ui.add(Num::new(sigma).range(1e-3..=10.0).speed(0.001)),
                );
            }
            if let ObjectiveKind::Ssm { projections } = kind {
                row(
                    ui,
                    "Projections",
                    "Random directions per point (safe to change while training).",
                    |ui| ui.add(Num::new(projections).range(1..=64)),
                );
            }
            if kind.is_score_matching() {
                ui.label("");
                ui.weak("Learns without a sampler.");
                ui.end_row();
            }
            if let ObjectiveKind::Jem { ce_weight } = kind {
                row(
                    ui,
                    "CE weight",
                    "Weight of the cross-entropy on the labels next to the likelihood term (safe to change while training).",
                    |ui| ui.add(Num::new(ce_weight).range(0.0..=100.0).speed(0.01)),
                );
            }
            row(
                ui,
                "α",
                "Energy regulariser α·(E(x⁺)² + E(x⁻)²) (safe to change while training).",
                |ui| ui.add(Num::new(alpha).range(0.0..=10.0).speed(0.005)),
            );
            row(
                ui,
                "Optimiser",
                "Adam, AdamW (decoupled weight decay) or SGD.",
                |ui| {
                    egui::ComboBox::from_id_salt("opt_kind")
                        .selected_text(o.kind.name())
                        .show_ui(ui, |ui| {
                            for k in OptimizerKind::ALL {
                                ui.selectable_value(&mut o.kind, k, k.name());
                            }
                        })
                        .response
                },
            );
            row(
                ui,
                "Learning rate",
                "Safe to change while training.",
                |ui| {
                    ui.add(
                        Num::new(&mut o.lr)
                            .range(1e-6..=1.0)
                            .speed(1e-4)
                            .max_decimals(6),
                    )
                },
            );
            if o.kind == OptimizerKind::Sgd {
                row(ui, "Momentum", "SGD momentum.", |ui| {
                    ui.add(
                        Num::new(&mut o.momentum)
                            .range(0.0..=0.999)
                            .speed(0.01),
                    )
                });
            } else {
                row(
                    ui,
                    "β₁",
                    "Adam's first-moment decay (0 is common for EBMs).",
                    |ui| {
                        ui.add(
                            Num::new(&mut o.betas.0)
                                .range(0.0..=0.999)
                                .speed(0.01),
                        )
                    },
                );
                row(ui, "β₂", "Adam's second-moment decay.", |ui| {
                    ui.add(
                        Num::new(&mut o.betas.1)
                            .range(0.0..=0.99999)
                            .speed(0.0001),
                    )
                });
            }
            row(
                ui,
                "Weight decay",
                "L2 (Adam, SGD) or decoupled (AdamW).",
                |ui| {
                    ui.add(
                        Num::new(&mut o.weight_decay)
                            .range(0.0..=1.0)
                            .speed(1e-4),
                    )
                },
            );
            let mut clip = o.clip_grad_norm.is_some();
            let mut value = o.clip_grad_norm.unwrap_or(1.0);
            row(
                ui,
                "Clip |g|",
                "Rescale the gradient to at most this norm.",
                |ui| {
                    ui.horizontal(|ui| {
                        ui.checkbox(&mut clip, "")
                            .accessible_name("clip the gradient");
                        ui.add_enabled(
                            clip,
                            Num::new(&mut value).range(1e-3..=1e3).speed(0.01),
                        )
                        .accessible_name("largest gradient norm");
                    })
                    .response
                },
            );
            o.clip_grad_norm = clip.then_some(value);
            let quadrature = crate::eval::Method::for_space(space) == crate::eval::Method::Quadrature;
            let how = if quadrature {
                "by quadrature over the data box (exact up to the grid)"
            } else {
                "by AIS (an estimate with its standard error; no grid outside the plane)"
            };
            row(
                ui,
                "NLL every",
                &format!("Evaluate the held-out NLL {how} every this many steps."),
                |ui| ui.add(Num::new(eval_every).range(0..=100_000)),
            );
            if quadrature {
                row(
                    ui,
                    "Grid",
                    "Points per side of the quadrature grid.",
                    |ui| ui.add(Num::new(grid).range(EvalSpec::GRID)),
                );
            } else {
                row(
                    ui,
                    "AIS chains",
                    "Chains of each AIS estimate of log Z.",
                    |ui| ui.add(Num::new(ais_chains).range(2..=100_000)),
                );
                row(
                    ui,
                    "AIS temperatures",
                    "Intermediate distributions from the base to the model.",
                    |ui| ui.add(Num::new(ais_temperatures).range(1..=100_000)),
                );
                let cost = crate::eval::Evaluator::Ais(crate::eval::ais::AisSpec {
                    chains: *ais_chains,
                    temperatures: *ais_temperatures,
                    steps_per_temperature: *ais_steps,
                    ..crate::eval::ais::AisSpec::default()
                })
                .cost();
                ui.label("");
                ui.label(format!("≈ {:.1} M energy evaluations per estimate", cost as f64 / 1e6))
                    .on_hover_text("Each AIS estimate runs chains × temperatures × (1 + MALA steps) energy and gradient evaluations.");
                ui.end_row();
            }
        });
}

/// The device menu: what the probe found, usable or not (greyed, with the reason).
fn device_combo(
    ui: &mut Ui,
    device: &mut DeviceSpec,
    found: Option<&[DeviceInfo]>,
) -> egui::Response {
    let current = found.and_then(|f| f.iter().find(|d| d.spec == *device));
    let selected = match current.map(|d| &d.status) {
        Some(Err(_)) => format!("{} (not available)", device.name()),
        _ => device.name(),
    };
    let r = egui::ComboBox::from_id_salt("device")
        .selected_text(selected)
        .show_ui(ui, |ui| {
            // The reasons can be long: they wrap at this width.
            ui.set_max_width(340.0);
            let Some(found) = found else {
                ui.selectable_value(device, DeviceSpec::Cpu, "CPU");
                ui.weak("looking for GPUs…");
                return;
            };
            for d in found {
                match &d.status {
                    Ok(what) => {
                        ui.selectable_value(device, d.spec, format!("{} — {what}", d.spec.name()));
                    }
                    Err(why) => {
                        ui.add_enabled(false, egui::Button::selectable(false, d.spec.name()))
                            .on_disabled_hover_text(why.as_str());
                        ui.add(
                            egui::Label::new(egui::RichText::new(why.as_str()).small().weak())
                                .wrap(),
                        );
                    }
                }
            }
        })
        .response;
    match current.map(|d| &d.status) {
        Some(Err(why)) => {
            r.on_hover_text(format!("{}: {why}; the run uses the CPU", device.name()))
        }
        Some(Ok(what)) => r.on_hover_text(what.as_str()),
        None => r,
    }
}

/// Batch size, steps, seed, engine and device.
pub fn run_ui(ui: &mut Ui, p: &mut Preset, devices: Option<&[DeviceInfo]>) {
    egui::Grid::new("run_grid").num_columns(2).show(ui, |ui| {
        row(ui, "Engine", "Auto: the fast engine for MLPs on the CPU, candle for convolutional networks and on a GPU. Fast: hand-written gradients on the CPU (MLPs only). Autograd: candle autograd on the device below (the CPU, or a GPU where built in).", |ui| {
            let mlp = p.model.is_mlp();
            egui::ComboBox::from_id_salt("engine")
                .selected_text(p.engine.name())
                .show_ui(ui, |ui| {
                    for e in EngineChoice::ALL {
                        // The fast engine cannot run convolutions or pooling.
                        ui.add_enabled_ui(mlp || e != EngineChoice::Fast, |ui| {
                            ui.selectable_value(&mut p.engine, e, e.name());
                        });
                    }
                })
                .response
        });
        row(ui, "Device", "Where the autograd engine runs. Every device is listed with what it is, or why it cannot be used here.", |ui| {
            device_combo(ui, &mut p.device, devices)
        });
        row(
            ui,
            "Batch",
            "Data points per step, and as many chains; it changes between steps, without a reset.",
            |ui| ui.add(Num::new(&mut p.batch_size).range(1..=8192)),
        );
        row(
            ui,
            "Steps",
            "Train stops after this many steps; Train again continues.",
            |ui| ui.add(Num::new(&mut p.steps).range(1..=10_000_000)),
        );
        row(
            ui,
            "Seed",
            "Seed of initialisation, batches and sampler noise. Changing it resets.",
            |ui| ui.add(Num::new(&mut p.seed)),
        );
    });
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
