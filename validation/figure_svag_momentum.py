"""SVAG with heavy-ball momentum (UNVALIDATED: no theorem in the paper): do l = 2, 4 track l = 1 on digits?

An MLP with batch norm (``sdesim.torch.nets.mlp``) trained on scikit-learn's digits by the drop-in loop of
docs/guide/own-loop.md with ``sdesim.torch.optim.SVAG(l, unvalidated_momentum=β)``: l small steps per effective
step of b ← β_l b + (g + λx), x ← x − (η/l²) b, β_l = 1 − (1 − β)/l, on the SVAG gradient of two independent
batches (``two_independent_batches``, subset sampling); l = 1 is torch.optim.SGD(momentum=β).  Each l runs with
the same seeds (the same initial weights per seed); curves are means over seeds, against effective steps.

Pass: as figure_adaptive_svag.py, for every l > 1 the final test accuracy and test loss (means over n seeds)
are within max(tolerance, t·se) of l = 1's (tolerance 1.5 accuracy points and 0.05 in loss).  A pass is a
measurement on one small problem, not a theorem, and a weak one: a deliberately wrong scaling (η/l on torch's
undampened buffer, an effective step l times too large) passes it too at l = 4, since final accuracy on
digits hardly depends on the learning rate.

    .venv/bin/python validation/figure_svag_momentum.py [--full] [--out DIR] [--device cuda]

Quick mode (default): B = 16, η = 0.01, β = 0.9 (η/(1 − β) = 0.1), λ = 1e-4, 1000 effective steps, 5 seeds,
l = 1, 2, 4 (about two minutes on one CPU core).  ``--full``: 3000 steps, l up to 8.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "validation"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from figure4_svag_tracks_sgd import arguments  # noqa: E402
from figure_adaptive_svag import METRICS, final_cells, plot, verdict, write  # noqa: E402
from sdesim.validation.report import describe_t_bound  # noqa: E402

QUICK = dict(hidden=(64,), batch_size=16, lr=0.01, momentum=0.9, weight_decay=1e-4, steps=1000, log_every=100,
             seeds=(0, 1, 2, 3, 4), ls=(1, 2, 4))
FULL = dict(QUICK, steps=3000, log_every=250, ls=(1, 2, 4, 8))


def evaluate(model, data) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over ``data`` in eval mode, in one forward pass."""
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        outputs = model(data.inputs)
        loss = float(F.cross_entropy(outputs, data.targets))
        accuracy = float((outputs.argmax(1) == data.targets).double().mean())
    model.train()
    return loss, accuracy


def train_one(settings: dict, l: int, seed: int, device: str):
    """One run: the drop-in loop, logged every ``log_every`` effective steps, as a `TrainResult`."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from sdesim.torch.data import digits
    from sdesim.torch.nets import mlp
    from sdesim.torch.optim import SVAG
    from sdesim.torch.samplers import two_independent_batches
    from sdesim.torch.training import TrainResult

    train_data, test_data = (d.to(device) for d in digits())
    model = mlp(64, 10, hidden=settings["hidden"], norm="batch", seed=seed).to(device)
    opt = SVAG(model.parameters(), lr=settings["lr"], l=l, weight_decay=settings["weight_decay"],
               unvalidated_momentum=settings["momentum"])
    sampler = two_independent_batches(len(train_data), settings["batch_size"], batches=opt.batches, seed=seed,
                                      draws=settings["steps"] * opt.small_steps)
    loader = DataLoader(TensorDataset(torch.arange(len(train_data))), batch_sampler=sampler)
    log = []

    def entry():
        (train_loss, train_acc), (test_loss, test_acc) = evaluate(model, train_data), evaluate(model, test_data)
        log.append({"step": opt.effective_steps_taken, "train_loss": train_loss, "train_acc": train_acc,
                    "test_loss": test_loss, "test_acc": test_acc})

    entry()
    for (indices,) in loader:
        x, y = train_data.batch(indices.to(train_data.device))
        opt.zero_grad()
        opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y)]).backward()
        opt.step()
        if opt.ends_effective_step and opt.effective_steps_taken % settings["log_every"] == 0:
            entry()
    return TrainResult(log=log, steps=opt.effective_steps_taken, config=dict(settings, l=l, seed=seed))


def main(argv=None) -> int:
    import torch

    args, settings = arguments(__doc__, argv, QUICK, FULL)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    runs, seconds = {}, {}
    for l in settings["ls"]:
        began = time.perf_counter()
        runs[l] = [train_one(settings, l, seed, args.device) for seed in settings["seeds"]]
        seconds[l] = (time.perf_counter() - began) / len(settings["seeds"])
    total = time.perf_counter() - start
    passed, lines = verdict(runs)

    stem = "figure_svag_momentum" + ("_full" if args.full else "")
    n = len(settings["seeds"])
    plot({f"momentum l={l}" + (" (torch.optim.SGD)" if l == 1 else ""): results for l, results in runs.items()},
         args.out / f"{stem}.png", METRICS,
         f"SVAG with momentum β = {settings['momentum']} (unvalidated; MLP with batch norm, digits)\n"
         f"{'PASS' if passed else 'FAIL'}: final test accuracy and loss within tolerance or {describe_t_bound(n)}")
    rows = ["| l | final test acc | final test loss | final train loss | seconds per run |", "|---|---|---|---|---|"]
    rows += [f"| {l} | {cells} | {seconds[l]:.1f} |" for l, cells in final_cells(runs).items()]
    write(args, stem, "SVAG with momentum (unvalidated) against l = 1", settings, total,
          "No theorem covers SVAG with momentum: this measures it on one small problem.", "\n".join(rows), passed,
          f"allowed: 1.5 accuracy points or 0.05 in loss, or {describe_t_bound(n)} per comparison", lines)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
