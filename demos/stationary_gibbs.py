"""SGD's stationary law on a 2-d quadratic is not Gibbs unless the noise is isotropic.

    python demos/stationary_gibbs.py [--out stationary_gibbs.png] [--paths N] [--seed S]
"""

from _run import main

from sdesim.demos import stationary_gibbs

if __name__ == "__main__":
    main(stationary_gibbs, "stationary_gibbs", __doc__)
