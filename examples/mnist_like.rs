//! Writes an MNIST-shaped pair of IDX files made from the bundled digits, for trying
//! presets/mnist_conv_jem.ron (and measuring it) without downloading MNIST:
//!
//!     cargo run --release --example mnist_like -- presets/mnist 60000
//!
//! writes `presets/mnist/train-images-idx3-ubyte` and `train-labels-idx1-ubyte`: N
//! images of 28×28, the 1 797 digits scaled up bilinearly and, past the first 1 797,
//! shifted by up to two pixels each way (`ebm_workbench::data::images::digits_scaled`;
//! seed 0). It is not MNIST: there are only 1 797 distinct digits under the shifts.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), n) = (args.first(), args.get(1)) else {
        eprintln!("usage: mnist_like DIR [N (default 60000)]");
        std::process::exit(2);
    };
    let n: usize = match n.map(|v| v.parse()) {
        None => 60_000,
        Some(Ok(n)) if n >= 20 => n,
        Some(_) => {
            eprintln!("N must be a whole number of at least 20");
            std::process::exit(2);
        }
    };
    let dir = std::path::Path::new(dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("{}: {e}", dir.display());
        std::process::exit(1);
    }
    let images = ebm_workbench::data::images::digits_scaled(n, 28, 0);
    let (im, lb) = (
        dir.join("train-images-idx3-ubyte"),
        dir.join("train-labels-idx1-ubyte"),
    );
    if let Err(e) = ebm_workbench::data::images::write_idx(&images, &im, Some(&lb)) {
        eprintln!("{}: {e}", dir.display());
        std::process::exit(1);
    }
    println!("wrote {} and {} ({n} images)", im.display(), lb.display());
}
