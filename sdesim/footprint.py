"""What a run of paths will cost, estimated before any path moves: its `Footprint`, the refusal of one
that would not fit in memory, and the progress bar that counts its work."""

from __future__ import annotations

from dataclasses import dataclass

from sdesim._checks import check_memory, format_bytes

STATS_COPIES = 4    # block statistics held at once: the parts, their concatenation, and a summary's work arrays


@dataclass(frozen=True)
class Footprint:
    """What running some paths will cost, estimated before any path moves.

    ``path_steps``: paths × small steps (the work); ``statistics``: bytes of block statistics
    kept until the end (times ``STATS_COPIES``), which grow with the paths; ``buffers``: bytes
    each running block of paths takes (its copy of the data and its scratch), times the threads.
    """

    path_steps: int
    statistics: int
    buffers: int

    @property
    def memory(self) -> int:
        return self.statistics + self.buffers

    @staticmethod
    def combine(parts) -> "Footprint":
        """Runs one after the other: work and statistics add up, buffers are reused."""
        parts = list(parts)
        return Footprint(sum(p.path_steps for p in parts), sum(p.statistics for p in parts),
                         max((p.buffers for p in parts), default=0))


def progress_bar(footprint: Footprint, desc: str):
    """A tqdm bar counting path-steps, with the estimated memory beside it."""
    from tqdm.auto import tqdm

    bar = tqdm(total=footprint.path_steps, desc=desc, unit="path-step", unit_scale=True)
    bar.set_postfix_str(f"memory ≈ {format_bytes(footprint.memory)}", refresh=False)
    return bar


def check_footprint(footprint: Footprint, what: str, advice: str) -> None:
    """Refuse, before any path moves, a run whose memory would not fit."""
    check_memory(footprint.memory, f"{what} ({footprint.path_steps:.3g} path-steps)", advice)
