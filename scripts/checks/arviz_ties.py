"""Reference R-hat and bulk ESS from ArviZ for the chains with ties in
src/eval/diagnostics.rs's tests (`rhat_and_ess_agree_with_arviz_on_tied_draws`).

    pip install arviz==0.23.4 && python3 scripts/checks/arviz_ties.py

Both sets of chains are rebuilt here exactly as the Rust test builds them:
- the logistic map x <- 3.9 x (1 - x) from x0 = 0.1 + 0.2 c, 300 draws per chain, chain 3
  shifted by 0.05, every draw rounded to one decimal (about ten distinct values);
- MALA on a standard normal with step 8 (91 % of proposals rejected, so a chain repeats
  its value), 4 chains of 500 draws from x0 = -1.5 + c, driven by splitmix64 with
  Box-Muller normals.
"""
import math
import warnings

import numpy as np

warnings.simplefilter("ignore")
import arviz as az  # noqa: E402

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * 2.0**-53

    def normal(self):
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def rounded_logistic():
    chains = []
    for c in range(4):
        x = 0.1 + 0.2 * c
        draws = []
        for _ in range(300):
            x = 3.9 * x * (1.0 - x)
            v = x + (0.05 if c == 3 else 0.0)
            draws.append(math.floor(v * 10.0 + 0.5) / 10.0)
        chains.append(draws)
    return np.array(chains)


def mala(step=8.0, n=500):
    rng = SplitMix64(2024)
    chains, accepted = [], 0
    for c in range(4):
        x = -1.5 + c
        draws = []
        for _ in range(n):
            z = rng.normal()
            y = x - step * x + math.sqrt(2.0 * step) * z
            fwd = (y - x + step * x) ** 2
            bwd = (x - y + step * y) ** 2
            log_a = 0.5 * x * x - 0.5 * y * y + (fwd - bwd) / (4.0 * step)
            if math.log(rng.uniform()) < log_a:
                x = y
                accepted += 1
            draws.append(x)
        chains.append(draws)
    return np.array(chains), accepted / (4 * n)


for name, chains in [("rounded logistic map", rounded_logistic()), ("MALA", mala()[0])]:
    distinct = len(np.unique(chains))
    print(
        f"{name}: {distinct} distinct of {chains.size}, sum {chains.sum()!r}, "
        f"rhat {float(az.rhat(chains, method='rank')):.12f}, "
        f"ess_bulk {float(az.ess(chains, method='bulk')):.12f}"
    )
print(f"MALA acceptance {mala()[1]:.4f}")
