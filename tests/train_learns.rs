//! Training on 8 gaussians lowers the held-out NLL to near the data's true NLL.

mod common;

use ebm_workbench::Session;

#[test]
fn eight_gaussians_learns() {
    // The bundled preset exactly as a user gets it (2000 steps).
    let p = common::bundled("eight_gaussians.ron");
    let mut s = Session::new(&p).unwrap();
    let true_nll = s
        .data()
        .true_nll()
        .expect("8 gaussians has a known density");
    // The entropy of FFJORD's 8 gaussians is about 2.84 nats; this held-out split's
    // mean −log p is within sampling error of it.
    assert!((true_nll - 2.84).abs() < 0.08, "true NLL {true_nll}");
    let initial = s.evaluate().nll;
    for _ in 0..p.steps {
        s.step().expect("training does not diverge");
    }
    let fin = s.evaluate().nll;
    eprintln!("initial NLL {initial:.4}, final {fin:.4}, true {true_nll:.4}");
    assert!(
        initial - fin >= 1.0,
        "NLL fell only from {initial} to {fin}"
    );
    assert!(
        fin - true_nll <= 0.6,
        "final NLL {fin} is more than 0.6 above the true {true_nll}"
    );
}
