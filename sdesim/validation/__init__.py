"""Every checkable claim of Li, Malladi & Arora (2021), checked at small scale (``sdesim validate``).

One module per claim, each with ``run(quick, out_dir) -> ClaimResult``; `validate` runs
them and writes ``REPORT.md``.  See docs/guide/validation.md.
"""

from sdesim.validation.report import Check, ClaimResult
from sdesim.validation.runner import CLAIMS, validate

__all__ = ["CLAIMS", "Check", "ClaimResult", "validate"]
