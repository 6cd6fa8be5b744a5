"""One exit status for a command that judges (``converge``, ``decompose``, ``moments``), from its verdicts.

    0    every judged verdict is confirmed (moments: pass)
    1    any is rejected (moments: FAIL)
    3    otherwise: some inconclusive, or nothing judged (moments: no verdict, too few samples)
    130  interrupted by Ctrl-C (SIGINT), whatever was judged before
    143  interrupted by SIGTERM, whatever was judged before (`sdesim.interrupts`: 128 + the signal's number)
    4    an output could not be written after the work (a full disk, a read-only folder: `sdesim.atomic`),
         whatever was judged; the message names the file, and the old file, if any, is unchanged

Bad input is an error before any work (exit status 2, `sdesim.cli.main`), never a verdict.
"""

from __future__ import annotations

CONFIRMED, REJECTED, INCONCLUSIVE, INTERRUPTED, TERMINATED = 0, 1, 3, 130, 143
OUTPUT_FAILED = 4
KINDS = ("confirmed", "rejected", "inconclusive")
# a moment check's `passed` (True, False, or None below its calibrated sample size) as a verdict kind
PASSED_KIND = {True: "confirmed", False: "rejected", None: "inconclusive"}


def exit_status(kinds, *, interrupted: bool | int = False) -> int:
    """The exit status of verdicts ``kinds`` ('confirmed', 'rejected', 'inconclusive'; None: a part not judged).

    ``interrupted``: True (Ctrl-C) or the status of the signal that stopped the run (INTERRUPTED, TERMINATED).
    """
    if interrupted:
        return TERMINATED if interrupted == TERMINATED else INTERRUPTED
    judged = [k for k in kinds if k is not None]
    unknown = sorted(set(judged) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown verdict kinds {unknown}; a verdict is one of {', '.join(KINDS)}")
    if "rejected" in judged:
        return REJECTED
    return CONFIRMED if judged and all(k == "confirmed" for k in judged) else INCONCLUSIVE
