"""Examples per second of the trainer's data path for a torch Dataset, against a bare DataLoader.

The data set: ``--n`` synthetic 32×32×3 uint8 images (generated here, nothing downloaded), each read as
float, normalized per channel, randomly cropped with padding 4 and flipped horizontally with
probability 1/2 (plain torch ops from torch's global generator; torchvision is not needed).  Batches
of ``--batch`` (128).

For each number of workers (0, 1, 2):

* trainer: the batches the trainer feeds a model (``sdesim.torch.loading.TrainingFeed``: its own
  sampler's draws, a DataLoader with the workers, augmentation seeded per batch), no model;
* bare: ``torch.utils.data.DataLoader(dataset, batch_size, shuffle=True, num_workers)`` on the same
  data set and transform, no model;
* with ``--cnn``, one more row at the largest number of workers: the same two with a small CNN's SGD step
  on each batch (``Trainer.run``, without its step-0 evaluation, against a plain loop with ``torch.optim.SGD``).

Each timing runs ``--batches`` batches from a fresh iterator (worker start-up included in both) and is
the median of ``--repeats`` interleaved repetitions after a warm-up; ratios come from the same run.

Run:  .venv/bin/python benchmarks/bench_data.py [--markdown] [--quick] [--cnn]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from bench_torch import machine

MEAN = torch.tensor([0.49, 0.48, 0.45]).view(3, 1, 1)
STD = torch.tensor([0.25, 0.24, 0.26]).view(3, 1, 1)


class CropFlipImages(torch.utils.data.Dataset):
    """n random uint8 3×32×32 images in 10 classes, read with normalization, random crop (padding 4) and flip."""

    def __init__(self, n: int, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)
        self.labels = torch.randint(0, 10, (n,), generator=generator)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = (self.images[i].float() / 255 - MEAN) / STD
        padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
        top, left = torch.randint(0, 9, (2,)).tolist()
        image = padded[:, top:top + 32, left:left + 32]
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, self.labels[i]


def trainer_batches(dataset, workers: int, args) -> float:
    """Seconds for ``args.batches`` batches of the trainer's data path."""
    from sdesim.torch.data import BatchSampler, DatasetData
    from sdesim.torch.loading import LoaderSettings, TrainingFeed

    sampler = BatchSampler(len(dataset), args.batch, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    feed = TrainingFeed(DatasetData(dataset), sampler, seed=0, first_number=0,
                        settings=LoaderSettings(num_workers=workers))
    for _ in range(args.batches):
        feed.next()
    feed.close()
    return time.perf_counter() - start


def bare_batches(dataset, workers: int, args) -> float:
    """Seconds for ``args.batches`` batches of a bare DataLoader."""
    start = time.perf_counter()
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=workers)
    batches = iter(loader)
    for _ in range(args.batches):
        next(batches)
    del batches
    return time.perf_counter() - start


def small_cnn():
    from sdesim.torch.nets import cnn

    return cnn(3, 10, channels=(16, 32), norm="batch", seed=0)


def trainer_steps(dataset, workers: int, args) -> float:
    """Seconds for ``args.batches`` SGD steps of ``Trainer.run`` on the Dataset."""
    from sdesim.torch.training import LoaderSettings, LogSettings, Trainer

    trainer = Trainer(small_cnn(), dataset, method="sgd", lr=0.01, batch_size=args.batch,
                      logging=LogSettings(log_every=10**9), loader=LoaderSettings(num_workers=workers))
    trainer.log.append({})                   # skip the step-0 log entry (an evaluation of the whole set)
    start = time.perf_counter()
    trainer.run(args.batches)
    return time.perf_counter() - start


def bare_steps(dataset, workers: int, args) -> float:
    """Seconds for ``args.batches`` SGD steps of a plain loop over a DataLoader."""
    model = small_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    start = time.perf_counter()
    batches = iter(torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=workers))
    for _ in range(args.batches):
        inputs, targets = next(batches)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    del batches
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: few batches and repeats")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--cnn", action="store_true", help="also time a small CNN's SGD step on each batch")
    parser.add_argument("--n", type=int, default=10_000, help="images in the data set")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40, help="batches per timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the main process")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.batches, args.repeats = 2000, 5, 1
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; torch {torch.__version__}; {args.threads} torch thread(s) in the main process; "
          f"CPU only, no GPU rows (the batches stay on the host)")
    print(f"command: {' '.join([sys.executable.rsplit('/', 1)[-1], *sys.argv])}")
    dataset = CropFlipImages(args.n)
    workers_list = [int(w) for w in args.workers.split(",")]
    cases = [("data path", trainer_batches, bare_batches, w) for w in workers_list]
    if args.cnn:
        cases.append(("data + CNN SGD step", trainer_steps, bare_steps, max(workers_list)))
    rows = []
    for what, ours, bare, workers in cases:
        ours(dataset, workers, args), bare(dataset, workers, args)            # warm-up
        times = {"ours": [], "bare": []}
        for _ in range(args.repeats):
            times["ours"].append(ours(dataset, workers, args))
            times["bare"].append(bare(dataset, workers, args))
        examples = args.batches * args.batch
        rate = {name: examples / statistics.median(values) for name, values in times.items()}
        rows.append((what, workers, rate["ours"], rate["bare"], rate["ours"] / rate["bare"]))
    header = ["what", "workers", "trainer (examples/s)", "bare DataLoader (examples/s)", "trainer / bare"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [f"| {what} | {w} | {ours:,.0f} | {bare:,.0f} | {ratio:.2f} |" for what, w, ours, bare, ratio in rows]
    print("\n".join(lines) if args.markdown else "\n".join(lines).replace("|", " "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
