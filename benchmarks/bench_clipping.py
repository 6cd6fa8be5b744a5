"""Gradient clipping under SVAG: clipping each batch (``clip_norm``) keeps the loss curve l-invariant;
clipping the combination c₁∇L_γ₁ + c₂∇L_γ₂ (``clip_grad_norm_`` after ``combine(...).backward()``) does not.

A measurement, not a timing.  The setting of the issue that found it: ``mlp(64, 10, hidden=(32,))`` on the
digits training set, batch B = 32 ("subset" batches), lr η = 0.1, clipping at total norm 1.0, l = 1, 2, 4,
100 effective steps, ``--seeds`` seeds (the model's initialisation and the sampler's seed).  For each way of
clipping and each l it reports the training loss (over the whole training set) at effective steps 25, 50
and 100, the mean over seeds with its standard error, the mean paired difference to l = 1 (same seed) with
the 99% bound 2.58·sd/√n of the per-seed differences, and the fraction of clipped batch gradients (each
batch: ``clip_norm``) or clipped combined gradients (the combination).

Run from the repository root:

    .venv/bin/python benchmarks/bench_clipping.py              # 20 seeds, about 2 min on one core
    .venv/bin/python benchmarks/bench_clipping.py --seeds 3    # a smoke test
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from sdesim.torch import SVAG, digits, mlp, two_independent_batches  # noqa: E402

LR, BATCH, CLIP, STEPS, CHECKPOINTS, LS = 0.1, 32, 1.0, 100, (25, 50, 100), (1, 2, 4)
MODES = ("each batch (clip_norm)", "the combination")
Z99 = 2.5758


def run(mode: str, l: int, seed: int, train) -> tuple[dict, float]:
    """One run: {effective step: training loss} at CHECKPOINTS, and the fraction of clipped gradients."""
    model = mlp(64, 10, hidden=(32,), seed=seed)
    per_batch = mode == MODES[0]
    opt = SVAG(model.parameters(), lr=LR, l=l, clip_norm=CLIP if per_batch else None)
    sampler = two_independent_batches(len(train), BATCH, batches=opt.batches, seed=seed, draws=STEPS * l)
    dataset = TensorDataset(train.inputs, train.targets)
    losses, clipped, counted = {}, 0, 0
    params = list(model.parameters())
    for x, y in DataLoader(dataset, batch_sampler=sampler):
        opt.zero_grad()
        batch_losses = [F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y)]
        if per_batch:
            for loss in batch_losses:          # how often a batch gradient is longer than CLIP (measured apart)
                grads = torch.autograd.grad(loss, params, retain_graph=True)
                clipped += float(torch.sqrt(sum((g**2).sum() for g in grads))) > CLIP
                counted += 1
            opt.backward(*batch_losses)
        else:
            opt.combine(*batch_losses).backward()
            clipped += float(torch.nn.utils.clip_grad_norm_(params, CLIP)) > CLIP
            counted += 1
        opt.step()
        if opt.ends_effective_step and opt.effective_steps_taken in CHECKPOINTS:
            with torch.no_grad():
                losses[opt.effective_steps_taken] = float(F.cross_entropy(model(train.inputs), train.targets))
    return losses, clipped / counted


def mean_se(values):
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return mean, sd / math.sqrt(n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    train, _ = digits()
    start = time.perf_counter()
    results = {(mode, l): [run(mode, l, seed, train) for seed in range(args.seeds)] for mode in MODES for l in LS}
    print(f"bench_clipping: {args.seeds} seeds, B = {BATCH}, lr = {LR}, clip at {CLIP}, "
          f"{time.perf_counter() - start:.0f} s\n")
    print("| clipping | l | clipped | " + " | ".join(f"loss at {k}" for k in CHECKPOINTS)
          + " | " + " | ".join(f"vs l = 1 at {k} (99% bound)" for k in CHECKPOINTS) + " |")
    print("|---|---|---|" + "---|" * (2 * len(CHECKPOINTS)))
    for mode in MODES:
        for l in LS:
            runs = results[(mode, l)]
            cells = []
            for k in CHECKPOINTS:
                mean, se = mean_se([losses[k] for losses, _ in runs])
                cells.append(f"{mean:.4f} ± {se:.4f}")
            for k in CHECKPOINTS:
                if l == 1:
                    cells.append("—")
                    continue
                differences = [a[k] - b[k] for (a, _), (b, _) in zip(runs, results[(mode, 1)])]
                mean, se = mean_se(differences)
                reference = mean_se([b[k] for b, _ in results[(mode, 1)]])[0]
                inside = "inside" if abs(mean) <= Z99 * se else "OUTSIDE"
                cells.append(f"{100 * mean / reference:+.1f}% ± {100 * Z99 * se / reference:.1f}% ({inside})")
            fraction = sum(f for _, f in runs) / len(runs)
            print(f"| {mode} | {l} | {100 * fraction:.0f}% | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
