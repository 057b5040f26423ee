//! Objective and optimiser: maximum likelihood, JEM or score matching with their
//! settings, the optimiser, and how and how often the NLL is evaluated.

use super::*;

/// The objective (maximum likelihood or JEM), the optimiser and the evaluation settings.
/// `data_classes` is the number of classes of the loaded data (0: unlabelled).
pub fn objective_ui(ui: &mut Ui, p: &mut Preset, data_classes: usize, space: Space) {
    objective_menu(ui, &mut p.objective.kind, &mut p.model, data_classes);
    egui::Grid::new("objective_grid")
        .num_columns(2)
        .show(ui, |ui| {
            objective_rows(ui, &mut p.objective);
            optimiser_rows(ui, &mut p.optimizer);
        });
    // A grid of its own: its long labels ("AIS temperatures") would widen the first
    // column above and push the objective's menu past a narrow column's edge.
    egui::Grid::new("evaluation_grid")
        .num_columns(2)
        .show(ui, |ui| {
            let method = crate::eval::Method::for_model(space, &p.model);
            evaluation_rows(ui, &mut p.eval, space, method);
        });
}

/// The objective, its own settings and the energy regulariser α; choosing JEM gives the
/// network one logit per class of the data.
fn objective_rows(ui: &mut Ui, objective: &mut ObjectiveSpec) {
    let ObjectiveSpec { alpha, kind } = objective;
    if let ObjectiveKind::Dsm { sigma } = kind {
        row(
            ui,
            "Noise σ",
            "The noise level: the model learns the data blurred by N(0, σ²) (safe to change while training).",
            |ui| ui.add(Num::new(sigma).range(1e-3..=10.0).speed(0.001)),
        );
    }
    if let ObjectiveKind::Ssm { projections } = kind {
        row(
            ui,
            "Projections",
            "Random directions per point (safe to change while training).",
            |ui| ui.add(Num::new(projections).range(1..=64)),
        );
    }
    if let ObjectiveKind::Jem { ce_weight } = kind {
        row(
            ui,
            "CE weight",
            "Weight of the cross-entropy on the labels next to the likelihood term (safe to change while training).",
            |ui| ui.add(Num::new(ce_weight).range(0.0..=100.0).speed(0.01)),
        );
    }
    row(
        ui,
        "α",
        "Energy regulariser α·(E(x⁺)² + E(x⁻)²) (safe to change while training).",
        |ui| ui.add(Num::new(alpha).range(0.0..=10.0).speed(0.005)),
    );
}

/// The objective's menu, on a row of its own above the grid: "denoising score matching"
/// is wider than a narrow column's value cell, so the menu moves under its label there.
fn objective_menu(ui: &mut Ui, kind: &mut ObjectiveKind, model: &mut ModelSpec, classes: usize) {
    let labelled = classes >= 2;
    let tip = "Maximum likelihood (contrastive divergence), or JEM: a classifier with one logit per class trained on the labels (cross-entropy) and, through E = −logsumexp f, as an EBM.";
    ui.horizontal_wrapped(|ui| {
        ui.label("Objective").on_hover_text(tip);
        egui::ComboBox::from_id_salt("objective_kind")
            .selected_text(kind.name())
            .show_ui(ui, |ui| {
                if ui
                    .selectable_label(*kind == ObjectiveKind::MaximumLikelihood, "maximum likelihood")
                    .clicked()
                {
                    *kind = ObjectiveKind::MaximumLikelihood;
                }
                let jem = ui
                    .add_enabled(
                        labelled,
                        egui::Button::selectable(matches!(kind, ObjectiveKind::Jem { .. }), "JEM (hybrid)"),
                    )
                    .on_disabled_hover_text("JEM needs labels: a toy set, or a data file with a label column (Data → Labels).");
                if jem.clicked() && !matches!(kind, ObjectiveKind::Jem { .. }) {
                    *kind = ObjectiveKind::Jem { ce_weight: 1.0 };
                    // One logit per class of the data.
                    model.outputs = classes;
                }
                if ui
                    .selectable_label(matches!(kind, ObjectiveKind::Dsm { .. }), "denoising score matching")
                    .on_hover_text("∇ₓE at x + σε matches ε/σ (Vincent 2011): learns the energy without a sampler.")
                    .clicked()
                    && !matches!(kind, ObjectiveKind::Dsm { .. })
                {
                    *kind = ObjectiveKind::Dsm { sigma: 0.1 };
                }
                if ui
                    .selectable_label(matches!(kind, ObjectiveKind::Ssm { .. }), "sliced score matching")
                    .on_hover_text("E[−vᵀ∇²E v + ½(vᵀ∇E)²] over random directions v (Song et al. 2019): no sampler, no noise level.")
                    .clicked()
                    && !matches!(kind, ObjectiveKind::Ssm { .. })
                {
                    *kind = ObjectiveKind::Ssm { projections: 1 };
                }
            })
            .response
            .on_hover_text(tip);
        if kind.is_score_matching() {
            ui.weak("learns without a sampler");
        }
    });
}

/// The optimiser: its kind, learning rate, moments or momentum, weight decay and the
/// gradient's clip.
fn optimiser_rows(ui: &mut Ui, o: &mut OptimizerSpec) {
    row(
        ui,
        "Optimiser",
        "Adam, AdamW (decoupled weight decay) or SGD.",
        |ui| {
            egui::ComboBox::from_id_salt("opt_kind")
                .selected_text(o.kind.name())
                .show_ui(ui, |ui| {
                    for k in OptimizerKind::ALL {
                        ui.selectable_value(&mut o.kind, k, k.name());
                    }
                })
                .response
        },
    );
    row(
        ui,
        "Learning rate",
        "Safe to change while training.",
        |ui| {
            ui.add(
                Num::new(&mut o.lr)
                    .range(1e-6..=1.0)
                    .speed(1e-4)
                    .max_decimals(6),
            )
        },
    );
    if o.kind == OptimizerKind::Sgd {
        row(ui, "Momentum", "SGD momentum.", |ui| {
            ui.add(Num::new(&mut o.momentum).range(0.0..=0.999).speed(0.01))
        });
    } else {
        row(
            ui,
            "β₁",
            "Adam's first-moment decay (0 is common for EBMs).",
            |ui| ui.add(Num::new(&mut o.betas.0).range(0.0..=0.999).speed(0.01)),
        );
        row(ui, "β₂", "Adam's second-moment decay.", |ui| {
            ui.add(Num::new(&mut o.betas.1).range(0.0..=0.99999).speed(0.0001))
        });
    }
    row(
        ui,
        "Weight decay",
        "L2 (Adam, SGD) or decoupled (AdamW).",
        |ui| ui.add(Num::new(&mut o.weight_decay).range(0.0..=1.0).speed(1e-4)),
    );
    let mut clip = o.clip_grad_norm.is_some();
    let mut value = o.clip_grad_norm.unwrap_or(1.0);
    row(
        ui,
        "Clip |g|",
        "Rescale the gradient to at most this norm.",
        |ui| {
            ui.horizontal(|ui| {
                ui.checkbox(&mut clip, "")
                    .accessible_name("clip the gradient");
                ui.add_enabled(clip, Num::new(&mut value).range(1e-3..=1e3).speed(0.01))
                    .accessible_name("largest gradient norm");
            })
            .response
        },
    );
    o.clip_grad_norm = clip.then_some(value);
}

/// How often the held-out NLL is evaluated and how: the quadrature grid in the plane,
/// AIS's chains and temperatures (with their cost) elsewhere.
fn evaluation_rows(ui: &mut Ui, eval: &mut EvalSpec, space: Space, method: crate::eval::Method) {
    let EvalSpec {
        eval_every,
        grid,
        ais_chains,
        ais_temperatures,
        ais_steps,
        ..
    } = eval;
    let quadrature = method == crate::eval::Method::Quadrature;
    let how = match method {
        crate::eval::Method::Quadrature => {
            "by quadrature over the data box (exact up to the grid)".to_string()
        }
        crate::eval::Method::Enumeration
            if space.dim() > crate::data::space::MAX_ENUMERATED_BITS =>
        {
            "exactly, by summing over the RBM's hidden states".to_string()
        }
        crate::eval::Method::Enumeration => {
            format!("exactly, by summing over all 2^{} states", space.dim())
        }
        crate::eval::Method::Unavailable => {
            "(not measurable here: no estimator for this energy on these bits)".to_string()
        }
        crate::eval::Method::Ais => {
            "by AIS (an estimate with its standard error; no grid outside the plane)".to_string()
        }
    };
    row(
        ui,
        "NLL every",
        &format!("Evaluate the held-out NLL {how} every this many steps."),
        |ui| ui.add(Num::new(eval_every).range(0..=100_000)),
    );
    if quadrature {
        row(
            ui,
            "Grid",
            "Points per side of the quadrature grid.",
            |ui| ui.add(Num::new(grid).range(EvalSpec::GRID)),
        );
    } else if method == crate::eval::Method::Ais {
        row(
            ui,
            "AIS chains",
            "Chains of each AIS estimate of log Z.",
            |ui| ui.add(Num::new(ais_chains).range(2..=100_000)),
        );
        row(
            ui,
            "AIS temperatures",
            "Intermediate distributions from the base to the model.",
            |ui| ui.add(Num::new(ais_temperatures).range(1..=100_000)),
        );
        let cost = crate::eval::Evaluator::Ais(crate::eval::ais::AisSpec {
            chains: *ais_chains,
            temperatures: *ais_temperatures,
            steps_per_temperature: *ais_steps,
            ..crate::eval::ais::AisSpec::default()
        })
        .cost();
        // Short enough for the grid's value column in a 1 024-px window.
        ui.label("AIS cost");
        ui.label(format!("≈ {:.1} M evals", cost as f64 / 1e6))
            .on_hover_text("Energy and gradient evaluations per AIS estimate: chains × temperatures × (1 + MALA steps).");
        ui.end_row();
    }
}
