//! `cargo bench`: the inner pieces of a training step on the reference network
//! (2-128-128-1 SiLU), timed with the standard library (no bench framework).

use ebm_workbench::energy::fast::{RowWeights, Workspace};
use ebm_workbench::energy::{Architecture, LayerSpec, ModelSpec, init_params};
use rand::{Rng as _, SeedableRng as _};
use std::hint::black_box;
use std::time::Instant;

fn time(name: &str, reps: usize, mut f: impl FnMut()) {
    for _ in 0..reps.div_ceil(10) {
        f();
    }
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
    println!("{name:<40} {us:>10.1} µs");
}

fn main() {
    let model = ModelSpec {
        outputs: 1,
        layers: vec![
            LayerSpec::Linear(128),
            LayerSpec::Silu,
            LayerSpec::Linear(128),
            LayerSpec::Silu,
        ],
        gaussian: None,
    };
    let arch = Architecture::new(&model, 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let params = init_params(&arch, &mut rng);
    for rows in [128_usize, 256, 1024] {
        let x: Vec<f32> = (0..2 * rows).map(|_| rng.random_range(-4.0..4.0)).collect();
        let mut ws = Workspace::new(&arch);
        let mut e = vec![0.0; rows];
        let mut g = vec![0.0; 2 * rows];
        time(&format!("energy, {rows} rows"), 200, || {
            ws.energy(&params, &x, &mut e);
            black_box(&e);
        });
        time(
            &format!("energy + grad_x (one Langevin step), {rows} rows"),
            200,
            || {
                ws.energy_grad_x(&params, &x, &mut e, &mut g);
                black_box(&g);
            },
        );
        ws.pack(&params);
        time(
            &format!("  energy, weights packed once, {rows} rows"),
            400,
            || {
                ws.energy(&params, &x, &mut e);
                black_box(&e);
            },
        );
        ws.unpack();
        // As the sampler runs it: the weights packed once for all its steps.
        ws.pack(&params);
        let t = Instant::now();
        let reps = 400;
        for _ in 0..reps {
            ws.energy_grad_x(&params, &x, &mut e, &mut g);
            black_box(&g);
        }
        let s = t.elapsed().as_secs_f64() / f64::from(reps);
        ws.unpack();
        // Two 128×128 products a row (forward and backward), 2 FLOP per multiply-add.
        #[allow(clippy::cast_precision_loss)]
        let gflops = (rows * 2 * 128 * 128 * 2) as f64 / s / 1e9;
        println!(
            "{:<40} {:>10.1} µs ({gflops:.0} GFLOP/s in the two large products, one thread)",
            format!("  the same, weights packed once"),
            s * 1e6
        );
        let mut gp = vec![0.0; arch.n_params];
        time(
            &format!("one parameter-gradient term, {rows} rows"),
            100,
            || {
                ws.param_grads(
                    &params,
                    &x,
                    &mut e,
                    &mut [(
                        RowWeights::Range {
                            rows: 0..rows,
                            scale: 1.0,
                        },
                        &mut gp,
                    )],
                );
                black_box(&gp);
            },
        );
    }
    let g = 256;
    let mut grid_engine = ebm_workbench::energy::engine::FastEngine::new(&arch);
    time("energy on the 256×256 grid (parallel)", 10, || {
        let m = ebm_workbench::eval::exact::grid_model(
            &mut grid_engine,
            &params,
            &ebm_workbench::data::DataBox::square(4.0),
            g,
        )
        .expect("the fast engine");
        black_box(m.log_z);
    });
}
