"""The log-log weak-error plot: SVAG against the exact SDE, slope −1 (Theorem 4.3).

    python demos/weak_error.py [--out weak_error.png] [--paths N] [--seed S]
"""

from _run import main

from sdesim.demos import weak_error

if __name__ == "__main__":
    main(weak_error, "weak_error", __doc__)
