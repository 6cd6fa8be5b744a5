"""Malladi et al. 2022: the SVAG for Adam converges weakly to the Adam SDE, e(l) = O(1/l).

    python validation/claim6_adaptive_weak_order.py [--quick] [--out DIR]

Prints the measured values next to the paper's, writes the figure under DIR/figures/
(default: validation/) and exits with status 1 if the claim fails.  The checks live in
sdesim/validation/claim6_adaptive_weak_order.py; `sdesim validate` runs every claim and writes REPORT.md.
"""

import sys

from sdesim.validation import claim6_adaptive_weak_order
from sdesim.validation.runner import run_one

if __name__ == "__main__":
    sys.exit(run_one(claim6_adaptive_weak_order, __doc__.splitlines()[0]))
