//! The one experiment struct: data, network, sampler, objective, optimiser, evaluation,
//! seed and steps. Saved and loaded as RON; validated with messages that name the field
//! and the allowed values, and with line and column for syntax errors.

use crate::data::{DataSpec, ToySet};
use crate::energy::ModelSpec;
use crate::error::PresetError;
use crate::optim::OptimizerSpec;
use crate::sampler::{Init, SamplerKind, SamplerSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The preset format this program writes (and the newest it reads).
pub const PRESET_VERSION: u32 = 1;

/// The presets shipped in `presets/`, compiled in so that the window offers them as
/// examples wherever the program runs: (file name, RON text).
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "eight_gaussians.ron",
        include_str!("../presets/eight_gaussians.ron"),
    ),
    (
        "eight_gaussians_hmc.ron",
        include_str!("../presets/eight_gaussians_hmc.ron"),
    ),
    (
        "eight_gaussians_jem.ron",
        include_str!("../presets/eight_gaussians_jem.ron"),
    ),
    (
        "eight_gaussians_dsm.ron",
        include_str!("../presets/eight_gaussians_dsm.ron"),
    ),
    (
        "anatomy_short_run.ron",
        include_str!("../presets/anatomy_short_run.ron"),
    ),
    (
        "anatomy_convergent.ron",
        include_str!("../presets/anatomy_convergent.ron"),
    ),
    ("two_moons.ron", include_str!("../presets/two_moons.ron")),
    (
        "checkerboard.ron",
        include_str!("../presets/checkerboard.ron"),
    ),
    (
        "mixture_16d.ron",
        include_str!("../presets/mixture_16d.ron"),
    ),
    ("funnel_10d.ron", include_str!("../presets/funnel_10d.ron")),
    (
        "many_well_32d.ron",
        include_str!("../presets/many_well_32d.ron"),
    ),
    ("digits_jem.ron", include_str!("../presets/digits_jem.ron")),
    (
        "digits_conv.ron",
        include_str!("../presets/digits_conv.ron"),
    ),
    (
        "mnist_conv_jem.ron",
        include_str!("../presets/mnist_conv_jem.ron"),
    ),
    ("digits_ebm.ron", include_str!("../presets/digits_ebm.ron")),
    (
        "bars_stripes_gibbs.ron",
        include_str!("../presets/bars_stripes_gibbs.ron"),
    ),
    (
        "bars_stripes_rbm.ron",
        include_str!("../presets/bars_stripes_rbm.ron"),
    ),
    (
        "digits_rbm_pcd.ron",
        include_str!("../presets/digits_rbm_pcd.ron"),
    ),
    (
        "digits_grbm.ron",
        include_str!("../presets/digits_grbm.ron"),
    ),
    (
        "digits_bits_gwg.ron",
        include_str!("../presets/digits_bits_gwg.ron"),
    ),
    (
        "digits_convergent.ron",
        include_str!("../presets/digits_convergent.ron"),
    ),
];

/// Where the bundled presets live as files, relative to the working folder: data files
/// an example names relative to itself are looked for there.
pub const BUNDLED_FOLDER: &str = "presets";

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ObjectiveKind {
    /// Maximum likelihood by contrastive divergence: mean E(x⁺) − mean E(x⁻).
    MaximumLikelihood,
    /// JEM's hybrid: `ce_weight`·CE(f(x⁺), y) plus the maximum-likelihood term on
    /// E(x) = −logsumexp_y f(x)_y. Needs labelled data and a network with one output per
    /// class.
    Jem { ce_weight: f32 },
    /// Denoising score matching (Vincent 2011): ∇ₓE at x̃ = x + σε matches (x̃ − x)/σ²,
    /// the loss weighted by σ². No sampler is used for training.
    Dsm { sigma: f32 },
    /// Sliced score matching (Song et al. 2019): E[−vᵀ∇²ₓE v + ½(vᵀ∇ₓE)²] over
    /// `projections` random directions v per point. No sampler is used for training.
    Ssm { projections: usize },
}

impl ObjectiveKind {
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::MaximumLikelihood => "maximum likelihood",
            Self::Jem { .. } => "JEM (hybrid)",
            Self::Dsm { .. } => "denoising score matching",
            Self::Ssm { .. } => "sliced score matching",
        }
    }

    /// The name as one word, for `key=value` output.
    #[must_use]
    pub fn slug(&self) -> &'static str {
        match self {
            Self::MaximumLikelihood => "maximum_likelihood",
            Self::Jem { .. } => "jem_hybrid",
            Self::Dsm { .. } => "dsm",
            Self::Ssm { .. } => "ssm",
        }
    }

    /// The weight of the cross-entropy (0 for maximum likelihood alone).
    #[must_use]
    pub fn ce_weight(&self) -> f32 {
        match *self {
            Self::MaximumLikelihood | Self::Dsm { .. } | Self::Ssm { .. } => 0.0,
            Self::Jem { ce_weight } => ce_weight,
        }
    }

    /// Whether it learns without a sampler (score matching).
    #[must_use]
    pub fn is_score_matching(&self) -> bool {
        matches!(self, Self::Dsm { .. } | Self::Ssm { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectiveSpec {
    pub kind: ObjectiveKind,
    /// Weight α of the energy-magnitude regulariser α·(mean E(x⁺)² + mean E(x⁻)²).
    pub alpha: f32,
}

impl Default for ObjectiveSpec {
    fn default() -> Self {
        Self {
            kind: ObjectiveKind::MaximumLikelihood,
            alpha: 0.1,
        }
    }
}

/// How the model is evaluated while it trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSpec {
    /// Compute the held-out NLL every this many steps (0: never during training).
    pub eval_every: usize,
    /// Points per side of the quadrature grid over the data box (the plane).
    pub grid: usize,
    /// AIS chains, outside the plane (and for Run AIS).
    pub ais_chains: usize,
    /// AIS intermediate distributions.
    pub ais_temperatures: usize,
    /// MALA steps per AIS temperature.
    pub ais_steps: usize,
    /// Chains of the reference sample term outside the plane (long MALA runs kept from
    /// one evaluation to the next).
    pub reference_chains: usize,
    /// MALA steps the reference chains take at each evaluation: the first half adapts
    /// their step size (a burn-in), the second half draws with it frozen (at least 8,
    /// so that split-R̂ has two halves of two draws).
    pub reference_steps: usize,
}

impl Default for EvalSpec {
    fn default() -> Self {
        Self {
            eval_every: 100,
            grid: 256,
            ais_chains: 128,
            ais_temperatures: 200,
            ais_steps: 1,
            reference_chains: 256,
            reference_steps: 100,
        }
    }
}

impl EvalSpec {
    /// The quadrature grid's sides (the one place: validation and the panel).
    pub const GRID: std::ops::RangeInclusive<usize> = 8..=4096;

    /// The AIS settings these evaluation settings give, from `base`.
    #[must_use]
    pub fn ais_spec(&self, base: crate::eval::ais::BaseKind) -> crate::eval::ais::AisSpec {
        crate::eval::ais::AisSpec {
            chains: self.ais_chains,
            temperatures: self.ais_temperatures,
            steps_per_temperature: self.ais_steps,
            base,
        }
    }
}

/// Which engine computes the sampler's gradients and the two terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EngineChoice {
    /// The fast engine on the CPU; candle on any other device.
    #[default]
    Auto,
    /// Hand-written forward and backward passes on the CPU (MLPs, and networks with
    /// convolutions and pooling); another device means candle, as under `Auto`. Kept
    /// apart from `Auto` for the presets that name it.
    Fast,
    /// candle autograd on `device` (the CPU, or CUDA/Metal where built in).
    Autograd,
}

impl EngineChoice {
    pub const ALL: [Self; 3] = [Self::Auto, Self::Fast, Self::Autograd];

    /// Whether candle runs the network on `device` (the fast engine runs any network,
    /// on the CPU only).
    #[must_use]
    pub fn uses_candle(self, device: crate::device::DeviceSpec) -> bool {
        match self {
            Self::Autograd => true,
            Self::Fast | Self::Auto => device != crate::device::DeviceSpec::Cpu,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "Auto",
            Self::Fast => "Fast",
            Self::Autograd => "Autograd",
        }
    }
}

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preset {
    pub version: u32,
    pub name: String,
    pub description: String,
    /// Seed of parameter initialisation, batches and sampler noise.
    pub seed: u64,
    /// Training steps.
    pub steps: usize,
    /// Data points per step (and as many sampler chains).
    pub batch_size: usize,
    pub data: DataSpec,
    pub model: ModelSpec,
    pub sampler: SamplerSpec,
    pub objective: ObjectiveSpec,
    pub optimizer: OptimizerSpec,
    pub eval: EvalSpec,
    /// The engine; `Autograd` runs on `device`.
    pub engine: EngineChoice,
    /// Where the autograd engine runs (the fast engine is CPU-only).
    pub device: crate::device::DeviceSpec,
}

impl Default for Preset {
    fn default() -> Self {
        Self {
            version: PRESET_VERSION,
            name: "untitled".into(),
            description: String::new(),
            seed: 0,
            steps: 2000,
            batch_size: 256,
            data: DataSpec::default(),
            model: ModelSpec::default(),
            sampler: SamplerSpec::default(),
            objective: ObjectiveSpec::default(),
            optimizer: OptimizerSpec::default(),
            eval: EvalSpec::default(),
            engine: EngineChoice::Auto,
            device: crate::device::DeviceSpec::Cpu,
        }
    }
}

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

fn invalid(field: &str, value: impl std::fmt::Display, allowed: &str) -> PresetError {
    PresetError::Invalid {
        path: "<preset>".into(),
        field: field.into(),
        value: value.to_string(),
        allowed: allowed.into(),
    }
}

fn positive(field: &str, v: f32) -> Result<(), PresetError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(field, v, "a finite number > 0"))
    }
}

fn non_negative(field: &str, v: f32) -> Result<(), PresetError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(field, v, "a finite number ≥ 0"))
    }
}

fn probability(field: &str, v: f32) -> Result<(), PresetError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(field, v, "a probability in [0, 1]"))
    }
}

impl Preset {
    /// The AIS this experiment's evaluation settings run in `space`, from the one base
    /// rule ([`crate::eval::ais::BaseKind::for_space`]).
    #[must_use]
    pub fn ais_spec(&self, space: crate::data::Space) -> crate::eval::ais::AisSpec {
        self.eval.ais_spec(crate::eval::ais::BaseKind::for_space(
            space,
            self.sampler.clamp,
        ))
    }

    /// How this experiment obtains log Z in `space`: quadrature on the preset's grid, a
    /// sum over states (bits; an RBM's hidden layer), or AIS with its settings.
    #[must_use]
    pub fn evaluator(&self, space: crate::data::Space) -> crate::eval::Evaluator {
        crate::eval::Evaluator::for_model(space, &self.model, self.eval.grid, self.ais_spec(space))
    }

    /// Parses a preset from RON text and validates it. Errors carry the path `<text>`;
    /// [`Preset::load`] replaces it with the file's.
    ///
    /// # Errors
    /// A syntax error with line and column, an unknown field or variant (with the allowed
    /// names), or an invalid value naming the field.
    pub fn from_ron(text: &str) -> Result<Self, PresetError> {
        let preset: Self = ron_options()
            .from_str(text)
            .map_err(|e| PresetError::Syntax {
                path: "<text>".into(),
                line: e.span.start.line,
                col: e.span.start.col,
                message: e.code.to_string(),
            })?;
        if preset.version > PRESET_VERSION {
            return Err(PresetError::Version {
                path: "<text>".into(),
                found: preset.version,
                supported: PRESET_VERSION,
            });
        }
        preset.validate().map_err(|e| e.with_path("<text>"))?;
        Ok(preset)
    }

    /// Reads, parses and validates a preset file.
    ///
    /// # Errors
    /// As [`Preset::from_ron`], naming the file; or the I/O error.
    pub fn load(path: &Path) -> Result<Self, PresetError> {
        let bytes = std::fs::read(path).map_err(|source| PresetError::Io {
            path: path.to_path_buf(),
            cause: source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            // Where the text stops being UTF-8, as a line and column.
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + good.iter().filter(|b| **b == b'\n').count();
            let col = 1 + good.iter().rev().take_while(|b| **b != b'\n').count();
            PresetError::Syntax {
                path: path.to_path_buf(),
                line,
                col,
                message: "not UTF-8 text (a preset is RON text; is this another kind of file?)"
                    .into(),
            }
        })?;
        let mut p = Self::from_ron(&text).map_err(|e| e.with_path(path))?;
        p.resolve_files(path.parent().unwrap_or(Path::new("")));
        Ok(p)
    }

    /// Makes the data files named relative to the preset (`dir`, the folder it lives in)
    /// absolute, so that they are found next to it wherever the program runs from.
    pub fn resolve_files(&mut self, dir: &Path) {
        let crate::data::DataSpec {
            source,
            labels_file,
            ..
        } = &mut self.data;
        let file = match source {
            crate::data::DataSource::File(f) => Some(f),
            _ => None,
        };
        for f in [file, labels_file.as_mut()]
            .into_iter()
            .flatten()
            .filter(|f| f.is_relative())
        {
            let joined = dir.join(&*f);
            *f = std::path::absolute(&joined).unwrap_or(joined);
        }
    }

    /// Checks what only the data can tell: the exact sampler only in the plane; with JEM,
    /// one logit per class of the data.
    ///
    /// # Errors
    /// The mismatch, attributed to the data file (or the toy set).
    pub fn check_against(
        &self,
        data: &crate::data::Dataset,
    ) -> Result<(), crate::error::DataError> {
        let allows = data.space.allows();
        if self.sampler.kind == SamplerKind::Exact
            && !allows.exact_sampler
            && crate::eval::rbm::hidden_sum(data.space, &self.model).is_none()
        {
            let name = self.data.name();
            return Err(crate::error::DataError::new(
                Path::new(&name),
                None,
                format!(
                    "sampler.kind Exact draws from a grid over the plane or from every state of up to 20 bits, and these data are {}: choose {}",
                    data.space.describe(),
                    if allows.discrete {
                        "Gibbs"
                    } else {
                        "MALA, HMC, Langevin or SGLD"
                    }
                ),
            ));
        }
        if allows.discrete && self.objective.kind.is_score_matching() {
            let name = self.data.name();
            return Err(crate::error::DataError::new(
                Path::new(&name),
                None,
                format!(
                    "objective.kind {}: score matching needs ∇ₓ log p on continuous data, and these data are {}: choose maximum likelihood",
                    self.objective.kind.slug(),
                    data.space.describe()
                ),
            ));
        }
        if self.sampler.kind == SamplerKind::BlockGibbs && self.model.rbm().is_none() {
            return Err(crate::error::DataError::new(
                Path::new(&self.data.name()),
                None,
                "sampler.kind BlockGibbs draws an RBM's hidden and visible layers in turn, and this energy is a network of layers: choose Gibbs, which flips one bit at a time through any energy",
            ));
        }
        match self.model.rbm_visible() {
            Some(crate::energy::Visible::Bernoulli) if !allows.discrete => {
                return Err(crate::error::DataError::new(
                    Path::new(&self.data.name()),
                    None,
                    format!(
                        "model.layers Rbm has binary (Bernoulli) visible units, and these data are {}: choose Rbm(visible: Gaussian(sigma)) for real values, bits, or a network of layers",
                        data.space.describe()
                    ),
                ));
            }
            Some(crate::energy::Visible::Gaussian(_)) if allows.discrete => {
                return Err(crate::error::DataError::new(
                    Path::new(&self.data.name()),
                    None,
                    format!(
                        "model.layers Rbm has Gaussian visible units, a density over real values, and these data are {}: choose Rbm(visible: Bernoulli)",
                        data.space.describe()
                    ),
                ));
            }
            _ => {}
        }
        // Block Gibbs follows the RBM's visible units, binary or Gaussian (checked above).
        if !matches!(
            self.sampler.kind,
            SamplerKind::Exact | SamplerKind::BlockGibbs
        ) && self.sampler.kind.is_discrete() != allows.discrete
        {
            let name = self.data.name();
            return Err(crate::error::DataError::new(
                Path::new(&name),
                None,
                if allows.discrete {
                    format!(
                        "sampler.kind {} moves points along the energy's gradient, and these data are {}: choose Gibbs, which flips bits (or Exact)",
                        self.sampler.kind.name(),
                        data.space.describe()
                    )
                } else {
                    format!(
                        "sampler.kind Gibbs flips bits, and these data are {}: choose MALA, HMC, Langevin or SGLD",
                        data.space.describe()
                    )
                },
            ));
        }
        if let Err(e) =
            crate::energy::Architecture::for_shape(&self.model, &data.space.input_shape())
        {
            let name = self.data.name();
            return Err(crate::error::DataError::new(
                Path::new(&name),
                None,
                format!(
                    "the network does not fit these data ({}): {e}",
                    data.space.describe()
                ),
            ));
        }
        if matches!(self.objective.kind, ObjectiveKind::Jem { .. }) {
            let name = self.data.name();
            let source = self.data.file().unwrap_or(Path::new(&name));
            if data.classes < 2 {
                return Err(crate::error::DataError::new(
                    source,
                    None,
                    "JEM needs at least two classes of labels",
                ));
            }
            if data.classes != self.model.outputs {
                return Err(crate::error::DataError::new(
                    source,
                    None,
                    format!(
                        "the labels name {} classes but the network has model.outputs = {} (JEM needs one logit per class)",
                        data.classes, self.model.outputs
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The preset as pretty RON.
    #[must_use]
    pub fn to_ron(&self) -> String {
        let cfg = ron::ser::PrettyConfig::new()
            .depth_limit(3)
            .struct_names(false)
            .separate_tuple_members(false);
        ron_options()
            .to_string_pretty(self, cfg)
            .unwrap_or_else(|e| format!("// cannot serialise preset: {e}"))
    }

    /// Writes the preset atomically.
    ///
    /// # Errors
    /// The I/O error.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = self.to_ron();
        text.push('\n');
        crate::fs_util::write_atomic(path, text.as_bytes())
    }

    /// Checks every value against what the engine accepts.
    ///
    /// # Errors
    /// The first invalid value, naming its field and the allowed values.
    pub fn validate(&self) -> Result<(), PresetError> {
        self.validate_run()?;
        self.validate_data()?;
        self.validate_model()?;
        self.validate_data_source()?;
        self.validate_sampler()?;
        self.validate_objective()?;
        self.validate_optimizer()?;
        self.validate_eval()?;
        Ok(())
    }

    /// The run's length, the batch and the objective's own numbers.
    fn validate_run(&self) -> Result<(), PresetError> {
        if self.steps == 0 {
            return Err(invalid("steps", self.steps, "an integer ≥ 1"));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", self.batch_size, "an integer ≥ 1"));
        }
        match self.objective.kind {
            ObjectiveKind::Dsm { sigma } if !(sigma.is_finite() && sigma > 0.0) => {
                return Err(invalid("objective.kind.sigma", sigma, "a noise level > 0"));
            }
            ObjectiveKind::Ssm { projections: 0 } => {
                return Err(invalid("objective.kind.projections", 0, "an integer ≥ 1"));
            }
            _ => {}
        }
        Ok(())
    }

    /// The data's size, noise, held-out fraction and set.
    fn validate_data(&self) -> Result<(), PresetError> {
        let d = &self.data;
        if d.size < 2 {
            return Err(invalid("data.size", d.size, "an integer ≥ 2"));
        }
        if let Some(n) = d.noise {
            non_negative("data.noise", n)?;
        }
        if !(d.held_out > 0.0 && d.held_out < 1.0) {
            return Err(invalid("data.held_out", d.held_out, "a fraction in (0, 1)"));
        }
        if let crate::data::DataSource::Toy(set) = d.source
            && !ToySet::ALL.contains(&set)
        {
            return Err(invalid("data.source", set.name(), &ToySet::allowed()));
        }
        Ok(())
    }

    /// The layers (each within its limits) and the engine that must run them.
    fn validate_model(&self) -> Result<(), PresetError> {
        for (i, l) in self.model.layers.iter().enumerate() {
            l.check()
                .map_err(|must| invalid(&format!("model.layers[{i}]"), format!("{l:?}"), &must))?;
        }
        if let Some(s) = self.model.gaussian {
            if !crate::energy::Visible::SIGMA.contains(&s) {
                return Err(invalid(
                    "model.gaussian",
                    s,
                    "a standard deviation from 0.001 to 100",
                ));
            }
            if self.model.rbm().is_some() {
                return Err(invalid(
                    "model.gaussian",
                    s,
                    "none for an Rbm (a Gaussian RBM has its own: Rbm(visible: Gaussian(sigma)))",
                ));
            }
        }
        Ok(())
    }

    /// The data's source: batch noise, the file's columns, a synthetic target.
    fn validate_data_source(&self) -> Result<(), PresetError> {
        non_negative("data.batch_noise", self.data.batch_noise)?;
        if let Some(cols) = &self.data.columns {
            let mut seen = std::collections::BTreeSet::new();
            if cols.is_empty() || !cols.iter().all(|c| seen.insert(*c)) {
                return Err(invalid(
                    "data.columns",
                    format!("{cols:?}"),
                    "a list of different column numbers, e.g. [0, 2, 5]",
                ));
            }
        }
        if let Some(t) = self.data.target()
            && let Err((field, allowed)) = t.check()
        {
            let allowed: String = allowed;
            return Err(invalid(
                &format!("data.target.{field}"),
                format!("{t:?}"),
                &allowed,
            ));
        }
        Ok(())
    }

    /// The sampler's rule, steps, clipping and start.
    fn validate_sampler(&self) -> Result<(), PresetError> {
        let s = &self.sampler;
        match s.kind {
            SamplerKind::Sgld { step_size, noise } => {
                positive("sampler.kind.step_size", step_size)?;
                non_negative("sampler.kind.noise", noise)?;
            }
            SamplerKind::Langevin { step_size } | SamplerKind::Mala { step_size } => {
                positive("sampler.kind.step_size", step_size)?;
            }
            SamplerKind::Hmc {
                step_size,
                leapfrog_steps,
            } => {
                positive("sampler.kind.step_size", step_size)?;
                if leapfrog_steps == 0 || leapfrog_steps > 1000 {
                    return Err(invalid(
                        "sampler.kind.leapfrog_steps",
                        leapfrog_steps,
                        "an integer from 1 to 1000",
                    ));
                }
            }
            SamplerKind::Exact
            | SamplerKind::Gibbs
            | SamplerKind::BlockGibbs
            | SamplerKind::Gwg => {}
        }
        if let Some(c) = s.grad_clip {
            positive("sampler.grad_clip", c)?;
        }
        if let Init::ReplayBuffer { size, reinit_prob } = s.init {
            if size == 0 || size > 10_000_000 {
                return Err(invalid(
                    "sampler.init.size",
                    size,
                    "an integer from 1 to 10 000 000",
                ));
            }
            probability("sampler.init.reinit_prob", reinit_prob)?;
        }
        Ok(())
    }

    /// The objective's weights and the outputs it needs.
    fn validate_objective(&self) -> Result<(), PresetError> {
        non_negative("objective.alpha", self.objective.alpha)?;
        if let ObjectiveKind::Jem { ce_weight } = self.objective.kind {
            non_negative("objective.kind.ce_weight", ce_weight)?;
            if self.data.file().is_some()
                && self.data.labels.is_none()
                && self.data.labels_file.is_none()
            {
                return Err(invalid(
                    "data.labels",
                    "None",
                    "the column of the data file that holds the class labels, or data.labels_file (`--labels-file` on the command line): JEM needs labels",
                ));
            }
            if let Some(classes) = self.data.classes()
                && self.model.outputs != classes
            {
                return Err(invalid(
                    "model.outputs",
                    self.model.outputs,
                    &format!(
                        "{classes}, one logit per class of {} (JEM)",
                        self.data.name()
                    ),
                ));
            }
        }
        if self.model.outputs == 0 || self.model.outputs > 1000 {
            return Err(invalid("model.outputs", self.model.outputs, "1 to 1000"));
        }
        Ok(())
    }

    /// The optimiser's rate, betas, momentum, decay and clipping.
    fn validate_optimizer(&self) -> Result<(), PresetError> {
        let o = &self.optimizer;
        positive("optimizer.lr", o.lr)?;
        let (b1, b2) = o.betas;
        if !(0.0..1.0).contains(&b1) || !(0.0..1.0).contains(&b2) {
            return Err(invalid(
                "optimizer.betas",
                format!("({b1}, {b2})"),
                "two numbers in [0, 1)",
            ));
        }
        positive("optimizer.eps", o.eps)?;
        if !(0.0..1.0).contains(&o.momentum) {
            return Err(invalid(
                "optimizer.momentum",
                o.momentum,
                "a number in [0, 1)",
            ));
        }
        non_negative("optimizer.weight_decay", o.weight_decay)?;
        if let Some(c) = o.clip_grad_norm {
            positive("optimizer.clip_grad_norm", c)?;
        }
        Ok(())
    }

    /// The evaluation's grid, AIS and reference chains.
    fn validate_eval(&self) -> Result<(), PresetError> {
        if !EvalSpec::GRID.contains(&self.eval.grid) {
            return Err(invalid(
                "eval.grid",
                self.eval.grid,
                &format!(
                    "an integer in {}..={}",
                    EvalSpec::GRID.start(),
                    EvalSpec::GRID.end()
                ),
            ));
        }
        let e = &self.eval;
        for (field, v, lo, hi) in [
            ("eval.ais_chains", e.ais_chains, 2, 100_000),
            ("eval.ais_temperatures", e.ais_temperatures, 1, 100_000),
            ("eval.ais_steps", e.ais_steps, 1, 100),
            ("eval.reference_chains", e.reference_chains, 4, 100_000),
            ("eval.reference_steps", e.reference_steps, 8, 100_000),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(invalid(field, v, &format!("an integer from {lo} to {hi}")));
            }
        }
        // The reference chains keep a trace of every step of every chain for R̂.
        if e.reference_chains.saturating_mul(e.reference_steps) > 10_000_000 {
            return Err(invalid(
                "eval.reference_steps",
                e.reference_steps,
                "at most 10 000 000 / eval.reference_chains (the traces R̂ needs)",
            ));
        }

        Ok(())
    }

    /// A warning about the sampler's temperature, if it is far from 1.
    #[must_use]
    pub fn temperature_warning(&self) -> Option<String> {
        crate::sampler::temperature_warning(self.sampler.kind.temperature())
    }
}
