"""Minibatch index sampling for finite data sets (the paper's Remark 4.5).

``with_replacement`` draws B i.i.d. uniform indices (the theory's assumption);
``without_replacement`` draws B distinct indices, independently at each step;
``reshuffle`` walks through a fresh random permutation every epoch (the last
incomplete batch of an epoch is dropped).

The per-path integer scratch ``pstate`` has the layout
``[position, permutation (n), batch indices (B)]``.
"""

from sdesim.rng import xoshiro as _xoshiro
from sdesim._jit import jit

SAMPLINGS = ("with_replacement", "without_replacement", "reshuffle")


def state_size(n: int, batch_size: int) -> int:
    return 1 + n + batch_size


def covariance_factor(sampling: str, n: int, batch_size: int) -> float:
    """f with Σ = f·C₁, C₁ the per-example covariance: 1/B, or (n−B)/(B(n−1)) without replacement."""
    if sampling == "with_replacement" or n == 1:
        return 1.0 / batch_size
    return (n - batch_size) / (batch_size * (n - 1.0))


@jit
def init_sampler(n, pstate):
    """Identity permutation; position n so that the first ``reshuffle`` batch shuffles."""
    pstate[0] = n
    for i in range(n):
        pstate[1 + i] = i


@jit
def draw_batch(sampling, n, batch_size, state, pstate):
    """Write the next batch's B indices into ``pstate[1 + n:]``; sampling 0, 1, 2 as listed."""
    out = 1 + n
    if sampling == 0:
        for j in range(batch_size):
            pstate[out + j] = _xoshiro.randint_unchecked(state, n)
    elif sampling == 1:
        # partial Fisher–Yates on the stored permutation: a uniform B-subset
        for j in range(batch_size):
            k = j + _xoshiro.randint_unchecked(state, n - j)
            tmp = pstate[1 + j]
            pstate[1 + j] = pstate[1 + k]
            pstate[1 + k] = tmp
            pstate[out + j] = pstate[1 + j]
    else:
        if pstate[0] + batch_size > n:
            for i in range(n - 1, 0, -1):
                k = _xoshiro.randint_unchecked(state, i + 1)
                tmp = pstate[1 + i]
                pstate[1 + i] = pstate[1 + k]
                pstate[1 + k] = tmp
            pstate[0] = 0
        start = pstate[0]
        for j in range(batch_size):
            pstate[out + j] = pstate[1 + start + j]
        pstate[0] = start + batch_size
