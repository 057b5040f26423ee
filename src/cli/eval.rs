//! `ebm-workbench eval MODEL.safetensors`: log Z by quadrature (2-D) and AIS, and the
//! held-out NLL.

use super::EvalArgs;
use ebm_workbench::data::DataSource;
use ebm_workbench::eval::Method;
use ebm_workbench::eval::ais::{AisSpec, BaseKind};
use ebm_workbench::{Preset, Session, export};
use rand::SeedableRng as _;
use std::io::Write as _;
use std::process::ExitCode;

pub fn run(a: &EvalArgs) -> anyhow::Result<ExitCode> {
    let export::Model {
        mut preset,
        params,
        mut input_shape,
        described,
    } = export::load(&a.model)?;
    anyhow::ensure!(
        described || a.data.is_some(),
        "{}: the file holds an RBM's tensors but no experiment, so no data: give the data to evaluate it on with --data FILE (for binary units a CSV or NPY table of 0s and 1s, or one-channel images, binarized at half their range; for Gaussian units rows of real values or images)",
        a.model.display()
    );
    if let Some(d) = &a.data {
        // A preset file, a data file (CSV, NPY), or the name of a data set.
        if d.extension().is_some_and(|e| e == "ron") {
            preset.data = Preset::load(d)?.data;
        } else if d.is_file() {
            preset.data.source = DataSource::File(d.clone());
            preset.data.labels_file = None;
            // An RBM's visible units are bits: so are the file's values.
            preset.data.bits |=
                preset.model.rbm_visible() == Some(ebm_workbench::energy::Visible::Bernoulli);
        } else if d.to_string_lossy() == "digits" {
            preset.data.source = DataSource::Images(ebm_workbench::data::ImageSet::Digits);
        } else {
            let name = d.to_string_lossy();
            let set = ebm_workbench::data::ToySet::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--data {name}: not a preset (.ron), a data file nor a data set; the data sets are {}, digits",
                        ebm_workbench::data::ToySet::allowed()
                    )
                })?;
            preset.data.source = DataSource::Toy(set);
            preset.data.noise = None;
            preset.data.columns = None;
            preset.data.labels = None;
        }
    }
    if let Some(f) = &a.labels_file {
        preset.data.labels_file = Some(f.clone());
    }
    let mut session = Session::from_params(&preset, params)?;
    let space = session.data().space;
    if !described && space.dim() == input_shape.iter().product::<usize>() {
        // A file without its experiment says its inputs' number, not their layout.
        input_shape = space.input_shape();
    }
    anyhow::ensure!(
        space.input_shape() == input_shape,
        "{}: the model takes inputs of shape {input_shape:?}, the data are {} ({:?})",
        a.model.display(),
        space.describe(),
        space.input_shape()
    );
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "dim={} space={}",
        space.dim(),
        space.describe().replace(' ', "_")
    )?;
    // Exact where the space allows it (quadrature in the plane, enumeration on a few
    // bits, an RBM's hidden states); AIS beside it wherever AIS runs by MALA moves, and
    // on bits where nothing can be summed (from independent bits with the data's
    // marginals, by an RBM's block Gibbs or by Gibbs/GWG moves for other energies).
    let method = session.evaluator().method();
    let exact = method.is_exact().then(|| session.evaluate());
    if let Some(q) = &exact {
        writeln!(out, "log_z_{}={:.6}", method.name(), q.log_z)?;
    }
    let on_bits = space.allows().discrete;
    let ais = if space.allows().ais || (on_bits && method == Method::Ais) {
        let spec = AisSpec {
            chains: a.ais_chains,
            temperatures: a.ais_temps,
            steps_per_temperature: a.ais_steps,
            base: if a.uniform_base {
                BaseKind::Uniform
            } else {
                // The evaluator's: over the data box where a clamped sampler trained there.
                preset.ais_spec(space).base
            },
        };
        if on_bits {
            writeln!(out, "ais_base=data_marginals")?;
            writeln!(
                out,
                "ais_moves={}",
                if preset.model.rbm().is_some() {
                    "block_gibbs"
                } else if ebm_workbench::eval::bits::transition(preset.sampler.kind, space.dim())
                    == ebm_workbench::sampler::SamplerKind::Gibbs
                {
                    "gibbs"
                } else {
                    "gwg"
                }
            )?;
        } else {
            writeln!(
                out,
                "ais_base={}",
                match spec.base {
                    BaseKind::Gaussian => "gaussian",
                    BaseKind::Uniform => "uniform",
                    BaseKind::DataBox => "data_box",
                }
            )?;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(a.seed);
        let (r, _) = session.ais(&spec, &mut rng);
        writeln!(out, "log_z_ais={:.6}", r.forward.log_z)?;
        writeln!(out, "log_z_ais_stderr={:.6}", r.forward.stderr)?;
        writeln!(out, "ais_ess={:.1}", r.forward.ess)?;
        writeln!(out, "ais_chains={}", spec.chains)?;
        if let Some(rev) = r.reverse {
            writeln!(out, "log_z_ais_reverse={:.6}", rev.log_z)?;
            writeln!(out, "log_z_ais_reverse_stderr={:.6}", rev.stderr)?;
        }
        writeln!(out, "ais_acceptance={:.3}", r.forward.acceptance)?;
        let verdict = ebm_workbench::eval::verdict::ais(
            r.forward.ess,
            spec.chains,
            r.forward.log_z,
            r.reverse.map(|r| r.log_z),
        );
        Some((r, verdict))
    } else {
        None
    };
    // The held-out NLL with the exact log Z where there is one, with AIS's elsewhere. A
    // model without its experiment has no split to hold out of: every row is scored.
    let test = if described {
        session.data().test.clone()
    } else {
        [
            session.data().train.as_slice(),
            session.data().test.as_slice(),
        ]
        .concat()
    };
    writeln!(out, "rows_scored={}", test.len() / space.dim().max(1))?;
    let e = session.energy(&test);
    #[allow(clippy::cast_precision_loss)]
    let mean_e = e.iter().map(|v| f64::from(*v)).sum::<f64>() / e.len().max(1) as f64;
    let log_z = exact
        .as_ref()
        .map(|q| q.log_z)
        .or(ais.as_ref().map(|(r, _)| r.forward.log_z))
        .unwrap_or(f64::NAN);
    // Outside the plane AIS scored exp(−E/T), the law the sampler's chains follow.
    let t = f64::from(session.temperature());
    if exact.is_none() {
        writeln!(
            out,
            "temperature={}",
            ebm_workbench::sampler::format_temperature(session.temperature())
        )?;
    }
    let mean_e = mean_e / t;
    // An exact NLL is a likelihood; AIS's only where its verdict says so: otherwise
    // `nll=not_measurable`, the reason, and the number under a name that does not
    // claim it.
    let verdict = match (&exact, &ais) {
        (Some(_), _) => ebm_workbench::eval::verdict::Verdict::Trusted,
        (None, Some((_, v))) => v.clone(),
        (None, None) => ebm_workbench::eval::verdict::Verdict::NotMeasurable(format!(
            "no estimator of log Z for {} yet",
            space.describe()
        )),
    };
    let trusted = verdict.trusted();
    if trusted {
        writeln!(out, "nll={:.6}", mean_e + log_z)?;
        if let Some(bpd) = session.data().bits_per_dim(mean_e + log_z) {
            writeln!(out, "bits_per_dim={bpd:.6}")?;
        }
    } else {
        writeln!(out, "nll=not_measurable")?;
        writeln!(out, "nll_reason={}", verdict.reason().unwrap_or_default())?;
        if (mean_e + log_z).is_finite() {
            writeln!(out, "nll_untrusted_estimate={:.6}", mean_e + log_z)?;
        }
    }
    writeln!(out, "nll_trusted={trusted}")?;
    match (&exact, &ais) {
        (Some(_), Some((r, v))) => {
            writeln!(out, "nll_ais={:.6}", mean_e + r.forward.log_z)?;
            writeln!(out, "nll_ais_trusted={}", v.trusted())?;
        }
        (None, Some((r, _))) => writeln!(out, "nll_stderr={:.6}", r.forward.stderr)?,
        _ => {}
    }
    if let Some(t) = session.data().true_nll() {
        writeln!(out, "true_nll={t:.6}")?;
        if trusted {
            writeln!(out, "kl_gap={:.6}", mean_e + log_z - t)?;
        }
    }
    if let Some(reason) = verdict.reason() {
        writeln!(
            std::io::stderr().lock(),
            "warning: the NLL is not measurable: {reason}{}",
            if ais.is_some() {
                "; more AIS chains or temperatures (--ais-chains, --ais-temps) may make it so"
            } else {
                ""
            }
        )?;
    }
    if let Some(c) = session.classify() {
        writeln!(out, "accuracy={:.6}", c.accuracy)?;
        writeln!(out, "ece={:.6}", c.ece)?;
    }
    if a.long_run.is_some() || a.grid_png.is_some() {
        // A short run from noise as training's sampler makes it, then the long run.
        use rand::SeedableRng as _;
        let d = session.data().dim;
        let mut start = vec![0.0_f32; 64 * d];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(a.seed);
        ebm_workbench::sampler::uniform_in_box(&session.data().data_box, &mut start, &mut rng);
        let k = preset.sampler.steps;
        session
            .run_chains(None, &mut start, k, &mut rng)
            .ok_or_else(|| {
                anyhow::anyhow!("the short run failed: the engine could not run the network")
            })?;
        super::long_run_report(
            &mut session,
            start,
            a.long_run.unwrap_or(0),
            a.grid_png.as_deref(),
            &mut out,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
