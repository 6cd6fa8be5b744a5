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
- `noise_sum`: the sum of N minibatch noises turning Gaussian, against its exact cumulants.
- `svag_skew`: SVAG's third moment falling like 1/l, against its limit.
- `gibbs_gap`: the temperature SGD's stationary law has along each axis against Gibbs' one T.
- `order_verdicts`: one study three ways: confirmed (exact engine), inconclusive (few Monte Carlo paths),
  rejected (a reference one step late).
- `measure_scaling_rule`, `linear_scaling_rule`: where the linear scaling rule breaks, κ* from one run.
- `adam_one_step`, `adam_scaling_rules`: Adam's SDE, and the square-root rule keeping its equilibrium.

``python demos/NAME.py`` runs one in class; ``python demos/make_pictures.py`` redraws docs/img.
"""

from sdesim.demos.demo import MIN_PATHS, Demo, Row
from sdesim.demos.double_well import double_well_paths, gibbs_double_well
from sdesim.demos.sums import noise_sum, noise_sum_moments, noise_sum_samples, standardized_moments
from sdesim.demos.fixed_time import histograms, sde_exact_moments, svag_exact_moments
from sdesim.demos.skew_decay import svag_skew, svag_skew_limit
from sdesim.demos.anisotropy import anisotropic_noise, gibbs_gap
from sdesim.demos.stationary import stationary_covariances, stationary_gibbs
from sdesim.demos.weak_error_plot import weak_error
from sdesim.demos.weak_order import order_verdicts
from sdesim.demos.scaling_rule import linear_scaling_rule, measure_scaling_rule
from sdesim.demos.adaptive import adam_one_step, adam_scaling_rules, baseline_curve

__all__ = ["MIN_PATHS", "Demo", "Row", "adam_one_step", "adam_scaling_rules", "anisotropic_noise", "baseline_curve",
           "double_well_paths", "gibbs_double_well", "gibbs_gap", "histograms", "linear_scaling_rule",
           "measure_scaling_rule", "noise_sum", "noise_sum_moments", "noise_sum_samples", "order_verdicts",
           "sde_exact_moments", "standardized_moments", "stationary_covariances", "stationary_gibbs",
           "svag_exact_moments", "svag_skew", "svag_skew_limit", "weak_error"]
