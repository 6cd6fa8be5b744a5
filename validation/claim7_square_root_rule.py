"""Malladi et al. 2022: the square-root scaling rule keeps Adam's SDE and equilibrium; the linear rule does not.

    python validation/claim7_square_root_rule.py [--quick] [--out DIR]

Prints the measured values next to the paper's, writes the figure under DIR/figures/
(default: validation/) and exits with status 1 if the claim fails.  The checks live in
sdesim/validation/claim7_square_root_rule.py; `sdesim validate` runs every claim and writes REPORT.md.
"""

import sys

from sdesim.validation import claim7_square_root_rule
from sdesim.validation.runner import run_one

if __name__ == "__main__":
    sys.exit(run_one(claim7_square_root_rule, __doc__.splitlines()[0]))
