"""Milliseconds per small step of drawing SVAG's batches (``sdesim.torch.samplers``) at ImageNet size.

For each sampling of ``two_independent_batches`` (``subset``, ``replacement``, ``disjoint_halves``), two
batches of ``--batch`` (256) out of ``--n`` (1,281,167, ImageNet's training set) per small step:

* new: ``IndependentBatches.draw(j)`` as shipped (numpy's PCG64 from ``SeedSequence(seed, spawn_key=(j,))``,
  ``Generator.choice(replace=False)``: O(B));
* old: the draw before issue 20 (a ``torch.Generator`` seeded from the same SeedSequence, ``torch.randperm(N)``
  per batch for ``subset``, one for ``disjoint_halves``, ``torch.randint`` for ``replacement``: O(N)),
  reproduced here as the reference;
* new under DDP: rank 3 of 8 (each rank computes the whole draw and keeps its share);

and ``epoch_reshuffling`` (the same code before and after), whose epoch's permutation is spread over the
epoch's N/B batches.  Each number is the median over ``--repeats`` timings of ``--draws`` draws (after a
warm-up), the index lists included (what a ``DataLoader`` gets).

Run:  .venv/bin/python benchmarks/bench_samplers.py [--markdown] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from bench_torch import machine
from sdesim.torch.loading import batch_seed
from sdesim.torch.samplers import SAMPLINGS, epoch_reshuffling, two_independent_batches


def old_draw(n: int, b: int, sampling: str, seed: int, j: int, batches: int = 2) -> list:
    """The draw of samplers.py before issue 20: O(N) for the samplings without replacement."""
    generator = torch.Generator().manual_seed(batch_seed(seed, j))
    if sampling == "replacement":
        indices = torch.randint(0, n, (batches * b,), generator=generator)
    elif sampling == "disjoint_halves":
        indices = torch.randperm(n, generator=generator)[: batches * b]
    else:
        indices = torch.cat([torch.randperm(n, generator=generator)[:b] for _ in range(batches)])
    return indices.tolist()


def per_draw_ms(draw, draws: int, repeats: int) -> float:
    draw(0)
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        for j in range(1 + r * draws, 1 + (r + 1) * draws):
            draw(j)
        times.append((time.perf_counter() - start) / draws * 1e3)
    return statistics.median(times)


def epoch_ms_per_batch(n: int, b: int, repeats: int) -> float:
    times = []
    for r in range(repeats):
        sampler = epoch_reshuffling(n, b, seed=r)
        start = time.perf_counter()
        batches = sum(1 for _ in sampler)
        times.append((time.perf_counter() - start) / batches * 1e3)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_281_167)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer draws, for a smoke test")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    n, b = args.n, args.batch
    new_draws, old_draws = (20, 2) if args.quick else (200, 10)
    rows = []
    for sampling in SAMPLINGS:
        sampler = two_independent_batches(n, b, sampling=sampling, seed=0)
        share = two_independent_batches(n, b, sampling=sampling, seed=0, rank=3, world_size=8)
        old = per_draw_ms(lambda j: old_draw(n, b, sampling, 0, j), old_draws, args.repeats)
        new = per_draw_ms(sampler.draw, new_draws, args.repeats)
        ddp = per_draw_ms(share.draw, new_draws, args.repeats)
        rows.append((f"two_independent_batches, {sampling}", old, new, ddp))
    epoch = epoch_ms_per_batch(n, b, 1 if args.quick else 3)
    rows.append(("epoch_reshuffling (one epoch's permutation / its batches)", epoch, epoch, float("nan")))

    print(f"# ms per small-step draw, N = {n:,}, B = {b} (2 batches per step; epoch_reshuffling 1)")
    print(f"machine: {machine()}; torch {torch.__version__}, 1 thread; command: python {' '.join(sys.argv)}")
    header = ("sampler", "old (ms)", "new (ms)", "new, rank 3 of 8 (ms)", "old / new")
    fmt = (lambda cells: "| " + " | ".join(cells) + " |") if args.markdown else (lambda cells: "  ".join(cells))
    print(fmt(header))
    if args.markdown:
        print("|" + "---|" * len(header))
    for name, old, new, ddp in rows:
        print(fmt((name, f"{old:.3f}", f"{new:.3f}", "" if ddp != ddp else f"{ddp:.3f}", f"{old / new:.0f}x")))


if __name__ == "__main__":
    main()
