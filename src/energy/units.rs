//! What the energy is built from, in the plane: each hidden unit's response over the data
//! box (after its activation), the strongest few of each layer, and the weights between
//! the units shown — what the window draws as the network, as TensorFlow Playground does.

use super::spec::Op;
use super::{Activation, Architecture};
use crate::data::DataBox;

/// One hidden layer's units shown.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitLayer {
    /// The index of its Linear layer in the network's list.
    pub layer: usize,
    /// Units in the layer.
    pub width: usize,
    /// The activation that follows the Linear layer, if one does.
    pub activation: Option<Activation>,
    /// The units shown (indices, ascending).
    pub units: Vec<usize>,
    /// Their responses, `units.len() × grid²` (x fastest, y upwards).
    pub responses: Vec<f32>,
    /// Weights into each shown unit from the units shown before it (the inputs for the
    /// first layer): `units.len() × previous shown`.
    pub weights: Vec<f32>,
}

/// The network's units over the data box.
#[derive(Debug, Clone, PartialEq)]
pub struct Units {
    pub grid: usize,
    pub layers: Vec<UnitLayer>,
    /// E(x) on the same grid.
    pub energy: Vec<f32>,
    /// Weights from the last layer's shown units to the energy (for K logits, the norm
    /// over the logits of each unit's weights: how much the unit feeds them).
    pub output_weights: Vec<f32>,
    /// Whether the output weights are norms (K > 1) rather than signed weights.
    pub output_norms: bool,
}

/// Responses of the `per_layer` strongest units of each hidden layer (the largest spread
/// of response over the box) on a `g × g` grid over `b`. `None` for networks other than
/// an MLP on 2-D points.
#[must_use]
pub fn unit_responses(
    arch: &Architecture,
    params: &[f32],
    b: &DataBox,
    g: usize,
    per_layer: usize,
) -> Option<Units> {
    if !arch.is_mlp() || arch.input_dim != 2 || g == 0 {
        return None;
    }
    let n = g * g;
    let mut h = b.grid_points(g);
    let mut width = 2;
    // The units shown of the layer before (the inputs at first).
    let mut shown: Vec<usize> = vec![0, 1];
    let mut layers = Vec::new();
    let linears = arch
        .ops
        .iter()
        .filter(|o| matches!(o, Op::Linear { .. }))
        .count();
    let mut seen_linear = 0;
    let mut out = None;
    let mut i = 0;
    while i < arch.ops.len() {
        let Op::Linear {
            input,
            output,
            weight,
            bias,
            layer,
        } = arch.ops[i]
        else {
            i += 1;
            continue;
        };
        debug_assert_eq!(input, width);
        let w = &params[weight..weight + output * input];
        let bv = &params[bias..bias + output];
        let mut z = vec![0.0_f32; n * output];
        for (row, zr) in h.chunks_exact(input).zip(z.chunks_exact_mut(output)) {
            for (o, zo) in zr.iter_mut().enumerate() {
                let wr = &w[o * input..(o + 1) * input];
                *zo = bv[o] + wr.iter().zip(row).map(|(a, x)| a * x).sum::<f32>();
            }
        }
        // The activations that follow it.
        let mut j = i + 1;
        let mut activation = None;
        while let Some(Op::Act(a)) = arch.ops.get(j) {
            activate(*a, &mut z);
            activation = Some(*a);
            j += 1;
        }
        seen_linear += 1;
        if seen_linear == linears {
            out = Some((z, output, w.to_vec(), input));
            break;
        }
        // The strongest units: the largest spread of response over the box.
        let mut spread: Vec<(usize, f32)> = (0..output)
            .map(|u| {
                let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                for r in z.chunks_exact(output) {
                    lo = lo.min(r[u]);
                    hi = hi.max(r[u]);
                }
                (u, hi - lo)
            })
            .collect();
        spread.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut units: Vec<usize> = spread.iter().take(per_layer).map(|s| s.0).collect();
        units.sort_unstable();
        let mut responses = Vec::with_capacity(units.len() * n);
        for &u in &units {
            responses.extend(z.chunks_exact(output).map(|r| r[u]));
        }
        let weights = units
            .iter()
            .flat_map(|&u| shown.iter().map(move |&p| w[u * input + p]))
            .collect();
        layers.push(UnitLayer {
            layer,
            width: output,
            activation,
            units: units.clone(),
            responses,
            weights,
        });
        shown = units;
        h = z;
        width = output;
        i = j;
    }
    let (z, k, w, input) = out?;
    let energy: Vec<f32> = if k == 1 {
        z
    } else {
        z.chunks_exact(k)
            .map(|r| {
                let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                -(m + r.iter().map(|v| (v - m).exp()).sum::<f32>().ln())
            })
            .collect()
    };
    let output_weights = shown
        .iter()
        .map(|&p| {
            if k == 1 {
                w[p]
            } else {
                (0..k).map(|o| w[o * input + p].powi(2)).sum::<f32>().sqrt()
            }
        })
        .collect();
    Some(Units {
        grid: g,
        layers,
        energy,
        output_weights,
        output_norms: k > 1,
    })
}

fn activate(a: Activation, z: &mut [f32]) {
    super::fast::activate(a, z);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::{LayerSpec, ModelSpec};

    #[test]
    fn responses_are_the_network_s_own_and_end_in_its_energy() {
        let spec = ModelSpec {
            layers: vec![
                LayerSpec::Linear(5),
                LayerSpec::act(Activation::Tanh),
                LayerSpec::Linear(4),
                LayerSpec::act(Activation::Relu),
            ],
            outputs: 1,
            gaussian: None,
        };
        let arch = Architecture::for_shape(&spec, &[2]).unwrap();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
        let params = crate::energy::init_params(&arch, &mut rng);
        let b = DataBox {
            lo: vec![-2.0, -1.0],
            hi: vec![2.0, 3.0],
            bits: false,
        };
        let u = unit_responses(&arch, &params, &b, 6, 3).unwrap();
        assert_eq!(u.layers.len(), 2);
        assert_eq!((u.layers[0].layer, u.layers[1].layer), (0, 2));
        assert_eq!(u.layers[0].units.len(), 3);
        assert_eq!(u.layers[0].weights.len(), 3 * 2);
        assert_eq!(u.layers[1].weights.len(), 3 * 3);
        assert_eq!(u.output_weights.len(), 3);
        // The energy on the grid is the engine's.
        let pts = b.grid_points(6);
        let mut e = vec![0.0; 36];
        crate::energy::fast::Workspace::new(&arch).energy(&params, &pts, &mut e);
        for (a, b) in u.energy.iter().zip(&e) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // A response is tanh(w·x + b) of its unit, at the first grid point.
        let Op::Linear { weight, bias, .. } = arch.ops[0] else {
            unreachable!()
        };
        let k = u.layers[0].units[1];
        let want = (params[bias + k]
            + params[weight + 2 * k] * pts[0]
            + params[weight + 2 * k + 1] * pts[1])
            .tanh();
        assert!((u.layers[0].responses[36] - want).abs() < 1e-6);
        assert_eq!(u.layers[0].weights[2], params[weight + 2 * k]);
        // The strongest: the three shown vary most of all five.
        let all = unit_responses(&arch, &params, &b, 6, 5).unwrap();
        let mut by_spread: Vec<(usize, f32)> = (0..5).map(|k| (k, spread(&all, k))).collect();
        by_spread.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut top: Vec<usize> = by_spread[..3].iter().map(|s| s.0).collect();
        top.sort_unstable();
        assert_eq!(u.layers[0].units, top);
    }

    fn spread(u: &Units, k: usize) -> f32 {
        let i = u.layers[0].units.iter().position(|&x| x == k).unwrap();
        let r = &u.layers[0].responses[i * 36..(i + 1) * 36];
        r.iter().copied().fold(f32::NEG_INFINITY, f32::max)
            - r.iter().copied().fold(f32::INFINITY, f32::min)
    }
}
