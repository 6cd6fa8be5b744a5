"""Eq. (4): the SGD–SDE gap = discretization error + non-Gaussian gap.

    python validation/claim3_decomposition.py [--quick] [--out DIR]

Prints the measured values next to the paper's, writes the figure under DIR/figures/
(default: validation/) and exits with status 1 if the claim fails.  The checks live in
sdesim/validation/claim3_decomposition.py; `sdesim validate` runs every claim and writes REPORT.md.
"""

import sys

from sdesim.validation import claim3_decomposition
from sdesim.validation.runner import run_one

if __name__ == "__main__":
    sys.exit(run_one(claim3_decomposition, __doc__.splitlines()[0]))
