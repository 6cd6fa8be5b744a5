"""Reading a student's typed answer, and turning a failed `sdesim.testing` check into a `Verdict`."""

from __future__ import annotations

import math
import numbers

from sdesim.lessons.view import Verdict


def number(answer) -> float | None:
    """The answer as a finite float ('0.25', '-1/5', '1e-2', 0.25), or None if it is not one number.

    A fraction a/b is read as a division; anything else (words, two numbers, nan, inf) is None.
    """
    if isinstance(answer, bool):
        return None
    if isinstance(answer, numbers.Real):
        value = float(answer)
        return value if math.isfinite(value) else None
    if not isinstance(answer, str):
        return None
    text = answer.strip().replace("−", "-")
    parts = [part.strip() for part in text.split("/")]   # '1 2' stays two numbers, and is refused
    if not text or len(parts) > 2:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if len(values) == 2:
        if values[1] == 0:
            return None
        values = [values[0] / values[1]]
    return values[0] if math.isfinite(values[0]) else None


def malformed(answer, example: str) -> Verdict:
    """The verdict on an answer that is not a number: what was typed and what to type instead."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return Verdict(False, f"No answer yet: type a single number such as {example} (a fraction like 1/5 works too).")
    return Verdict(False, f"I could not read {answer!r} as one number; type a single number such as {example} "
                          "(a fraction like 1/5 works too).")
