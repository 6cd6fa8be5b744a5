"""Per-block running statistics and their exact, order-free merge.

Each block of paths carries, per checkpoint and observable, its count n_b, mean m_b
and sum of squared deviations M2_b.  Blocks merge by Chan's formulas

    N = Σ n_b,   m = r + Σ n_b (m_b − r) / N,   M2 = Σ M2_b + Σ n_b (m_b − m)²,

with the shift r = min_b m_b, and every sum running over the block terms sorted by
value, so the result is the same for any order or grouping of the blocks: across
threads, processes or machines.  Blocks that agree exactly merge exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _sorted_sum(terms: np.ndarray) -> np.ndarray:
    """Σ over axis 0, independent of the order of the terms."""
    return np.sort(terms, axis=0).sum(axis=0)


@dataclass(frozen=True, eq=False)
class BlockStats:
    """Statistics of consecutive blocks of paths (axis 0 is the block)."""

    counts: np.ndarray      # (blocks, checkpoints) int64
    means: np.ndarray       # (blocks, checkpoints, observables)
    m2s: np.ndarray         # (blocks, checkpoints, observables)
    bad_counts: np.ndarray  # (blocks,) paths that blew up
    first_bad: np.ndarray   # (blocks,) first small step at which one did (huge if none)
    comoments: np.ndarray   # (blocks, checkpoints, c, c) with c = observables, or c = 0 if not tracked
    dtype: str = "float64"  # the type the paths were simulated in (sdesim.kernels.precision)
    stream_version: int = 1  # whose normals made them (sdesim.rng.versions): only equal versions merge

    FIELDS = ("counts", "means", "m2s", "bad_counts", "first_bad", "comoments")

    @classmethod
    def empty(cls, n_blocks: int, n_checkpoints: int, n_obs: int, covariance: bool = False,
              tracked: int | None = None, dtype: str = "float64", stream_version: int = 1) -> "BlockStats":
        """Zero statistics; with ``covariance``, co-moments of the first ``tracked`` observables (default all)."""
        c = (n_obs if tracked is None else tracked) if covariance else 0
        return cls(
            counts=np.zeros((n_blocks, n_checkpoints), dtype=np.int64),
            means=np.zeros((n_blocks, n_checkpoints, n_obs)),
            m2s=np.zeros((n_blocks, n_checkpoints, n_obs)),
            bad_counts=np.zeros(n_blocks, dtype=np.int64),
            first_bad=np.full(n_blocks, np.iinfo(np.int64).max, dtype=np.int64),
            comoments=np.zeros((n_blocks, n_checkpoints, c, c)), dtype=dtype,
            stream_version=stream_version,
        )

    @staticmethod
    def nbytes_for(n_blocks: int, n_checkpoints: int, n_obs: int, covariance: bool = False) -> int:
        """The bytes `empty` would allocate for these sizes, computed without allocating them."""
        c = n_obs if covariance else 0
        return 8 * n_blocks * (n_checkpoints * (1 + 2 * n_obs + c * c) + 2)

    @staticmethod
    def concatenate(parts) -> "BlockStats":
        """The statistics of several runs' blocks, one after another in the order given (merged later, in that order)."""
        parts = list(parts)
        dtypes = sorted({p.dtype for p in parts})
        if len(dtypes) > 1:
            raise ValueError(f"cannot merge block statistics of paths simulated in {' and '.join(dtypes)}: "
                             "a merged run must hold its paths in one dtype")
        versions = sorted({p.stream_version for p in parts})
        if len(versions) > 1:
            raise ValueError(f"cannot merge statistics of stream versions {versions}: their paths drew different "
                             "normals; run every part with the same stream_version")
        return BlockStats(*(np.concatenate([getattr(p, f) for p in parts]) for f in BlockStats.FIELDS),
                          dtype=parts[0].dtype if parts else "float64",
                          stream_version=versions[0] if versions else 1)

    def subset(self, blocks: slice) -> "BlockStats":
        """The statistics of a range of blocks."""
        return BlockStats(*(getattr(self, f)[blocks] for f in BlockStats.FIELDS), dtype=self.dtype,
                          stream_version=self.stream_version)

    def _merged_mean(self):
        counts = self.counts.sum(axis=0)
        weights = self.counts[:, :, None].astype(np.float64)
        total = np.maximum(counts, 1)[:, None].astype(np.float64)
        filled = self.counts[:, :, None] > 0
        shift = np.where(filled, self.means, np.inf).min(axis=0)
        shift = np.where(np.isfinite(shift), shift, 0.0)
        return counts, weights, total, shift + _sorted_sum(weights * (self.means - shift)) / total

    def summary(self):
        """(count, mean, standard error) per checkpoint and observable, merged over blocks.

        Values too large to square (a diverging run) give inf or NaN, without numpy's warnings.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            counts, weights, total, mean = self._merged_mean()
            m2 = _sorted_sum(self.m2s) + _sorted_sum(weights * (self.means - mean) ** 2)
            var = m2 / (total - 1.0)
            stderr = np.where(counts[:, None] > 1, np.sqrt(np.maximum(var, 0.0) / total), np.nan)
        mean = np.where(counts[:, None] > 0, mean, np.nan)
        return counts, mean, stderr

    def covariance(self) -> np.ndarray:
        """Sample covariance between observables per checkpoint, (checkpoints, c, c), merged over blocks."""
        if self.comoments.shape[-1] == 0:
            raise ValueError("co-moments were not tracked; run with covariance=True")
        c = self.comoments.shape[-1]                                # the first c observables are tracked
        with np.errstate(over="ignore", invalid="ignore"):   # as in summary
            counts, weights, total, mean = self._merged_mean()
            dev = (self.means - mean)[..., :c]                          # (blocks, ckpts, c)
            between = weights[..., None] * dev[..., :, None] * dev[..., None, :]
            co = _sorted_sum(self.comoments) + _sorted_sum(between)
            return co / np.maximum(total - 1.0, 1.0)[..., None]

    @property
    def diverged(self) -> int:
        return int(self.bad_counts.sum())

    @property
    def first_divergence(self) -> int | None:
        first = int(self.first_bad.min()) if self.first_bad.size else np.iinfo(np.int64).max
        return None if first == np.iinfo(np.int64).max else first
