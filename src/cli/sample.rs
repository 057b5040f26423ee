//! `ebm-workbench sample MODEL.safetensors --out FILE`: chains of a sampler on a model,
//! their draws written one row each, and how far to trust them: the acceptance rate
//! (MALA, HMC), the rank-normalised split-R̂ (the largest over the energy and the
//! coordinates) and the bulk ESS (the smallest).

use super::SampleArgs;
use ebm_workbench::eval::diagnostics;
use ebm_workbench::sampler::SamplerKind;
use ebm_workbench::{Session, export};
use rand::SeedableRng as _;
use std::io::Write as _;
use std::process::ExitCode;

/// Coordinates tracked for R̂ and ESS at most (besides the energy).
const TRACKED: usize = 16;

/// The rule named on the command line, with the model's step size unless given.
fn rule(name: &str, step: f32, leapfrog: usize) -> anyhow::Result<SamplerKind> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "langevin" => SamplerKind::Langevin { step_size: step },
        "mala" => SamplerKind::Mala { step_size: step },
        "hmc" => SamplerKind::Hmc {
            step_size: step,
            leapfrog_steps: leapfrog,
        },
        "sgld" => SamplerKind::Sgld {
            step_size: step,
            // T = 1.
            noise: (2.0 * step).sqrt(),
        },
        "gibbs" => SamplerKind::Gibbs,
        "gwg" => SamplerKind::Gwg,
        "block-gibbs" | "block_gibbs" => SamplerKind::BlockGibbs,
        other => anyhow::bail!(
            "--sampler {other}: one of langevin, mala, hmc, sgld (points), gibbs, gwg (bits), block-gibbs (RBMs)"
        ),
    })
}

pub fn run(a: &SampleArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.chains >= 2,
        "--chains {}: R̂ needs two chains or more",
        a.chains
    );
    anyhow::ensure!(a.thin >= 1, "--thin must be at least 1");
    let burn_in = a.burn_in.unwrap_or(a.steps / 2);
    anyhow::ensure!(
        burn_in < a.steps,
        "--burn-in {burn_in} leaves none of --steps {}",
        a.steps
    );
    let kept = (a.steps - burn_in) / a.thin;
    anyhow::ensure!(
        kept >= 4,
        "{kept} draws per chain after burn-in and thinning: at least 4 are needed"
    );
    let ext = a
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    anyhow::ensure!(
        ext == "npy" || ext == "csv",
        "--out {}: write a .npy or a .csv file",
        a.out.display()
    );
    let model = export::load(&a.model)?;
    let space = model.space();
    let export::Model {
        mut preset,
        params,
        described,
        ..
    } = model;
    let base = preset.sampler.kind;
    let step = a.step_size.unwrap_or_else(|| match base.step_size() {
        s if s > 0.0 => s,
        _ => 0.05,
    });
    let leapfrog = match base {
        SamplerKind::Hmc { leapfrog_steps, .. } => leapfrog_steps,
        _ => 10,
    };
    preset.sampler.kind = match &a.sampler {
        Some(name) => rule(name, step, a.leapfrog.unwrap_or(leapfrog))?,
        // Chains, not draws: a Markov rule of the space.
        None if base == SamplerKind::Exact && space.allows().discrete => SamplerKind::Gibbs,
        None if base == SamplerKind::Exact => SamplerKind::Mala { step_size: step },
        None => base,
    };
    preset.sampler.target_acceptance = None;
    let mut session = if described {
        Session::from_params(&preset, params)?
    } else {
        // A file without its experiment (another program's RBM): stand-in data of its
        // space, only for the box the chains start in.
        let data = ebm_workbench::data::Dataset::stand_in(space, 64, a.seed);
        preset.check_against(&data)?;
        let mut s = Session::with_data(&preset, data);
        s.set_params(params);
        s
    };
    let d = session.data().dim;
    let data_box = session.data().data_box.clone();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(a.seed);
    let mut x = vec![0.0_f32; a.chains * d];
    ebm_workbench::sampler::uniform_in_box(&data_box, &mut x, &mut rng);
    let tracked = d.min(TRACKED);
    // traces[q][c]: quantity q (0: the energy, then coordinates) of chain c, per draw.
    let mut traces = vec![vec![Vec::with_capacity(kept); a.chains]; tracked + 1];
    let mut draws: Vec<Vec<f32>> = vec![Vec::with_capacity(kept * d); a.chains];
    let mut energies: Vec<Vec<f32>> = vec![Vec::with_capacity(kept); a.chains];
    let (mut accepted, mut proposed) = (0_usize, 0_usize);
    let t0 = std::time::Instant::now();
    for s in 1..=a.steps {
        let acc = session
            .run_chains(None, &mut x, 1, &mut rng)
            .ok_or_else(|| anyhow::anyhow!("the engine could not run this network's sampler"))?;
        accepted += acc.accepted;
        proposed += acc.proposed;
        if s > burn_in && (s - burn_in).is_multiple_of(a.thin) {
            let e = session.energy(&x);
            for c in 0..a.chains {
                let row = &x[c * d..(c + 1) * d];
                draws[c].extend_from_slice(row);
                energies[c].push(e[c]);
                traces[0][c].push(f64::from(e[c]));
                for (j, v) in row.iter().take(tracked).enumerate() {
                    traces[j + 1][c].push(f64::from(*v));
                }
            }
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let quantities: Vec<(String, Vec<Vec<f64>>)> = traces
        .into_iter()
        .enumerate()
        .map(|(q, t)| {
            let name = if q == 0 {
                "energy".to_string()
            } else {
                format!("x{}", q - 1)
            };
            (name, t)
        })
        .collect();
    let ((worst_r, rhat), (worst_e, ess)) = diagnostics::worst(&quantities);
    let bytes = if ext == "npy" {
        npy_f32(&draws.concat(), a.chains * kept, d)
    } else {
        let mut s = String::from("chain,draw,energy");
        for j in 0..d {
            s.push_str(&format!(",x{j}"));
        }
        s.push('\n');
        for c in 0..a.chains {
            for t in 0..kept {
                s.push_str(&format!("{c},{t},{}", energies[c][t]));
                for v in &draws[c][t * d..(t + 1) * d] {
                    s.push_str(&format!(",{v}"));
                }
                s.push('\n');
            }
        }
        s.into_bytes()
    };
    ebm_workbench::fs_util::write_atomic(&a.out, &bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", a.out.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "sampler={:?} chains={} steps={} burn_in={burn_in} thin={} draws={} dim={d} seconds={seconds:.2}",
        preset.sampler.kind,
        a.chains,
        a.steps,
        a.thin,
        a.chains * kept
    )?;
    if proposed > 0 {
        #[allow(clippy::cast_precision_loss)]
        let rate = accepted as f64 / proposed as f64;
        writeln!(out, "acceptance={rate:.4}")?;
    }
    writeln!(out, "rhat={rhat:.4}")?;
    writeln!(out, "rhat_worst={worst_r}")?;
    writeln!(out, "ess={ess:.1}")?;
    writeln!(out, "ess_worst={worst_e}")?;
    writeln!(out, "wrote={}", a.out.display())?;
    if rhat > 1.01 {
        writeln!(
            out,
            "warning: R̂ {rhat:.3} > 1.01 ({worst_r}): the chains do not agree; run longer or use {}",
            if space.allows().discrete {
                "block Gibbs for an RBM"
            } else {
                "MALA/HMC"
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// An `n × d` little-endian f32 array as NPY (version 1.0).
fn npy_f32(values: &[f32], n: usize, d: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    // Magic (6) + version (2) + length (2) + header, padded to 64 with a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
