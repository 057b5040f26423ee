//! The command line: `train`, `bench` (and the window when no subcommand is given).

mod bench;
mod eval;
mod sample;
mod sweep;
mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "ebm-workbench",
    version,
    about = "A workbench for energy-based models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the experiment a preset describes, headless.
    Train(TrainArgs),
    /// Run the reference workload and print steps per second.
    Bench(BenchArgs),
    /// Evaluate a model: log Z by quadrature (2-D) and AIS, and the held-out NLL.
    Eval(EvalArgs),
    /// List, run or collect the runs of a sweep (a base preset, axes, seeds).
    Sweep(SweepArgs),
    /// Draw chains from a model, write the draws, and print R̂, ESS and acceptance.
    Sample(SampleArgs),
    /// Open the workbench window (the default with no subcommand).
    Gui(GuiArgs),
}

#[derive(Debug, Default, clap::Args)]
pub struct GuiArgs {
    /// A preset (or model, data file, or sweep folder) to open instead of the last one.
    pub preset: Option<PathBuf>,
    /// Start training at once.
    #[arg(long)]
    pub train: bool,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The preset (RON), e.g. presets/eight_gaussians.ron (not with --resume).
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub preset: Option<PathBuf>,
    /// Override the number of training steps (with --resume: the total to reach).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Run on this device instead of the preset's: `cpu`, `cuda`, `cuda:N` or `metal`.
    /// One that is not there falls back to the CPU with a warning; `device=` in the
    /// first line says where the run went.
    #[arg(long, value_name = "DEVICE", value_parser = parse_device, conflicts_with = "resume")]
    pub device: Option<ebm_workbench::device::DeviceSpec>,
    /// Write a checkpoint (atomically) at the end, and every --checkpoint-every steps:
    /// everything needed to go on exactly, and the metrics so far.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "checkpoint")]
    pub checkpoint_every: usize,
    /// Go on from a checkpoint to --steps steps in all (the preset's steps without it);
    /// the metrics CSV then holds every step from the first.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train on the points of this file (CSV or NPY, any number of columns) instead of
    /// the preset's data set.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// The columns of the data file used as features (numbered from 0), e.g.
    /// `--columns 0,2,5`; without it every column but the labels.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub columns: Option<Vec<usize>>,
    /// The column of the data file that holds class labels (for JEM).
    #[arg(long, value_name = "COL")]
    pub labels: Option<usize>,
    /// Class labels from a file of their own: NPY of shape (N,) or an IDX labels file
    /// (MNIST's train-labels-idx1-ubyte, raw or gzip).
    #[arg(long, value_name = "FILE")]
    pub labels_file: Option<PathBuf>,
    /// Write one row of metrics per step to this CSV file.
    #[arg(long, value_name = "OUT.csv")]
    pub metrics: Option<PathBuf>,
    /// Export the trained model (safetensors, with the preset in its metadata).
    #[arg(long, value_name = "OUT.safetensors")]
    pub export: Option<PathBuf>,
    /// After training: run chains from the replay buffer this many more steps on the
    /// final energy and report their energies (short run against long run).
    #[arg(long, value_name = "STEPS")]
    pub long_run: Option<usize>,
    /// Images: write held-out data, the samples (the buffer's chains with --long-run) and
    /// the long run's chains as one PNG picture of grids, side by side.
    #[arg(long, value_name = "OUT.png")]
    pub grid_png: Option<PathBuf>,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    /// A model exported by `train --export` or the window.
    pub model: PathBuf,
    /// The rule: langevin, mala, hmc or sgld (at T = 1) for points; gibbs or gwg for
    /// bits; block-gibbs for RBMs; default: the model's own.
    #[arg(long, value_name = "RULE")]
    pub sampler: Option<String>,
    /// The rule's step size; default: the model's preset's.
    #[arg(long, value_name = "S")]
    pub step_size: Option<f32>,
    /// HMC's leapfrog steps; default: the preset's, or 10.
    #[arg(long, value_name = "L")]
    pub leapfrog: Option<usize>,
    /// Chains, each started uniformly in the data box.
    #[arg(long, default_value_t = 4)]
    pub chains: usize,
    /// Sampler steps of every chain.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Steps dropped at the start of every chain; default: half of --steps.
    #[arg(long, value_name = "B")]
    pub burn_in: Option<usize>,
    /// Keep every T-th step after the burn-in.
    #[arg(long, value_name = "T", default_value_t = 1)]
    pub thin: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the draws go: .npy (draws × dim, chain after chain) or .csv (chain, draw,
    /// energy and coordinates, one row per draw).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A model exported by `train --export` or the window.
    pub model: PathBuf,
    /// Evaluate on other data: a preset (.ron), a data file (CSV, NPY) or a data set name.
    #[arg(long, value_name = "PRESET_OR_DATA")]
    pub data: Option<PathBuf>,
    /// Class labels of `--data` from a file of their own (NPY of shape (N,) or IDX).
    #[arg(long, value_name = "FILE")]
    pub labels_file: Option<PathBuf>,
    /// AIS chains (at least 2: the standard error is their spread).
    #[arg(long, default_value_t = 256, value_parser = at_least_two)]
    pub ais_chains: usize,
    /// AIS intermediate distributions.
    #[arg(long, default_value_t = 500)]
    pub ais_temps: usize,
    /// MALA steps per AIS temperature.
    #[arg(long, default_value_t = 2)]
    pub ais_steps: usize,
    /// Start AIS from a uniform box around the data instead of a fitted Gaussian.
    #[arg(long)]
    pub uniform_base: bool,
    /// Seed of the AIS chains.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Short run against long run: chains from noise run the preset's K steps (the short
    /// run training used), then this many more on the same energy.
    #[arg(long, value_name = "STEPS")]
    pub long_run: Option<usize>,
    /// Images: write held-out data, short-run and long-run chains as one PNG of grids.
    #[arg(long, value_name = "OUT.png")]
    pub grid_png: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Chains and data points per step.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Width of the two hidden layers.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Langevin steps per training step.
    #[arg(long, default_value_t = 20)]
    pub langevin_steps: usize,
    /// Timed steps (after 20 warm-up steps).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Also time the fast engine against candle autograd and check that they agree.
    #[arg(long)]
    pub compare_autograd: bool,
    /// The data's dimension: 2 is the reference workload (8 gaussians); any other runs
    /// the same network and sampler on a mixture of 8 gaussians in that dimension.
    #[arg(long, default_value_t = 2)]
    pub dim: usize,
    /// Another workload: `digits-mlp` (the training step of presets/digits_jem.ron),
    /// `digits-conv` (presets/digits_conv.ron) or `mnist-conv` (presets/mnist_conv_jem.ron
    /// on the bundled digits scaled up to 28×28). `--batch`, `--hidden` and
    /// `--dim` belong to the reference workload; `--steps` counts here too.
    #[arg(long, value_name = "NAME")]
    pub workload: Option<String>,
    /// Where to run: `cpu` (the fast engine), `cuda`, `cuda:N`
    /// or `metal` (candle autograd). A device that is not there falls back to the CPU
    /// with a message; the output says which device ran.
    #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
    pub device: Option<ebm_workbench::device::DeviceSpec>,
    /// Several batch sizes, e.g. `64,256,1024,4096,8192`: the reference workload at each,
    /// one line per batch. With `--device`, each batch runs on the CPU's fast engine and
    /// on the device, and the last line says from which batch the device is faster.
    #[arg(long, value_name = "B,B,…", value_delimiter = ',', conflicts_with_all = ["workload", "compare_autograd"])]
    pub batches: Vec<usize>,
}

fn parse_device(s: &str) -> Result<ebm_workbench::device::DeviceSpec, String> {
    ebm_workbench::device::DeviceSpec::parse(s)
}

#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The sweep file (RON): base preset, steps, seeds, axes (with `--collect DIR`, the
    /// copy the sweep left in DIR is used when it is not given).
    #[arg(required_unless_present = "collect")]
    pub sweep: Option<PathBuf>,
    /// Print the runs, numbered, and stop.
    #[arg(long)]
    pub list: bool,
    /// The folder of the run folders (`runs/NNNN/`) and `summary.csv`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Runs at a time (default: one per core, each on one thread).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run one run alone: its number, or `auto` for the scheduler's array index
    /// (`SLURM_ARRAY_TASK_ID`, `JOB_COMPLETION_INDEX`).
    #[arg(long, value_name = "I|auto")]
    pub index: Option<String>,
    /// Rebuild `DIR/summary.csv` from the run folders.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Train(a)) => train::run(&a),
        Some(Command::Bench(a)) => bench::run(&a),
        Some(Command::Eval(a)) => eval::run(&a),
        Some(Command::Sweep(a)) => sweep::run(&a),
        Some(Command::Sample(a)) => sample::run(&a),
        Some(Command::Gui(a)) => run_gui(a),
        None => run_gui(GuiArgs::default()),
    }
}

#[cfg(feature = "gui")]
fn run_gui(a: GuiArgs) -> anyhow::Result<ExitCode> {
    let start = ebm_workbench::gui::StartOptions {
        preset: a.preset,
        train: a.train,
    };
    ebm_workbench::gui::run(start).map_err(|e| anyhow::anyhow!("the window failed: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "gui"))]
fn run_gui(_: GuiArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    Cli::command().print_help()?;
    Ok(ExitCode::from(2))
}

/// Short run against long run, for `train` and `eval`: `start` chains (what the short
/// runs leave) run `steps` more steps; prints mean energies of the held-out data, the
/// start and the end; with `png`, writes data | start | end as grids (images only).
///
/// # Errors
/// The engine failed, or the PNG could not be written.
pub(crate) fn long_run_report(
    session: &mut ebm_workbench::Session,
    start: Vec<f32>,
    steps: usize,
    png: Option<&std::path::Path>,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    use rand::SeedableRng as _;
    let d = session.data().dim;
    let mean = |v: &[f32]| {
        #[allow(clippy::cast_precision_loss)]
        let n = v.len().max(1) as f64;
        v.iter().map(|x| f64::from(*x)).sum::<f64>() / n
    };
    let mut end = start.clone();
    if steps > 0 {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x10_4E5E);
        session
            .run_chains(None, &mut end, steps, &mut rng)
            .ok_or_else(|| {
                anyhow::anyhow!("the long run failed: the engine could not run the network")
            })?;
    }
    let n = start.len() / d.max(1);
    let test = session.data().test[..session.data().test.len().min(n * d)].to_vec();
    let (e_data, e_start, e_end) = (
        session.energy(&test),
        session.energy(&start),
        session.energy(&end),
    );
    writeln!(out, "long_run_chains={n} long_run_steps={steps}")?;
    writeln!(out, "e_data_mean={:.4}", mean(&e_data))?;
    writeln!(out, "e_short_run_mean={:.4}", mean(&e_start))?;
    writeln!(out, "e_long_run_mean={:.4}", mean(&e_end))?;
    if let Some(path) = png {
        let ebm_workbench::data::Space::Image { c, h, w } = session.data().space else {
            anyhow::bail!(
                "--grid-png draws images, and these data are {}",
                session.data().space.describe()
            );
        };
        let range = session.data().spec.pixels.bounds();
        let cols = 8;
        let parts: Vec<_> = [&test, &start, &end]
            .iter()
            .map(|px| ebm_workbench::image_grid::grid(px, [c, h, w], range, cols, 4))
            .collect();
        let pic = ebm_workbench::image_grid::side_by_side(&parts, 12);
        let bytes = pic
            .png()
            .map_err(|e| anyhow::anyhow!("cannot encode the PNG: {e}"))?;
        ebm_workbench::fs_util::write_atomic(path, &bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        writeln!(
            out,
            "grid_png={} (held-out data | short run | long run)",
            path.display()
        )?;
    }
    Ok(())
}

/// A count of at least 2 (AIS chains: one chain has no spread to give an error).
fn at_least_two(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        Ok(n) => Err(format!(
            "{n} is too few: AIS needs at least 2 chains for its standard error"
        )),
        Err(e) => Err(format!("`{v}`: {e}")),
    }
}
