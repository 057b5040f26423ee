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
/// (`rbm_bernoulli`).
pub const ENERGY_KEY: &str = "energy";

/// A model read from a file.
#[derive(Debug, Clone)]
pub struct Model {
    pub preset: Preset,
    pub params: Vec<f32>,
    /// The shape of one input row (`[2]` for files that do not record it).
    pub input_shape: Vec<usize>,
}

impl Model {
    /// The space the model's inputs live in.
    #[must_use]
    pub fn space(&self) -> crate::data::Space {
        let bits = matches!(self.preset.data.source, crate::data::DataSource::Bits(_))
            || self.preset.model.rbm().is_some();
        match (bits, self.input_shape.as_slice()) {
            (true, &[1, h, w]) => crate::data::Space::Bits { h, w },
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
    if arch.rbm.is_some() {
        // What the tensors mean without the preset: an RBM with binary visible units
        // (`weight` [hidden, visible], `visible_bias`, `hidden_bias`).
        meta.insert(ENERGY_KEY.to_string(), "rbm_bernoulli".to_string());
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
    let text = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(PRESET_KEY))
        .ok_or_else(|| ModelFileError::NoPreset {
            path: path.to_path_buf(),
        })?;
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
