//! Sweeps: a base preset, axes of field values and seeds, numbered runs. Any scheduler
//! runs run I by its index (a local pool here, Slurm job arrays, Kubernetes indexed
//! Jobs); every run writes its own folder, and a summary collects them. No cluster code.
//!
//! ```ron
//! (
//!     base: "eight_gaussians.ron",
//!     steps: Some(500),
//!     seeds: [0, 1, 2],
//!     axes: {
//!         "sampler.kind.step_size": [0.03, 0.1, 0.3],
//!         "sampler.steps": [10, 20],
//!     },
//! )
//! ```

use crate::preset::Preset;
use crate::train::metrics::to_csv;
use crate::{Session, export};
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A sweep file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The base preset, relative to the sweep file.
    pub base: PathBuf,
    /// Steps of every run (the base preset's when absent).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Every run is repeated for each seed.
    pub seeds: Vec<u64>,
    /// Field path (as validation messages name fields) → the values it takes. A value is
    /// a number, a boolean, or a string: a string at an enum field is read as RON
    /// (`"Mala(step_size: 0.05)"`).
    #[serde(default)]
    pub axes: Axes,
    /// Run only a seeded random subset of this many of the runs.
    #[serde(default)]
    pub sample: Option<usize>,
}

/// The axes in the order the sweep file gives them (the runs are numbered in it).
#[derive(Debug, Clone, Default)]
pub struct Axes(pub Vec<(String, Vec<ron::Value>)>);

impl<'de> Deserialize<'de> for Axes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Axes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map from field paths to lists of values")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> Result<Axes, M::Error> {
                let mut v: Vec<(String, Vec<ron::Value>)> = Vec::new();
                while let Some((k, vals)) = m.next_entry::<String, Vec<ron::Value>>()? {
                    if v.iter().any(|(name, _)| *name == k) {
                        return Err(serde::de::Error::custom(format!(
                            "the axis \"{k}\" is given twice"
                        )));
                    }
                    v.push((k, vals));
                }
                Ok(Axes(v))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct Run {
    pub index: usize,
    pub seed: u64,
    /// Each axis's value, as written in the sweep file (axes in the file's order).
    pub values: Vec<(String, String)>,
    pub preset: Preset,
}

/// A sweep, expanded.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub axes: Vec<String>,
    pub runs: Vec<Run>,
}

/// A sweep that cannot be expanded: the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SweepError {
    pub path: PathBuf,
    pub message: String,
}

impl Sweep {
    /// Reads and expands a sweep file: the runs are the product of the axes (the last
    /// axis fastest) and then the seeds, numbered from 0, every preset validated.
    ///
    /// # Errors
    /// A syntax error, a missing base preset, a path that names no field or a value the
    /// field does not take (naming the path and value).
    pub fn load(path: &Path) -> Result<Self, SweepError> {
        let err = |message: String| SweepError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let spec: SweepSpec = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&text)
            .map_err(|e| {
                err(format!(
                    "{}:{}: {}",
                    e.span.start.line, e.span.start.col, e.code
                ))
            })?;
        let base_path = path.parent().unwrap_or(Path::new("")).join(&spec.base);
        let base = Preset::load(&base_path).map_err(|e| err(format!("base: {e}")))?;
        Self::expand(&spec, &base).map_err(err)
    }

    /// Expands `spec` over `base`.
    ///
    /// # Errors
    /// As [`Sweep::load`], as text.
    pub fn expand(spec: &SweepSpec, base: &Preset) -> Result<Self, String> {
        if spec.seeds.is_empty() {
            return Err("seeds: give at least one seed".into());
        }
        let axes = spec.axes.0.clone();
        for (name, values) in &axes {
            if values.is_empty() {
                return Err(format!("axes.\"{name}\": give at least one value"));
            }
        }
        let mut runs = Vec::new();
        let combos: usize = axes.iter().map(|(_, v)| v.len()).product();
        for c in 0..combos {
            // The last axis varies fastest.
            let mut rest = c;
            let mut picks = vec![0; axes.len()];
            for (k, (_, values)) in axes.iter().enumerate().rev() {
                picks[k] = rest % values.len();
                rest /= values.len();
            }
            let mut tree = serde_json::to_value(base).map_err(|e| e.to_string())?;
            let mut shown = Vec::new();
            for ((name, values), &i) in axes.iter().zip(&picks) {
                set_path(&mut tree, name, &values[i])
                    .map_err(|m| format!("axes.\"{name}\": {m}"))?;
                shown.push((name.clone(), show(&values[i])));
            }
            for &seed in &spec.seeds {
                let mut t = tree.clone();
                t["seed"] = Value::from(seed);
                if let Some(s) = spec.steps {
                    t["steps"] = Value::from(s);
                }
                let preset: Preset =
                    serde_json::from_value(t).map_err(|e| format!("{}: {e}", describe(&shown)))?;
                preset
                    .validate()
                    .map_err(|e| format!("{}: {e}", describe(&shown)))?;
                runs.push(Run {
                    index: runs.len(),
                    seed,
                    values: shown.clone(),
                    preset,
                });
            }
        }
        if let Some(n) = spec.sample
            && n < runs.len()
        {
            use rand::SeedableRng as _;
            use rand::seq::SliceRandom as _;
            let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED_5A3E);
            runs.shuffle(&mut rng);
            runs.truncate(n);
            runs.sort_by_key(|r| r.index);
            for (i, r) in runs.iter_mut().enumerate() {
                r.index = i;
            }
        }
        Ok(Self {
            axes: axes.into_iter().map(|(k, _)| k).collect(),
            runs,
        })
    }
}

fn describe(values: &[(String, String)]) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as the sweep file wrote it.
fn show(v: &ron::Value) -> String {
    match v {
        ron::Value::String(s) => s.clone(),
        other => ron::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// Sets the field at `path` (dots between names; enum variants are passed through, so
/// `sampler.kind.step_size` reaches the step of whichever rule is chosen) to `v`.
fn set_path(tree: &mut Value, path: &str, v: &ron::Value) -> Result<(), String> {
    let mut node = tree;
    let parts: Vec<&str> = path.split('.').collect();
    for (k, part) in parts.iter().enumerate() {
        // Step into an enum variant's fields: {"Langevin": {...}}.
        let variant = matches!(&*node, Value::Object(m)
            if m.len() == 1
                && !m.contains_key(*part)
                && m.keys().next().is_some_and(|k| k.starts_with(char::is_uppercase)));
        if variant {
            node = node
                .as_object_mut()
                .and_then(|m| m.values_mut().next())
                .ok_or("no variant")?;
        }
        let Value::Object(m) = node else {
            return Err(format!("`{}` has no field `{part}`", parts[..k].join(".")));
        };
        let allowed = || m.keys().cloned().collect::<Vec<_>>().join(", ");
        if !m.contains_key(*part) {
            let at = if k == 0 {
                String::new()
            } else {
                format!(" of `{}`", parts[..k].join("."))
            };
            return Err(format!("no field `{part}`{at} (fields: {})", allowed()));
        }
        node = m.get_mut(*part).ok_or("no field")?;
    }
    *node = to_json(v, node)?;
    Ok(())
}

/// The sweep file's value in the form the field has now: numbers and booleans as they
/// are, a string at an enum field read as RON (`"Mala(step_size: 0.05)"` or `"Exact"`).
fn to_json(v: &ron::Value, current: &Value) -> Result<Value, String> {
    match v {
        ron::Value::String(s) if !current.is_string() => ron_enum(s),
        ron::Value::Option(None) => Ok(Value::Null),
        ron::Value::Option(Some(inner)) => to_json(inner, current),
        other => serde_json::to_value(other).map_err(|e| e.to_string()),
    }
}

/// `Name(field: value, …)` or `Name` as serde's external tagging writes an enum.
fn ron_enum(s: &str) -> Result<Value, String> {
    let s = s.trim();
    match s.find('(') {
        None => Ok(Value::String(s.to_string())),
        Some(i) => {
            let name = s[..i].trim();
            let body: ron::Value =
                ron::from_str(&s[i..]).map_err(|e| format!("`{s}`: {}", e.code))?;
            let fields = serde_json::to_value(&body).map_err(|e| e.to_string())?;
            let mut m = serde_json::Map::new();
            m.insert(name.to_string(), fields);
            Ok(Value::Object(m))
        }
    }
}

/// What a run ended with, as its folder records it (`final.txt`, `key=value` lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `done`, `diverged` or `failed`.
    pub status: String,
    /// Why, for diverged and failed runs.
    pub reason: String,
    /// The NLL before the first step (where evaluated and measurable): the comparison's
    /// step-0 point.
    pub initial_nll: Option<f64>,
    pub final_nll: Option<f64>,
    pub accuracy: Option<f64>,
    pub ece: Option<f64>,
    pub steps_per_sec: f64,
}

impl Outcome {
    fn to_text(&self) -> String {
        let mut s = String::new();
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let _ = writeln!(s, "status={}", self.status);
        let _ = writeln!(s, "initial_nll={}", opt(self.initial_nll));
        let _ = writeln!(s, "final_nll={}", opt(self.final_nll));
        let _ = writeln!(s, "accuracy={}", opt(self.accuracy));
        let _ = writeln!(s, "ece={}", opt(self.ece));
        let _ = writeln!(s, "steps_per_sec={:.2}", self.steps_per_sec);
        let _ = writeln!(s, "reason={}", self.reason.replace('\n', " "));
        s
    }

    fn from_text(text: &str) -> Option<Self> {
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        };
        let num = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
        Some(Self {
            status: get("status")?.to_string(),
            reason: get("reason").unwrap_or_default().to_string(),
            initial_nll: num("initial_nll"),
            final_nll: num("final_nll"),
            accuracy: num("accuracy"),
            ece: num("ece"),
            steps_per_sec: num("steps_per_sec").unwrap_or(0.0),
        })
    }
}

/// The folder of run `index` under `out`: `runs/NNNN`.
#[must_use]
pub fn run_dir(out: &Path, index: usize) -> PathBuf {
    out.join("runs").join(format!("{index:04}"))
}

/// What run `index` ended with, if it has ended (a run without `final.txt` did not).
#[must_use]
pub fn outcome(out: &Path, index: usize) -> Option<Outcome> {
    let text = std::fs::read_to_string(run_dir(out, index).join("final.txt")).ok()?;
    Outcome::from_text(&text)
}

/// Runs one run into its folder: its preset, `metrics.csv`, `model.safetensors` and
/// `final.txt`, each written atomically, `final.txt` last (so a run killed half-way is
/// run again). A run that diverges or fails is recorded as such, not retried.
///
/// # Errors
/// Only when the folder cannot be written.
pub fn run_one(out: &Path, run: &Run) -> std::io::Result<Outcome> {
    let dir = run_dir(out, run.index);
    std::fs::create_dir_all(&dir)?;
    run.preset.save(&dir.join("preset.ron"))?;
    let mut session = match Session::new(&run.preset) {
        Ok(s) => s,
        Err(e) => {
            let o = Outcome {
                status: "failed".into(),
                reason: e.to_string(),
                initial_nll: None,
                final_nll: None,
                accuracy: None,
                ece: None,
                steps_per_sec: 0.0,
            };
            crate::fs_util::write_atomic(&dir.join("final.txt"), o.to_text().as_bytes())?;
            return Ok(o);
        }
    };
    // The NLL before training, as the window plots it at step 0 (measurable only).
    let initial_nll = (run.preset.eval.eval_every > 0)
        .then(|| session.evaluate())
        .filter(|e| e.verdict.trusted())
        .map(|e| e.nll);
    let t0 = std::time::Instant::now();
    let mut rows = Vec::with_capacity(run.preset.steps);
    let mut diverged = None;
    for _ in 0..run.preset.steps {
        match session.step() {
            Ok(m) => rows.push(m),
            Err(e) => {
                diverged = Some(e.to_string());
                break;
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let steps_per_sec = rows.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    crate::fs_util::write_atomic(&dir.join("metrics.csv"), to_csv(&rows).as_bytes())?;
    export::save(
        &dir.join("model.safetensors"),
        session.preset(),
        &session.data().space.input_shape(),
        session.params(),
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    // An NLL that AIS's verdict does not trust is left empty, and the reason says why.
    let fin = session.evaluate();
    let nll = fin.verdict.trusted().then_some(fin.nll);
    let untrusted = fin
        .verdict
        .reason()
        .map(|r| format!("final NLL not measurable: {r}"));
    let classes = session.classify();
    let o = Outcome {
        status: if diverged.is_some() {
            "diverged"
        } else {
            "done"
        }
        .into(),
        reason: match (diverged, untrusted) {
            (Some(d), Some(u)) => format!("{d}; {u}"),
            (d, u) => d.or(u).unwrap_or_default(),
        },
        initial_nll,
        final_nll: nll,
        accuracy: classes.map(|c| c.accuracy),
        ece: classes.map(|c| c.ece),
        steps_per_sec,
    };
    crate::fs_util::write_atomic(&dir.join("final.txt"), o.to_text().as_bytes())?;
    Ok(o)
}

/// `summary.csv`: one row per run — index, seed, each axis's value, final NLL, accuracy,
/// ECE, steps/s, status and why — from the run folders (`pending` for runs not ended).
#[must_use]
pub fn summary(sweep: &Sweep, out: &Path) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut s = String::from("index,seed");
    for a in &sweep.axes {
        s.push(',');
        s.push_str(&quote(a));
    }
    s.push_str(",final_nll,accuracy,ece,steps_per_sec,status,reason\n");
    for r in &sweep.runs {
        let _ = write!(s, "{},{}", r.index, r.seed);
        for (_, v) in &r.values {
            s.push(',');
            s.push_str(&quote(v));
        }
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        match outcome(out, r.index) {
            Some(o) => {
                let _ = writeln!(
                    s,
                    ",{},{},{},{:.2},{},{}",
                    opt(o.final_nll),
                    opt(o.accuracy),
                    opt(o.ece),
                    o.steps_per_sec,
                    o.status,
                    quote(&o.reason)
                );
            }
            None => s.push_str(",,,,,pending,\n"),
        }
    }
    s
}

/// Splits a CSV line written by the summary (fields with commas are quoted).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// `dir/summary.csv` read back, as [`summary`] wrote it: its header and its rows, as
/// text.
///
/// # Errors
/// A file that cannot be read or is not a sweep's summary, naming it.
pub fn read_summary(dir: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let path = dir.join("summary.csv");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read ({e}): not a sweep folder", path.display()))?;
    let mut lines = text.lines();
    let header = split_csv(lines.next().unwrap_or_default());
    if header.first().map(String::as_str) != Some("index") {
        return Err(format!("{}: not a sweep summary", path.display()));
    }
    let rows = lines.filter(|l| !l.is_empty()).map(split_csv).collect();
    Ok((header, rows))
}

/// The settings in which `b` differs from `a`, as (field path, a's value, b's value),
/// sorted by path (the name and description are left out).
#[must_use]
pub fn differences(a: &Preset, b: &Preset) -> Vec<(String, String, String)> {
    fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m)
                if m.len() == 1 && m.keys().all(|k| k.starts_with(char::is_uppercase)) =>
            {
                // An enum variant: its name is the value, its fields below it.
                let (name, inner) = m
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v))
                    .unwrap_or_default();
                out.push((prefix.to_string(), name));
                if let Value::Object(f) = inner {
                    for (k, v) in f {
                        flatten(&format!("{prefix}.{k}"), v, out);
                    }
                }
            }
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&p, v, out);
                }
            }
            // The preset's numbers are f32: shown as such (0.1, not 0.10000000149…).
            #[allow(clippy::cast_possible_truncation)]
            Value::Number(n) if n.is_f64() => out.push((
                prefix.to_string(),
                format!("{}", n.as_f64().unwrap_or(f64::NAN) as f32),
            )),
            // A name is shown as it reads (Exact, not "Exact").
            Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    if let (Ok(va), Ok(vb)) = (serde_json::to_value(a), serde_json::to_value(b)) {
        flatten("", &va, &mut fa);
        flatten("", &vb, &mut fb);
    }
    let skip = ["name", "description"];
    let mut out = Vec::new();
    for (path, vb) in &fb {
        if skip.contains(&path.as_str()) {
            continue;
        }
        let va = fa
            .iter()
            .find(|(p, _)| p == path)
            .map_or("–".to_string(), |(_, v)| v.clone());
        if &va != vb {
            out.push((path.clone(), va, vb.clone()));
        }
    }
    for (path, va) in &fa {
        if !skip.contains(&path.as_str()) && !fb.iter().any(|(p, _)| p == path) {
            out.push((path.clone(), va.clone(), "–".to_string()));
        }
    }
    out
}

/// Writes a copy of the sweep file `from` to `to` with its base preset's path made
/// absolute, so that the copy can be read from anywhere.
///
/// # Errors
/// The file cannot be read, understood or written.
pub fn write_copy(from: &Path, to: &Path) -> Result<(), SweepError> {
    let err = |message: String| SweepError {
        path: from.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(from).map_err(|e| err(format!("cannot read: {e}")))?;
    let spec: SweepSpec = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(&text)
        .map_err(|e| err(e.to_string()))?;
    let base = from.parent().unwrap_or(Path::new("")).join(&spec.base);
    let base = std::path::absolute(&base).unwrap_or(base);
    let quoted = format!("{:?}", spec.base.to_string_lossy());
    let replaced = text.replacen(&quoted, &format!("{:?}", base.to_string_lossy()), 1);
    crate::fs_util::write_atomic(to, replaced.as_bytes()).map_err(|e| SweepError {
        path: to.to_path_buf(),
        message: format!("cannot write: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::split_csv;

    #[test]
    fn quoted_fields_keep_their_commas() {
        assert_eq!(
            split_csv("1,\"a, b\",\"say \"\"hi\"\"\","),
            ["1", "a, b", "say \"hi\"", ""]
        );
    }
}
