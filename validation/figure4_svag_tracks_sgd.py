"""Figure 4 (left) at small scale: SVAG with l = 1, 2, 4, 8 tracks SGD's train and test accuracy.

A scale-invariant MLP (``sdesim.torch.nets.scale_invariant_mlp``: bias-free layers, batch norm with
ε = 0 and no affine parameters, frozen last layer) trained on scikit-learn's digits with weight decay,
learning rate ×0.1 at 80% of the run.  l = 1 is SGD.  Each l runs with the same seeds (the same
initial weights per seed); curves are means over seeds, against effective steps.

Pass: for every l, the final train and test accuracies (means over n seeds) are within
max(1.5 points, t·se) of SGD's, with se = √(se_l² + se_SGD²) and t = t_{0.995, n−1} the Student-t
quantile (n = 3: 9.92): a false alarm 1 time in 100 per comparison when the two agree (per-seed
values normal; n − 1 degrees of freedom is the conservative end of Welch's).

    .venv/bin/python validation/figure4_svag_tracks_sgd.py [--full] [--out DIR] [--device cuda]

Quick mode (default): B = 32, η = 0.4, λ = 1e-3, 1000 effective steps, 3 seeds (about a minute on
2 CPU cores).  ``--full``: wider net, 4000 steps, 5 seeds, l up to 16 (meant for a GPU).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sdesim.atomic import save_figure, write_text  # noqa: E402
from sdesim.validation.report import describe_t_bound, FALSE_ALARM, seed_mean, student_t  # noqa: E402

QUICK = dict(hidden=(64, 64), batch_size=32, lr=0.4, weight_decay=1e-3, steps=1000, log_every=100,
             seeds=(0, 1, 2), ls=(1, 2, 4, 8))
FULL = dict(hidden=(256, 256), batch_size=32, lr=0.4, weight_decay=1e-3, steps=4000, log_every=200,
            seeds=(0, 1, 2, 3, 4), ls=(1, 2, 4, 8, 16))
TOLERANCE = 0.015   # accuracy points (as a fraction)


def run(settings: dict, device: str, progress: bool, threads: int = 1) -> dict:
    """{l: [TrainResult per seed]}."""
    import torch

    from sdesim.torch.data import digits
    from sdesim.torch.nets import scale_invariant_mlp
    from sdesim.torch.training import LogSettings, train

    torch.set_num_threads(threads)
    train_data, test_data = digits()
    decay_at = int(0.8 * settings["steps"])
    runs = {}
    for l in settings["ls"]:
        runs[l] = []
        for seed in settings["seeds"]:
            model = scale_invariant_mlp(64, 10, hidden=settings["hidden"], norm="batch", seed=seed)
            runs[l].append(train(model, train_data, test_data=test_data, method="svag", l=l, lr=settings["lr"],
                                 batch_size=settings["batch_size"], weight_decay=settings["weight_decay"],
                                 steps=settings["steps"], schedule={decay_at: 0.1}, seed=seed, device=device,
                                 logging=LogSettings(log_every=settings["log_every"], progress=progress)))
    return runs


def summary(runs: dict, name: str) -> dict:
    """{l: (mean of the final value over seeds, its standard error)}."""
    return {l: seed_mean([r.last(name) for r in results]) for l, results in runs.items()}


def verdict(runs: dict) -> tuple[bool, list[str]]:
    lines, passed = [], True
    t = student_t(len(runs[1]), FALSE_ALARM)
    for name in ("train_acc", "test_acc"):
        final = summary(runs, name)
        sgd_mean, sgd_se = final[1]
        for l, (mean, se) in final.items():
            if l == 1:
                continue
            allowed = max(TOLERANCE, t * math.hypot(se, sgd_se))
            ok = abs(mean - sgd_mean) <= allowed
            passed &= ok
            lines.append(f"{name} l={l}: {mean:.4f} vs SGD {sgd_mean:.4f} (difference {mean - sgd_mean:+.4f}, "
                         f"allowed ±{allowed:.4f}) {'ok' if ok else 'TOO FAR'}")
    return passed, lines


def table(runs: dict, seconds: dict) -> str:
    rows = ["| l | final train acc | final test acc | final \\|x\\|² | examples per run | seconds per run |",
            "|---|---|---|---|---|---|"]
    train_acc, test_acc, norm2 = summary(runs, "train_acc"), summary(runs, "test_acc"), summary(runs, "norm2")
    for l in runs:
        label = f"{l} (SGD)" if l == 1 else str(l)
        rows.append(f"| {label} | {train_acc[l][0]:.4f} ± {train_acc[l][1]:.4f} | {test_acc[l][0]:.4f} ± "
                    f"{test_acc[l][1]:.4f} | {norm2[l][0]:.2f} ± {norm2[l][1]:.2f} | {runs[l][0].examples} | "
                    f"{seconds[l]:.1f} |")
    return "\n".join(rows)


def plot(runs: dict, path: Path, caption: str = "") -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 4), layout="constrained")
    axes = figure.subplots(1, 3)
    for ax, name, title in ((axes[0], "train_acc", "train accuracy"), (axes[1], "test_acc", "test accuracy"),
                            (axes[2], "norm2", "|x|² (weight norm squared)")):
        for l, results in runs.items():
            steps = results[0].columns()["step"]
            values = np.array([r.columns()[name] for r in results], dtype=float)
            ax.plot(steps, values.mean(0), marker="o", markersize=3, label="SGD" if l == 1 else f"SVAG l={l}")
        ax.set_xlabel("effective step")
        ax.set_title(title)
        if name != "norm2":
            ax.set_ylim(0.9, 1.0)
        ax.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle("SVAG tracks SGD (scale-invariant MLP, digits; means over seeds)" + (f"\n{caption}" if caption else ""))
    save_figure(figure, path, dpi=120)


def arguments(doc: str, argv, quick: dict, full: dict, full_help: str = "GPU-scale settings"):
    """The figure scripts' command line: (args, settings); refuses fewer than 2 seeds, makes ``--out``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--full", action="store_true", help=full_help)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out", help="output folder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest for these tiny nets on a shared machine)")
    args = parser.parse_args(argv)
    settings = full if args.full else quick
    if len(settings["seeds"]) < 2:
        parser.error(f"need at least 2 seeds for the standard errors over seeds, got {settings['seeds']}")
    args.out.mkdir(parents=True, exist_ok=True)
    return args, settings


def main(argv=None) -> int:
    args, settings = arguments(__doc__, argv, QUICK, FULL)

    start = time.perf_counter()
    runs, seconds = {}, {}
    for l in settings["ls"]:
        began = time.perf_counter()
        runs.update(run({**settings, "ls": (l,)}, args.device, args.progress, args.threads))
        seconds[l] = (time.perf_counter() - began) / len(settings["seeds"])
    total = time.perf_counter() - start
    passed, lines = verdict(runs)

    stem = "figure4_svag_tracks_sgd" + ("_full" if args.full else "")
    n = len(settings["seeds"])
    plot(runs, args.out / f"{stem}.png", f"{'PASS' if passed else 'FAIL'}: final accuracies within 1.5 points of "
         f"SGD's or {describe_t_bound(n)} per comparison")
    text = "\n".join([
        f"# Figure 4 (left): SVAG tracks SGD ({'full' if args.full else 'quick'} mode)", "",
        f"Settings: {settings}; decay ×0.1 at step {int(0.8 * settings['steps'])}; device {args.device}; "
        f"{total:.0f} s in all.", "",
        "Final values, mean ± standard error over seeds:", "", table(runs, seconds), "",
        f"Verdict: {'PASS' if passed else 'FAIL'} (allowed: 1.5 points or {describe_t_bound(n)} per comparison)", "",
        *[f"- {line}" for line in lines], ""])
    write_text(args.out / f"{stem}.md", text)
    print(text)
    print(f"wrote {args.out / (stem + '.png')} and {args.out / (stem + '.md')}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
