"""SVAG with heavy-ball momentum (UNVALIDATED: no theorem in the paper): does SVAG(l) track l = 1 on digits?

An MLP with batch norm (``sdesim.torch.nets.mlp``) trained on scikit-learn's digits by the drop-in loop of
docs/guide/own-loop.md with ``sdesim.torch.optim.SVAG(l, unvalidated_momentum=β)``: l small steps per
effective step of b ← β_l b + (g + λx), x ← x − (η/l²) b, β_l = 1 − (1 − β)/l, on the SVAG gradient of two
independent batches (``two_independent_batches``, subset sampling); l = 1 is torch.optim.SGD(momentum=β).
Every run uses the same seeds (the same initial weights per seed); curves are means over seeds.

What is compared sees the time scale (final accuracy does not: on digits it hardly depends on the learning
rate): the training loss (the whole training set, eval mode) at effective steps 10, 25, 50 and 100, while it
still falls from 2.3 to 0.25, and |x|² there (it grows with the learning rate and the noise).  At each
checkpoint, for each l > 1, the mean difference from l = 1, paired by seed (same initial weights), must lie
within max(5 % of l = 1's value, t·se): se the standard error of the mean paired difference over n seeds,
t = t_{0.995, n−1}.

Negative controls, wrong on purpose (`make_optimizer`, in this script only), run with the same protocol:

- ``too_fast``: β_l rescaled but η/l on torch's buffer (torch.optim.SGD(lr=η/l, momentum=β_l)): every
  effective step l times too large;
- ``too_slow``: β_l = β and η/l² on the buffer: every effective step l times too small;
- ``beta_not_rescaled``: β_l = β and η/l on the buffer (torch.optim.SGD(lr=η/l, momentum=β), the naive
  port): the right drift and noise per effective step once the buffer is warm, but the momentum's memory is
  1/(1 − β) small steps instead of effective steps, so early training runs ahead.

Verdict: PASS only if the right scaling tracks l = 1 at every l AND every control fails to at every l (the
check has power); INCONCLUSIVE if the right scaling tracks but some control tracks too (no power); FAIL if the
right scaling does not track l = 1.  The checkpoints and the 5 % were chosen from pilot runs on seeds 0–9
(the quick mode's); ``--full`` runs on 20 other seeds.  Reported beside it, not judged: the same criterion
for the paper's SVAG without momentum at η/(1 − β) against SGD (``no_momentum``), the gap a method with a
theorem shows at this learning rate.

    .venv/bin/python validation/figure_svag_momentum.py [--full] [--out DIR] [--device cuda]

Quick mode (default): B = 16, η = 0.01, β = 0.9 (η/(1 − β) = 0.1), λ = 1e-4, 100 effective steps, 10 seeds,
l = 1, 2, 4 (about 40 s on one CPU core).  ``--full``: seeds 10–29, l up to 8 (about 140 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "validation"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from figure4_svag_tracks_sgd import arguments  # noqa: E402
from figure_adaptive_svag import plot  # noqa: E402
from sdesim.atomic import write_text  # noqa: E402
from sdesim.validation.report import describe_t_bound, FALSE_ALARM, seed_mean, student_t  # noqa: E402

QUICK = dict(hidden=(64,), batch_size=16, lr=0.01, momentum=0.9, weight_decay=1e-4,
             checkpoints=(10, 25, 50, 100), seeds=tuple(range(10)), ls=(1, 2, 4))
FULL = dict(QUICK, seeds=tuple(range(10, 30)), ls=(1, 2, 4, 8))     # 20 seeds not used to choose the settings
METRICS = ("train_loss", "norm2")
TOLERANCE = 0.05          # relative to l = 1's value at the checkpoint
# name: (whether the small step on torch's buffer is η/l instead of η/l², whether 1 − β is rescaled to (1 − β)/l)
SCALINGS = {"right": (False, True), "too_fast": (True, True), "too_slow": (False, False),
            "beta_not_rescaled": (True, False)}
CONTROLS = ("too_fast", "too_slow", "beta_not_rescaled")
NO_MOMENTUM = "no_momentum"      # the paper's SVAG with η/(1 − β) against SGD: the same criterion, reported


def reference_of(key: tuple) -> tuple:
    """The l = 1 run that ``key`` = (scaling, l) is compared with."""
    return (NO_MOMENTUM, 1) if key[0] == NO_MOMENTUM else ("right", 1)


def make_optimizer(params, settings: dict, l: int, scaling: str):
    """``SVAG(l, unvalidated_momentum=β)`` for ``scaling`` "right"; the wrong scalings (negative controls, in
    this script only, not options of the optimizer) are the same optimizer given lr = lη (its small step
    lη/l² = η/l on the buffer) and/or with its β_l set back to β; `NO_MOMENTUM` is the paper's SVAG with the
    learning rate η/(1 − β), no momentum."""
    from sdesim.torch.optim import SVAG

    if scaling == NO_MOMENTUM:
        return SVAG(params, lr=settings["lr"] / (1 - settings["momentum"]), l=l,
                    weight_decay=settings["weight_decay"])
    step_eta_over_l, rescale_momentum = SCALINGS[scaling]
    opt = SVAG(params, lr=settings["lr"] * (l if step_eta_over_l else 1), l=l,
               weight_decay=settings["weight_decay"], unvalidated_momentum=settings["momentum"])
    if not rescale_momentum:
        opt._rescale_momentum = False
    return opt


def train_one(settings: dict, l: int, scaling: str, seed: int, device: str):
    """One run of the drop-in loop, logged at ``checkpoints`` (and step 0), as a `TrainResult`."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from sdesim.torch.data import digits
    from sdesim.torch.nets import mlp, weight_norm2
    from sdesim.torch.samplers import two_independent_batches
    from sdesim.torch.training import TrainResult

    train_data, _ = (d.to(device) for d in digits())
    model = mlp(64, 10, hidden=settings["hidden"], norm="batch", seed=seed).to(device)
    opt = make_optimizer(model.parameters(), settings, l, scaling)
    steps = max(settings["checkpoints"])
    sampler = two_independent_batches(len(train_data), settings["batch_size"], batches=opt.batches, seed=seed,
                                      draws=steps * opt.small_steps)
    loader = DataLoader(TensorDataset(torch.arange(len(train_data))), batch_sampler=sampler)
    log = []

    def entry():
        model.eval()
        with torch.no_grad():
            loss = float(F.cross_entropy(model(train_data.inputs), train_data.targets))
        model.train()
        log.append({"step": opt.effective_steps_taken, "train_loss": loss, "norm2": weight_norm2(model)})

    entry()
    for (indices,) in loader:
        x, y = train_data.batch(indices.to(train_data.device))
        opt.zero_grad()
        opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y)]).backward()
        opt.step()
        if opt.ends_effective_step and opt.effective_steps_taken in settings["checkpoints"]:
            entry()
    return TrainResult(log=log, steps=opt.effective_steps_taken, config=dict(settings, l=l, seed=seed))


def at_checkpoints(results: list, name: str) -> np.ndarray:
    """The values of ``name`` at the checkpoints (step 0 left out), one row per seed."""
    return np.array([[row[name] for row in r.log if row["step"] > 0] for r in results], dtype=float)


def comparison(reference: np.ndarray, other: np.ndarray) -> list:
    """Per checkpoint (columns; rows are seeds, paired): (difference of means other − reference, the standard
    error of the mean paired difference, allowed = max(`TOLERANCE`·|reference mean|, t·se), within?)."""
    t = student_t(len(reference), FALSE_ALARM)
    rows = []
    for ref, oth in zip(reference.T, other.T):
        diff, se = seed_mean(oth - ref)
        allowed = max(TOLERANCE * abs(ref.mean()), t * se)
        rows.append((diff, se, allowed, bool(abs(diff) <= allowed)))
    return rows


def judge(values: dict) -> tuple[str, dict]:
    """(PASS, INCONCLUSIVE or FAIL; {(scaling, l): whether it tracks l = 1}) from
    {(scaling, l): {metric: seeds × checkpoints values}}, which holds ("right", 1), the reference (and
    (`NO_MOMENTUM`, 1) if it holds `NO_MOMENTUM` runs: those are compared with it and reported, not judged).

    It tracks l = 1 when every `METRICS` value at every checkpoint is within the allowed difference
    (`comparison`).  FAIL if the right scaling does not track l = 1 at some l; else INCONCLUSIVE if some
    control (`CONTROLS`) tracks it too (the check cannot tell a wrong time scale); else PASS.
    """
    tracks = {key: all(ok for name in METRICS
                       for *_, ok in comparison(values[reference_of(key)][name], value[name]))
              for key, value in values.items() if key[1] > 1}
    right = [ok for (scaling, _), ok in tracks.items() if scaling == "right"]
    controls = [ok for (scaling, _), ok in tracks.items() if scaling in CONTROLS]
    if not right or not controls:
        raise ValueError(f"the verdict needs the right scaling and the controls {CONTROLS} at some l > 1, got "
                         f"{sorted(values)}")
    if not all(right):
        return "FAIL", tracks
    return ("INCONCLUSIVE" if any(controls) else "PASS"), tracks


def table(values: dict, checkpoints) -> list:
    """The lines of a markdown table: mean ± standard error at each checkpoint, and the paired difference from
    l = 1 (✗ where it exceeds the allowed one)."""
    lines = ["| run | metric | " + " | ".join(f"step {c}" for c in checkpoints) + " |",
             "|---|---|" + "---|" * len(checkpoints)]
    for (scaling, l), value in values.items():
        for name in METRICS:
            cells = [fmt_mean(column) for column in value[name].T]
            if l > 1:
                cells = [f"{cell} ({diff:+.3g} ± {se:.2g}{'' if ok else ' ✗'})"
                         for cell, (diff, se, _, ok) in
                         zip(cells, comparison(values[reference_of((scaling, l))][name], value[name]))]
            label = f"{scaling} l={l}" + (" (torch.optim.SGD)" if l == 1 else "")
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    return lines


def fmt_mean(column) -> str:
    mean, se = seed_mean(column)
    return f"{mean:.4g} ± {se:.2g}"


def main(argv=None) -> int:
    import torch

    args, settings = arguments(__doc__, argv, QUICK, FULL)
    torch.set_num_threads(args.threads)
    keys = [("right", l) for l in settings["ls"]]
    keys += [(scaling, l) for scaling in CONTROLS for l in settings["ls"] if l > 1]
    keys += [(NO_MOMENTUM, l) for l in settings["ls"]]
    start = time.perf_counter()
    runs = {key: [train_one(settings, key[1], key[0], seed, args.device) for seed in settings["seeds"]]
            for key in keys}
    total = time.perf_counter() - start
    values = {key: {name: at_checkpoints(results, name) for name in METRICS} for key, results in runs.items()}
    result, tracks = judge(values)
    n, largest = len(settings["seeds"]), max(settings["ls"])
    allowed = f"max({TOLERANCE:.0%} of l = 1's value, {describe_t_bound(n)})"

    stem = "figure_svag_momentum" + ("_full" if args.full else "")
    plot({f"{scaling} l={l}" + (" (torch.optim.SGD)" if l == 1 else ""): results
          for (scaling, l), results in runs.items()
          if scaling == "right" or (scaling in CONTROLS and l == largest)},
         args.out / f"{stem}.png", METRICS,
         f"SVAG with momentum β = {settings['momentum']} (unvalidated; MLP with batch norm, digits)\n"
         f"{result}: the right scaling within {TOLERANCE:.0%} of l = 1 or the t-bound, controls "
         f"{', '.join(CONTROLS)} outside")
    text = "\n".join([
        f"# SVAG with momentum (unvalidated) against l = 1 ({'full' if args.full else 'quick'} mode)", "",
        f"Settings: {settings}; device {args.device}; {total:.0f} s in all.  No theorem covers SVAG with "
        f"momentum: this measures it on one small problem.", "",
        "Training loss (whole training set, eval mode) and |x|² at the checkpoints (effective steps), mean ± "
        "standard error over seeds; in parentheses the mean difference from l = 1 paired by seed ± its standard "
        "error, ✗ where it "
        f"exceeds the allowed {allowed}:", "", *table(values, settings["checkpoints"]), "",
        f"Verdict: {result} (PASS: the right scaling tracks l = 1 at every l and every control "
        f"({', '.join(CONTROLS)}) fails to; INCONCLUSIVE: a control tracks it too, so the check has no power; "
        "FAIL: the right scaling does not track l = 1)", "",
        *[f"- {scaling} l={l}: {'tracks' if ok else 'does not track'} l = 1"
          + (" (reported, not judged: the paper's SVAG with η/(1 − β) against SGD)" if scaling == NO_MOMENTUM else "")
          for (scaling, l), ok in tracks.items()], ""])
    write_text(args.out / f"{stem}.md", text)
    print(text)
    print(f"wrote {args.out / (stem + '.png')} and {args.out / (stem + '.md')}")
    return {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 2}[result]


if __name__ == "__main__":
    sys.exit(main())
