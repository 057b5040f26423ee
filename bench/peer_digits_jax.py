"""JAX (CPU, jit) peer for the three image workloads of `ebm-workbench bench --workload
digits-mlp|digits-conv|mnist-conv`: JEM (Grathwohl et al. 2020), the hybrid objective, on the bundled
8x8 digits. The whole training step (data draw, buffer draw and re-initialisation, the K SGLD
steps, the loss, Adam, the buffer write-back) is one jitted function; the buffer stays on the
device (the state is donated, so it is updated in place). The K SGLD steps (--sampler) are a
lax.fori_loop for mlp and a Python loop unrolled inside the jit for conv: on a 2-core CPU
with jax 0.10.2 the unrolled loop is about 2x faster for conv (XLA runs the convolutions in
a while-loop body much slower) and about 1.3x slower for mlp; both give the same numbers up to float rounding.

Data: assets/digits/digits.csv.gz (1797 rows: 64 pixels 0-16 row-major, then the label 0-9);
pixels v -> 2*v/16 - 1 in [-1, 1]; rows shuffled with a fixed seed (--split-seed, 0; not
--seed), the first 20% (359 rows) held out for the accuracy, the other 1438 trained on.

Step (float32): x+ = 64 training images drawn with replacement + N(0, 0.03^2), labels y;
64 rows drawn at random from a buffer of 10000 (uniform in [-1,1]^64 at the start), each
re-initialised to U[-1,1]^64 with probability 0.05, then K=20 SGLD steps
x <- clip(x - 1.0*dE/dx + 0.01*N(0,I), -1, 1), written back to the rows they came from.
f(x) gives 10 logits, E(x) = -logsumexp f(x);
loss = CE(f(x+), y) + mean E(x+) - mean E(x-) + 0.1*(mean E(x+)^2 + mean E(x-)^2)
(the squares are means of E^2, as the workbench computes them), x- = stop_gradient(SGLD output);
Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, bias-corrected as torch.optim.Adam.
Initialisation as PyTorch: weight and bias U(+-1/sqrt(fan_in)), fan_in = in*k*k for a conv.

--workload mlp:  Linear(64,256) SiLU Linear(256,256) SiLU Linear(256,10).
--workload conv: 1x8x8 NCHW, Conv2d(1,16,3,p=1) SiLU AvgPool2 Conv2d(16,32,3,p=1) SiLU AvgPool2,
                 flatten (C,H,W) = 128, Linear(128,128) SiLU Linear(128,10); conv weights
                 [out, in, k, k], lax.conv_general_dilated with ('NCHW', 'OIHW', 'NCHW').
--workload mnist-conv: the same layers on 1x28x28 (flatten 32x7x7 = 1568, Linear(1568,128)),
                 on the digits scaled up to 28x28 as the workbench's mnist-conv makes them:
                 bilinear with corners aligned (output pixel i reads the 8x8 source at
                 i*7/27), rounded to multiples of 1/255, then scaled to [-1, 1] as above.

Timing: the step is compiled ahead of time (compile_s, not timed); each
step after the first --warmup ones is timed on its own, from the call until its outputs
(state and the step's loss/CE, copied to the host) are ready; steps_per_sec = timed steps /
the sum of their times. --steps counts all steps, warm-up included.
--threads T (optional) pins the process to T cores (XLA's CPU pool follows the affinity)
and, for T = 1, also sets XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1, all before jax is imported; without it JAX's default.
"""
import argparse
import gzip
import json
import math
import os
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--workload", choices=["mlp", "conv", "mnist-conv"], default="mlp")
ap.add_argument("--steps", type=int, default=220, help="training steps in all, warm-up included")
ap.add_argument("--warmup", type=int, default=20)
ap.add_argument("--threads", type=int, default=None, help="default: JAX's own default")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--split-seed", type=int, default=0, help="the fixed seed of the held-out split")
ap.add_argument("--eval-every", type=int, default=0, help="0: evaluate at the end only (never timed)")
ap.add_argument("--data", default=os.path.join(HERE, "..", "assets", "digits", "digits.csv.gz"))
ap.add_argument("--sampler", choices=["auto", "fori", "unroll"], default="auto",
                help="the K SGLD steps as one lax.fori_loop, or as a Python loop unrolled inside the jit; "
                     "auto (default): fori for mlp, unroll for conv (the faster of the two for each)")
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--langevin-steps", type=int, default=20)
ap.add_argument("--step-size", type=float, default=1.0)
ap.add_argument("--noise", type=float, default=0.01)
ap.add_argument("--data-noise", type=float, default=0.03)
ap.add_argument("--reg", type=float, default=0.1)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--buffer", type=int, default=10000)
ap.add_argument("--reinit", type=float, default=0.05)
ap.add_argument("--held-out", type=float, default=None,
                help="the held-out share: 0.2 (digits_jem, digits_conv), 0.1 for mnist-conv (mnist_conv_jem)")
args = ap.parse_args()
if args.held_out is None:
    args.held_out = 0.1 if args.workload == "mnist-conv" else 0.2
if args.sampler == "auto":
    args.sampler = "fori" if args.workload == "mlp" else "unroll"
if args.warmup >= args.steps:
    ap.error("--warmup must be smaller than --steps")

if args.threads is not None:
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    if args.threads < os.cpu_count():
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.threads]))
    if args.threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

B, K = args.batch, args.langevin_steps

# ---- data ---------------------------------------------------------------------------------
with gzip.open(args.data, "rt") as f:
    raw = np.loadtxt(f, delimiter=",", dtype=np.int64)
assert raw.shape[1] == 65, raw.shape
order = np.random.default_rng(args.split_seed).permutation(raw.shape[0])
raw = raw[order]
n_test = min(int(round(raw.shape[0] * args.held_out)), raw.shape[0] - 1)
pix01 = raw[:, :64].astype(np.float32) / 16.0


def scale_up(img, side):  # bilinear, corners aligned, rounded to 8 bits (float32 as the workbench)
    src = img.reshape(-1, 8, 8)
    s = np.arange(side, dtype=np.float32) * np.float32(7.0 / (side - 1))
    lo = np.minimum(np.floor(s).astype(np.int64), 6)
    f = (s - lo.astype(np.float32)).astype(np.float32)
    fx, fy = f[None, None, :], f[None, :, None]
    a, b = src[:, lo][:, :, lo], src[:, lo][:, :, lo + 1]
    c, d = src[:, lo + 1][:, :, lo], src[:, lo + 1][:, :, lo + 1]
    top, bottom = a * (1 - fx) + b * fx, c * (1 - fx) + d * fx
    v = top * (1 - fy) + bottom * fy
    return (np.round(v * 255.0) / 255.0).astype(np.float32).reshape(len(img), -1)


SIDE = 28 if args.workload == "mnist-conv" else 8
if SIDE != 8:
    pix01 = scale_up(pix01, SIDE)
D = SIDE * SIDE
pix = (2.0 * pix01 - 1.0).astype(np.float32)
lab = raw[:, 64].astype(np.int32)
test_x, test_y = jnp.asarray(pix[:n_test]), jnp.asarray(lab[:n_test])
train_x, train_y = jnp.asarray(pix[n_test:]), jnp.asarray(lab[n_test:])


# ---- networks -----------------------------------------------------------------------------
def uniform(k, shape, fan_in):
    b = 1 / math.sqrt(fan_in)
    return jax.random.uniform(k, shape, jnp.float32, minval=-b, maxval=b)


def linear(k, i, o):  # stored [in, out] (x @ w); torch.nn.Linear's init
    kw, kb = jax.random.split(k)
    return (uniform(kw, (i, o), i), uniform(kb, (o,), i))


def conv(k, i, o, ks=3):  # stored [out, in, k, k] as torch.nn.Conv2d; its init
    kw, kb = jax.random.split(k)
    return (uniform(kw, (o, i, ks, ks), i * ks * ks), uniform(kb, (o,), i * ks * ks))


def init_mlp(key):
    k = jax.random.split(key, 3)
    return [linear(k[0], 64, 256), linear(k[1], 256, 256), linear(k[2], 256, 10)]


def logits_mlp(p, x):
    h = jax.nn.silu(x @ p[0][0] + p[0][1])
    h = jax.nn.silu(h @ p[1][0] + p[1][1])
    return h @ p[2][0] + p[2][1]


def init_conv(key):
    k = jax.random.split(key, 4)
    flat = 32 * (SIDE // 4) ** 2
    return [conv(k[0], 1, 16), conv(k[1], 16, 32), linear(k[2], flat, 128), linear(k[3], 128, 10)]


def conv2d(x, wb):
    y = lax.conv_general_dilated(x, wb[0], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + wb[1][None, :, None, None]


def avgpool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def logits_conv(p, x):
    h = x.reshape(-1, 1, SIDE, SIDE)
    h = avgpool2(jax.nn.silu(conv2d(h, p[0])))  # 16x4x4 (16x14x14)
    h = avgpool2(jax.nn.silu(conv2d(h, p[1])))  # 32x2x2 (32x7x7)
    h = h.reshape(h.shape[0], -1)  # (C, H, W) order: 128 (1568)
    h = jax.nn.silu(h @ p[2][0] + p[2][1])
    return h @ p[3][0] + p[3][1]


init, logits = (init_mlp, logits_mlp) if args.workload == "mlp" else (init_conv, logits_conv)


def energy(p, x):
    return -jax.nn.logsumexp(logits(p, x), axis=-1)


# ---- training step ------------------------------------------------------------------------
def sgld(p, x, noise):  # --sampler fori: one lax.fori_loop over the K steps; unroll: a Python loop
    gx = jax.grad(lambda x: energy(p, x).sum())
    body = lambda k, x: jnp.clip(x - args.step_size * gx(x) + noise[k], -1.0, 1.0)
    if args.sampler == "fori":
        return lax.fori_loop(0, noise.shape[0], body, x)
    for k in range(noise.shape[0]):
        x = body(k, x)
    return x


def loss_fn(p, xd, yd, xs):
    lg = logits(p, xd)
    lse = jax.nn.logsumexp(lg, axis=-1)
    ed = -lse
    ce = jnp.mean(lse - jnp.take_along_axis(lg, yd[:, None], axis=-1)[:, 0])
    es = energy(p, lax.stop_gradient(xs))
    loss = ce + ed.mean() - es.mean() + args.reg * (jnp.mean(ed ** 2) + jnp.mean(es ** 2))
    return loss, ce


def train_step(state, key, data_x, data_y):
    p, m, v, t, buf = state
    kd, ke, ki, kr, ku, kn = jax.random.split(key, 6)
    j = jax.random.randint(kd, (B,), 0, data_x.shape[0])
    xd = data_x[j] + args.data_noise * jax.random.normal(ke, (B, D))
    yd = data_y[j]
    idx = jax.random.randint(ki, (B,), 0, buf.shape[0])
    fresh = jax.random.uniform(ku, (B, D), minval=-1.0, maxval=1.0)
    x0 = jnp.where(jax.random.uniform(kr, (B, 1)) < args.reinit, fresh, buf[idx])
    xs = sgld(p, x0, args.noise * jax.random.normal(kn, (K, B, D)))
    buf = buf.at[idx].set(xs)
    (loss, ce), g = jax.value_and_grad(loss_fn, has_aux=True)(p, xd, yd, xs)
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    bc1, bc2 = 1 - 0.9 ** t, 1 - 0.999 ** t
    p = jax.tree_util.tree_map(lambda p, m, v: p - args.lr * (m / bc1) / (jnp.sqrt(v / bc2) + 1e-8), p, m, v)
    return (p, m, v, t, buf), jnp.stack([loss, ce])


@jax.jit
def evaluate(p, x, y):
    lg = logits(p, x)
    ce = jnp.mean(jax.nn.logsumexp(lg, axis=-1) - jnp.take_along_axis(lg, y[:, None], axis=-1)[:, 0])
    return jnp.mean((jnp.argmax(lg, axis=-1) == y).astype(jnp.float32)), ce


key = jax.random.PRNGKey(args.seed)
key, kp, kb = jax.random.split(key, 3)
p = init(kp)
zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, p)  # m and v: distinct buffers (the state is donated)
state = (p, zeros(), zeros(), jnp.float32(0), jax.random.uniform(kb, (args.buffer, D), minval=-1.0, maxval=1.0))
n_params = sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(p))
t0 = time.perf_counter()
step = jax.jit(train_step, donate_argnums=0).lower(state, key, train_x, train_y).compile()
compile_s = time.perf_counter() - t0
jax.block_until_ready(evaluate(state[0], test_x, test_y))  # compile the evaluation outside the timings

times, evals = [], []
metrics = np.full(2, np.nan, np.float32)
for i in range(args.steps):
    t0 = time.perf_counter()
    key, sub = jax.random.split(key)
    state, out = step(state, sub, train_x, train_y)
    jax.block_until_ready(state)
    metrics = np.asarray(out)
    if i >= args.warmup:
        times.append(time.perf_counter() - t0)
    if not np.all(np.isfinite(metrics)):
        raise SystemExit(f"diverged at step {i + 1}: loss={metrics[0]} ce={metrics[1]}")
    if (args.eval_every and (i + 1) % args.eval_every == 0) or i + 1 == args.steps:
        acc, ce = (float(a) for a in evaluate(state[0], test_x, test_y))
        evals.append((i + 1, acc, ce))
        if i + 1 != args.steps:
            print(f"step={i + 1} accuracy={acc:.4f} ce={ce:.4f} loss={metrics[0]:.4f} train_ce={metrics[1]:.4f}",
                  flush=True)

sps = len(times) / sum(times)
res = {
    "peer": "jax-digits-" + args.workload, "workload": args.workload, "jax": jax.__version__,
    "threads": args.threads, "sampler": args.sampler, "batch": B, "langevin_steps": K, "params": n_params,
    "steps": args.steps, "timed_steps": len(times), "steps_per_sec": sps,
    "ms_per_step_median": statistics.median(times) * 1e3, "compile_s": compile_s,
    "final_accuracy": evals[-1][1], "final_ce": evals[-1][2], "final_loss": float(metrics[0]),
    "final_train_ce": float(metrics[1]), "curve": evals, "train_rows": int(train_x.shape[0]), "test_rows": n_test,
}
print(f"workload={args.workload}")
print(f"threads={'default' if args.threads is None else args.threads}")
print(f"sampler={args.sampler}")
print(f"steps={args.steps}")
print(f"timed_steps={len(times)}")
print(f"steps_per_sec={sps:.2f}")
print(f"ms_per_step_median={res['ms_per_step_median']:.3f}")
print(f"compile_s={compile_s:.2f}")
print(f"final_accuracy={res['final_accuracy']:.4f}")
print(f"final_ce={res['final_ce']:.4f}")
print(f"final_train_ce={res['final_train_ce']:.4f}")
print(f"final_loss={res['final_loss']:.4f}")
print(f"jax_version={jax.__version__}")
print(json.dumps(res))
