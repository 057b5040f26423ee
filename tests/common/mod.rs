//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ebm_workbench::Preset;
use std::path::PathBuf;

/// The path of a bundled preset.
pub fn preset_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("presets")
        .join(name)
}

/// A bundled preset, loaded.
pub fn bundled(name: &str) -> Preset {
    Preset::load(&preset_path(name)).expect("bundled preset loads")
}

/// Two hidden SiLU layers of this width (the bundled presets' shape, smaller).
pub fn mlp(hidden: usize) -> Vec<ebm_workbench::energy::LayerSpec> {
    use ebm_workbench::energy::LayerSpec;
    vec![
        LayerSpec::Linear(hidden),
        LayerSpec::Silu,
        LayerSpec::Linear(hidden),
        LayerSpec::Silu,
    ]
}

/// A small, quick preset for tests that need a few steps of training.
pub fn small(hidden: usize) -> Preset {
    let mut p = bundled("eight_gaussians.ron");
    p.model.layers = mlp(hidden);
    p.batch_size = 64;
    p.sampler.steps = 5;
    p.eval.eval_every = 10;
    p.eval.grid = 64;
    p
}

/// The largest difference between `a` and `b`, relative to `b`'s largest magnitude (at
/// least 1e-3).
pub fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0_f32, |m, v| m.max(v.abs())).max(1e-3);
    a.iter()
        .zip(b)
        .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// The program, as users run it.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_ebm-workbench"))
}

/// Runs the command, asserts that it succeeded (showing both streams if not) and
/// returns its standard output.
pub fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("the program runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The largest element-wise difference of `a` and `b`, relative to `1 + |a|`.
pub fn worst_rel(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + x.abs()))
        .fold(0.0_f32, f32::max)
}

/// The text of a bundled preset.
pub fn bundled_text(name: &str) -> String {
    std::fs::read_to_string(preset_path(name)).expect("bundled preset")
}

/// An NPY file (format 1.0, C order) of this dtype and shape around `data`.
pub fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(header.len()).expect("short").to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// E(x) = ½ Σ aⱼ xⱼ² and ∇ₓE = a ⊙ x for the rows of `x` (`a.len()` columns): a density
/// with a closed form, N(0, diag(1/a)), log Z = (d/2) ln 2π − ½ Σ ln aⱼ.
pub fn quadratic(a: &[f32], x: &[f32], e: &mut [f32], g: &mut [f32]) {
    let d = a.len();
    for (i, row) in x.chunks_exact(d).enumerate() {
        e[i] = 0.0;
        for j in 0..d {
            e[i] += 0.5 * a[j] * row[j] * row[j];
            g[i * d + j] = a[j] * row[j];
        }
    }
}

/// A metrics CSV's lines, header first, with the wall-time columns
/// (`StepMetrics::WALL_TIME`: step_ms, eval_ms) blanked: what two runs that should
/// agree are compared on.
#[allow(dead_code)] // not every test binary compares runs
pub fn without_wall_time(text: &str) -> Vec<String> {
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
    let times: Vec<usize> = ebm_workbench::StepMetrics::WALL_TIME
        .iter()
        .map(|name| {
            header
                .iter()
                .position(|h| h == name)
                .expect("a time column")
        })
        .collect();
    text.lines()
        .map(|l| {
            let mut cols: Vec<&str> = l.split(',').collect();
            for t in &times {
                cols[*t] = "";
            }
            cols.join(",")
        })
        .collect()
}

/// Writes an RBM as another program does (numpy and the safetensors package): the three
/// F32 tensors `weight` [hidden, visible], `visible_bias`, `hidden_bias`, the given
/// metadata, no preset.
pub fn write_rbm_file(
    path: &std::path::Path,
    (hidden, visible): (usize, usize),
    (w, b, c): (&[f32], &[f32], &[f32]),
    meta: &[(&str, &str)],
) {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let (wb, bb, cb) = (bytes(w), bytes(b), bytes(c));
    let views = vec![
        (
            "weight",
            TensorView::new(Dtype::F32, vec![hidden, visible], &wb).expect("weight"),
        ),
        (
            "visible_bias",
            TensorView::new(Dtype::F32, vec![visible], &bb).expect("visible_bias"),
        ),
        (
            "hidden_bias",
            TensorView::new(Dtype::F32, vec![hidden], &cb).expect("hidden_bias"),
        ),
    ];
    let meta: std::collections::HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let meta = (!meta.is_empty()).then_some(meta);
    let bytes = safetensors::tensor::serialize(views, meta).expect("serialised");
    std::fs::write(path, bytes).expect("written");
}
