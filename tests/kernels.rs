//! Every kernel level the CPU has gives the engine's numbers: the baseline loops and the
//! AVX2 ones run here even on an AVX-512 machine, capped one after the other, and each is
//! checked against candle autograd. (A test binary of its own: the cap is process-wide.)

mod common;

use candle_core::{Device, Tensor};
use common::max_rel;
use ebm_workbench::energy::fast::{KernelLevel, RowWeights, Workspace};
use ebm_workbench::energy::net::EnergyNet;
use ebm_workbench::energy::{Activation, Architecture, LayerSpec, ModelSpec, init_params};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// The kernel levels this CPU has, the baseline first.
fn levels() -> Vec<KernelLevel> {
    let detected = KernelLevel::detected();
    let levels: Vec<KernelLevel> = KernelLevel::ALL
        .into_iter()
        .filter(|l| *l <= detected)
        .collect();
    eprintln!("detected {detected:?}; checking {levels:?}");
    levels
}

/// The cap is process-wide: the tests of this binary take turns with it.
static CAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_kernel_level_matches_autograd() {
    let _turn = CAP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let levels = levels();
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(11);
    // 70 rows and width 37: vector bodies and their remainders.
    let rows = 70;
    for act in Activation::ALL {
        let spec = ModelSpec {
            layers: vec![
                LayerSpec::Linear(37),
                LayerSpec::act(act),
                LayerSpec::Linear(37),
                LayerSpec::act(act),
            ],
            outputs: 1,
            gaussian: None,
        };
        let arch = Architecture::new(&spec, 2);
        let params = init_params(&arch, &mut rng);
        let x: Vec<f32> = (0..rows * 2).map(|_| rng.random_range(-3.0..3.0)).collect();
        let net = EnergyNet::new(&arch, &params, &dev).unwrap();
        let xt = Tensor::from_slice(&x, (rows, 2), &dev).unwrap();
        let (e_ref, g_ref) = net.energy_grad_x(&xt).unwrap();
        let e_ref = e_ref.to_vec1::<f32>().unwrap();
        let g_ref = g_ref.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w = Tensor::full(0.5_f32, rows, &dev).unwrap();
        let p_ref = net.weighted_param_grad(&xt, &w).unwrap();
        for &level in &levels {
            KernelLevel::set_cap(Some(level));
            assert_eq!(KernelLevel::current(), level);
            let mut ws = Workspace::new(&arch);
            let (mut e, mut gx) = (vec![0.0; rows], vec![0.0; rows * 2]);
            ws.energy_grad_x(&params, &x, &mut e, &mut gx);
            let mut e_only = vec![0.0; rows];
            ws.energy(&params, &x, &mut e_only);
            let mut gp = vec![0.0; arch.n_params];
            ws.param_grads(
                &params,
                &x,
                &mut vec![0.0; rows],
                &mut [(
                    RowWeights::Range {
                        rows: 0..rows,
                        scale: 0.5,
                    },
                    &mut gp,
                )],
            );
            let what = format!("{act:?} at {}", level.name());
            assert!(max_rel(&e, &e_ref) < 1e-4, "energies differ: {what}");
            assert!(
                max_rel(&e_only, &e_ref) < 1e-4,
                "energy pass differs: {what}"
            );
            assert!(max_rel(&gx, &g_ref) < 1e-4, "∇ₓE differs: {what}");
            assert!(max_rel(&gp, &p_ref) < 1e-4, "θ-gradient differs: {what}");
        }
    }
    // A cap above what the CPU has is no promise: the engine stays within the CPU.
    KernelLevel::set_cap(Some(KernelLevel::Avx512));
    assert_eq!(KernelLevel::current(), KernelLevel::detected());
    KernelLevel::set_cap(None);
    assert_eq!(KernelLevel::current(), KernelLevel::detected());
}

/// The fast engine's convolutions and pooling at every kernel level the CPU has (every
/// activation on a conv net, whose activations run the same vector loops as the MLP's),
/// against candle autograd: E, ∇ₓE and the weighted parameter gradient.
#[test]
fn every_kernel_level_runs_conv_nets_as_candle_does() {
    let _turn = CAP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    use ebm_workbench::energy::engine::{CandleEngine, Engine as _};
    use ebm_workbench::energy::fast::LayerEngine;
    let levels = levels();
    let mut rng = StdRng::seed_from_u64(12);
    // Rows enough for the first convolution's im2col and its gradient to come in two
    // pieces (44 rows a piece on 9 × 9 maps, 56 on 8 × 8).
    let rows = 61;
    for (i, act) in Activation::ALL.into_iter().enumerate() {
        // Max pooling over a map it does not divide, and average pooling over one it
        // does (the loop for 2 × 2 windows), in turn; once the average pooling comes
        // before the activation (its step back then has no derivative to take).
        let (pool, side) = if i % 2 == 0 {
            (LayerSpec::MaxPool2d(2), 9)
        } else {
            (LayerSpec::AvgPool2d(2), 8)
        };
        let first = if i % 4 == 3 {
            [LayerSpec::conv(5, 3, 1, 1), pool, LayerSpec::act(act)]
        } else {
            [LayerSpec::conv(5, 3, 1, 1), LayerSpec::act(act), pool]
        };
        let spec = ModelSpec {
            layers: vec![
                first[0],
                first[1],
                first[2],
                LayerSpec::conv(7, 2, 2, 0),
                LayerSpec::act(act),
                LayerSpec::Linear(11),
                LayerSpec::act(act),
            ],
            outputs: 4,
            gaussian: None,
        };
        let arch = Architecture::for_shape(&spec, &[2, side, side]).expect("a valid network");
        let params = init_params(&arch, &mut rng);
        let d = arch.input_dim;
        let x: Vec<f32> = (0..rows * d).map(|_| rng.random_range(-2.0..2.0)).collect();
        let w: Vec<f32> = (0..rows).map(|r| 0.2 + 0.1 * (r % 3) as f32).collect();
        let mut candle = CandleEngine::new(&arch, Device::Cpu);
        let (mut e_ref, mut g_ref) = (vec![0.0; rows], vec![0.0; rows * d]);
        candle
            .energy_grad_x(&params, &x, None, &mut e_ref, &mut g_ref)
            .unwrap();
        let mut p_ref = vec![0.0; arch.n_params];
        candle
            .weighted_param_grad(&params, &x, &w, &mut p_ref)
            .unwrap();
        for &level in &levels {
            KernelLevel::set_cap(Some(level));
            let mut ours = LayerEngine::new(&arch);
            let (mut e, mut g) = (vec![0.0; rows], vec![0.0; rows * d]);
            ours.energy_grad_x(&params, &x, None, &mut e, &mut g)
                .unwrap();
            let mut p = vec![0.0; arch.n_params];
            ours.weighted_param_grad(&params, &x, &w, &mut p).unwrap();
            for (what, got, want) in [
                ("E", &e, &e_ref),
                ("∇ₓE", &g, &g_ref),
                ("∂E/∂θ", &p, &p_ref),
            ] {
                let r = max_rel(got, want);
                assert!(r < 1e-3, "{act:?} at {level:?}: {what} off by {r}");
            }
        }
        KernelLevel::set_cap(None);
    }
}
