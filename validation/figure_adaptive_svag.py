"""SVAG for Adam (Malladi et al. 2022) at small scale: l = 2, 4 track l = 1 in test accuracy and loss.

An MLP with batch norm (``sdesim.torch.nets.mlp``) trained by Adam on scikit-learn's digits with coupled
weight decay.  SVAG with l takes l² small steps per effective step with η/l, 1 − βᵢ → (1 − βᵢ)/l², ε → εl on
the SVAG gradient of two batches with l² (``sdesim.torch.training``); l = 1 is torch.optim.Adam.  Effective
step k is SDE time kη² for every l.  Each l runs with the same seeds (the same initial weights per seed);
curves are means over seeds, against effective steps.

Pass: for every l > 1, the final test accuracy and test loss (means over n seeds) are within
max(tolerance, t·se) of l = 1's, with se = √(se_l² + se_1²), t = t_{0.995, n−1} (Student, a false alarm 1 time
in 100 per comparison when the two agree), tolerance 1.5 accuracy points and 0.05 in loss.

    .venv/bin/python validation/figure_adaptive_svag.py [--full] [--out DIR] [--device cuda]

Quick mode (default): B = 16, η = 0.01, β = (0.9, 0.999), λ = 1e-4, 400 effective steps, 5 seeds, l = 1, 2, 4
(about 40 s on one CPU core).  ``--full``: wider net, 2000 steps, l up to 8 (meant for a GPU).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "validation"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from figure4_svag_tracks_sgd import arguments, summary  # noqa: E402
from sdesim.atomic import save_figure, write_text  # noqa: E402
from sdesim.validation.report import describe_t_bound, FALSE_ALARM, student_t  # noqa: E402

QUICK = dict(hidden=(64,), batch_size=16, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-4, steps=400,
             log_every=50, seeds=(0, 1, 2, 3, 4), ls=(1, 2, 4))
FULL = dict(hidden=(256, 256), batch_size=16, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-4,
            steps=2000, log_every=100, seeds=(0, 1, 2, 3, 4), ls=(1, 2, 4, 8))
TOLERANCE = {"test_acc": 0.015, "test_loss": 0.05}
TRAIN_KEYS = ("method", "l", "lr", "batch_size", "beta1", "beta2", "eps", "weight_decay", "steps")


def train_seeds(settings: dict, device: str = "cpu", progress: bool = False, threads: int = 1) -> list:
    """One run per seed of ``settings`` (``hidden``, ``seeds``, ``norm`` (default "batch") and the keyword
    arguments of ``train`` in `TRAIN_KEYS`, and ``log_every``) on digits, from the MLP of that seed."""
    import torch

    from sdesim.torch.data import digits
    from sdesim.torch.nets import mlp
    from sdesim.torch.training import LogSettings, train

    torch.set_num_threads(threads)
    train_data, test_data = digits()
    kwargs = {key: settings[key] for key in TRAIN_KEYS if key in settings}
    norm = settings.get("norm", "batch")
    return [train(mlp(64, 10, hidden=settings["hidden"], norm=norm, seed=seed), train_data, test_data=test_data,
                  seed=seed, device=device, logging=LogSettings(log_every=settings["log_every"], progress=progress),
                  **kwargs) for seed in settings["seeds"]]


def compare(runs: dict, reference, other, name: str, t: float) -> tuple[float, float, float]:
    """(difference of the final ``name`` other − reference, its standard error, the t-bound t·se)."""
    final = summary(runs, name)
    (mean, se), (ref_mean, ref_se) = final[other], final[reference]
    se = math.hypot(se, ref_se)
    return mean - ref_mean, se, t * se


def verdict(runs: dict) -> tuple[bool, list[str]]:
    lines, passed = [], True
    t = student_t(len(runs[1]), FALSE_ALARM)
    for name, tolerance in TOLERANCE.items():
        for l in runs:
            if l == 1:
                continue
            diff, se, bound = compare(runs, 1, l, name, t)
            allowed = max(tolerance, bound)
            ok = abs(diff) <= allowed
            passed &= ok
            lines.append(f"{name} l={l} vs l=1: difference {diff:+.4f} ± {se:.4f} (allowed ±{allowed:.4f}) "
                         f"{'ok' if ok else 'TOO FAR'}")
    return passed, lines


METRICS = ("test_acc", "test_loss", "train_loss")


def final_cells(runs: dict) -> dict:
    """{label: "mean ± se | ..." of the final `METRICS` over seeds}, cells of a markdown table."""
    final = {name: summary(runs, name) for name in METRICS}
    return {label: " | ".join(f"{final[n][label][0]:.4f} ± {final[n][label][1]:.4f}" for n in METRICS)
            for label in runs}


def table(runs: dict, seconds: dict) -> str:
    rows = ["| l | final test acc | final test loss | final train loss | SDE time Σ η² | examples per run | "
            "seconds per run |", "|---|---|---|---|---|---|---|"]
    for l, cells in final_cells(runs).items():
        rows.append(f"| {l} | {cells} | {runs[l][0].last('time'):.4g} | {runs[l][0].examples} | {seconds[l]:.1f} |")
    return "\n".join(rows)


def plot(curves: dict, path: Path, names, title: str, xlabel: str = "effective step", x=None) -> None:
    """Means over seeds of each ``names`` column for every labelled list of runs in ``curves``."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5 * len(names), 4), layout="constrained")
    axes = figure.subplots(1, len(names))
    for ax, name in zip(np.atleast_1d(axes), names):
        for label, results in curves.items():
            xs = x(results[0]) if x else results[0].columns()["step"]
            values = np.array([r.columns()[name] for r in results], dtype=float)
            ax.plot(xs, values.mean(0), marker="o", markersize=3, label=label)
        ax.set_xlabel(xlabel)
        ax.set_title(name.replace("_", " "))
        if name.endswith("acc"):
            ax.set_ylim(0.85, 1.0)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend()
    figure.suptitle(title)
    save_figure(figure, path, dpi=120)


def train_all(labelled: dict, args) -> tuple[dict, dict, float]:
    """({label: runs over seeds}, {label: seconds per run}, seconds in all) for {label: settings}."""
    start = time.perf_counter()
    runs, seconds = {}, {}
    for label, settings in labelled.items():
        began = time.perf_counter()
        runs[label] = train_seeds(settings, args.device, args.progress, args.threads)
        seconds[label] = (time.perf_counter() - began) / len(settings["seeds"])
    return runs, seconds, time.perf_counter() - start


def write(args, stem: str, title: str, settings: dict, seconds: float, note: str, table_text: str, passed: bool,
          allowed: str, lines) -> None:
    """Write and print ``stem``.md: title, settings, the table of means ± standard errors, the verdict."""
    text = "\n".join([
        f"# {title} ({'full' if args.full else 'quick'} mode)", "",
        f"Settings: {settings}; device {args.device}; {seconds:.0f} s in all.  {note}", "",
        "Final values, mean ± standard error over seeds:", "", table_text, "",
        f"Verdict: {'PASS' if passed else 'FAIL'} ({allowed})", "", *[f"- {line}" for line in lines], ""])
    write_text(args.out / f"{stem}.md", text)
    print(text)
    print(f"wrote {args.out / (stem + '.png')} and {args.out / (stem + '.md')}")


def main(argv=None) -> int:
    args, settings = arguments(__doc__, argv, QUICK, FULL)
    runs, seconds, total = train_all({l: dict(settings, method="adam", l=l) for l in settings["ls"]}, args)
    passed, lines = verdict(runs)

    stem = "figure_adaptive_svag" + ("_full" if args.full else "")
    n = len(settings["seeds"])
    plot({f"Adam l={l}" + (" (torch.optim.Adam)" if l == 1 else ""): results for l, results in runs.items()},
         args.out / f"{stem}.png", METRICS,
         "SVAG for Adam tracks Adam (MLP with batch norm, digits; means over seeds)\n"
         f"{'PASS' if passed else 'FAIL'}: final test accuracy and loss within tolerance or {describe_t_bound(n)}")
    write(args, stem, "SVAG for Adam tracks Adam", settings, total, "Effective step k is SDE time kη² for every l "
          "(l² small steps of (η/l)²).", table(runs, seconds), passed,
          f"allowed: 1.5 accuracy points or 0.05 in loss, or {describe_t_bound(n)} per comparison", lines)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
