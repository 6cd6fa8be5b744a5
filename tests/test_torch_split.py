"""SVAGFamily.split: a half-converted data path (DataLoader(batch_size=B) or batch_size=2B with shuffle, its
short last batch) is refused with the fix; tuple and dict (Hugging Face style) batches are cut into the two
independent batches the sampler drew; values that are not per-example tensors are refused."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from sdesim.torch.optim import SVAG, AdamSVAG  # noqa: E402
from sdesim.torch.samplers import two_independent_batches  # noqa: E402

N, B = 40, 4


def dataset():
    return TensorDataset(torch.arange(N * 3, dtype=torch.float32).reshape(N, 3), torch.arange(N))


def svag(l=2, cls=SVAG):
    return cls([torch.nn.Parameter(torch.zeros(2))], lr=0.1, l=l)


@pytest.mark.parametrize("loader", [
    dict(batch_size=B, shuffle=True),                      # the old loader: each batch would be halved to B/2
    dict(batch_size=2 * B, shuffle=True),                  # 2B rows, but the halves are not independent
], ids=["batch_size=B", "batch_size=2B"])
def test_a_loader_without_the_two_batch_sampler_is_refused(loader):
    opt = svag()
    x, y = next(iter(DataLoader(dataset(), **loader)))
    with pytest.raises(ValueError, match=r"no two_independent_batches sampler drew them.*batch_sampler="
                                         r"two_independent_batches\(len\(dataset\), B, batches=opt\.batches"):
        opt.split(x, y)


def test_rows_that_are_not_the_samplers_draw_are_refused():
    """A sampler of 2B per draw is live, but the rows come from a loader with batch_size=B (or a short batch)."""
    opt = svag(cls=AdamSVAG)
    sampler = two_independent_batches(N, B, batches=opt.batches, draws=3)
    drawn = iter(DataLoader(dataset(), batch_sampler=sampler))
    next(drawn)                                             # one draw of 2B waiting to be split
    x, y = next(iter(DataLoader(dataset(), batch_size=B)))
    with pytest.raises(ValueError, match=rf"split got {B} rows and the two_independent_batches sampler drew "
                                         rf"{2 * B} indices per small step: these rows are not its draw"):
        opt.split(x, y)


def test_the_samplers_draws_are_split_and_each_only_once():
    opt = svag()
    data = dataset()
    sampler = two_independent_batches(N, B, batches=opt.batches, seed=5, draws=3)
    for (x, y), indices in zip(DataLoader(data, batch_sampler=sampler), [sampler.draw(j) for j in range(3)]):
        (x1, y1), (x2, y2) = opt.split(x, y)
        assert y1.tolist() == indices[:B] and y2.tolist() == indices[B:]
        assert torch.equal(x2, data.tensors[0][indices[B:]])
    with pytest.raises(ValueError, match="no two_independent_batches sampler drew them"):
        opt.split(x, y)                                     # the same draw a second time
    assert len(opt.split(x, y, own_sampling=True)) == 2     # the user vouches for the rows


def test_prefetched_draws_are_claimed_in_turn():
    """A DataLoader with workers draws ahead of the loop: every draw is still split once."""
    opt = svag()
    sampler = two_independent_batches(N, B, batches=opt.batches, draws=4)
    batches = list(DataLoader(dataset(), batch_sampler=sampler))        # all four drawn before any split
    assert [len(opt.split(*batch)) for batch in batches] == [2, 2, 2, 2]


def test_tuple_and_dict_batches():
    opt = svag()
    sampler = two_independent_batches(N, B, batches=opt.batches, seed=1, draws=3)
    loader = DataLoader(dataset(), batch_sampler=sampler,
                        collate_fn=lambda rows: {"input_ids": torch.stack([r[0] for r in rows]),
                                                 "labels": torch.stack([r[1] for r in rows])})
    draws = iter(loader)
    batch = next(draws)
    halves = opt.split(batch)
    assert [list(h) for h in halves] == [["input_ids", "labels"]] * 2
    assert torch.equal(halves[0]["labels"], batch["labels"][:B]) and torch.equal(halves[1]["labels"],
                                                                                 batch["labels"][B:])
    batch = next(draws)
    pair = (batch["input_ids"], batch["labels"])
    as_tuple = opt.split(pair)
    assert all(torch.equal(a, b) for got, want in zip(as_tuple, opt.split(*pair, own_sampling=True))
               for a, b in zip(got, want))
    assert opt.split([pair[1]], own_sampling=True)[1][0].tolist() == batch["labels"][B:].tolist()


def test_at_l_1_split_returns_the_batch_whatever_its_loader():
    opt = svag(l=1)
    x, y = next(iter(DataLoader(dataset(), batch_size=B, shuffle=True)))
    (whole,) = opt.split({"x": x, "y": y})
    assert torch.equal(whole["x"], x) and torch.equal(whole["y"], y) and len(opt.split(x, y)) == 1


@pytest.mark.parametrize("batch,message", [
    ({"input_ids": torch.ones(8, 3), "ids": ["a"] * 8}, r"'ids' of the batch is list"),
    ({"input_ids": torch.ones(8, 3), "return_loss": True}, r"'return_loss' of the batch is bool"),
    ({"input_ids": torch.ones(8, 3), "scale": torch.tensor(2.0)}, r"'scale' of the batch is a 0-dim tensor"),
    ((torch.ones(8, 3), None), r"item 1 of the batch is NoneType"),
    ({"input_ids": torch.ones(8, 3), "labels": torch.ones(6)}, r"lengths \[8, 6\]"),
    ({}, r"got nothing"),
    ((), r"got nothing"),
])
def test_values_that_are_not_per_example_tensors_are_refused(batch, message):
    with pytest.raises(ValueError, match=message):
        svag().split(batch, own_sampling=True)


def test_own_sampling_must_be_a_bool():
    with pytest.raises(ValueError, match="own_sampling must be True or False, got 'yes'"):
        svag().split(torch.ones(8), own_sampling="yes")
