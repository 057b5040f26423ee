//! Trained models as safetensors: one F32 tensor per parameter, named like the network
//! (`layers.0.weight`, shape `[out, in]`, as `torch.nn.Linear`), and the experiment's
//! preset as RON in the file's metadata under `preset` and the input's shape under
//! `input_shape` (a JSON list: `[2]`, `[16]`, `[1, 8, 8]`; files without it are 2-D), so
//! the file alone says what it holds. Any safetensors reader (Python's included) opens it.

use crate::energy::Architecture;
use crate::error::ModelFileError;
use crate::preset::Preset;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// Metadata key of the embedded preset.
pub const PRESET_KEY: &str = "preset";
/// Metadata key of the model's input shape.
pub const INPUT_SHAPE_KEY: &str = "input_shape";
/// Metadata key of the kind of energy, where the tensors alone do not say it
/// (`rbm_bernoulli`, `rbm_gaussian`).
pub const ENERGY_KEY: &str = "energy";
/// Metadata key of a Gaussian RBM's visible standard deviation.
pub const SIGMA_KEY: &str = "sigma";
/// Metadata key of σ where the network tilts a Gaussian (the energy is its output plus
/// ‖x‖²/(2σ²), [`crate::energy::ModelSpec::gaussian`]).
pub const GAUSSIAN_KEY: &str = "gaussian_sigma";

/// A model read from a file.
#[derive(Debug, Clone)]
pub struct Model {
    pub preset: Preset,
    pub params: Vec<f32>,
    /// The shape of one input row (`[2]` for files that do not record it).
    pub input_shape: Vec<usize>,
    /// Whether the file carried its experiment (a preset); an RBM written by another
    /// program carries only its tensors, and `preset` then holds defaults around them
    /// (its data must be given).
    pub described: bool,
}

impl Model {
    /// The experiment the model runs in: its own where the file carries one; otherwise
    /// `current` with the file's network, sampler and kind of data (bits or reals): a
    /// file without an experiment goes onto the current data.
    #[must_use]
    pub fn experiment_on(&self, current: &Preset) -> Preset {
        if self.described {
            return self.preset.clone();
        }
        let mut p = current.clone();
        p.name.clone_from(&self.preset.name);
        p.model = self.preset.model.clone();
        p.sampler.kind = self.preset.sampler.kind;
        p.sampler.steps = self.preset.sampler.steps;
        p.data.bits = self.preset.data.bits;
        p
    }

    /// The space the model's inputs live in.
    #[must_use]
    pub fn space(&self) -> crate::data::Space {
        let bits = matches!(self.preset.data.source, crate::data::DataSource::Bits(_))
            || self.preset.data.bits
            || self.preset.model.rbm_visible() == Some(crate::energy::Visible::Bernoulli);
        match (bits, self.input_shape.as_slice()) {
            (true, &[1, h, w]) => crate::data::Space::Bits { h, w },
            (true, &[d]) => crate::data::Space::Bits { h: 1, w: d },
            _ => crate::data::Space::from_shape(&self.input_shape)
                .unwrap_or(crate::data::Space::Plane),
        }
    }
}

/// The bytes of a safetensors file holding `params` for `preset`'s network.
///
/// # Errors
/// A safetensors serialisation error (as text).
pub fn to_bytes(preset: &Preset, input_shape: &[usize], params: &[f32]) -> Result<Vec<u8>, String> {
    let arch = Architecture::for_shape(&preset.model, input_shape).map_err(|e| e.to_string())?;
    if params.len() != arch.n_params {
        return Err(format!(
            "{} parameters given, the network has {}",
            params.len(),
            arch.n_params
        ));
    }
    let bytes: Vec<Vec<u8>> = arch
        .params
        .iter()
        .map(|e| {
            params[e.offset..e.offset + e.len]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        })
        .collect();
    let mut views = Vec::new();
    for (e, b) in arch.params.iter().zip(&bytes) {
        let v = TensorView::new(Dtype::F32, e.shape.clone(), b).map_err(|e| e.to_string())?;
        views.push((e.name.clone(), v));
    }
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let mut meta = HashMap::new();
    meta.insert(PRESET_KEY.to_string(), preset.to_ron());
    let dims: Vec<String> = input_shape.iter().map(ToString::to_string).collect();
    meta.insert(
        INPUT_SHAPE_KEY.to_string(),
        format!("[{}]", dims.join(", ")),
    );
    meta.insert(
        "format".to_string(),
        "ebm-workbench energy model".to_string(),
    );
    if let Some(s) = arch.gaussian {
        // The energy is the network's output plus ‖x‖²/(2σ²): a reader of the tensors
        // alone needs σ.
        meta.insert(GAUSSIAN_KEY.to_string(), s.to_string());
    }
    if arch.rbm.is_some() {
        // What the tensors mean without the preset: an RBM with binary or Gaussian
        // visible units (`weight` [hidden, visible], `visible_bias`, `hidden_bias`).
        meta.insert(
            ENERGY_KEY.to_string(),
            arch.visible.energy_name().to_string(),
        );
        if let Some(s) = arch.visible.sigma() {
            meta.insert(SIGMA_KEY.to_string(), s.to_string());
        }
    }
    safetensors::tensor::serialize(views, Some(meta)).map_err(|e| e.to_string())
}

/// Writes the model atomically.
///
/// # Errors
/// Serialisation or I/O errors, naming the file.
pub fn save(
    path: &Path,
    preset: &Preset,
    input_shape: &[usize],
    params: &[f32],
) -> Result<(), ModelFileError> {
    let bytes =
        to_bytes(preset, input_shape, params).map_err(|message| ModelFileError::Format {
            path: path.to_path_buf(),
            message,
        })?;
    crate::fs_util::write_atomic(path, &bytes).map_err(|source| ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a model file back: its preset, input shape and flat parameter vector, with every
/// tensor checked against the network the preset describes on that input.
///
/// # Errors
/// A message naming the file and, for a bad tensor, its name and both shapes.
pub fn load(path: &Path) -> Result<Model, ModelFileError> {
    let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_bytes(path, &bytes)
}

/// As [`load`], from bytes already read (`path` is used in messages).
///
/// # Errors
/// As [`load`].
pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Model, ModelFileError> {
    let fmt = |e: safetensors::SafeTensorError| ModelFileError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(fmt)?;
    let Some(text) = meta.metadata().as_ref().and_then(|m| m.get(PRESET_KEY)) else {
        return foreign_rbm(path, bytes, meta.metadata().as_ref());
    };
    let preset = Preset::from_ron(text).map_err(|source| ModelFileError::Preset {
        path: path.to_path_buf(),
        source,
    })?;
    let input_shape = match meta.metadata().as_ref().and_then(|m| m.get(INPUT_SHAPE_KEY)) {
        None => vec![2],
        Some(text) => parse_shape(text)
            .filter(|s| crate::data::Space::from_shape(s).is_some())
            .ok_or_else(|| ModelFileError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "metadata `{INPUT_SHAPE_KEY}` is `{text}`, not a shape such as [16] or [1, 8, 8]"
                ),
            })?,
    };
    let st = SafeTensors::deserialize(bytes).map_err(fmt)?;
    let arch = Architecture::for_shape(&preset.model, &input_shape).map_err(|e| {
        ModelFileError::Format {
            path: path.to_path_buf(),
            message: format!(
                "the network in the metadata does not take inputs of shape {input_shape:?}: {e}"
            ),
        }
    })?;
    let mut params = vec![0.0_f32; arch.n_params];
    for e in &arch.params {
        let t = st.tensor(&e.name).map_err(|_| ModelFileError::Missing {
            path: path.to_path_buf(),
            name: e.name.clone(),
        })?;
        if t.dtype() != Dtype::F32 {
            return Err(ModelFileError::Dtype {
                path: path.to_path_buf(),
                name: e.name.clone(),
                found: format!("{:?}", t.dtype()),
            });
        }
        if t.shape() != e.shape.as_slice() {
            return Err(ModelFileError::Shape {
                path: path.to_path_buf(),
                name: e.name.clone(),
                found: t.shape().to_vec(),
                expected: e.shape.clone(),
            });
        }
        for (dst, src) in params[e.offset..e.offset + e.len]
            .iter_mut()
            .zip(t.data().chunks_exact(4))
        {
            *dst = f32::from_le_bytes([src[0], src[1], src[2], src[3]]);
        }
    }
    for name in st.names() {
        if !arch.params.iter().any(|e| e.name == name) {
            return Err(ModelFileError::Unexpected {
                path: path.to_path_buf(),
                name: name.to_string(),
            });
        }
    }
    Ok(Model {
        preset,
        params,
        input_shape,
        described: true,
    })
}

/// A file without a preset that holds an RBM as another program writes it (numpy and the
/// safetensors package, from scikit-learn's `BernoulliRBM`): the tensors `weight`
/// [hidden, visible], `visible_bias` [visible] and `hidden_bias` [hidden], of dtype F32
/// or F64, with `energy` = `rbm_bernoulli` in the metadata or those three names alone,
/// or `energy` = `rbm_gaussian` with `sigma` (Gaussian visible units).
/// The input is `input_shape` where the metadata gives one, a row of bits otherwise;
/// the preset around it is the defaults with block Gibbs.
fn foreign_rbm(
    path: &Path,
    bytes: &[u8],
    meta: Option<&HashMap<String, String>>,
) -> Result<Model, ModelFileError> {
    let fmt = |e: safetensors::SafeTensorError| ModelFileError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let no_preset = || ModelFileError::NoPreset {
        path: path.to_path_buf(),
    };
    let st = SafeTensors::deserialize(bytes).map_err(fmt)?;
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    let named = names == ["hidden_bias", "visible_bias", "weight"];
    let declared = meta.and_then(|m| m.get(ENERGY_KEY)).map(String::as_str);
    let units = match declared {
        Some("rbm_bernoulli") => crate::energy::Visible::Bernoulli,
        Some("rbm_gaussian") => {
            let text = meta.and_then(|m| m.get(SIGMA_KEY));
            let sigma = text.and_then(|t| t.trim().parse::<f32>().ok());
            match sigma.filter(|s| crate::energy::Visible::SIGMA.contains(s)) {
                Some(s) => crate::energy::Visible::Gaussian(s),
                None => {
                    return Err(ModelFileError::Format {
                        path: path.to_path_buf(),
                        message: format!(
                            "metadata `{ENERGY_KEY}` is `rbm_gaussian`, and `{SIGMA_KEY}` is {}: it must be the visible units' standard deviation, from {} to {}",
                            text.map_or_else(|| "missing".to_string(), |t| format!("`{t}`")),
                            crate::energy::Visible::SIGMA.start(),
                            crate::energy::Visible::SIGMA.end()
                        ),
                    });
                }
            }
        }
        None if named => crate::energy::Visible::Bernoulli,
        _ => return Err(no_preset()),
    };
    if let Some(extra) = names
        .iter()
        .find(|n| !["hidden_bias", "visible_bias", "weight"].contains(&n.as_str()))
    {
        return Err(ModelFileError::Unexpected {
            path: path.to_path_buf(),
            name: extra.clone(),
        });
    }
    let tensor = |name: &str| -> Result<(Vec<usize>, Vec<f32>), ModelFileError> {
        let t = st.tensor(name).map_err(|_| ModelFileError::Missing {
            path: path.to_path_buf(),
            name: name.to_string(),
        })?;
        #[allow(clippy::cast_possible_truncation)]
        let values: Vec<f32> = match t.dtype() {
            Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F64 => t
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            other => {
                return Err(ModelFileError::Dtype {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                    found: format!("{other:?}"),
                });
            }
        };
        Ok((t.shape().to_vec(), values))
    };
    let (w_shape, w) = tensor("weight")?;
    let [hidden, visible] = w_shape[..] else {
        return Err(ModelFileError::Shape {
            path: path.to_path_buf(),
            name: "weight".into(),
            found: w_shape,
            expected: vec![0, 0],
        });
    };
    crate::energy::LayerSpec::Rbm {
        hidden,
        visible: units,
    }
    .check()
    .map_err(|m| ModelFileError::Format {
        path: path.to_path_buf(),
        message: format!("tensor `weight` of shape [{hidden}, {visible}]: {m}"),
    })?;
    let mut params = w;
    for (name, len) in [("visible_bias", visible), ("hidden_bias", hidden)] {
        let (shape, v) = tensor(name)?;
        if shape != [len] {
            return Err(ModelFileError::Shape {
                path: path.to_path_buf(),
                name: name.into(),
                found: shape,
                expected: vec![len],
            });
        }
        params.extend(v);
    }
    let input_shape = match meta.and_then(|m| m.get(INPUT_SHAPE_KEY)) {
        Some(text) => parse_shape(text)
            .filter(|s| s.iter().product::<usize>() == visible && matches!(s.len(), 1 | 3))
            .ok_or_else(|| ModelFileError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "metadata `{INPUT_SHAPE_KEY}` is `{text}`, not a shape of {visible} inputs"
                ),
            })?,
        // A row of bits, or a vector of reals for Gaussian units.
        None if units == crate::energy::Visible::Bernoulli => vec![1, 1, visible],
        None => vec![visible],
    };
    let mut preset = Preset {
        name: path
            .file_stem()
            .map_or_else(|| "rbm".into(), |s| s.to_string_lossy().into_owned()),
        ..Preset::default()
    };
    preset.model = crate::energy::ModelSpec {
        layers: vec![crate::energy::LayerSpec::Rbm {
            hidden,
            visible: units,
        }],
        outputs: 1,
        gaussian: None,
    };
    preset.sampler.kind = crate::sampler::SamplerKind::BlockGibbs;
    preset.sampler.steps = 1;
    preset.data.bits = units == crate::energy::Visible::Bernoulli;
    Ok(Model {
        preset,
        params,
        input_shape,
        described: false,
    })
}

/// A JSON list of positive whole numbers, `[1, 8, 8]`.
fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    let dims: Option<Vec<usize>> = inner
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .ok()
                .filter(|d| (1..=1 << 20).contains(d))
        })
        .collect();
    dims.filter(|d| !d.is_empty() && d.len() <= 3)
}
