"""Section 5.2, Theorems 5.5 and 5.6: where the linear scaling rule breaks.

    python validation/claim5_scaling_rule.py [--quick] [--out DIR]

Prints the measured values next to the paper's, writes the figure under DIR/figures/
(default: validation/) and exits with status 1 if the claim fails.  The checks live in
sdesim/validation/claim5_scaling_rule.py; `sdesim validate` runs every claim and writes REPORT.md.
"""

import sys

from sdesim.validation import claim5_scaling_rule
from sdesim.validation.runner import run_one

if __name__ == "__main__":
    sys.exit(run_one(claim5_scaling_rule, __doc__.splitlines()[0]))
