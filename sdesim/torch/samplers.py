"""Index samplers for a ``DataLoader(dataset, batch_sampler=...)``: SVAG's independent batches, and the
epoch reshuffling of ``DataLoader(shuffle=True)`` for SGD baselines.  Both resume exactly.

Each item a sampler yields is the list of example indices of one small step.  `two_independent_batches`
yields ``batches`` × B indices per draw: the first B are batch γ₁, the next B batch γ₂ (split them with
``SVAG.split``).  Draw j is computed from (seed, j) alone (numpy's ``SeedSequence(seed, spawn_key=(j,))``
seeds a ``torch.Generator`` for that draw), so a resumed loop gets the same draws by starting at the
optimizer's count of small steps, however far a ``DataLoader`` had prefetched: ``start=opt.small_steps_taken``
or ``sampler.set_position(opt.small_steps_taken)``.

Each live `two_independent_batches` sampler counts the draws it has handed out that no ``opt.split`` has
taken yet (`claim_draw`): that is how ``SVAG.split`` knows its rows were drawn by such a sampler.
"""

from __future__ import annotations

import collections
import numbers
import weakref

import torch

from sdesim.torch._checks import strict_positive_int
from sdesim.torch.loading import batch_seed

SAMPLINGS = ("subset", "replacement", "disjoint_halves")


def _position(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (draws already taken), got {value!r}")
    return int(value)


def _batch_size(n: int, batch_size, batches: int) -> int:
    batch_size = strict_positive_int("batch_size", batch_size)
    if batches * batch_size > n:
        raise ValueError(f"{batches} batch(es) of batch_size={batch_size} need {batches * batch_size} examples, "
                         f"the data set has n={n}; use batch_size <= {n // batches}")
    return batch_size


def draw_generator(seed: int, j: int) -> torch.Generator:
    """The generator of draw j: seeded from numpy's SeedSequence(seed, spawn_key=(j,)), independent across j."""
    return torch.Generator().manual_seed(batch_seed(seed, j))


_LIVE = weakref.WeakSet()      # the IndependentBatches samplers alive in this process


def claim_draw(rows: int) -> list | None:
    """Take one draw of ``rows`` indices that a live two-batch sampler handed out and no split has taken yet.

    Returns None when one was taken, else the sizes of the draws waiting to be split (often none)."""
    for sampler in list(_LIVE):
        if sampler.unsplit[rows]:
            sampler.unsplit[rows] -= 1
            return None
    return sorted({size for sampler in list(_LIVE) for size, count in sampler.unsplit.items() if count})


class IndependentBatches:
    """The draws of SVAG's small steps; see `two_independent_batches`.  ``position``: the next draw's index;
    ``unsplit``: per size, the draws handed out by iteration that ``opt.split`` has not taken (`claim_draw`)."""

    def __init__(self, n: int, batch_size: int, *, sampling: str, seed: int, batches: int, draws, start: int):
        self.n = strict_positive_int("n", n)
        if batches not in (1, 2):
            raise ValueError(f"batches must be 1 (SGD, SVAG at l = 1) or 2 (SVAG at l > 1; pass "
                             f"batches=opt.batches), got {batches!r}")
        self.batches = batches
        self.batch_size = _batch_size(self.n, batch_size, batches)
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; allowed: {', '.join(map(repr, SAMPLINGS))}")
        self.sampling = sampling
        self.seed = _position("seed", seed)
        self.draws = None if draws is None else _position("draws", draws)
        self.position = 0
        self.set_position(_position("start", start))
        self.unsplit = collections.Counter()
        _LIVE.add(self)

    def set_position(self, j: int) -> None:
        """Make the next draw draw j (e.g. ``opt.small_steps_taken`` on resume)."""
        self.position = _position("the position", j)

    def draw(self, j: int) -> list:
        """The ``batches`` × B indices of draw j (a function of (seed, j) only)."""
        generator = draw_generator(self.seed, j)
        n, b, k = self.n, self.batch_size, self.batches
        if self.sampling == "replacement":
            indices = torch.randint(0, n, (k * b,), generator=generator)
        elif self.sampling == "disjoint_halves":
            indices = torch.randperm(n, generator=generator)[: k * b]
        else:
            indices = torch.cat([torch.randperm(n, generator=generator)[:b] for _ in range(k)])
        return indices.tolist()

    def __iter__(self):
        while self.draws is None or self.position < self.draws:
            j = self.position
            self.position += 1
            indices = self.draw(j)
            self.unsplit[len(indices)] += 1
            yield indices

    def __len__(self) -> int:
        if self.draws is None:
            raise TypeError("an endless two_independent_batches sampler (draws=None) has no length; pass draws=")
        return max(0, self.draws - self.position)


def two_independent_batches(n: int, batch_size: int, *, sampling: str = "subset", seed: int = 0, batches: int = 2,
                            draws: int | None = None, start: int = 0) -> IndependentBatches:
    """Per small step, ``batches`` independent batches of B indices out of n, concatenated (γ₁ then γ₂).

    ``batches``: 2 for SVAG at l > 1, 1 at l = 1 (pass ``batches=opt.batches``); ``draws``: how many small
    steps to yield (None: endless); ``start``: the first draw's index (resume at ``opt.small_steps_taken``).
    Σ₁ is the per-example gradient covariance; the combination c₁ḡ₁ + c₂ḡ₂ (c₁ + c₂ = 1, c₁² + c₂² = l) has
    covariance f·Σ₁/B with

    * ``"subset"`` (default): each batch a uniformly random set of B distinct examples, the two independent
      (they may share examples): f = l(N − B)/(N − 1), l times one batch's, as eq. (5) assumes;
    * ``"replacement"``: 2B i.i.d. uniform indices: f = l, exactly;
    * ``"disjoint_halves"``: the two halves of one random 2B-subset, as the paper's code does: the batch
      means are negatively correlated, Cov(ḡ₁, ḡ₂) = −Σ₁/(N − 1), so f = (lN − B)/(N − 1), larger than
      subset's by (l − 1)B/(N − 1): close to independent only when B ≪ N.
    """
    return IndependentBatches(n, batch_size, sampling=sampling, seed=seed, batches=batches, draws=draws, start=start)


class EpochReshuffling:
    """The batches of ``DataLoader(shuffle=True, generator=torch.Generator().manual_seed(seed))``; see
    `epoch_reshuffling`.  ``position``: batches handed out so far over all epochs."""

    def __init__(self, n: int, batch_size: int, *, seed: int, drop_last: bool, start: int):
        self.n = strict_positive_int("n", n)
        self.batch_size = _batch_size(self.n, batch_size, 1)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last must be True or False, got {drop_last!r}")
        self.drop_last = drop_last
        self.seed = _position("seed", seed)
        self._generator, self._epoch = None, None   # the generator before epoch self._epoch's draws
        self.position = 0
        self.set_position(_position("start", start))

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def set_position(self, j: int) -> None:
        """Make the next batch handed out batch j of the whole run (epoch j // len, batch j % len of it)."""
        self.position = _position("the position", j)

    def epoch(self, e: int) -> list:
        """The batches of epoch e (0, 1, ...): replays the DataLoader's draws from ``seed``."""
        if self._epoch is None or e < self._epoch:
            self._generator, self._epoch = torch.Generator().manual_seed(self.seed), 0
        while True:
            # what DataLoader does per epoch: one int64 for its workers' base seed, then the sampler's draws
            torch.empty((), dtype=torch.int64).random_(generator=self._generator)
            sampler = torch.utils.data.RandomSampler(range(self.n), generator=self._generator)
            batches = list(torch.utils.data.BatchSampler(sampler, self.batch_size, self.drop_last))
            self._epoch += 1
            if self._epoch == e + 1:
                return batches

    def __iter__(self):
        """The rest of the epoch that holds ``position``."""
        e, offset = divmod(self.position, len(self))
        for batch in self.epoch(e)[offset:]:
            self.position += 1
            yield batch


def epoch_reshuffling(n: int, batch_size: int, *, seed: int, drop_last: bool = False,
                      start: int = 0) -> EpochReshuffling:
    """SGD's usual sampling: each epoch a fresh random permutation cut into batches of B (the last one short
    unless ``drop_last``); one ``iter`` per epoch, as a DataLoader's.  It yields exactly the batches of
    ``DataLoader(dataset, batch_size=B, shuffle=True, drop_last=drop_last,
    generator=torch.Generator().manual_seed(seed))`` (with ``persistent_workers=False``), and resumes from
    ``start`` = batches already taken (``set_position``).  Batches are not independent within an epoch:
    outside Theorem 4.3, though the paper found it makes no difference in practice (Remark 4.5)."""
    return EpochReshuffling(n, batch_size, seed=seed, drop_last=drop_last, start=start)
