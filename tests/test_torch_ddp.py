"""SVAG under DistributedDataParallel on 2 CPU processes (gloo): each rank draws its share of both batches
(``two_independent_batches(..., rank=, world_size=)``), the ranks' shares in rank order are the single-process
batches exactly, and the DDP run's parameters equal the single-process run's to rounding.  Also: the samplers'
shares in one process, their bad input, and a draw's cost in O(B) whatever N.

Run as a script, this file is one rank: ``python tests/test_torch_ddp.py RANK WORLD_SIZE INIT_FILE OUT``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from sdesim.torch import SVAG, epoch_reshuffling, two_independent_batches  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

WORLD, BATCH, SMALL_STEPS = 2, 8, 6          # SVAG at l = 2: 3 effective steps, 4 examples per rank and batch


def svag_run(rank: int = 0, world_size: int = 1, seed: int = 4):
    """The own-loop guide's loop at l = 2 (float64, no batch norm), in DDP when world_size > 1.
    Returns the parameters and, per small step, the example indices of each batch this process used."""
    torch.set_num_threads(1)
    data = tiny_data(40)
    dataset = TensorDataset(data.inputs, data.targets, torch.arange(len(data)))
    model = tiny_model()
    if world_size > 1:
        model = DistributedDataParallel(model)
    opt = SVAG(model.parameters(), lr=0.1, l=2, weight_decay=0.01)
    sampler = two_independent_batches(len(dataset), BATCH, batches=opt.batches, seed=seed, draws=SMALL_STEPS,
                                      rank=rank, world_size=world_size)
    drawn = []
    for x, y, index in DataLoader(dataset, batch_sampler=sampler):
        opt.zero_grad()
        batches = opt.split(x, y, index)
        drawn.append([i.tolist() for _, _, i in batches])
        opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb, _ in batches]).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()], drawn


def rank_main(rank: int, world_size: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        params, drawn = svag_run(rank, world_size)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            two_independent_batches(40, BATCH)                  # world_size forgotten under DDP
        torch.save({"params": params, "drawn": drawn, "warnings": [str(w.message) for w in caught]}, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_ddp_on_two_processes_equals_one_process(tmp_path):
    """The union of the ranks' indices is the single-process batches bit for bit; the parameters agree to
    rtol 1e-12 (float64): DDP averages the two ranks' gradients of their B/2-example means, which is the
    B-example mean summed in another order, a few ulp (2.2e-16 relative) per step over 6 small steps."""
    outs = [tmp_path / f"rank{r}.pt" for r in range(WORLD)]
    ranks = [subprocess.Popen([sys.executable, __file__, str(r), str(WORLD), str(tmp_path / "init"), str(outs[r])],
                              cwd=Path(__file__).parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(WORLD)]
    for process in ranks:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
    results = [torch.load(out, weights_only=True) for out in outs]
    params, drawn = svag_run()

    for step in range(SMALL_STEPS):
        for batch in range(2):
            shares = [result["drawn"][step][batch] for result in results]
            assert all(len(share) == BATCH // WORLD for share in shares)
            assert sum(shares, []) == drawn[step][batch]
    for result in results:
        assert all(torch.equal(p, q) for p, q in zip(result["params"], results[0]["params"]))  # ranks in sync
        for p, q in zip(result["params"], params):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
        assert any("every rank draws the same full batches" in message for message in result["warnings"])
    other, _ = svag_run(seed=5)                  # power: other batches move the parameters far beyond the tolerance
    assert max(float((p - q).abs().max()) for p, q in zip(other, params)) > 1e-4


@pytest.mark.parametrize("sampling", ["subset", "replacement", "disjoint_halves"])
@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_shares_in_rank_order_are_the_single_process_draw(sampling, world_size):
    whole = two_independent_batches(50, 8, sampling=sampling, seed=7, draws=5)
    shares = [two_independent_batches(50, 8, sampling=sampling, seed=7, draws=5, start=1, rank=r,
                                       world_size=world_size) for r in range(world_size)]
    for j, draw in enumerate(list(whole)[1:], start=1):
        mine = [share.draw(j) for share in shares]
        assert all(len(m) == 2 * 8 // world_size for m in mine)
        halves = [(m[: len(m) // 2], m[len(m) // 2:]) for m in mine]        # what opt.split cuts each rank's into
        assert sum((h[0] for h in halves), []) + sum((h[1] for h in halves), []) == draw
    assert [len(b) for b in epoch_reshuffling(23, 4, seed=1, rank=1, world_size=2, drop_last=True)] == [2] * 5
    for drop_last in (False, True):
        whole = list(epoch_reshuffling(22, 4, seed=1, drop_last=drop_last, start=3))
        ranks = [list(epoch_reshuffling(22, 4, seed=1, drop_last=drop_last, start=3, rank=r, world_size=2))
                 for r in range(2)]
        assert [a + b for a, b in zip(*ranks)] == whole and len(whole) == (5 if drop_last else 6) - 3


def test_a_draw_costs_o_b_not_o_n():
    """Out of N = 10¹² examples (a permutation of N would need 8 TB): B distinct indices, drawn at once."""
    n = 10**12
    for sampling in ("subset", "disjoint_halves", "replacement"):
        draw = two_independent_batches(n, 256, sampling=sampling, seed=0).draw(3)
        assert len(draw) == 512 and all(0 <= i < n for i in draw)
        if sampling != "replacement":
            assert len(set(draw[:256])) == 256 and len(set(draw[256:])) == 256


BAD_SHARES = [
    (lambda: two_independent_batches(40, 8, rank=2, world_size=2), r"rank must be an integer in \[0, world_size\) = "
                                                                   r"\[0, 2\) .*got 2"),
    (lambda: two_independent_batches(40, 8, rank=-1, world_size=2), r"rank must be an integer in .*got -1"),
    (lambda: two_independent_batches(40, 8, rank=0.0, world_size=2), r"rank must be an integer in .*got 0\.0"),
    (lambda: two_independent_batches(40, 8, world_size=0), r"world_size must be a positive integer .*got 0"),
    (lambda: two_independent_batches(40, 8, rank=0, world_size=3), r"batch_size=8 is not divisible by "
                                                                   r"world_size=3.*a multiple of 3"),
    (lambda: epoch_reshuffling(40, 6, seed=0, world_size=4), r"batch_size=6 is not divisible by world_size=4"),
    (lambda: epoch_reshuffling(41, 8, seed=0, world_size=2), r"last batch of each epoch holds n % batch_size = 1 "
                                                             r"examples, not divisible by world_size=2.*drop_last=True"),
]


@pytest.mark.parametrize("make,message", BAD_SHARES, ids=[m[:30] for _, m in BAD_SHARES])
def test_bad_shares_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


if __name__ == "__main__":
    rank_main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
