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

/// One layer of the energy network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LayerSpec {
    /// A fully connected layer with this many outputs (`y = x Wᵀ + b`).
    Linear(usize),
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
}

impl LayerSpec {
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
            Self::Linear(_) => return None,
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
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_one(n: &usize) -> bool {
    *n == 1
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

/// A resolved layer: what the engines run.
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
}

/// The network resolved against an input dimension: the ops and the parameter layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    pub input_dim: usize,
    /// Outputs of the last layer: 1 (the energy) or K class logits.
    pub outputs: usize,
    pub ops: Vec<Op>,
    pub params: Vec<ParamEntry>,
    pub n_params: usize,
}

impl Architecture {
    /// Resolves `spec` for inputs of dimension `input_dim`.
    #[must_use]
    pub fn new(spec: &ModelSpec, input_dim: usize) -> Self {
        let mut ops = Vec::new();
        let mut params = Vec::new();
        let mut width = input_dim;
        let mut offset = 0;
        let mut layers: Vec<LayerSpec> = spec.layers.clone();
        let outputs = spec.outputs.max(1);
        layers.push(LayerSpec::Linear(outputs));
        for (i, l) in layers.iter().enumerate() {
            match *l {
                LayerSpec::Linear(out) => {
                    let w = ParamEntry {
                        name: format!("layers.{i}.weight"),
                        shape: vec![out, width],
                        offset,
                        len: out * width,
                        layer: i,
                    };
                    offset += w.len;
                    let b = ParamEntry {
                        name: format!("layers.{i}.bias"),
                        shape: vec![out],
                        offset,
                        len: out,
                        layer: i,
                    };
                    offset += b.len;
                    ops.push(Op::Linear {
                        input: width,
                        output: out,
                        weight: w.offset,
                        bias: b.offset,
                        layer: i,
                    });
                    params.push(w);
                    params.push(b);
                    width = out;
                }
                other => {
                    if let Some(a) = other.activation() {
                        ops.push(Op::Act(a));
                    }
                }
            }
        }
        Self {
            input_dim,
            outputs,
            ops,
            params,
            n_params: offset,
        }
    }

    /// The layers that hold parameters, as (layer index, name prefix, range in the flat vector).
    #[must_use]
    pub fn layer_ranges(&self) -> Vec<(usize, String, std::ops::Range<usize>)> {
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
                Op::Act(_) => None,
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
                Op::Act(_) => 0,
            })
            .max()
            .unwrap_or(1)
            .max(self.input_dim)
    }
}
