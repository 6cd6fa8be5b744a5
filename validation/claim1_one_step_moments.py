"""Lemmas 4.6 and 4.7: one-step moments of SVAG and the SDE.

    python validation/claim1_one_step_moments.py [--quick] [--out DIR]

Prints the measured values next to the paper's, writes the figure under DIR/figures/
(default: validation/) and exits with status 1 if the claim fails.  The checks live in
sdesim/validation/claim1_one_step_moments.py; `sdesim validate` runs every claim and writes REPORT.md.
"""

import sys

from sdesim.validation import claim1_one_step_moments
from sdesim.validation.runner import run_one

if __name__ == "__main__":
    sys.exit(run_one(claim1_one_step_moments, __doc__.splitlines()[0]))
