"""AdamW's SVAG across l, and when the adaptive SDE applies (Adam at batch 4 to 32), on the digits.

Own loop: ``sdesim.torch.mlp(64, 10, hidden=(32,), norm=None, seed=s)`` on ``sdesim.torch.digits()``,
batches from ``two_independent_batches`` (``batches=opt.batches``), ``opt.combine(*losses).backward()``;
the training loss over the whole training set (1347 examples) is recorded at effective steps.

``invariance`` (batch 4 and batch 1): AdamWSVAG (λ → λ/l) at l = 1, 2, 4, and the control with λ not
rescaled (the small-step factor 1 − (η/l)λ, i.e. ``AdamWSVAG(weight_decay=l·λ)``), at effective steps 25,
50, 100: per l the mean of the per-seed differences to l = 1 and the paired 99% bound mean ± 2.58·sd/√n
(the same init and batches per seed); and the same difference minus AdamSVAG's (no decay) on the same
inits and batches, the share of the l-dependence that the decay's scaling adds to Adam's own.

``regime``: AdamSVAG (no weight decay) at l = 1, 2, 4 and batch sizes 4 and 32: curves of the loss
against effective steps (mean and standard error over seeds, figure docs/img/adaptive_regime.png), the
relative gap to l = 1, and the gradient noise-to-signal ratio N̂/Ĝ at the start (``estimate_nsr``,
m = 200 batches of the training batch size, at each seed's initial weights; also at batch 8 and 16).

Run from the repository root (one thread; a few minutes):

    .venv/bin/python benchmarks/bench_adamw_svag.py --out benchmarks/adamw_svag.json \\
        --figure docs/img/adaptive_regime.png
    .venv/bin/python benchmarks/bench_adamw_svag.py --quick      # a smoke test (2 seeds, short runs)
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from sdesim.torch import AdamSVAG, AdamWSVAG, digits, estimate_nsr, mlp, two_independent_batches

Z99 = 2.58


def full_loss(model, data) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model(data.inputs), data.targets))


def loss_curve(make, l: int, batch: int, steps: int, record, seed: int, data) -> list:
    """The training loss at each effective step in ``record`` (0 included if asked) of one run."""
    model = mlp(64, 10, hidden=(32,), norm=None, seed=seed)
    opt = make(model.parameters(), l)
    sampler = two_independent_batches(len(data), batch, batches=opt.batches, seed=1000 + seed,
                                      draws=steps * opt.small_steps)
    out = [full_loss(model, data)] if 0 in record else []
    for j in range(steps * opt.small_steps):
        x, y = data.batch(torch.tensor(sampler.draw(j)))
        opt.zero_grad()
        opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y)]).backward()
        opt.step()
        if opt.ends_effective_step and opt.effective_steps_taken in record:
            out.append(full_loss(model, data))
    return out


def paired(diffs: np.ndarray) -> tuple:
    """Mean of per-seed differences and its paired 99% bound (mean ± 2.58 sd/√n)."""
    n = len(diffs)
    mean, sd = float(diffs.mean()), float(diffs.std(ddof=1))
    half = Z99 * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def invariance(data, seeds: int, lr: float, decay: float, batch: int, record=(25, 50, 100)) -> dict:
    """Per l: AdamWSVAG(l) − AdamWSVAG(1), and that minus AdamSVAG(l) − AdamSVAG(1) on the same inits and
    batches (the decay's own share of the l-dependence), paired over seeds; λ rescaled and not rescaled."""
    steps = max(record)

    def runs(l, weight_decay):
        make = (lambda p, l: AdamWSVAG(p, lr=lr, l=l, weight_decay=weight_decay)) if weight_decay else \
            (lambda p, l: AdamSVAG(p, lr=lr, l=l))
        return np.array([loss_curve(make, l, batch, steps, record, s, data) for s in range(seeds)])

    base, adam_base = runs(1, decay), runs(1, 0.0)
    rows = {"l=1": {"loss": base.mean(0).tolist()}}
    for l in (2, 4):
        adam_gap = runs(l, 0.0) - adam_base
        for name, weight_decay in (("rescaled", decay), ("not rescaled", decay * l)):
            gap = runs(l, weight_decay) - base
            rows[f"{name} l={l}"] = {
                "loss": (base + gap).mean(0).tolist(),
                "diff": [paired(gap[:, k]) for k in range(len(record))],
                "diff_minus_adam": [paired(gap[:, k] - adam_gap[:, k]) for k in range(len(record))]}
    return {"record": list(record), "lr": lr, "weight_decay": decay, "batch": batch, "seeds": seeds, "rows": rows}


def start_nsr(data, batch: int, seeds: int, m: int = 200) -> list:
    out = []
    for s in range(seeds):
        model = mlp(64, 10, hidden=(32,), norm=None, seed=s)
        gen = torch.Generator().manual_seed(7 + s)
        batches = [data.batch(torch.randperm(len(data), generator=gen)[:batch]) for _ in range(m)]
        out.append(estimate_nsr(model, F.cross_entropy, batches, batch).ratio)
    return out


def regime(data, seeds: int, lr: float, batches, steps: int, every: int, nsr_batches=()) -> dict:
    record = list(range(0, steps + 1, every))
    out = {"record": record, "lr": lr, "seeds": seeds, "batches": {},
           "nsr_start": {batch: start_nsr(data, batch, seeds) for batch in nsr_batches}}
    for batch in batches:
        curves = {l: np.array([loss_curve(lambda p, l: AdamSVAG(p, lr=lr, l=l), l, batch, steps, record, s, data)
                               for s in range(seeds)]) for l in (1, 2, 4)}
        nsr = start_nsr(data, batch, seeds)
        out["batches"][batch] = {
            "nsr_start": [float(np.mean(nsr)), float(np.std(nsr, ddof=1) / math.sqrt(len(nsr)))],
            "curves": {l: [c.mean(0).tolist(), (c.std(0, ddof=1) / math.sqrt(seeds)).tolist()]
                       for l, c in curves.items()},
            "relative_gap": {l: [paired((curves[l][:, k] - curves[1][:, k]) / curves[1][:, k])
                                 for k in range(len(record))] for l in (2, 4)}}
    return out


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = result["batches"]
    fig, axes = plt.subplots(1, len(batches), figsize=(3.2 * len(batches), 3.0), sharey=True)
    steps = np.array(result["record"])
    for ax, (batch, row) in zip(np.atleast_1d(axes), batches.items()):
        for l, (mean, se) in row["curves"].items():
            mean, se = np.array(mean), np.array(se)
            ax.plot(steps, mean, label=f"l = {l}")
            ax.fill_between(steps, mean - 2 * se, mean + 2 * se, alpha=0.25)
        ax.set_title(f"batch {batch}, N̂/Ĝ at start ≈ {row['nsr_start'][0]:.0f}", fontsize=9)
        ax.set_xlabel("effective step k (t = kη²)")
        ax.set_yscale("log")
    np.atleast_1d(axes)[0].set_ylabel("training loss (mean ± 2 se)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(f"AdamSVAG on the digits, η = {result['lr']}, {result['seeds']} seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(invs: list, reg: dict) -> str:
    return "\n".join([report_invariance(inv) for inv in invs] + [report_regime(reg)])


def report_invariance(inv: dict) -> str:
    lines = [f"AdamWSVAG invariance: batch {inv['batch']}, lr {inv['lr']}, weight_decay {inv['weight_decay']}, "
             f"{inv['seeds']} seeds; loss at effective steps {inv['record']}",
             f"  l=1 loss: " + ", ".join(f"{v:.4f}" for v in inv["rows"]["l=1"]["loss"])]
    for name, row in inv["rows"].items():
        if "diff" in row:
            lines.append(f"  {name:16s} " + "; ".join(f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]" for m, lo, hi in row["diff"])
                         + "   (loss " + ", ".join(f"{v:.4f}" for v in row["loss"]) + ")")
            lines.append(f"  {'  minus Adam':16s} " + "; ".join(f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]"
                                                           for m, lo, hi in row["diff_minus_adam"]))
    return "\n".join(lines)


def report_regime(reg: dict) -> str:
    lines = []
    for batch, values in reg["nsr_start"].items():
        lines.append(f"N̂/Ĝ at the start, batch {batch}: {np.mean(values):.1f} ± {np.std(values, ddof=1) / math.sqrt(len(values)):.1f}")
    lines.append(f"Adam regime: lr {reg['lr']}, {reg['seeds']} seeds; relative gap (l − 1)/1 at effective steps")
    for batch, row in reg["batches"].items():
        lines.append(f"  batch {batch}: N̂/Ĝ at start {row['nsr_start'][0]:.1f} ± {row['nsr_start'][1]:.1f}")
        for l, gaps in row["relative_gap"].items():
            picks = [k for k, step in enumerate(reg["record"]) if step in (10, 25, 50, 100, 200, 300)]
            lines.append(f"    l={l}: " + "; ".join(f"k={reg['record'][k]} {gaps[k][0]:+.1%} "
                                                    f"[{gaps[k][1]:+.1%}, {gaps[k][2]:+.1%}]" for k in picks))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 seeds, short runs (a smoke test)")
    parser.add_argument("--out", help="write the numbers as JSON here")
    parser.add_argument("--figure", help="write the regime figure here (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_data, _ = digits()
    seeds = 2 if args.quick else args.seeds
    started = time.perf_counter()
    invs = [invariance(train_data, seeds, lr=0.002, decay=1.0, batch=batch,
                       record=(5, 10) if args.quick else (25, 50, 100)) for batch in (4, 1)]
    reg = regime(train_data, seeds, lr=0.002, batches=(4, 32), steps=20 if args.quick else 200, every=10,
                 nsr_batches=(8, 16))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"invariance": invs, "regime": reg}, f, indent=1)
    print(report(invs, reg))
    print(f"{time.perf_counter() - started:.0f} s on one thread")
    if args.figure:
        plot(reg, args.figure)


if __name__ == "__main__":
    main()
