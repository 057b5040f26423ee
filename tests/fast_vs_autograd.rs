//! The fast engine and candle autograd agree on random networks of every activation,
//! depth 1–4, widths 1–300, with one energy output or K class logits (E = −logsumexp f):
//! energies, ∇ₓE, weighted parameter gradients, and the cross-entropy's gradient.

mod common;

use candle_core::{Device, Module as _, Tensor};
use common::max_rel;
use ebm_workbench::energy::fast::{RowWeights, Workspace};
use ebm_workbench::energy::net::EnergyNet;
use ebm_workbench::energy::{Activation, Architecture, LayerSpec, ModelSpec, init_params};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

#[test]
fn fast_engine_matches_autograd() {
    let mut rng = StdRng::seed_from_u64(7);
    let dev = Device::Cpu;
    let widths = [1, 3, 17, 64, 128, 300];
    let mut cases = 0;
    for (act, outputs) in Activation::ALL.into_iter().flat_map(|a| [(a, 1), (a, 4)]) {
        for depth in 1..=4 {
            let layers: Vec<LayerSpec> = (0..depth)
                .flat_map(|_| {
                    let w = widths[rng.random_range(0..widths.len())];
                    [LayerSpec::Linear(w), LayerSpec::act(act)]
                })
                .collect();
            let arch = Architecture::new(
                &ModelSpec {
                    layers,
                    outputs,
                    gaussian: None,
                },
                2,
            );
            let params = init_params(&arch, &mut rng);
            let rows = 37;
            let x: Vec<f32> = (0..rows * 2).map(|_| rng.random_range(-3.0..3.0)).collect();
            let mut ws = Workspace::new(&arch);
            let mut e = vec![0.0; rows];
            let mut gx = vec![0.0; rows * 2];
            ws.energy_grad_x(&params, &x, &mut e, &mut gx);
            let mut e_only = vec![0.0; rows];
            ws.energy(&params, &x, &mut e_only);

            let net = EnergyNet::new(&arch, &params, &dev).unwrap();
            let xt = Tensor::from_slice(&x, (rows, 2), &dev).unwrap();
            let (e_ref, g_ref) = net.energy_grad_x(&xt).unwrap();
            let e_ref = e_ref.to_vec1::<f32>().unwrap();
            let g_ref = g_ref.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let what = format!(
                "{act:?} depth {depth} outputs {outputs} {:?}",
                arch.ops.len()
            );
            assert!(max_rel(&e, &e_ref) < 1e-4, "energies differ: {what}");
            assert!(
                max_rel(&e_only, &e_ref) < 1e-4,
                "energy-only pass differs: {what}"
            );
            assert!(max_rel(&gx, &g_ref) < 1e-4, "∇ₓE differs: {what}");

            // Parameter gradients for a range weighting and a per-row weighting.
            let w_rows: Vec<f32> = (0..rows).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut g_range = vec![0.0; arch.n_params];
            let mut g_rows = vec![0.0; arch.n_params];
            let mut e2 = vec![0.0; rows];
            ws.param_grads(
                &params,
                &x,
                &mut e2,
                &mut [
                    (
                        RowWeights::Range {
                            rows: 5..20,
                            scale: 0.5,
                        },
                        &mut g_range,
                    ),
                    (RowWeights::PerRow(&w_rows), &mut g_rows),
                ],
            );
            let mask: Vec<f32> = (0..rows)
                .map(|r| if (5..20).contains(&r) { 0.5 } else { 0.0 })
                .collect();
            let ref_range = net
                .weighted_param_grad(&xt, &Tensor::from_slice(&mask, rows, &dev).unwrap())
                .unwrap();
            let ref_rows = net
                .weighted_param_grad(&xt, &Tensor::from_slice(&w_rows, rows, &dev).unwrap())
                .unwrap();
            assert!(
                max_rel(&g_range, &ref_range) < 1e-4,
                "range-weighted θ-gradient differs: {what}"
            );
            assert!(
                max_rel(&g_rows, &ref_rows) < 1e-4,
                "row-weighted θ-gradient differs: {what}"
            );
            if outputs > 1 {
                let labels: Vec<u32> = (0..rows).map(|_| rng.random_range(0..4)).collect();
                let mut g_ce = vec![0.0; arch.n_params];
                let mut e3 = vec![0.0; rows];
                #[allow(clippy::cast_precision_loss)]
                let inv = 1.0 / rows as f32;
                let (ce_sum, _) =
                    ws.cross_entropy_grads(&params, &x, &labels, &mut e3, inv, &mut g_ce);
                let lt = Tensor::from_slice(&labels, rows, &dev).unwrap();
                let (ce_ref, g_ce_ref) = net.cross_entropy_grad(&xt, &lt).unwrap();
                #[allow(clippy::cast_possible_truncation)]
                let ce_mean = (ce_sum / rows as f64) as f32;
                assert!(
                    (ce_mean - ce_ref).abs() < 1e-4 * (1.0 + ce_ref.abs()),
                    "cross-entropy {ce_mean} vs {ce_ref}: {what}"
                );
                assert!(
                    max_rel(&g_ce, &g_ce_ref) < 1e-4,
                    "cross-entropy θ-gradient differs: {what}"
                );
                assert!(max_rel(&e3, &e_ref) < 1e-4, "energies differ: {what}");
            }
            let _ = net.forward(&xt).unwrap();
            cases += 1;
        }
    }
    assert_eq!(cases, 56);
}

/// A gradient over more rows than the engine takes at once (it runs them in pieces that
/// stay in cache): every weighting, with ranges that cross the pieces' edges, sums to
/// autograd's over the whole batch, and every row's energy is written.
#[test]
fn parameter_gradients_over_many_rows_match_autograd() {
    let mut rng = StdRng::seed_from_u64(21);
    let dev = Device::Cpu;
    for outputs in [1, 4] {
        let spec = ModelSpec {
            layers: vec![
                LayerSpec::Linear(128),
                LayerSpec::act(Activation::Silu),
                LayerSpec::Linear(128),
                LayerSpec::act(Activation::Silu),
            ],
            outputs,
            gaussian: None,
        };
        let arch = Architecture::new(&spec, 2);
        let params = init_params(&arch, &mut rng);
        let rows = 700;
        let x: Vec<f32> = (0..rows * 2).map(|_| rng.random_range(-3.0..3.0)).collect();
        let w_rows: Vec<f32> = (0..rows).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut ws = Workspace::new(&arch);
        let mut e = vec![f32::NAN; rows];
        let (mut g_range, mut g_scaled, mut g_rows) = (
            vec![0.0; arch.n_params],
            vec![0.0; arch.n_params],
            vec![0.0; arch.n_params],
        );
        ws.param_grads(
            &params,
            &x,
            &mut e,
            &mut [
                (
                    RowWeights::Range {
                        rows: 100..550,
                        scale: 0.3,
                    },
                    &mut g_range,
                ),
                (
                    RowWeights::EnergyScaled {
                        rows: 200..700,
                        scale: 0.1,
                    },
                    &mut g_scaled,
                ),
                (RowWeights::PerRow(&w_rows), &mut g_rows),
            ],
        );
        let net = EnergyNet::new(&arch, &params, &dev).unwrap();
        let xt = Tensor::from_slice(&x, (rows, 2), &dev).unwrap();
        let (e_ref, _) = net.energy_grad_x(&xt).unwrap();
        let e_ref = e_ref.to_vec1::<f32>().unwrap();
        assert!(
            max_rel(&e, &e_ref) < 1e-4,
            "energies differ ({outputs} outputs)"
        );
        let weighted = |w: Vec<f32>| {
            net.weighted_param_grad(&xt, &Tensor::from_slice(&w, rows, &dev).unwrap())
                .unwrap()
        };
        let in_range = |r: usize, lo: usize, hi: usize| (lo..hi).contains(&r);
        let ref_range = weighted(
            (0..rows)
                .map(|r| if in_range(r, 100, 550) { 0.3 } else { 0.0 })
                .collect(),
        );
        let ref_scaled = weighted(
            (0..rows)
                .map(|r| {
                    if in_range(r, 200, 700) {
                        0.1 * e_ref[r]
                    } else {
                        0.0
                    }
                })
                .collect(),
        );
        let ref_rows = weighted(w_rows.clone());
        for (name, got, want) in [
            ("range", &g_range, &ref_range),
            ("energy-scaled", &g_scaled, &ref_scaled),
            ("per-row", &g_rows, &ref_rows),
        ] {
            assert!(
                max_rel(got, want) < 1e-4,
                "{name} θ-gradient over {rows} rows differs ({outputs} outputs): {}",
                max_rel(got, want)
            );
        }
    }
}
