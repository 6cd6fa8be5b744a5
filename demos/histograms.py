"""Histograms of x at t = 1 under SGD, SVAG with l = 2 and 8, and the SDE: the skew fades as l grows.

    python demos/histograms.py [--out histograms.png] [--paths N] [--seed S]
"""

from _run import main

from sdesim.demos import histograms

if __name__ == "__main__":
    main(histograms, "histograms", __doc__)
