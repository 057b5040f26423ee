//! Sampler: the rule, its step and noise, the chains' start, clamping and clipping.

use super::*;

/// The sampler's rule, steps, initialisation, clamping, with the implied temperature.
pub fn sampler_ui(ui: &mut Ui, s: &mut SamplerSpec, allows: Allows, rbm: Option<usize>) {
    // Exact draws: on the plane's grid, a few bits' states, or an RBM's hidden sum.
    let exact = allows.exact_sampler || rbm.is_some_and(|m| m <= crate::eval::rbm::MAX_HIDDEN);
    let rbm = rbm.is_some();
    // What a rule without a step size does, said under the grid (where it wraps).
    let mut note = None;
    egui::Grid::new("sampler_grid").num_columns(2).show(ui, |ui| {
        row(ui, "Rule", "SGLD: x ← x − a·∇E + s·ε (a, s decoupled, JEM style).\nLangevin: x ← x − η·∇E + √(2η)·ε (T = 1).\nMALA: the Langevin move as a proposal with a Metropolis test: exact at any step size.\nHMC: momentum, leapfrog steps and a Metropolis test: exact, long moves.\nExact: draws from the model on the grid (2-D), the unbiased reference.", |ui| {
            egui::ComboBox::from_id_salt("sampler_kind")
                .selected_text(s.kind.name())
                .show_ui(ui, |ui| {
                    let a = if s.kind == SamplerKind::Exact { 0.1 } else { s.kind.step_size() };
                    let noise = if matches!(s.kind, SamplerKind::Sgld { .. }) { s.kind.noise() } else { (2.0 * a).sqrt() };
                    // Bits are flipped (Gibbs), points moved: each space its own rules.
                    let choices = if allows.discrete && rbm {
                        vec![SamplerKind::Gibbs, SamplerKind::Gwg, SamplerKind::BlockGibbs, SamplerKind::Exact]
                    } else if allows.discrete {
                        vec![SamplerKind::Gibbs, SamplerKind::Gwg, SamplerKind::Exact]
                    } else {
                        let mut points = vec![
                            SamplerKind::Sgld { step_size: a, noise },
                            SamplerKind::Langevin { step_size: a },
                            SamplerKind::Mala { step_size: a },
                            SamplerKind::Hmc { step_size: a, leapfrog_steps: 5 },
                        ];
                        // A Gaussian RBM's layers are drawn in turn too.
                        if rbm {
                            points.push(SamplerKind::BlockGibbs);
                        }
                        points.push(SamplerKind::Exact);
                        points
                    };
                    for choice in choices.into_iter().filter(|c| *c != SamplerKind::Exact || exact) {
                        let selected = std::mem::discriminant(&s.kind) == std::mem::discriminant(&choice);
                        if ui.selectable_label(selected, choice.name()).clicked() && !selected {
                            s.kind = choice;
                        }
                    }
                })
                .response
        });
        match &mut s.kind {
            SamplerKind::Sgld { step_size, noise } => {
                row(ui, "Step size", "a: the gradient step (safe to change while training).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
                row(ui, "Noise", "s: the noise's standard deviation per step (safe to change while training).", |ui| {
                    ui.add(Num::new(noise).range(0.0..=10.0).speed(0.001))
                });
            }
            SamplerKind::Langevin { step_size } => {
                row(ui, "Step size", "η; the noise is √(2η) (safe to change while training).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
            }
            SamplerKind::Mala { step_size } => {
                row(ui, "Step size", "η of the Langevin proposal; larger steps are accepted less often (about 0.57 is the classic target).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
            }
            SamplerKind::Hmc { step_size, leapfrog_steps } => {
                row(ui, "Step size", "ε of each leapfrog step (about 0.65 acceptance is the classic target).", |ui| {
                    ui.add(Num::new(step_size).range(1e-5..=10.0).speed(0.001))
                });
                row(ui, "Leapfrog steps", "L per HMC step: each costs one gradient, so a step costs L gradients.", |ui| {
                    ui.add(Num::new(leapfrog_steps).range(1..=100))
                });
            }
            SamplerKind::Gwg => {
                note = Some(("Moves: one bit a step, chosen by the gradient", "Gibbs with gradients: the bit to flip is drawn with probability softmax(d/2), d the first-order estimate of each flip's energy drop, and the flip passes a Metropolis-Hastings test: exact, one gradient a step."));
            }
            SamplerKind::BlockGibbs => {
                note = Some(("Steps: hidden given visible, then visible given hidden", "h ~ Bernoulli(σ(c + Wv)), then v ~ Bernoulli(σ(b + Wᵀh)) (Gaussian units of deviation s: h ~ Bernoulli(σ(c + Wv/s)), then v ~ N(b + sWᵀh, s²)): the RBM's own sampler. From the data it is CD-k; from a replay buffer, PCD."));
            }
            SamplerKind::Gibbs => {
                note = Some(("Sweeps: each step visits every bit once", "Each bit is set to 1 with probability σ(E(x with 0) − E(x with 1)) given the others: one energy evaluation per bit, no step size, nothing rejected."));
            }
            SamplerKind::Exact => {
                let text = if allows.discrete || rbm {
                    "Draws: exact samples from the model"
                } else {
                    "Draws: exact samples from the grid"
                };
                note = Some((text, "The unbiased reference. In the plane: a cell by its probability softmax(−E), a point uniformly inside it. On bits: a state by its probability (every state summed over), or for an RBM a hidden state by its probability, then the visible bits given it."));
            }
        }
        if s.kind.is_metropolis() && !s.kind.is_discrete() {
            let mut adapt = s.target_acceptance.is_some();
            let mut target = s.target_acceptance.unwrap_or(match s.kind {
                SamplerKind::Mala { .. } => 0.57,
                _ => 0.65,
            });
            row(ui, "Adapt step", "Move the step size after every training step towards this acceptance rate (the step above is where it starts).", |ui| {
                ui.horizontal(|ui| {
                    let c = ui.checkbox(&mut adapt, "to").accessible_name("adapt to acceptance");
                    let v = ui.add_enabled(adapt, Num::new(&mut target).range(0.05..=0.99).speed(0.005)).accessible_name("target acceptance rate");
                    if c.changed() || v.changed() {
                        s.target_acceptance = adapt.then_some(target);
                    }
                })
                .response
            });
        }
        // Exact draws take no steps and keep no chains.
        if s.kind != SamplerKind::Exact {
            row(ui, "Steps (K)", "Sampler steps per training step.", |ui| {
                ui.add(Num::new(&mut s.steps).range(0..=1000))
            });
        }
    });
    if let Some((text, hover)) = note {
        ui.label(text).on_hover_text(hover);
    }
    if s.kind == SamplerKind::Exact {
        return;
    }
    let gradients =
        s.steps * s.kind.gradients_per_step() + usize::from(s.kind.is_metropolis() && s.steps > 0);
    if s.kind == SamplerKind::Gibbs {
        ui.weak(format!(
            "{} sweep{}: one energy evaluation per bit and sweep",
            s.steps,
            if s.steps == 1 { "" } else { "s" }
        ))
            .on_hover_text("The sampler's cost: K sweeps over the bits, each bit an evaluation of the energy at the state with that bit flipped (no gradients).");
    } else if s.kind != SamplerKind::Exact {
        ui.weak(format!("{gradients} gradient evaluations per training step"))
            .on_hover_text("The sampler's cost: K steps, times L leapfrog steps for HMC; MALA and HMC also evaluate the start.");
    }
    let t = s.kind.temperature();
    if matches!(s.kind, SamplerKind::Sgld { .. }) {
        ui.horizontal_wrapped(|ui| {
            let text = format!(
                "Temperature T = s²/(2a) = {}",
                crate::sampler::format_temperature(t)
            );
            if (0.5..=2.0).contains(&t) {
                ui.label(text)
            } else {
                ui.colored_label(crate::gui::theme::WARNING, text)
            }
            .on_hover_text("The chains follow p^(1/T); only T = 1 samples the model itself. Outside the plane the AIS NLL is that of exp(−E/T), the law the chains follow.");
            if ui
                .button("Proper Langevin (T = 1)")
                .on_hover_text("Set noise = √(2·step) so that the chains sample p_θ.")
                .clicked()
            {
                let a = s.kind.step_size();
                s.kind = SamplerKind::Sgld {
                    step_size: a,
                    noise: (2.0 * a).sqrt(),
                };
            }
        });
    }
    egui::Grid::new("init_grid").num_columns(2).show(ui, |ui| {
        row(ui, "Start", "Replay buffer (persistent chains), fresh noise (short-run), or the data batch (CD-k). Changing it resets.", |ui| {
            egui::ComboBox::from_id_salt("init_kind")
                .selected_text(s.init.name())
                .show_ui(ui, |ui| {
                    let rb = Init::ReplayBuffer { size: 10_000, reinit_prob: 0.05 };
                    for choice in [rb, Init::Noise, Init::Data] {
                        let sel = std::mem::discriminant(&s.init) == std::mem::discriminant(&choice);
                        if ui.selectable_label(sel, choice.name()).clicked() && !sel {
                            s.init = choice;
                        }
                    }
                })
                .response
        });
        if let Init::ReplayBuffer { size, reinit_prob } = &mut s.init {
            row(ui, "Buffer size", "Chains kept between training steps.", |ui| {
                ui.add(Num::new(size).range(1..=1_000_000).speed(100))
            });
            row(ui, "Re-init prob.", "Chance that a drawn chain restarts from uniform noise (fair coin flips on bits).", |ui| {
                ui.add(Num::new(reinit_prob).range(0.0..=1.0).speed(0.005))
            });
        }
        // Block Gibbs draws a Gaussian RBM's visible units whole: nothing to clamp.
        if !allows.discrete && s.kind != SamplerKind::BlockGibbs {
            row(ui, "Clamp", "Clamp the chains to the data box after every step.", |ui| {
                ui.checkbox(&mut s.clamp, "")
            });
        }
    });
}
