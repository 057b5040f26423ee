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

/// A small, quick preset for tests that need a few steps of training.
pub fn small(hidden: usize) -> Preset {
    let mut p = bundled("eight_gaussians.ron");
    p.model.layers = vec![
        ebm_workbench::energy::LayerSpec::Linear(hidden),
        ebm_workbench::energy::LayerSpec::Silu,
        ebm_workbench::energy::LayerSpec::Linear(hidden),
        ebm_workbench::energy::LayerSpec::Silu,
    ];
    p.batch_size = 64;
    p.sampler.steps = 5;
    p.eval.eval_every = 10;
    p.eval.grid = 64;
    p
}
