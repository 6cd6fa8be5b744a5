"""The kernels against their naive twin (tests/naive.py), and the twin against the maths.

Every (problem, noise law or sampling, method and step kind) the engine runs, with and
without weight decay, goes through `sdesim.simulate` and through the twin for a few paths
and a few hundred small steps: kept points and checkpoint means agree to 1e-12 relative,
counts and divergences exactly.  The kernels run here are the ones the rest of the suite
compiles too: the nine (problem functions × step kind), and for the 1-d quadratic and double
well also the paired form that runs two paths in lockstep.
"""

import itertools
import math

import numpy as np
import pytest

from naive import LeastSquares, Stream, naive_problem, naive_simulate, ref_stream_key
from seeds import seed
from sdesim import simulate
from sdesim.problems import double_well, linear_regression, quadratic, scale_invariant
from sdesim.testing import assert_within_stderr

RTOL, ATOL = 1e-12, 1e-13
PATHS = 5  # odd: the paired kernel's last lane runs alone
LR = 0.1

# name -> (make(variant, weight_decay), x0, variants); the variant is a noise law or a sampling
LAWS = ("gaussian", "rademacher", "exponential")
SAMPLINGS = ("with_replacement", "without_replacement", "reshuffle")
PROBLEMS = {
    "quadratic-1d": (lambda law, wd: quadratic(1, hessian=[[1.5]], minimizer=[0.5], noise_cov=[[0.8]], noise=law,
                                               batch_size=2, weight_decay=wd), [2.0], LAWS),
    "quadratic-2d": (lambda law, wd: quadratic(2, hessian=[[2.0, 0.5], [0.5, 1.0]], minimizer=[1.0, -1.0],
                                               noise_cov=[[1.0, 0.3], [0.3, 0.5]], noise=law, batch_size=3,
                                               weight_decay=wd), [0.5, 2.0], LAWS),
    "linear_regression": (lambda sampling, wd: linear_regression(dim=2, n=12, batch_size=3, sampling=sampling,
                                                                 weight_decay=wd), [0.3, -0.7], SAMPLINGS),
    "double_well-1d": (lambda law, wd: double_well(1, barrier=0.5, noise_scale=0.8, noise=law, batch_size=2,
                                                   weight_decay=wd), [0.2], LAWS),
    "double_well-2d": (lambda law, wd: double_well(2, barrier=0.5, noise_scale=0.8, noise=law, batch_size=2,
                                                   weight_decay=wd), [0.2, 1.0], LAWS),
    "scale_invariant": (lambda sampling, wd: scale_invariant(dim=3, n=12, batch_size=3, sampling=sampling,
                                                             weight_decay=wd), [0.6, -0.8, 0.5], SAMPLINGS),
}
# method -> (simulate's keywords, effective steps): about 240 small steps each
METHODS = {
    "sgd": ({"method": "sgd"}, 240),
    "svag": ({"method": "svag", "l": 4}, 60),
    "ngd": ({"method": "ngd"}, 240),
    "sde-euler": ({"method": "sde", "dt": LR / 3}, 80),
    "sde-exact": ({"method": "sde", "scheme": "exact", "l": 2}, 120),
}


def cases() -> list:
    return [pytest.param(name, variant, method, wd, id=f"{name}-{variant}-{method}-wd{wd:g}")
            for name, (_, _, variants) in PROBLEMS.items()
            for variant, method, wd in itertools.product(variants, METHODS, (0.0, 0.1))
            # the exact transition needs a closed-form SDE: the quadratic problem's
            if method != "sde-exact" or name.startswith("quadratic")]


def assert_points_close(actual, desired):
    """Dropped at the same points; elsewhere within 1e-12 of the size |x|_∞ of each point (or ATOL):
    a component that cancels is accurate relative to the point, not to itself."""
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(desired), err_msg="where the kept paths end")
    scale = np.maximum(np.abs(desired).max(axis=-1, keepdims=True), ATOL / RTOL)
    np.testing.assert_allclose(actual / scale, desired / scale, rtol=0.0, atol=RTOL,
                               err_msg="kept points, relative to their size")


def assert_twin_agrees(problem, method, *, x0, paths=PATHS, keep_paths=None, keep_every=1, block_size=1024,
                       **kwargs):
    """Run both; compare kept points, means, standard errors, counts and divergences."""
    keep_paths = paths if keep_paths is None else keep_paths
    result, blocks = simulate(problem, method, x0=x0, paths=paths, keep_paths=keep_paths, keep_every=keep_every,
                              block_size=block_size, return_blocks=True, **kwargs)
    twin = naive_simulate(problem, method, x0=x0, paths=paths, keep_paths=keep_paths, keep_every=keep_every,
                          **kwargs)
    assert_points_close(result.kept_paths, twin.kept)
    np.testing.assert_array_equal(result.counts, twin.counts, err_msg="paths counted at each checkpoint")
    assert (result.diverged, blocks.first_divergence) == (twin.diverged, twin.first_divergence)
    assert result.first_divergence_time == (None if twin.first_divergence is None else
                                            pytest.approx(twin.first_divergence * twin.small_dt, rel=1e-14))
    assert set(twin.observed) == set(result.observables)
    for name in twin.observed:
        np.testing.assert_allclose(result.mean(name), twin.mean(name), rtol=RTOL, atol=ATOL, err_msg=name)
        np.testing.assert_allclose(result.stderr(name), twin.stderr(name), rtol=1e-9, atol=ATOL,
                                   err_msg=f"{name} (standard error)")
    return twin


@pytest.mark.parametrize("name,variant,method,wd", cases())
def test_kernel_follows_the_naive_twin(name, variant, method, wd):
    make, x0, _ = PROBLEMS[name]
    keywords, steps = METHODS[method]
    # with weight decay, blocks of two paths: statistics merged over blocks, the last one odd
    # the seeds of the twin comparisons stay fixed: they are exact, and their cases are chosen on them
    twin = assert_twin_agrees(make(variant, wd), **keywords, x0=x0, lr=LR, steps=steps, seed=3,
                              checkpoints=[0, steps // 8, steps // 2], block_size=2 if wd else 1024)
    assert twin.diverged == 0 and twin.small[-1] >= 200


# --- the adaptive methods: RMSprop, Adam, the paper's RMSprop, their SVAG (l > 1) and their SDEs ------------

ADAPTIVE_PROBLEMS = {name: PROBLEMS[name][:2] + (variants,) for name, variants in (
    ("quadratic-1d", ("gaussian", "exponential")), ("quadratic-2d", ("gaussian", "exponential")),
    ("linear_regression", ("with_replacement", "reshuffle")))}
# method -> (simulate's keywords, effective steps of time η²): about 240 small steps each
ADAPTIVE_METHODS = {
    "rmsprop-l1": ({"method": "rmsprop", "v0": 0.5}, 240),
    "rmsprop-l3": ({"method": "rmsprop", "l": 3, "beta2": 0.9, "eps": 1e-3}, 27),
    "adam-l1": ({"method": "adam", "beta1": 0.8, "beta2": 0.95}, 240),
    "adam-l2-nobias": ({"method": "adam", "l": 2, "bias_correction": False, "v0": 0.3}, 60),
    "adam-l3": ({"method": "adam", "l": 3, "eps": 1e-2}, 27),
    "paper_rmsprop-l2": ({"method": "paper_rmsprop", "l": 2, "beta2": 0.9}, 60),
    "rmsprop_sde-l2": ({"method": "rmsprop_sde", "l": 2, "v0": 0.5}, 60),
    "rmsprop_sde-dt": ({"method": "rmsprop_sde", "dt": LR**2 / 5, "beta2": 0.9, "v0": [0.2, 0.4]}, 48),
    "adam_sde-l1": ({"method": "adam_sde", "beta2": 0.95}, 240),
    "adam_sde-dt-nobias": ({"method": "adam_sde", "dt": LR**2 / 4, "bias_correction": False, "v0": 0.3}, 60),
    "paper_rmsprop_sde-l3": ({"method": "paper_rmsprop_sde", "l": 3, "beta2": 0.9}, 27),
}


def adaptive_cases() -> list:
    return [pytest.param(name, variant, method, wd, id=f"{name}-{variant}-{method}-wd{wd:g}")
            for name, (_, _, variants) in ADAPTIVE_PROBLEMS.items()
            for variant, method, wd in itertools.product(variants, ADAPTIVE_METHODS, (0.0, 0.1))]


@pytest.mark.parametrize("name,variant,method,wd", adaptive_cases())
def test_adaptive_kernel_follows_the_naive_twin(name, variant, method, wd):
    """x, u = v/l² and m at every kept point's checkpoint, from the update rules of docs/theory/adaptive-sde.md."""
    make, x0, _ = ADAPTIVE_PROBLEMS[name]
    keywords, steps = ADAPTIVE_METHODS[method]
    if np.ndim(keywords.get("v0", 0.0)) and len(x0) != len(keywords["v0"]):
        keywords = {**keywords, "v0": keywords["v0"][:len(x0)]}
    twin = assert_twin_agrees(make(variant, wd), **keywords, x0=x0, lr=LR, steps=steps, seed=3,
                              checkpoints=[0, steps // 8, steps // 2], block_size=2 if wd else 1024)
    assert twin.diverged == 0 and twin.small[-1] >= 200
    assert "u" in twin.observed and ("m" in twin.observed) == keywords["method"].startswith("adam")


# problem, x0, method keywords, lr, steps, checkpoints, keep_paths, keep_every
BLOW_UPS = {
    # cubic drift: x overflows between checkpoints, some paths survive
    "double_well-1d-sgd": (double_well(1, barrier=0.5, noise_scale=1.5, noise="exponential"), [1.0],
                           {"method": "sgd"}, 0.3, 70, [0, 7, 30], None, 1),
    "double_well-2d-svag": (double_well(2, barrier=0.5, noise_scale=2.0, noise="rademacher", weight_decay=0.1),
                            [1.0, 0.5], {"method": "svag", "l": 4}, 0.9, 25, [0, 7, 20], None, 1),
    "double_well-2d-ngd": (double_well(2, barrier=0.5, noise_scale=2.0), [1.0, 0.5], {"method": "ngd"}, 0.3, 70,
                           [0, 7, 30], None, 1),
    "double_well-1d-sde": (double_well(1, barrier=0.5, noise_scale=2.0, weight_decay=0.1), [1.0],
                           {"method": "sde", "dt": 0.3}, 0.9, 80, [0, 10, 40], None, 1),
    # lanes of the paired kernel dropped inside its tight loop (few kept points), odd blocks
    "double_well-1d-ngd-sparse": (double_well(1, barrier=0.5, noise_scale=2.0), [1.0],
                                  {"method": "ngd", "paths": 9, "block_size": 3}, 0.3, 70, [0, 30], 3, 7),
    # linear growth: |x|² overflows at a checkpoint before x does
    "quadratic-1d-sgd": (quadratic(1, hessian=[[1.5]], minimizer=[0.5], noise_cov=[[0.8]], noise="exponential"),
                         [2.0], {"method": "sgd"}, 5.0, 240, list(range(0, 240, 10)), None, 1),
    "quadratic-2d-exact": (quadratic(2, hessian=[[-40.0, 0.0], [0.0, 1.0]], minimizer=[0.5, 0.0]), [2.0, 1.0],
                           {"method": "sde", "scheme": "exact", "l": 1}, 0.5, 100, [0, 10, 20, 30], None, 1),
    # multiplicative noise: x overflows within a step
    "linear_regression-sgd": (linear_regression(dim=2, n=12, batch_size=3, sampling="reshuffle"), [0.3, -0.7],
                              {"method": "sgd"}, 30.0, 240, None, None, 1),
    # Adam's v overflows (g² past the largest double, about 2% of draws) while x stays finite: dropped for its
    # state alone (u, near the largest double, is left out: the twin's plain sums of it would overflow)
    "quadratic-1d-adam": (quadratic(1, noise_cov=[[8e307]], noise="exponential"), [5.5e153],
                          {"method": "adam", "beta2": 0.0, "observables": ["x", "norm2", "loss", "m"]}, 0.1, 12,
                          [0, 2, 5], None, 1),
}


@pytest.mark.parametrize("case", BLOW_UPS)
def test_kernel_drops_the_paths_the_twin_drops(case):
    problem, x0, keywords, lr, steps, checkpoints, keep_paths, keep_every = BLOW_UPS[case]
    twin = assert_twin_agrees(problem, **keywords, x0=x0, lr=lr, steps=steps, seed=4, checkpoints=checkpoints,
                              keep_paths=keep_paths, keep_every=keep_every)
    assert twin.diverged > 0


def test_blow_ups_cover_drops_at_steps_and_at_checkpoints():
    """Among the cases above, paths are dropped both by a non-finite x after a step and by a
    non-finite observable at a checkpoint, and some paths survive."""
    at_checkpoint = at_step = survived = 0
    for problem, x0, keywords, lr, steps, checkpoints, _, _ in BLOW_UPS.values():
        keywords = {k: v for k, v in keywords.items() if k != "block_size"}
        twin = naive_simulate(problem, **{"paths": PATHS, **keywords}, x0=x0, lr=lr, steps=steps, seed=4,
                              checkpoints=checkpoints)
        for k in twin.dropped:
            survived += k is None
            at_checkpoint += k is not None and k in twin.small
            at_step += k is not None and k not in twin.small
    assert at_checkpoint > 0 and at_step > 0 and survived > 0


# --- the twin against the maths --------------------------------------------------------------


TWIN_POINTS = {
    "quadratic-2d": (PROBLEMS["quadratic-2d"][0]("exponential", 0.0), [0.5, 2.0]),
    "double_well-2d": (PROBLEMS["double_well-2d"][0]("gaussian", 0.0), [0.7, -0.4]),
    "linear_regression": (linear_regression(dim=2, n=5, batch_size=2), [0.3, -0.7]),
    "scale_invariant": (scale_invariant(dim=3, n=5, batch_size=2), [0.6, -0.8, 0.5]),
}


@pytest.mark.parametrize("name", TWIN_POINTS)
def test_twin_gradient_is_the_derivative_of_its_loss(name):
    problem, x = TWIN_POINTS[name]
    twin, x, eps = naive_problem(problem), np.array(x), 1e-6
    numeric = [(twin.loss(x + eps * e) - twin.loss(x - eps * e)) / (2 * eps) for e in np.eye(len(x))]
    np.testing.assert_allclose(twin.mean_grad(x), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("sampling", SAMPLINGS[:2])
@pytest.mark.parametrize("make", [linear_regression, scale_invariant])
def test_twin_noise_factor_is_the_covariance_of_every_batch(make, sampling):
    """Σ = D Dᵀ against the exact covariance of ∇L_γ over all equally likely batches: the B-tuples
    of indices (with replacement) or the B-subsets (without)."""
    problem = make(dim=2, n=5, batch_size=2, sampling=sampling)
    twin, x = naive_problem(problem), np.array([0.4, -1.1])
    g = twin.example_grads(x)
    batches = (itertools.product(range(5), repeat=2) if sampling == "with_replacement"
               else itertools.combinations(range(5), 2))
    grads = np.array([g[list(b)].mean(axis=0) for b in batches])
    np.testing.assert_allclose(grads.mean(axis=0), twin.mean_grad(x), rtol=1e-13)
    d = twin.noise_factor(x)
    np.testing.assert_allclose(d @ d.T, np.cov(grads.T, bias=True), rtol=1e-12, atol=1e-15)
    if make is scale_invariant:
        assert abs(twin.mean_grad(x) @ x) < 1e-15 and np.all(np.abs(g @ x) < 1e-14)


def test_twin_additive_noise_has_the_problem_covariance():
    """Σ = D Dᵀ is S/B for the quadratic problem and σ²I/B for the double well (B = 3 and 2 above)."""
    for name, sigma in (("quadratic-2d", np.array([[1.0, 0.3], [0.3, 0.5]]) / 3),
                        ("double_well-2d", 0.8**2 * np.eye(2) / 2)):
        d = naive_problem(PROBLEMS[name][0]("rademacher", 0.0)).noise_factor(np.zeros(2))
        np.testing.assert_allclose(d @ d.T, sigma, rtol=1e-14, err_msg=name)


def test_twin_samplers_draw_the_batches_they_promise():
    """Without replacement: B distinct indices; reshuffled: every epoch of n // B batches is a
    permutation's prefix, and epochs differ."""
    n, batch = 12, 3
    stream = Stream(ref_stream_key(0), 0)
    for sampling in ("without_replacement", "reshuffle"):
        twin = LeastSquares(linear_regression(dim=2, n=n, batch_size=batch, sampling=sampling))
        state = twin.path_state()
        epochs = [[twin.draw_batch(stream, state) for _ in range(n // batch)] for _ in range(5)]
        for epoch in epochs:
            assert all(len(set(b)) == batch for b in epoch)
            if sampling == "reshuffle":
                assert sorted(i for b in epoch for i in b) == list(range(n))
        assert len({tuple(map(tuple, e)) for e in epochs}) == 5


# --- the kernel's own SVAG third moment (Lemma 4.7 (iii)) -----------------------------------------


@pytest.mark.parametrize("l", [1, 2, 4])
def test_kernel_svag_third_moment_carries_c1_cubed_plus_c2_cubed(l):
    """At x* (∇L = 0) one small SVAG step is Δ = −h(c₁ξ₁ + c₂ξ₂), so E Δ³ = −h³(c₁³ + c₂³)Λ with
    c₁³ + c₂³ = (3l − 1)/2 and Λ = E ξ³ = 2 for Exp(1) − 1 noise: from the kernel's own first step."""
    problem, lr, n = quadratic(1, noise="exponential"), 0.4, 400_000
    x_star = problem.params["minimizer"]
    result = simulate(problem, "svag", l=l, lr=lr, steps=1, paths=n, seed=seed(5), x0=x_star, keep_paths=n,
                      keep_every=1, observables=["norm2"])
    cubes = (result.kept_paths[:, 1, 0] - x_star[0]) ** 3
    estimate, stderr = cubes.mean(), cubes.std(ddof=1) / math.sqrt(n)
    h, lam = lr / l, 2.0
    assert_within_stderr(estimate, stderr, -h**3 * (3 * l - 1) / 2 * lam, sigmas=5.0, name="E Δ³")
    if l > 1:  # the check has power: c₁² + c₂² = l in place of c₁³ + c₂³ is far outside
        assert abs(estimate + h**3 * l * lam) > 5 * stderr
