"""Cost of the torch backend's steps, as ratios to one SGD step on the same model and batch size.

For each model (an MLP and a small CNN on scikit-learn's digits, batch size B):

* one SVAG small step (two independent batches of B, a forward and backward pass each) against one
  SGD step (one batch of B): about 2 is the aim (two passes cost twice one, not more);
* one NGD step (exact: a weighted pass over all N training examples; group-norm twin of the model,
  since NGD refuses batch norm) against one SGD step of that twin, with the ratio per example;
* one noise-to-signal estimate (``sdesim.torch.nsr.NSRMonitor``, m minibatch gradients) against one
  SGD step, when that module is present;
* ``sdesim.torch.speedups`` (second table): one SVAG small step with the fused pass (one pass over 2B
  examples) and with two passes, on the group-norm twin (the fused pass refuses batch norm), against
  one SGD step of that twin; and one SGD step with ``precision="bf16"`` against one in float32.

Each timing is the median of ``--repeats`` interleaved repetitions of a run of ``--steps`` steps
through ``sdesim.torch.training.Trainer`` (so the loop's own overhead counts), after a warm-up.
Ratios compare timings from the same run only.

Run:  .venv/bin/python benchmarks/bench_torch.py [--quick] [--markdown] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time


def machine() -> str:
    try:
        names = [line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")]
        return names[0] if names else platform.processor()
    except OSError:
        return platform.processor()


def models(kind: str, norm: str):
    from sdesim.torch.nets import cnn, mlp

    if kind == "mlp":
        return mlp(64, 10, hidden=(256, 256), norm=norm, seed=0)
    return cnn(1, 10, channels=(16, 32), norm=norm, seed=0)


def data_for(kind: str, device):
    from sdesim.torch.data import TensorData, digits

    train, _ = digits()
    if kind == "cnn":
        train = TensorData(train.inputs.reshape(-1, 1, 8, 8), train.targets)
    return train.to(device)


def time_steps(trainer, steps: int) -> float:
    """Seconds per effective step of ``trainer.run(steps)`` (synchronized on a GPU)."""
    import torch

    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    start = time.perf_counter()
    trainer.run(steps)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    return (time.perf_counter() - start) / steps


def bench_model(kind: str, args) -> dict:
    import torch

    from sdesim.torch.training import LogSettings, Speed, Trainer

    data = data_for(kind, args.device)
    quiet = dict(batch_size=args.batch, lr=0.01, logging=LogSettings(log_every=10**9), device=args.device, seed=0)
    trainers = {
        "sgd": Trainer(models(kind, "batch"), data, method="sgd", **quiet),
        "svag": Trainer(models(kind, "batch"), data, method="svag", l=2, **quiet),
        "sgd_group": Trainer(models(kind, "group"), data, method="sgd", **quiet),
        "ngd": Trainer(models(kind, "group"), data, method="ngd", **quiet),
        "svag_group": Trainer(models(kind, "group"), data, method="svag", l=2, **quiet),
        "svag_fused": Trainer(models(kind, "group"), data, method="svag", l=2, speed=Speed(fused=True), **quiet),
        "sgd_bf16": Trainer(models(kind, "batch"), data, method="sgd", speed=Speed(precision="bf16"), **quiet),
    }
    steps = {"sgd": args.steps, "svag": max(1, args.steps // 2), "sgd_group": args.steps,
             "ngd": max(1, args.steps // 20), "svag_group": max(1, args.steps // 2),
             "svag_fused": max(1, args.steps // 2), "sgd_bf16": args.steps}
    small = {"sgd": 1, "svag": 2, "sgd_group": 1, "ngd": 1,   # small steps per effective step
             "svag_group": 2, "svag_fused": 2, "sgd_bf16": 1}
    monitor = None
    try:
        from sdesim.torch.nsr import NSRMonitor
        monitor = NSRMonitor(data, args.batch, m=args.m, every=1, seed=0)
    except ImportError:
        pass
    for name, trainer in trainers.items():                      # warm-up (and the step-0 log entry)
        time_steps(trainer, max(1, steps[name] // 5))
    if monitor is not None:
        monitor(trainers["sgd"].model, 0)
    times = {name: [] for name in trainers}
    times["nsr"] = []
    for _ in range(args.repeats):
        for name, trainer in trainers.items():
            times[name].append(time_steps(trainer, steps[name]) / small[name])
        if monitor is not None:
            model = trainers["sgd"].model
            start = time.perf_counter()
            monitor(model, 1)
            if args.device != "cpu":
                torch.cuda.synchronize()
            times["nsr"].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items() if values}
    n = len(data)
    out = {
        "model": kind, "params": sum(p.numel() for p in trainers["sgd"].params), "N": n,
        "sgd_ms": 1e3 * median["sgd"],
        "svag_ratio": median["svag"] / median["sgd"],
        "ngd_ratio": median["ngd"] / median["sgd_group"],
        "ngd_ratio_per_example": median["ngd"] / median["sgd_group"] * args.batch / n,
        "sgd_group_ms": 1e3 * median["sgd_group"],
        "svag_group_ratio": median["svag_group"] / median["sgd_group"],
        "svag_fused_ratio": median["svag_fused"] / median["sgd_group"],
        "bf16_ratio": median["sgd_bf16"] / median["sgd"],
    }
    if "nsr" in median:
        out["nsr_ratio"] = median["nsr"] / median["sgd"]
        out["nsr_ratio_per_gradient"] = median["nsr"] / median["sgd"] / args.m
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: few steps and repeats")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60, help="SGD steps per timing")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--m", type=int, default=200, help="minibatch gradients per NSR estimate")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.m = 40, 2, 20
    import torch

    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; torch {torch.__version__}; {args.threads} threads; device {args.device}")
    print(f"command: {' '.join([sys.executable.rsplit('/', 1)[-1], *sys.argv])}")
    rows = [bench_model(kind, args) for kind in ("mlp", "cnn")]
    header = ["model", "trainable params", "N", "SGD step (ms)", "SVAG small step / SGD step",
              "NGD step / SGD step", "NGD per example / SGD per example", f"NSR estimate (m={args.m}) / SGD step",
              "NSR per gradient / SGD step"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        nsr = (f"{r['nsr_ratio']:.1f}", f"{r['nsr_ratio_per_gradient']:.2f}") if "nsr_ratio" in r else ("n/a", "n/a")
        lines.append(f"| {r['model']} | {r['params']} | {r['N']} | {r['sgd_ms']:.3f} | {r['svag_ratio']:.2f} | "
                     f"{r['ngd_ratio']:.1f} | {r['ngd_ratio_per_example']:.2f} | {nsr[0]} | {nsr[1]} |")
    print("\n".join(lines) if args.markdown else "\n".join(lines).replace("|", " "))
    header = ["model", "SGD step, group norm (ms)", "SVAG small step, two passes / SGD step",
              "SVAG small step, fused pass / SGD step", "fused / two passes", "SGD step bf16 / float32"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['sgd_group_ms']:.3f} | {r['svag_group_ratio']:.2f} | "
                     f"{r['svag_fused_ratio']:.2f} | {r['svag_fused_ratio'] / r['svag_group_ratio']:.2f} | "
                     f"{r['bf16_ratio']:.2f} |")
    print()
    print("\n".join(lines) if args.markdown else "\n".join(lines).replace("|", " "))
    if args.device == "cpu":
        print("no GPU rows: this run was on the CPU (run with --device cuda where a GPU is available)")
    aim = all(r["svag_ratio"] < 2.3 for r in rows)
    print(f"aim (SVAG small step within 2.3x an SGD step): {'met' if aim else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
