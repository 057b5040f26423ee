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
