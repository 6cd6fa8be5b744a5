"""Section 5.1, eq. (9)–(12) and Theorem 5.2: equilibria of SGD and the SDE with weight decay.

    python validation/claim4_equilibrium.py [--quick] [--out DIR]

Prints the measured values next to the paper's, writes the figure under DIR/figures/
(default: validation/) and exits with status 1 if the claim fails.  The checks live in
sdesim/validation/claim4_equilibrium.py; `sdesim validate` runs every claim and writes REPORT.md.
"""

import sys

from sdesim.validation import claim4_equilibrium
from sdesim.validation.runner import run_one

if __name__ == "__main__":
    sys.exit(run_one(claim4_equilibrium, __doc__.splitlines()[0]))
