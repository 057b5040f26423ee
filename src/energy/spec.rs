//! The network as plain data: the list of layers a preset (or the window) edits.

use serde::{Deserialize, Serialize};

/// Element-wise activations with known derivatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activation {
    #[serde(rename = "SiLU")]
    Silu,
    #[serde(rename = "ReLU")]
    Relu,
    /// Slope 0.2 on the negative side (the usual choice in EBM code).
    #[serde(rename = "LeakyReLU")]
    LeakyRelu,
    /// α = 1.
    #[serde(rename = "ELU")]
    Elu,
    /// The tanh approximation (as candle's `gelu`).
    #[serde(rename = "GELU")]
    Gelu,
    Tanh,
    Softplus,
}

impl Activation {
    pub const ALL: [Self; 7] = [
        Self::Silu,
        Self::Relu,
        Self::LeakyRelu,
        Self::Elu,
        Self::Gelu,
        Self::Tanh,
        Self::Softplus,
    ];

    /// The name used in presets.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Silu => "SiLU",
            Self::Relu => "ReLU",
            Self::LeakyRelu => "LeakyReLU",
            Self::Elu => "ELU",
            Self::Gelu => "GELU",
            Self::Tanh => "Tanh",
            Self::Softplus => "Softplus",
        }
    }
}

/// Slope of `LeakyReLU` for negative inputs.
pub const LEAKY_SLOPE: f32 = 0.2;

/// An RBM's visible units.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum Visible {
    /// Binary units: the RBM is a distribution over bits.
    #[default]
    Bernoulli,
    /// Real units with Gaussian noise of standard deviation `sigma` (fixed, not
    /// learnt): the Gaussian–Bernoulli RBM, a density over real vectors.
    Gaussian(f32),
}

impl Visible {
    /// The Gaussian units' standard deviations allowed.
    pub const SIGMA: std::ops::RangeInclusive<f32> = 1e-3..=100.0;

    /// σ for Gaussian units.
    #[must_use]
    pub fn sigma(self) -> Option<f32> {
        match self {
            Self::Bernoulli => None,
            Self::Gaussian(s) => Some(s),
        }
    }

    /// `rbm_bernoulli` or `rbm_gaussian`: the `energy` a model file declares.
    #[must_use]
    pub fn energy_name(self) -> &'static str {
        match self {
            Self::Bernoulli => "rbm_bernoulli",
            Self::Gaussian(_) => "rbm_gaussian",
        }
    }
}

/// One layer of the energy network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LayerSpec {
    /// A fully connected layer with this many outputs (`y = x Wᵀ + b`). After a
    /// convolution or a pooling layer it flattens its input first.
    Linear(usize),
    /// A 2-D convolution with `channels` output channels, a `kernel`×`kernel` window,
    /// `stride` and zero `padding` (as `torch.nn.Conv2d`; weight `[out, in, k, k]`).
    Conv2d {
        channels: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
    },
    /// Mean over `k`×`k` windows with stride `k`.
    AvgPool2d(usize),
    /// Maximum over `k`×`k` windows with stride `k`.
    MaxPool2d(usize),
    /// Channels × rows × columns to one vector (a `Linear` after a convolution does this
    /// by itself).
    Flatten,
    #[serde(rename = "SiLU")]
    Silu,
    #[serde(rename = "ReLU")]
    Relu,
    #[serde(rename = "LeakyReLU")]
    LeakyRelu,
    #[serde(rename = "ELU")]
    Elu,
    #[serde(rename = "GELU")]
    Gelu,
    Tanh,
    Softplus,
    /// A restricted Boltzmann machine with `hidden` binary hidden units, as the whole
    /// energy, with parameters `weight` [hidden, visible], `visible_bias` [visible] and
    /// `hidden_bias` [hidden] (scikit-learn's `components_`, `intercept_visible_`,
    /// `intercept_hidden_`). It stands alone in `layers` (no final Linear is added).
    /// - `Bernoulli` visible units (the default) need bits: the free energy is
    ///   F(v) = −bᵀv − Σⱼ softplus(cⱼ + Wⱼ·v).
    /// - `Gaussian(sigma)` visible units need real data: with the joint energy
    ///   E(v, h) = ‖v − b‖²/(2σ²) − cᵀh − hᵀWv/σ (Hinton's practical guide's form),
    ///   F(v) = ‖v − b‖²/(2σ²) − Σⱼ softplus(cⱼ + Wⱼ·v/σ) and v | h ~ N(b + σWᵀh, σ²I).
    Rbm {
        hidden: usize,
        #[serde(default)]
        visible: Visible,
    },
}

impl LayerSpec {
    /// An RBM's hidden units.
    pub const RBM_HIDDEN: std::ops::RangeInclusive<usize> = 1..=4096;
    /// A Linear layer's widths (the one place: validation and the network panel).
    pub const LINEAR_WIDTH: std::ops::RangeInclusive<usize> = 1..=65_536;
    /// A Conv2d layer's output channels.
    pub const CONV_CHANNELS: std::ops::RangeInclusive<usize> = 1..=4096;
    /// A Conv2d layer's kernel sizes.
    pub const CONV_KERNEL: std::ops::RangeInclusive<usize> = 1..=15;
    /// A Conv2d layer's strides.
    pub const CONV_STRIDE: std::ops::RangeInclusive<usize> = 1..=8;
    /// A pooling layer's windows.
    pub const POOL_WINDOW: std::ops::RangeInclusive<usize> = 1..=16;

    /// Whether the layer's numbers are in their ranges; if not, what they must be.
    ///
    /// # Errors
    /// The allowed values, in words.
    pub fn check(&self) -> Result<(), String> {
        let say = |r: &std::ops::RangeInclusive<usize>| format!("{} to {}", r.start(), r.end());
        match *self {
            Self::Linear(w) if !Self::LINEAR_WIDTH.contains(&w) => Err(format!(
                "Linear(width) with width {}",
                say(&Self::LINEAR_WIDTH)
            )),
            Self::Conv2d {
                channels,
                kernel,
                stride,
                padding,
            } if !(Self::CONV_CHANNELS.contains(&channels)
                && Self::CONV_KERNEL.contains(&kernel)
                && Self::CONV_STRIDE.contains(&stride)
                && padding < kernel) =>
            {
                Err(format!(
                    "Conv2d(channels: {}, kernel: {}, stride: {}, padding: less than the kernel)",
                    say(&Self::CONV_CHANNELS),
                    say(&Self::CONV_KERNEL),
                    say(&Self::CONV_STRIDE)
                ))
            }
            Self::AvgPool2d(k) | Self::MaxPool2d(k) if !Self::POOL_WINDOW.contains(&k) => {
                Err(format!("a pooling window from {}", say(&Self::POOL_WINDOW)))
            }
            Self::Rbm { hidden, .. } if !Self::RBM_HIDDEN.contains(&hidden) => Err(format!(
                "Rbm(hidden) with hidden units {}",
                say(&Self::RBM_HIDDEN)
            )),
            Self::Rbm {
                visible: Visible::Gaussian(s),
                ..
            } if !Visible::SIGMA.contains(&s) => Err(format!(
                "Rbm(visible: Gaussian(sigma)) with sigma from {} to {}",
                Visible::SIGMA.start(),
                Visible::SIGMA.end()
            )),
            _ => Ok(()),
        }
    }

    /// A convolution of `channels` output channels, a `kernel`×`kernel` window, `stride`
    /// and zero `padding`.
    #[must_use]
    pub const fn conv(channels: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        Self::Conv2d {
            channels,
            kernel,
            stride,
            padding,
        }
    }

    /// The layer for an activation.
    #[must_use]
    pub fn act(a: Activation) -> Self {
        match a {
            Activation::Silu => Self::Silu,
            Activation::Relu => Self::Relu,
            Activation::LeakyRelu => Self::LeakyRelu,
            Activation::Elu => Self::Elu,
            Activation::Gelu => Self::Gelu,
            Activation::Tanh => Self::Tanh,
            Activation::Softplus => Self::Softplus,
        }
    }

    /// The activation this layer applies, if it is one.
    #[must_use]
    pub fn activation(self) -> Option<Activation> {
        Some(match self {
            Self::Linear(_)
            | Self::Conv2d { .. }
            | Self::AvgPool2d(_)
            | Self::MaxPool2d(_)
            | Self::Flatten
            | Self::Rbm { .. } => return None,
            Self::Silu => Activation::Silu,
            Self::Relu => Activation::Relu,
            Self::LeakyRelu => Activation::LeakyRelu,
            Self::Elu => Activation::Elu,
            Self::Gelu => Activation::Gelu,
            Self::Tanh => Activation::Tanh,
            Self::Softplus => Activation::Softplus,
        })
    }
}

/// The energy network: the hidden layers in order. A final `Linear(outputs)` is always
/// appended (it is `layers.{n}` in the parameter names): with one output it is the
/// energy; with K outputs they are the logits f(x) of a classifier, and the energy is
/// E(x) = −logsumexp_y f(x)_y (JEM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    pub layers: Vec<LayerSpec>,
    /// 1: an energy; K > 1: K class logits.
    #[serde(skip_serializing_if = "is_one")]
    pub outputs: usize,
    /// σ of a Gaussian the network tilts: the energy is E(x) = f(x) + ‖x‖²/(2σ²), so
    /// exp(−E) is a density whatever the network (an MLP grows at most linearly) and
    /// chains at T = 1 cannot run off to infinity. `None`: the network alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gaussian: Option<f32>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_one(n: &usize) -> bool {
    *n == 1
}

fn one() -> usize {
    1
}

impl ModelSpec {
    /// Whether every layer is a `Linear`, an activation or a `Flatten` (what the fast
    /// engine runs).
    #[must_use]
    pub fn is_mlp(&self) -> bool {
        self.rbm().is_none()
            && self.layers.iter().all(|l| {
                matches!(l, LayerSpec::Linear(_) | LayerSpec::Flatten) || l.activation().is_some()
            })
    }
}

impl ModelSpec {
    /// The RBM's hidden units, where the model is an RBM.
    #[must_use]
    pub fn rbm(&self) -> Option<usize> {
        self.layers.iter().find_map(|l| match *l {
            LayerSpec::Rbm { hidden, .. } => Some(hidden),
            _ => None,
        })
    }

    /// The RBM's visible units, where the model is an RBM.
    #[must_use]
    pub fn rbm_visible(&self) -> Option<Visible> {
        self.layers.iter().find_map(|l| match *l {
            LayerSpec::Rbm { visible, .. } => Some(visible),
            _ => None,
        })
    }
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            layers: vec![
                LayerSpec::Linear(128),
                LayerSpec::Silu,
                LayerSpec::Linear(128),
                LayerSpec::Silu,
            ],
            outputs: 1,
            gaussian: None,
        }
    }
}

/// One parameter tensor: its name, shape and place in the flat parameter vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamEntry {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
    /// Index of the layer it belongs to (for per-layer norms).
    pub layer: usize,
}

/// How a pooling layer combines its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Avg,
    Max,
}

/// A resolved layer: what the engines run. An explicit `Flatten` and the flattening a
/// `Linear` does after a feature map leave no op: the engines flatten a feature map
/// whenever a `Linear` meets one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Linear {
        input: usize,
        output: usize,
        weight: usize,
        bias: usize,
        layer: usize,
    },
    Act(Activation),
    /// A convolution from `input` (c, h, w) to `output` (c, h, w).
    Conv2d {
        input: [usize; 3],
        output: [usize; 3],
        kernel: usize,
        stride: usize,
        padding: usize,
        weight: usize,
        bias: usize,
        layer: usize,
    },
    Pool {
        kind: Pool,
        kernel: usize,
    },
}

/// The shape of what flows between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A vector of this many numbers.
    Flat(usize),
    /// Channels × rows × columns.
    Map([usize; 3]),
}

impl Shape {
    /// The numbers in it.
    #[must_use]
    pub fn len(&self) -> usize {
        match *self {
            Self::Flat(n) => n,
            Self::Map([c, h, w]) => c * h * w,
        }
    }

    /// Whether it holds no numbers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `64` or `16×8×8`.
    #[must_use]
    pub fn describe(&self) -> String {
        match *self {
            Self::Flat(n) => n.to_string(),
            Self::Map([c, h, w]) => format!("{c}×{h}×{w}"),
        }
    }

    /// The shape of a model input (`[d]` or `[c, h, w]`).
    #[must_use]
    pub fn of_input(shape: &[usize]) -> Self {
        match *shape {
            [c, h, w] => Self::Map([c, h, w]),
            _ => Self::Flat(shape.iter().product()),
        }
    }
}

/// Why a network does not fit its input: the layer (index in `model.layers`) and what
/// is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    pub layer: usize,
    pub message: String,
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "model.layers[{}]: {}", self.layer, self.message)
    }
}

impl std::error::Error for ShapeError {}

/// The network resolved against an input shape: the ops and the parameter layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    pub input_dim: usize,
    /// The input as the network sees it: `[d]`, or `[c, h, w]` for images.
    pub input_shape: Vec<usize>,
    /// Outputs of the last layer: 1 (the energy) or K class logits.
    pub outputs: usize,
    pub ops: Vec<Op>,
    pub params: Vec<ParamEntry>,
    pub n_params: usize,
    /// The shape after every layer of `model.layers` (the final `Linear` included).
    pub shapes: Vec<Shape>,
    /// An RBM's hidden units: the model is its free energy (no ops; the parameters are
    /// `weight` [hidden, visible], `visible_bias`, `hidden_bias`).
    pub rbm: Option<usize>,
    /// An RBM's visible units (Bernoulli for every other network).
    pub visible: Visible,
    /// σ of the Gaussian the network tilts ([`ModelSpec::gaussian`]).
    pub gaussian: Option<f32>,
}

fn entry(name: String, shape: Vec<usize>, offset: &mut usize, layer: usize) -> ParamEntry {
    let len = shape.iter().product();
    let e = ParamEntry {
        name,
        shape,
        offset: *offset,
        len,
        layer,
    };
    *offset += len;
    e
}

impl Architecture {
    /// Resolves `spec` for inputs of dimension `input_dim` (a flat vector).
    ///
    /// # Panics
    /// When the layers need images (convolutions, pooling): use
    /// [`Architecture::for_shape`].
    #[must_use]
    pub fn new(spec: &ModelSpec, input_dim: usize) -> Self {
        match Self::for_shape(spec, &[input_dim]) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        }
    }

    /// Resolves `spec` for inputs of shape `input_shape` (`[d]` or `[c, h, w]`).
    ///
    /// # Errors
    /// The first layer that does not fit what reaches it.
    pub fn for_shape(spec: &ModelSpec, input_shape: &[usize]) -> Result<Self, ShapeError> {
        if let Some(hidden) = spec.rbm() {
            return Self::rbm(spec, input_shape, hidden);
        }
        let mut ops = Vec::new();
        let mut params = Vec::new();
        let mut shapes = Vec::new();
        let mut shape = Shape::of_input(input_shape);
        let mut offset = 0;
        let mut layers: Vec<LayerSpec> = spec.layers.clone();
        let outputs = spec.outputs.max(1);
        layers.push(LayerSpec::Linear(outputs));
        for (i, l) in layers.iter().enumerate() {
            let fail = |message: String| ShapeError { layer: i, message };
            match *l {
                LayerSpec::Linear(out) => {
                    let width = shape.len();
                    let w = entry(
                        format!("layers.{i}.weight"),
                        vec![out, width],
                        &mut offset,
                        i,
                    );
                    let b = entry(format!("layers.{i}.bias"), vec![out], &mut offset, i);
                    ops.push(Op::Linear {
                        input: width,
                        output: out,
                        weight: w.offset,
                        bias: b.offset,
                        layer: i,
                    });
                    params.push(w);
                    params.push(b);
                    shape = Shape::Flat(out);
                }
                LayerSpec::Conv2d {
                    channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    let Shape::Map([c, h, wd]) = shape else {
                        return Err(fail(format!(
                            "Conv2d needs images (channels × rows × columns), and {} numbers in a row reach it{}",
                            shape.len(),
                            if i == 0 {
                                ": the data are vectors"
                            } else {
                                " (after a Linear or Flatten)"
                            }
                        )));
                    };
                    let out = |n: usize| {
                        (n + 2 * padding)
                            .checked_sub(kernel)
                            .map(|v| v / stride.max(1) + 1)
                    };
                    let (Some(oh), Some(ow)) = (out(h), out(wd)) else {
                        return Err(fail(format!(
                            "Conv2d's {kernel}×{kernel} kernel does not fit the {h}×{wd} map (with padding {padding})"
                        )));
                    };
                    let w = entry(
                        format!("layers.{i}.weight"),
                        vec![channels, c, kernel, kernel],
                        &mut offset,
                        i,
                    );
                    let b = entry(format!("layers.{i}.bias"), vec![channels], &mut offset, i);
                    ops.push(Op::Conv2d {
                        input: [c, h, wd],
                        output: [channels, oh, ow],
                        kernel,
                        stride,
                        padding,
                        weight: w.offset,
                        bias: b.offset,
                        layer: i,
                    });
                    params.push(w);
                    params.push(b);
                    shape = Shape::Map([channels, oh, ow]);
                }
                LayerSpec::AvgPool2d(k) | LayerSpec::MaxPool2d(k) => {
                    let name = if matches!(l, LayerSpec::AvgPool2d(_)) {
                        "AvgPool2d"
                    } else {
                        "MaxPool2d"
                    };
                    let Shape::Map([c, h, wd]) = shape else {
                        return Err(fail(format!(
                            "{name} needs images (channels × rows × columns), and a flat vector of {} reaches it",
                            shape.len()
                        )));
                    };
                    if k == 0 || h < k || wd < k {
                        return Err(fail(format!(
                            "{name}({k}) needs a map of at least {k}×{k}, and {h}×{wd} reaches it"
                        )));
                    }
                    ops.push(Op::Pool {
                        kind: if name == "AvgPool2d" {
                            Pool::Avg
                        } else {
                            Pool::Max
                        },
                        kernel: k,
                    });
                    shape = Shape::Map([c, h / k, wd / k]);
                }
                LayerSpec::Flatten => shape = Shape::Flat(shape.len()),
                other => {
                    if let Some(a) = other.activation() {
                        ops.push(Op::Act(a));
                    }
                }
            }
            shapes.push(shape);
        }
        Ok(Self {
            input_dim: input_shape.iter().product(),
            input_shape: input_shape.to_vec(),
            outputs,
            ops,
            params,
            n_params: offset,
            shapes,
            rbm: None,
            visible: Visible::Bernoulli,
            gaussian: spec.gaussian,
        })
    }

    /// An RBM of `hidden` units on the inputs: alone in the layers, one energy.
    fn rbm(spec: &ModelSpec, input_shape: &[usize], hidden: usize) -> Result<Self, ShapeError> {
        if spec.layers.len() != 1 || spec.outputs > 1 {
            let at = spec
                .layers
                .iter()
                .position(|l| !matches!(l, LayerSpec::Rbm { .. }))
                .unwrap_or(0);
            return Err(ShapeError {
                layer: at,
                message:
                    "an Rbm is the whole energy: it stands alone in the layers, with one output"
                        .into(),
            });
        }
        let visible: usize = input_shape.iter().product();
        let mut offset = 0;
        let params = vec![
            entry("weight".into(), vec![hidden, visible], &mut offset, 0),
            entry("visible_bias".into(), vec![visible], &mut offset, 0),
            entry("hidden_bias".into(), vec![hidden], &mut offset, 0),
        ];
        Ok(Self {
            input_dim: visible,
            input_shape: input_shape.to_vec(),
            outputs: 1,
            ops: Vec::new(),
            params,
            n_params: offset,
            shapes: vec![Shape::Flat(hidden)],
            rbm: Some(hidden),
            visible: spec.rbm_visible().unwrap_or_default(),
            gaussian: None,
        })
    }

    /// Whether the fast engine can run it: Linear layers and activations only.
    #[must_use]
    pub fn is_mlp(&self) -> bool {
        self.rbm.is_none()
            && self
                .ops
                .iter()
                .all(|op| matches!(op, Op::Linear { .. } | Op::Act(_)))
    }

    /// The layers that hold parameters, as (layer index, name prefix, range in the flat vector).
    #[must_use]
    pub fn layer_ranges(&self) -> Vec<(usize, String, std::ops::Range<usize>)> {
        if self.rbm.is_some() {
            return vec![(0, "rbm".into(), 0..self.n_params)];
        }
        self.ops
            .iter()
            .filter_map(|op| match *op {
                Op::Linear {
                    weight,
                    bias,
                    output,
                    layer,
                    ..
                } => Some((layer, format!("layers.{layer}"), weight..bias + output)),
                Op::Conv2d {
                    weight,
                    bias,
                    output,
                    layer,
                    ..
                } => Some((layer, format!("layers.{layer}"), weight..bias + output[0])),
                Op::Act(_) | Op::Pool { .. } => None,
            })
            .collect()
    }

    /// The widest layer (for workspace sizes).
    #[must_use]
    pub fn max_width(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match *op {
                Op::Linear { output, .. } => output,
                Op::Conv2d { output, .. } => output.iter().product(),
                Op::Act(_) | Op::Pool { .. } => 0,
            })
            .max()
            .unwrap_or(1)
            .max(self.input_dim)
            .max(self.rbm.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conv_net_has_the_shapes_and_names_pytorch_gives_it() {
        let spec = ModelSpec {
            layers: vec![
                LayerSpec::conv(16, 3, 1, 1),
                LayerSpec::Silu,
                LayerSpec::AvgPool2d(2),
                LayerSpec::conv(32, 3, 2, 1),
                LayerSpec::Silu,
                LayerSpec::Linear(64),
                LayerSpec::Silu,
            ],
            outputs: 10,
            gaussian: None,
        };
        let a = Architecture::for_shape(&spec, &[1, 8, 8]).expect("fits");
        let shapes: Vec<String> = a.shapes.iter().map(Shape::describe).collect();
        assert_eq!(
            shapes,
            [
                "16×8×8", "16×8×8", "16×4×4", "32×2×2", "32×2×2", "64", "64", "10"
            ]
        );
        let names: Vec<(&str, &[usize])> = a
            .params
            .iter()
            .map(|e| (e.name.as_str(), e.shape.as_slice()))
            .collect();
        assert_eq!(
            names,
            [
                ("layers.0.weight", &[16, 1, 3, 3][..]),
                ("layers.0.bias", &[16][..]),
                ("layers.3.weight", &[32, 16, 3, 3][..]),
                ("layers.3.bias", &[32][..]),
                ("layers.5.weight", &[64, 128][..]),
                ("layers.5.bias", &[64][..]),
                ("layers.7.weight", &[10, 64][..]),
                ("layers.7.bias", &[10][..]),
            ]
        );
        assert_eq!(
            a.n_params,
            16 * 9 + 16 + 32 * 16 * 9 + 32 + 64 * 128 + 64 + 640 + 10
        );
        assert!(!a.is_mlp());
        // An MLP on images flattens them and stays the fast engine's.
        let mlp = Architecture::for_shape(&ModelSpec::default(), &[1, 8, 8]).expect("fits");
        assert!(mlp.is_mlp());
        assert_eq!(mlp.params[0].shape, [128, 64]);
    }

    #[test]
    fn layers_that_do_not_fit_name_themselves() {
        let on_vectors = ModelSpec {
            layers: vec![LayerSpec::Linear(8), LayerSpec::conv(4, 3, 1, 0)],
            outputs: 1,
            gaussian: None,
        };
        let e = Architecture::for_shape(&on_vectors, &[16]).expect_err("a conv on vectors");
        assert_eq!(e.layer, 1);
        assert!(e.message.contains("needs images"), "{e}");
        let too_small = ModelSpec {
            layers: vec![
                LayerSpec::conv(4, 5, 1, 0),
                LayerSpec::MaxPool2d(4),
                LayerSpec::MaxPool2d(2),
            ],
            outputs: 1,
            gaussian: None,
        };
        let e = Architecture::for_shape(&too_small, &[1, 8, 8]).expect_err("a 1×1 map");
        assert_eq!(e.layer, 2);
        assert!(e.message.contains("1×1 reaches it"), "{e}");
        let big_kernel = ModelSpec {
            layers: vec![LayerSpec::conv(4, 11, 1, 1)],
            outputs: 1,
            gaussian: None,
        };
        let e = Architecture::for_shape(&big_kernel, &[1, 8, 8]).expect_err("11 > 8 + 2");
        assert!(e.message.contains("does not fit"), "{e}");
    }
}
