"""The square-root scaling rule for Adam (Malladi et al. 2022) at small scale, against the linear rule.

Adam at batch B and at κB, for the same number of epochs, on scikit-learn's digits (the MLP of
``figure_adaptive_svag`` without batch norm: batch norm would see batches of B and κB, a second change that
the paper avoids by accumulating micro-batches of one size, which the trainer does not do).  The square-root rule (``sdesim.torch.scale_config``) takes η → √κ η,
1 − βᵢ → κ(1 − βᵢ), ε → ε/√κ, which keeps the SDE's σ₀ = ση, cᵢ = (1 − βᵢ)/η², ε₀ = εη; the linear rule takes
η → κη and keeps β and ε, which multiplies σ₀ by √κ.  Curves are means over seeds against epochs.

Pass, with t = t_{0.995, n−1} (Student; a false alarm 1 time in 100 per comparison) and se the standard error of
the difference over n seeds:

- square-root rule, every κ: the final test accuracy is within max(1.5 points, t·se) of batch B's;
- linear rule, largest κ: the final test loss differs from batch B's by more than max(0.05, t·se) (the rule
  visibly fails).  The linear rule's accuracy difference is reported, not judged: on digits accuracy
  saturates near 95% and moves by about a point, which few seeds cannot resolve.

    .venv/bin/python validation/figure_square_root_rule.py [--full] [--out DIR] [--device cuda]

Quick mode (default): B = 4, η = 0.005, β = (0.9, 0.999), λ = 1e-4, 1600 steps (4.8 epochs), κ = 2, 4, 8,
8 seeds (about 20 s on one CPU core).  ``--full``: wider net, 8 epochs, 10 seeds.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "validation"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from figure_adaptive_svag import METRICS, arguments, compare, final_cells, plot, train_all, write  # noqa: E402
from sdesim.validation.report import describe_t_bound, FALSE_ALARM, student_t  # noqa: E402

QUICK = dict(hidden=(64,), norm=None, method="adam", batch_size=4, lr=0.005, beta1=0.9, beta2=0.999, eps=1e-8,
             weight_decay=1e-4, steps=1600, log_every=200, seeds=tuple(range(8)), kappas=(2, 4, 8))
FULL = dict(QUICK, hidden=(256, 256), steps=2688, log_every=336, seeds=tuple(range(10)))
ACC_TOLERANCE, LOSS_TOLERANCE = 0.015, 0.05
BASE = "B"


def scaled_settings(settings: dict) -> dict:
    """{label: settings} for batch B and, for every κ, the square-root and the linear rule."""
    from sdesim.torch.scaling import scale_config

    runs = {BASE: settings}
    for kappa in settings["kappas"]:
        for rule in ("square_root", "linear"):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "the linear rule on method", UserWarning)   # the comparison's point
                scaled = scale_config(settings, kappa, rule=rule)
            runs[f"{rule} κ={kappa}"] = dict(scaled, log_every=max(1, settings["log_every"] * scaled["steps"]
                                                                   // settings["steps"]))
    return runs


def verdict(runs: dict, kappas) -> tuple[bool, list[str]]:
    lines, passed = [], True
    t = student_t(len(runs[BASE]), FALSE_ALARM)
    for kappa in kappas:
        diff, se, bound = compare(runs, BASE, f"square_root κ={kappa}", "test_acc", t)
        allowed = max(ACC_TOLERANCE, bound)
        ok = abs(diff) <= allowed
        passed &= ok
        lines.append(f"square-root rule κ={kappa}: test accuracy difference {diff:+.4f} ± {se:.4f} "
                     f"(allowed ±{allowed:.4f}) {'ok' if ok else 'TOO FAR'}")
    largest = max(kappas)
    diff, se, bound = compare(runs, BASE, f"linear κ={largest}", "test_loss", t)
    needed = max(LOSS_TOLERANCE, bound)
    ok = abs(diff) > needed
    passed &= ok
    lines.append(f"linear rule κ={largest}: test loss difference {diff:+.4f} ± {se:.4f} (must exceed ±{needed:.4f}) "
                 f"{'ok, the linear rule fails' if ok else 'NOT SIGNIFICANT: the small scale does not show it'}")
    diff, se, bound = compare(runs, BASE, f"linear κ={largest}", "test_acc", t)
    lines.append(f"(reported, not judged) linear rule κ={largest}: test accuracy difference {diff:+.4f} ± {se:.4f} "
                 f"({'significant' if abs(diff) > bound else 'not significant'} at ±{bound:.4f})")
    return passed, lines


def table(runs: dict, settings: dict, seconds: dict) -> str:
    rows = ["| run | batch | η | β₁ | β₂ | ε | steps | final test acc | final test loss | final train loss | "
            "seconds per run |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, cells in final_cells(runs).items():
        s = settings[label]
        rows.append(f"| {label} | {s['batch_size']} | {s['lr']:.4g} | {s['beta1']:.3g} | {s['beta2']:.4g} | "
                    f"{s['eps']:.3g} | {s['steps']} | {cells} | {seconds[label]:.1f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    args, settings = arguments(__doc__, argv, QUICK, FULL, full_help="larger net and more seeds")
    every = scaled_settings(settings)
    runs, seconds, total = train_all(every, args)
    passed, lines = verdict(runs, settings["kappas"])

    stem = "figure_square_root_rule" + ("_full" if args.full else "")
    n = len(settings["seeds"])
    epochs = lambda result: [e / result.config["n_train"] for e in result.columns()["examples"]]  # noqa: E731
    plot(runs, args.out / f"{stem}.png", METRICS,
         "Adam at batch κB: square-root rule vs linear rule (digits; means over seeds)\n"
         f"{'PASS' if passed else 'FAIL'}: judged against {describe_t_bound(n)}", xlabel="epoch", x=epochs)
    write(args, stem, "The square-root scaling rule for Adam", settings, total, "Every run takes the same number "
          "of epochs.", table(runs, every, seconds), passed, "square-root rule within 1.5 accuracy points or the "
          f"bound; linear rule's test loss beyond 0.05 and the bound; the bound is {describe_t_bound(n)} per comparison",
          lines)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
