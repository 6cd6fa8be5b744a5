"""The pytest plugin (entry point pytest11): --sdesim-seed / SDESIM_TEST_SEED re-seed seed(), the sdesim_rng
fixture and hypothesis; hypothesis profiles for slow statistical tests; no clash with this suite's conftest."""

import re
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PROBE = '''
from hypothesis import given, settings, strategies as st
from hypothesis.internal.conjecture import engine
from sdesim.testing.seeds import seed

def test_probe(sdesim_rng):
    print("SEED", seed(3), int(sdesim_rng.integers(1 << 30)))

@given(st.integers(0, 10**9))
def test_hypothesis(n):
    current = settings.default
    print("HYP", current.derandomize, current.deadline, current.database is None, engine.MAX_SHRINKING_SECONDS)
'''


def _run(pytester, *args, env=None):
    if env:
        for key, value in env.items():
            pytester._monkeypatch.setenv(key, value)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", *args)
    text = result.stdout.str()
    return result, re.findall(r"SEED \d+ \d+", text), re.findall(r"HYP \S+ \S+ \S+ \d+", text)


def test_the_seed_option_and_the_variable_reseed_checks_and_hypothesis(pytester, monkeypatch):
    monkeypatch.delenv("SDESIM_TEST_SEED", raising=False)
    pytester.makepyfile(test_probe=PROBE)
    fixed, seeds_fixed, _ = _run(pytester)
    fixed.assert_outcomes(passed=2)
    assert seeds_fixed[0].split()[1] == "3"                   # no test seed: seed(base) is base
    fresh, seeds_7, hyp_7 = _run(pytester, "--sdesim-seed", "7")
    fresh.assert_outcomes(passed=2)
    assert seeds_7 != seeds_fixed and seeds_7[0].split()[1] != "3"
    assert "fresh seeds from test seed 7" in fresh.stdout.str()
    assert all(line.split()[1] == "False" and line.split()[3] == "True" for line in hyp_7)   # fresh, no database
    _, seeds_7_env, _ = _run(pytester, env={"SDESIM_TEST_SEED": "7"})
    assert seeds_7_env == seeds_7                              # the variable and the option agree
    bad = pytester.runpytest_subprocess("--sdesim-seed", "seven")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--sdesim-seed must be an integer >= 0" in bad.stderr.str()


def test_the_statistical_profile_has_no_deadline_and_bounded_shrinking(pytester):
    pytester.makepyfile(test_probe=PROBE)
    result, _, hyp = _run(pytester, "--hypothesis-profile", "sdesim-statistical", "-k", "hypothesis")
    result.assert_outcomes(passed=1)
    assert hyp and all(line.split()[1:] == ["True", "None", "True", "60"] for line in hyp)


def test_this_suites_conftest_and_the_plugin_agree(pytester):
    """tests/conftest.py (profiles ci/fresh, its own SDESIM_TEST_SEED handling) with the plugin installed."""
    here = Path(__file__).parent
    for name in ("conftest.py", "seeds.py"):
        shutil.copy(here / name, pytester.path / name)
    pytester.makepyfile(test_probe=PROBE + '''
from seeds import seed as suite_seed

def test_same_seed():
    assert suite_seed(5) == seed(5)
''')
    for args in ((), ("--sdesim-seed", "3")):
        result, _, hyp = _run(pytester, *args)
        result.assert_outcomes(passed=3)
        assert all(line.split()[1] == ("True" if not args else "False") for line in hyp), (args, hyp)
