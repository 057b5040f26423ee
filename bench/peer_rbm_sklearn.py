"""The peer of presets/digits_rbm_pcd.ron: scikit-learn's BernoulliRBM (PCD, 16 hidden
units) on the same digits binarized at half their range, scored by its exact held-out
NLL, log Z summed over the 2^16 hidden states in numpy (float64).

    python3 bench/peer_rbm_sklearn.py [--iters 100] [--lr 0.05] [--seed 0]

Prints `nll=` (nats per image, held out) and the figures of the initial and fitted
models. With `--model FILE.safetensors` (an RBM the workbench exported) it prints that
model's `log_z=` by the same numpy sum instead, to set beside `eval`'s
`log_z_enumeration=`. With `--save DIR` it writes the fitted RBM as
DIR/sklearn_rbm.safetensors (numpy arrays, no preset: the workbench reads it as an RBM)
and the held-out images as DIR/test_bits.npy, for
`ebm-workbench eval DIR/sklearn_rbm.safetensors --data DIR/test_bits.npy`. The split is 80/20 by a seeded shuffle (the workbench's own split differs in
which images it holds out, not in their number).
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM


def softplus(a):
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def log_z(w, b, c):
    """log Z of an RBM with weight w [hidden, visible], visible bias b, hidden bias c:
    log sum_h exp(c.h + sum_k softplus(b_k + (w^T h)_k)), every hidden state."""
    m = w.shape[0]
    states = ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype(np.float64)
    out = []
    for chunk in np.array_split(states, max(1, 2**m // 4096)):
        a = b[None, :] + chunk @ w
        out.append(chunk @ c + softplus(a).sum(axis=1))
    lw = np.concatenate(out)
    top = lw.max()
    return top + np.log(np.exp(lw - top).sum())


def free_energy(v, w, b, c):
    return -(v @ b) - softplus(v @ w.T + c[None, :]).sum(axis=1)


def nll(v, w, b, c):
    return float(free_energy(v, w, b, c).mean() + log_z(w, b, c))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", help="an RBM exported by the workbench: print its log Z")
    ap.add_argument("--save", help="a folder: write the fitted RBM and the held-out bits")
    args = ap.parse_args()
    if args.model:
        from safetensors.numpy import load_file

        t = load_file(args.model)
        w, b, c = (t[k].astype(np.float64) for k in ("weight", "visible_bias", "hidden_bias"))
        print(f"log_z={log_z(w, b, c):.6f}")
        return
    x = (load_digits().data >= 8).astype(np.float64)
    rng = np.random.default_rng(args.seed)
    idx = rng.permutation(len(x))
    n_test = int(round(0.2 * len(x)))
    test, train = x[idx[:n_test]], x[idx[n_test:]]
    rbm = BernoulliRBM(
        n_components=args.hidden,
        learning_rate=args.lr,
        batch_size=32,
        n_iter=args.iters,
        random_state=args.seed,
    )
    rbm.fit(train)
    w, b, c = rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_
    marg = train.mean(axis=0).clip(1e-3, 1 - 1e-3)
    independent = float(-(test * np.log(marg) + (1 - test) * np.log(1 - marg)).sum(axis=1).mean())
    print(f"images_train={len(train)} images_test={len(test)} hidden={args.hidden}")
    print(f"independent_bernoulli_nll={independent:.4f}")
    print(f"nll={nll(test, w, b, c):.4f}")
    print(f"train_nll={nll(train, w, b, c):.4f}")
    print(f"log_z={log_z(w, b, c):.6f}")
    if args.save:
        import os

        from safetensors.numpy import save_file

        os.makedirs(args.save, exist_ok=True)
        # components_ is stored column-major: safetensors writes the raw buffer, so the
        # arrays are made row-major first (else the weights arrive scrambled).
        save_file(
            {k: np.ascontiguousarray(v) for k, v in
             {"weight": w, "visible_bias": b, "hidden_bias": c}.items()},
            os.path.join(args.save, "sklearn_rbm.safetensors"),
        )
        np.save(os.path.join(args.save, "test_bits.npy"), test.astype(np.uint8))


if __name__ == "__main__":
    main()
