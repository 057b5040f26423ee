//! The energies of held-out data, samples, uniform noise (and for images shuffled images):
//! the three populations every EBM code logs, as histograms, in every space.

use super::*;

/// Histograms of E on held-out data, on the sampler's batch and on uniform noise in the
/// box, on shared bins: where the samples sit between data and noise.
pub fn energy_histograms_ui(ui: &mut Ui, e: &crate::train::worker::EnergyPopulations) {
    let all = e
        .data
        .iter()
        .chain(&e.samples)
        .chain(&e.noise)
        .chain(&e.ood)
        .copied();
    let (lo, hi) = all
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !(lo.is_finite() && hi.is_finite()) {
        return;
    }
    let bins = 40_usize;
    let width = f64::from((hi - lo).max(1e-6)) / bins as f64;
    let hist = |xs: &[f32], name: &str, color: Color32| {
        let mut counts = vec![0_usize; bins];
        for v in xs.iter().filter(|v| v.is_finite()) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let k = ((f64::from(v - lo) / width) as usize).min(bins - 1);
            counts[k] += 1;
        }
        let n = xs.len().max(1) as f64;
        let bars: Vec<Bar> = counts
            .iter()
            .enumerate()
            .map(|(k, c)| {
                Bar::new(f64::from(lo) + (k as f64 + 0.5) * width, *c as f64 / n).width(width)
            })
            .collect();
        BarChart::new(name.to_string(), bars).color(color)
    };
    let mut keys = vec![("E(uniform noise)", theme::NOISE)];
    if !e.ood.is_empty() {
        keys.push(("E(pixel-shuffled data)", theme::OOD));
    }
    keys.push(("E(samples)", theme::SAMPLES));
    keys.push(("E(held-out data)", theme::DATA));
    header(
        ui,
        "Energies of data, samples and noise",
        &keys,
        "watch: samples sit on the data's energies, noise well above them.",
    );
    Plot::new("energy_histograms")
        .height(140.0)
        .labelled_axes("E(x)", Some("share"))
        .nice_axes(32.0)
        .show(ui, |p| {
            p.bar_chart(hist(&e.noise, "E(uniform noise)", theme::NOISE));
            if !e.ood.is_empty() {
                p.bar_chart(hist(&e.ood, "E(pixel-shuffled data)", theme::OOD));
            }
            p.bar_chart(hist(&e.samples, "E(samples)", theme::SAMPLES));
            p.bar_chart(hist(&e.data, "E(held-out data)", theme::DATA));
        });
}
