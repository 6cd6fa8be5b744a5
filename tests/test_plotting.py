"""The weak-error plot shows the data: y-limits from the errors and their bars (never from a failed fit),
components named x[0], errors below 0 marked, and the table's control column says over how many it is the max."""

import dataclasses
import math

import numpy as np

from sdesim.estimators.weak_error import weak_error_study
from sdesim.plotting import plot_weak_error
from sdesim.problems import quadratic


def signed_study():
    """Exact gaps at T of a quadratic started at (3, −1): x[0]'s and |x|²'s are below 0, x[1]'s above."""
    return weak_error_study(quadratic(2), exact=True, tests=["x", "norm2"], l_values=[1, 2, 4, 8, 16],
                            error="at_time", lr=0.2, time=1, x0=[3.0, -1.0])


def test_a_failed_fit_leaves_the_y_limits_to_the_data_and_negative_errors_are_marked():
    study = signed_study()
    errors = {t: np.array([r.error for r in study.rows_for(t)]) for t in study.test_functions}
    assert (errors["x[0]"] < 0).all() and (errors["norm2"] < 0).all() and (errors["x[1]"] > 0).all()
    # fits gone wrong: constants so large that their curve reaches 1e300, and NaN ones
    study.fits["x[1]"] = dataclasses.replace(study.fits["x[1]"], constant=1e300, second=-1e299)
    study.fits["norm2"] = dataclasses.replace(study.fits["norm2"], constant=math.nan, second=math.nan)
    ax = plot_weak_error(study).axes[0]
    low, high = ax.get_ylim()
    sizes = np.abs(np.concatenate(list(errors.values())))
    assert sizes.min() / 2 < low < sizes.min() and sizes.max() < high < 2 * sizes.max()   # the data, with a margin
    drawn = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    assert drawn[np.isfinite(drawn)].max() < 1000 * sizes.max()     # the failed fit's curve is not drawn far off

    labels = ax.get_legend_handles_labels()[1]
    assert any(label.startswith("x[0]: p = ") for label in labels) and not any("x₀" in s for s in labels)
    assert labels.count("negative error, drawn at |e|") == 1
    minus = [line for line in ax.get_lines() if line.get_marker() == "_"]
    drawn = sorted(y for line in minus for y in line.get_ydata())
    assert drawn == sorted(np.abs(np.concatenate([errors["x[0]"], errors["norm2"]])))   # at |e|, x[1] not marked


def test_no_negative_error_no_marker():
    study = weak_error_study(quadratic(2), exact=True, tests=["norm2"], l_values=[1, 2, 4, 8], lr=0.2, time=1,
                             x0=[3.0, -1.0])     # the max over steps of |gap| is never below 0 when exact
    ax = plot_weak_error(study).axes[0]
    assert "negative error, drawn at |e|" not in ax.get_legend_handles_labels()[1]
    assert not [line for line in ax.get_lines() if line.get_marker() == "_"]


def test_the_control_column_says_over_how_many_controls_and_steps_it_is_the_largest():
    study = signed_study()
    study.engine, study.control_variates = "monte_carlo", True   # the table of a Monte Carlo study
    assert "control z (max of 5 controls)" in study.table()      # d = 2: x_1, x_2, x_1², x_1x_2, x_2²; T alone
    study.recorded_times = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    study.x0 = np.zeros(3)
    assert "control z (max of 9 controls × 5 steps)" in study.table()
