"""Teaching demonstrations: one picture and the numbers it shows, each in seconds.

Every demonstration returns a `Demo`: a matplotlib ``Figure`` (made without
pyplot, so it works on machines without a display) and a table of the numbers in the
picture, each measured value next to its exact counterpart where one exists.

- `histograms`: x at a fixed time under SGD, SVAG with growing l and the SDE,
  on the quadratic problem with skewed noise; the skewness closes in on the SDE's 0.
- `double_well_paths`: sample paths of the double well under SGD and under the SDE,
  and where they end against the SDE's stationary law, the Gibbs density.
- `stationary_gibbs`: the stationary spread of SGD on a 2-d quadratic with
  anisotropic noise against the Lyapunov equation H S + S H = ηΣ and the Gibbs law.
- `weak_error`: the log-log weak-error plot of a convergence study.
- `order_verdicts`: one study three ways: confirmed (exact engine), inconclusive (few Monte Carlo paths),
  rejected (a reference one step late).
- `measure_scaling_rule`, `linear_scaling_rule`: where the linear scaling rule breaks, κ* from one run.
- `adam_one_step`, `adam_scaling_rules`: Adam's SDE, and the square-root rule keeping its equilibrium.

``python demos/NAME.py`` runs one in class; ``python demos/make_pictures.py`` redraws docs/img.
"""

from sdesim.demos.demo import MIN_PATHS, Demo, Row
from sdesim.demos.double_well import double_well_paths, gibbs_double_well
from sdesim.demos.fixed_time import histograms, sde_exact_moments, svag_exact_moments
from sdesim.demos.stationary import stationary_covariances, stationary_gibbs
from sdesim.demos.weak_error import weak_error
from sdesim.demos.weak_order import order_verdicts
from sdesim.demos.scaling_rule import linear_scaling_rule, measure_scaling_rule
from sdesim.demos.adaptive import adam_one_step, adam_scaling_rules, baseline_curve

__all__ = ["MIN_PATHS", "Demo", "Row", "double_well_paths", "gibbs_double_well", "histograms", "sde_exact_moments",
           "stationary_covariances", "stationary_gibbs", "svag_exact_moments", "weak_error"]
__all__ += ["order_verdicts", "linear_scaling_rule", "measure_scaling_rule", "adam_one_step", "adam_scaling_rules",
            "baseline_curve"]
