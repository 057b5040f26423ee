//! The fast engine and candle autograd agree on random networks of every activation,
//! depth 1–4, widths 1–300: energies, ∇ₓE, and weighted parameter gradients.

use candle_core::{Device, Module as _, Tensor};
use ebm_workbench::energy::fast::{RowWeights, Workspace};
use ebm_workbench::energy::net::EnergyNet;
use ebm_workbench::energy::{Activation, Architecture, LayerSpec, ModelSpec, init_params};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0_f32, |m, v| m.max(v.abs())).max(1e-3);
    a.iter()
        .zip(b)
        .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

#[test]
fn fast_engine_matches_autograd() {
    let mut rng = StdRng::seed_from_u64(7);
    let dev = Device::Cpu;
    let widths = [1, 3, 17, 64, 128, 300];
    let mut cases = 0;
    for act in Activation::ALL {
        for depth in 1..=4 {
            let layers: Vec<LayerSpec> = (0..depth)
                .flat_map(|_| {
                    let w = widths[rng.random_range(0..widths.len())];
                    [LayerSpec::Linear(w), LayerSpec::act(act)]
                })
                .collect();
            let arch = Architecture::new(&ModelSpec { layers }, 2);
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
            let what = format!("{act:?} depth {depth} {:?}", arch.ops.len());
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
            let _ = net.forward(&xt).unwrap();
            cases += 1;
        }
    }
    assert_eq!(cases, 28);
}
