"""Sample paths of the double well under SGD and under the SDE, and where they end against Gibbs.

    python demos/double_well.py [--out double_well.png] [--paths N] [--seed S]
"""

from _run import main

from sdesim.demos import double_well_paths

if __name__ == "__main__":
    main(double_well_paths, "double_well", __doc__)
