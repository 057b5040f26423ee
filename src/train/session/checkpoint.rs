//! Checkpoints: everything a session needs to go on exactly as if it had never stopped —
//! the preset, parameters, optimiser moments, replay buffer, adapted step sizes, the
//! reference chains, the last good state a roll-back returns to, both random generators
//! and the metrics so far — in one file with a checksum.
//!
//! Layout: the magic `EBMCKPT` and a format byte, the header's length (u64, little
//! endian), the header (JSON: scalars, the preset as RON, the metrics as CSV, and the
//! list of arrays that follow), the arrays (f32 or u32, little endian), and a CRC-32 of
//! everything before it. A reader checks the checksum first and every size against the
//! file before it allocates anything.

use super::{Session, Snapshot, StdRng};
use crate::error::DataError;
use crate::eval::reference::ReferenceChains;
use crate::optim::Optimizer;
use crate::preset::Preset;
use crate::sampler::{ReplayBuffer, StepAdapter};
use crate::train::metrics::{StepMetrics, from_csv, to_csv};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const MAGIC: &[u8; 8] = b"EBMCKPT\x01";

/// A random generator's state: ChaCha's seed, stream and position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RngState {
    seed: Vec<u8>,
    stream: u64,
    /// The position in words (a u128, as text: JSON numbers stop at 2⁵³).
    word_pos: String,
}

impl RngState {
    fn of(r: &StdRng) -> Self {
        Self {
            seed: r.get_seed().to_vec(),
            stream: r.get_stream(),
            word_pos: r.get_word_pos().to_string(),
        }
    }

    fn restore(&self) -> Result<StdRng, String> {
        use rand::SeedableRng as _;
        let seed: [u8; 32] = self
            .seed
            .as_slice()
            .try_into()
            .map_err(|_| format!("a generator's seed has {} bytes, not 32", self.seed.len()))?;
        let pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| format!("a generator's position `{}` is not a number", self.word_pos))?;
        let mut r = StdRng::from_seed(seed);
        r.set_stream(self.stream);
        r.set_word_pos(pos);
        Ok(r)
    }
}

/// The parts of a replay buffer that are not arrays.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BufferMeta {
    dim: usize,
}

/// One array after the header.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArrayInfo {
    name: String,
    /// `f32` or `u32`.
    kind: String,
    len: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    preset: String,
    step: usize,
    rng: RngState,
    eval_rng: RngState,
    opt_t: u32,
    adapter: Option<(f32, f32)>,
    buffer: Option<BufferMeta>,
    last_good_step: usize,
    last_good_opt_t: u32,
    last_good_adapter: Option<(f32, f32)>,
    last_good_buffer: Option<BufferMeta>,
    /// The reference chains' dimension and adapted MALA step (base, step).
    reference: Option<(usize, f32, f32)>,
    metrics_csv: String,
    /// The per-layer terms of the steps that have them (the CSV has no room for them).
    #[serde(default)]
    layers: Vec<(usize, Vec<crate::train::metrics::LayerTerms>)>,
    /// The held-out NLL before the first step (nll, trusted, ESS).
    #[serde(default)]
    initial_nll: Option<(f64, bool, Option<f64>)>,
    /// CRC-32 of the data's points (training then held-out split): resuming on data
    /// that changed since is refused.
    #[serde(default)]
    data_crc: Option<u32>,
    arrays: Vec<ArrayInfo>,
}

/// The CRC-32 of a data set's points.
fn data_crc(d: &crate::data::Dataset) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for v in d.train.iter().chain(&d.test) {
        h.update(&v.to_le_bytes());
    }
    h.finalize()
}

/// A session as a checkpoint holds it, with the metrics of the steps taken so far.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    header: Header,
    f32s: BTreeMap<String, Vec<f32>>,
    u32s: BTreeMap<String, Vec<u32>>,
}

fn adapter_pair(a: Option<StepAdapter>) -> Option<(f32, f32)> {
    a.map(|a| (a.base, a.step))
}

fn adapter_of(p: Option<(f32, f32)>) -> Option<StepAdapter> {
    p.map(|(base, step)| StepAdapter { base, step })
}

#[allow(clippy::cast_possible_truncation)] // slot indices are below the buffer size
fn indices(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&k| k as u32).collect()
}

impl Checkpoint {
    /// The preset the checkpointed run trains.
    ///
    /// # Errors
    /// The preset text in the checkpoint does not parse.
    pub fn preset(&self) -> Result<Preset, String> {
        Preset::from_ron(&self.header.preset).map_err(|e| e.to_string())
    }

    /// Steps taken when the checkpoint was written.
    #[must_use]
    pub fn step(&self) -> usize {
        self.header.step
    }

    /// The metrics of every step so far.
    ///
    /// # Errors
    /// The metrics text does not parse.
    pub fn metrics(&self) -> Result<Vec<StepMetrics>, String> {
        if self.header.metrics_csv.is_empty() {
            return Ok(Vec::new());
        }
        from_csv(&self.header.metrics_csv)
    }

    fn put_f32(&mut self, name: &str, v: &[f32]) {
        self.header.arrays.push(ArrayInfo {
            name: name.into(),
            kind: "f32".into(),
            len: v.len(),
        });
        self.f32s.insert(name.into(), v.to_vec());
    }

    fn put_u32(&mut self, name: &str, v: Vec<u32>) {
        self.header.arrays.push(ArrayInfo {
            name: name.into(),
            kind: "u32".into(),
            len: v.len(),
        });
        self.u32s.insert(name.into(), v);
    }

    fn f32s(&self, name: &str) -> Result<Vec<f32>, String> {
        self.f32s
            .get(name)
            .cloned()
            .ok_or_else(|| format!("the array `{name}` is missing"))
    }

    fn u32s(&self, name: &str) -> Result<Vec<u32>, String> {
        self.u32s
            .get(name)
            .cloned()
            .ok_or_else(|| format!("the array `{name}` is missing"))
    }

    fn buffer(
        &self,
        prefix: &str,
        meta: Option<&BufferMeta>,
    ) -> Result<Option<ReplayBuffer>, String> {
        let Some(m) = meta else { return Ok(None) };
        let points = self.f32s(&format!("{prefix}buffer.points"))?;
        let ages = self.u32s(&format!("{prefix}buffer.ages"))?;
        let drawn: Vec<usize> = self
            .u32s(&format!("{prefix}buffer.drawn"))?
            .into_iter()
            .map(|k| k as usize)
            .collect();
        if m.dim == 0
            || points.len() != ages.len() * m.dim
            || drawn.iter().any(|&k| k >= ages.len())
        {
            return Err(format!(
                "the {prefix}replay buffer's arrays do not fit each other ({} values, {} ages, dimension {})",
                points.len(),
                ages.len(),
                m.dim
            ));
        }
        Ok(Some(ReplayBuffer {
            dim: m.dim,
            points,
            ages,
            drawn,
        }))
    }

    /// The checkpoint as bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).unwrap_or_default();
        let mut out = Vec::with_capacity(header.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        for a in &self.header.arrays {
            if a.kind == "f32" {
                for v in self.f32s.get(&a.name).into_iter().flatten() {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            } else {
                for v in self.u32s.get(&a.name).into_iter().flatten() {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a checkpoint from its bytes; `path` names it in errors.
    ///
    /// # Errors
    /// Not a checkpoint, a checksum that does not match (a damaged file), or sizes that
    /// do not add up; nothing is allocated from a size the file does not back.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, DataError> {
        let err = |place: &str, m: String| DataError::new(path, Some(place.to_string()), m);
        if bytes.len() < MAGIC.len() + 12 || bytes[..7] != MAGIC[..7] {
            return Err(DataError::new(
                path,
                None,
                "not a checkpoint of this program (the magic `EBMCKPT` is missing)",
            ));
        }
        if bytes[7] != MAGIC[7] {
            return Err(err(
                "header",
                format!(
                    "checkpoint format {} is not supported (this program reads {})",
                    bytes[7], MAGIC[7]
                ),
            ));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if crc32fast::hash(body) != stored {
            return Err(DataError::new(
                path,
                None,
                "the checksum does not match: the file is damaged (truncated or changed); nothing was loaded",
            ));
        }
        let mut len8 = [0_u8; 8];
        len8.copy_from_slice(&body[8..16]);
        let header_len = usize::try_from(u64::from_le_bytes(len8)).unwrap_or(usize::MAX);
        let rest = &body[16..];
        if header_len > rest.len() {
            return Err(err(
                "header",
                format!(
                    "the header claims {header_len} bytes, the file has {}",
                    rest.len()
                ),
            ));
        }
        let header: Header = serde_json::from_slice(&rest[..header_len])
            .map_err(|e| err("header", format!("the header does not parse: {e}")))?;
        let data = &rest[header_len..];
        let mut need = 0_usize;
        for a in &header.arrays {
            if a.kind != "f32" && a.kind != "u32" {
                return Err(err(
                    "header",
                    format!("array `{}` has the unknown kind `{}`", a.name, a.kind),
                ));
            }
            need = a
                .len
                .checked_mul(4)
                .and_then(|b| need.checked_add(b))
                .ok_or_else(|| err("header", format!("array `{}` is impossibly large", a.name)))?;
        }
        if need != data.len() {
            return Err(err(
                "arrays",
                format!(
                    "the header lists {need} bytes of arrays, the file holds {}",
                    data.len()
                ),
            ));
        }
        let mut ck = Self {
            header: header.clone(),
            f32s: BTreeMap::new(),
            u32s: BTreeMap::new(),
        };
        let mut at = 0;
        for a in &header.arrays {
            let chunk = &data[at..at + 4 * a.len];
            at += 4 * a.len;
            let words = chunk.chunks_exact(4).map(|w| [w[0], w[1], w[2], w[3]]);
            if a.kind == "f32" {
                ck.f32s
                    .insert(a.name.clone(), words.map(f32::from_le_bytes).collect());
            } else {
                ck.u32s
                    .insert(a.name.clone(), words.map(u32::from_le_bytes).collect());
            }
        }
        Ok(ck)
    }

    /// Writes the checkpoint atomically (a failed write leaves the old file intact).
    ///
    /// # Errors
    /// The I/O error.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::fs_util::write_atomic(path, &self.to_bytes())
    }

    /// Reads and checks a checkpoint file.
    ///
    /// # Errors
    /// The file cannot be read, or as [`Checkpoint::from_bytes`].
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path)
            .map_err(|e| DataError::new(path, None, format!("cannot read: {e}")))?;
        Self::from_bytes(path, &bytes)
    }
}

impl Session {
    /// Everything this session needs to go on exactly, with the metrics of its steps so
    /// far (`metrics`, oldest first).
    #[must_use]
    pub fn checkpoint(&self, metrics: &[StepMetrics]) -> Checkpoint {
        let (_, _, opt_t) = self.opt.state();
        let (_, _, good_t) = self.last_good.opt.state();
        let mut ck = Checkpoint {
            header: Header {
                preset: self.preset.to_ron(),
                step: self.step,
                rng: RngState::of(&self.rng),
                eval_rng: RngState::of(&self.eval_rng),
                opt_t,
                adapter: adapter_pair(self.adapter),
                buffer: self.buffer.as_ref().map(|b| BufferMeta { dim: b.dim }),
                last_good_step: self.last_good.step,
                last_good_opt_t: good_t,
                last_good_adapter: adapter_pair(self.last_good.adapter),
                last_good_buffer: self
                    .last_good
                    .buffer
                    .as_ref()
                    .map(|b| BufferMeta { dim: b.dim }),
                reference: self.reference.as_ref().map(|r| {
                    let a = r.adapter();
                    (r.dim, a.base, a.step)
                }),
                metrics_csv: if metrics.is_empty() {
                    String::new()
                } else {
                    to_csv(metrics)
                },
                // JSON has no NaN: rows with a term that is not finite are left out.
                layers: metrics
                    .iter()
                    .filter(|m| {
                        !m.layers.is_empty()
                            && m.layers.iter().all(|l| {
                                l.data_term_norm.is_finite() && l.sample_term_norm.is_finite()
                            })
                    })
                    .map(|m| (m.step, m.layers.clone()))
                    .collect(),
                initial_nll: self
                    .initial_nll
                    .filter(|(nll, _, ess)| nll.is_finite() && ess.is_none_or(f64::is_finite)),
                data_crc: Some(data_crc(&self.data)),
                arrays: Vec::new(),
            },
            f32s: BTreeMap::new(),
            u32s: BTreeMap::new(),
        };
        let (m, v, _) = self.opt.state();
        ck.put_f32("params", &self.params);
        ck.put_f32("opt.m", m);
        ck.put_f32("opt.v", v);
        let (gm, gv, _) = self.last_good.opt.state();
        ck.put_f32("last_good.params", &self.last_good.params);
        ck.put_f32("last_good.opt.m", gm);
        ck.put_f32("last_good.opt.v", gv);
        for (prefix, b) in [("", &self.buffer), ("last_good.", &self.last_good.buffer)] {
            if let Some(b) = b {
                ck.put_f32(&format!("{prefix}buffer.points"), &b.points);
                ck.put_u32(&format!("{prefix}buffer.ages"), b.ages.clone());
                ck.put_u32(&format!("{prefix}buffer.drawn"), indices(&b.drawn));
            }
        }
        if let Some(r) = &self.reference {
            ck.put_f32("reference.x", &r.x);
        }
        ck
    }

    /// The session a checkpoint holds, and the metrics of its steps so far: training
    /// goes on exactly as the checkpointed run would have (its data are read again from
    /// the preset's source).
    ///
    /// # Errors
    /// The data cannot be read, or the checkpoint's contents do not fit its preset (a
    /// message for the file's owner to see).
    pub fn resume(ck: &Checkpoint) -> Result<(Self, Vec<StepMetrics>), String> {
        let preset = ck.preset()?;
        let mut metrics = ck.metrics()?;
        let layers: BTreeMap<usize, &Vec<crate::train::metrics::LayerTerms>> =
            ck.header.layers.iter().map(|(s, l)| (*s, l)).collect();
        for m in &mut metrics {
            if let Some(l) = layers.get(&m.step) {
                m.layers = (*l).clone();
            }
        }
        let params = ck.f32s("params")?;
        let mut s = Self::from_params(&preset, params).map_err(|e| e.to_string())?;
        if let Some(want) = ck.header.data_crc
            && data_crc(&s.data) != want
        {
            return Err(format!(
                "the data ({}) are not the ones the checkpoint was trained on: they changed since it was written",
                preset.data.name()
            ));
        }
        let n = s.arch.n_params;
        let sized = |name: &str| -> Result<Vec<f32>, String> {
            let v = ck.f32s(name)?;
            if v.len() == n {
                Ok(v)
            } else {
                Err(format!("`{name}` has {} values, the network {n}", v.len()))
            }
        };
        let h = &ck.header;
        s.initial_nll = h.initial_nll;
        s.opt = Optimizer::from_state(sized("opt.m")?, sized("opt.v")?, h.opt_t);
        s.buffer = ck.buffer("", h.buffer.as_ref())?;
        s.adapter = adapter_of(h.adapter);
        s.step = h.step;
        s.rng = h.rng.restore()?;
        s.eval_rng = h.eval_rng.restore()?;
        s.last_good = Snapshot {
            params: sized("last_good.params")?,
            opt: Optimizer::from_state(
                sized("last_good.opt.m")?,
                sized("last_good.opt.v")?,
                h.last_good_opt_t,
            ),
            buffer: ck.buffer("last_good.", h.last_good_buffer.as_ref())?,
            adapter: adapter_of(h.last_good_adapter),
            step: h.last_good_step,
        };
        s.reference = match h.reference {
            Some((dim, base, step)) => {
                let x = ck.f32s("reference.x")?;
                if dim != s.data.dim || x.is_empty() || x.len() % dim != 0 {
                    return Err("the reference chains do not fit the data".into());
                }
                Some(ReferenceChains::from_parts(
                    x,
                    dim,
                    StepAdapter { base, step },
                ))
            }
            None => None,
        };
        let d = s.data.dim;
        if s.buffer.as_ref().is_some_and(|b| b.dim != d) {
            return Err(format!(
                "the replay buffer's points are not {d}-dimensional like the data"
            ));
        }
        Ok((s, metrics))
    }
}
