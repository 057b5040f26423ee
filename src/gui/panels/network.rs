//! Network: the layers of the energy network, checked against the data's shape as they
//! are edited.

use super::*;

/// The layer list: add, remove, reorder; widths, convolutions, pooling and activations;
/// the shape after every layer, any shape error before training, and the parameter count.
pub fn network_ui(ui: &mut Ui, m: &mut ModelSpec, space: Space) {
    let input_shape = &space.input_shape();
    let input = crate::energy::spec::Shape::of_input(input_shape);
    let text = match (input, space) {
        (_, Space::Bits { h, w }) => format!("Input: {h}×{w} bits (as a 1×{h}×{w} image)"),
        (crate::energy::spec::Shape::Flat(n), _) => format!("Input: {n} numbers a point"),
        (crate::energy::spec::Shape::Map([c, h, w]), _) => format!("Input: {c}×{h}×{w} images"),
    };
    ui.label(text).on_hover_text(
        "The data's shape: a vector of numbers, or channels × rows × columns for images (bits are seen as a one-channel image of 0s and 1s).",
    );
    if rbm_ui(ui, m, space) {
        return;
    }
    // The shapes after each layer: all of them when the network fits its input; up to
    // the first layer that does not fit otherwise.
    let (shapes, problem) = match Architecture::for_shape(m, input_shape) {
        Ok(a) => (a.shapes, None),
        Err(e) => {
            let head = ModelSpec {
                layers: m.layers[..e.layer.min(m.layers.len())].to_vec(),
                outputs: m.outputs,
                gaussian: m.gaussian,
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
        // A convolution's row is wider than a narrow column: it wraps, buttons and all,
        // rather than running under the column's edge.
        ui.horizontal_wrapped(|ui| {
            // Tight spacing: an activation's or a pooling's row stays on one line in the
            // narrowest column, a convolution's takes two.
            ui.spacing_mut().item_spacing.x = 4.0;
            ui.label(format!("{i}"));
            let l = &mut m.layers[i];
            egui::ComboBox::from_id_salt(("layer_kind", i))
                .width(72.0)
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
                    // Whole: in a narrow column the shape moves to the next line rather
                    // than breaking after its arrow.
                    ui.add(
                        egui::Label::new(egui::RichText::new(format!("-> {}", s.describe())).weak())
                            .extend(),
                    )
                    .on_hover_text("The shape after this layer.");
                }
                (Some(_), _) => {}
                (None, Some(e)) if e.layer == i => {
                    ui.colored_label(ui.visuals().error_fg_color, "does not fit")
                        .on_hover_text(&e.message);
                }
                _ => {}
            }
            // One menu for the row's moves: an activation's or a pooling's row stays on
            // one line in a 1 024-px window's column, a convolution's takes two.
            ui.menu_button("⋯", |ui| {
                if ui
                    .add_enabled(i > 0, egui::Button::new("↑ Move up"))
                    .accessible_name(format!("move layer {i} up"))
                    .clicked()
                {
                    swap = Some((i - 1, i));
                }
                if ui
                    .add_enabled(i + 1 < n, egui::Button::new("↓ Move down"))
                    .accessible_name(format!("move layer {i} down"))
                    .clicked()
                {
                    swap = Some((i, i + 1));
                }
                if ui
                    .button("✕ Remove")
                    .accessible_name(format!("remove layer {i}"))
                    .clicked()
                {
                    remove = Some(i);
                }
            })
            .response
            .on_hover_text("Move this layer up or down, or remove it")
            .accessible_name(format!("layer {i} actions"));
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
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("{} -> Linear(", if n == 0 { "x" } else { "…" }));
        ui.add(Num::new(&mut m.outputs).range(1..=100))
            .on_hover_text("1: the network's output is the energy. K > 1: K class logits f(x), with E(x) = −logsumexp f(x) (a classifier as an EBM; JEM trains the logits on labels too).");
        ui.label(if m.outputs == 1 {
            ") = energy"
        } else {
            ") = logits, E = −logsumexp"
        });
    });
    if !space.allows().discrete {
        ui.horizontal(|ui| {
            let mut tilt = m.gaussian.is_some();
            let r = ui.checkbox(&mut tilt, "+ ‖x‖²/(2σ²)").on_hover_text(
                "The network tilts a Gaussian: E(x) = f(x) + ‖x‖²/(2σ²). Then exp(−E) is a density whatever the network, chains at T = 1 cannot run off, and AIS has a likelihood to find (digits_convergent).",
            );
            if r.changed() {
                m.gaussian = tilt.then_some(1.0);
            }
            if let Some(sigma) = &mut m.gaussian {
                ui.add(
                    Num::new(sigma)
                        .range(crate::energy::Visible::SIGMA)
                        .prefix("σ "),
                );
            }
        });
    }
    match &problem {
        None => {
            let arch = Architecture::for_shape(m, input_shape);
            let count = arch.map(|a| a.n_params).unwrap_or_default();
            ui.label(format!("Parameters: {count}"));
            if !m.is_mlp() {
                ui.weak("Convolutions and pooling run through the fast engine on the CPU, candle on a GPU or with the Autograd engine.");
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

/// An RBM's panel in place of the layer list (and, on bits or real vectors beyond the
/// plane, the way to one). Returns whether the model is an RBM (the layer list is then
/// not drawn).
fn rbm_ui(ui: &mut Ui, m: &mut ModelSpec, space: Space) -> bool {
    let (Some(mut hidden), Some(mut units)) = (m.rbm(), m.rbm_visible()) else {
        let allows = space.allows();
        // Binary visible units on bits; Gaussian ones on real vectors or images, where
        // the hidden sum (no grid) gives the exact truth.
        let offer = if allows.discrete {
            Some((
                Visible::Bernoulli,
                "RBM instead",
                "A restricted Boltzmann machine with 16 binary hidden units as the energy (its free energy), in place of these layers.",
            ))
        } else if !allows.quadrature {
            Some((
                Visible::Gaussian(DEFAULT_SIGMA),
                "Gaussian RBM instead",
                "A Gaussian–Bernoulli RBM with 16 binary hidden units and real visible units of standard deviation σ as the energy, in place of these layers: its log Z is exact (a Gaussian integral per hidden state).",
            ))
        } else {
            None
        };
        if let Some((visible, text, hover)) = offer
            && ui.button(text).on_hover_text(hover).clicked()
        {
            m.layers = vec![LayerSpec::Rbm {
                hidden: 16,
                visible,
            }];
            m.outputs = 1;
            // An RBM's energy is its own (a Gaussian RBM has its σ): no tilt.
            m.gaussian = None;
        }
        return false;
    };
    let visible = space.dim();
    ui.horizontal_wrapped(|ui| {
        match &mut units {
            Visible::Bernoulli => {
                ui.label(format!("RBM: {visible} binary visible units,"));
            }
            Visible::Gaussian(sigma) => {
                ui.label(format!("RBM: {visible} Gaussian visible units,"));
                ui.add(
                    Num::new(sigma)
                        .range(Visible::SIGMA)
                        .prefix("σ "),
                )
                .on_hover_text("The visible units' standard deviation, fixed (not learnt): v | h ~ N(b + σWᵀh, σ²). Smaller σ gives sharper images and a sharper density.");
            }
        }
        ui.add(Num::new(&mut hidden).range(LayerSpec::RBM_HIDDEN).prefix("hidden "))
            .on_hover_text(match units {
                Visible::Bernoulli => "Binary hidden units: the free energy F(v) = −bᵀv − Σⱼ softplus(cⱼ + Wⱼ·v) sums them out.",
                Visible::Gaussian(_) => "Binary hidden units: the free energy F(v) = ‖v − b‖²/(2σ²) − Σⱼ softplus(cⱼ + Wⱼ·v/σ) sums them out.",
            });
    });
    m.layers = vec![LayerSpec::Rbm {
        hidden,
        visible: units,
    }];
    ui.label(format!(
        "Parameters: {} (weight {hidden}×{visible}, visible and hidden biases)",
        hidden * visible + visible + hidden
    ));
    if ui
        .button("Layers instead")
        .on_hover_text("A network of layers (an MLP) as the energy, in place of the RBM.")
        .clicked()
    {
        *m = ModelSpec::default();
    }
    true
}

/// The Gaussian RBM's σ offered first (pixels in [0, 1] vary by about 0.3 to 0.4).
const DEFAULT_SIGMA: f32 = 0.25;

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
