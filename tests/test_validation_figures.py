"""The torch figure scripts of validation/ run end to end (at a tiny size) and write their picture and table.

Their quick mode takes minutes; here each runs a few dozen steps with one or two seeds, so
this checks the plumbing (training, monitoring, verdicts, outputs), not the paper's claims:
those are in validation/README.md with the quick-mode numbers.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1] / "validation"


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_outputs(out: Path, stem: str, heading: str, seeds: int = 2):
    assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / f"{stem}.md").read_text()
    assert table.startswith(heading)
    assert "PASS" in table or "FAIL" in table
    # verdicts over a few seeds use Student's t with n − 1 degrees of freedom, and say so
    assert f"99% Student-t bound over {seeds} seeds (63.7 standard errors): a false alarm 1 time in 100" in table


def test_figure4_svag_tracks_sgd_runs(tmp_path, monkeypatch):
    script = load("figure4_svag_tracks_sgd")
    monkeypatch.setattr(script, "QUICK", dict(hidden=(16,), batch_size=32, lr=0.4, weight_decay=1e-3, steps=20,
                                              log_every=10, seeds=(0, 1), ls=(1, 2)))
    assert script.main(["--out", str(tmp_path)]) in (0, 1)
    check_outputs(tmp_path, "figure4_svag_tracks_sgd", "# Figure 4 (left)")
    monkeypatch.setattr(script, "QUICK", dict(script.QUICK, seeds=(0,)))
    with pytest.raises(SystemExit):                                   # one seed: no standard error, refused
        script.main(["--out", str(tmp_path)])


def test_figure1_ngd_vs_sgd_runs(tmp_path, monkeypatch):
    script = load("figure1_ngd_vs_sgd")
    monkeypatch.setattr(script, "QUICK", dict(hidden=(16,), batch_size=16, lr=0.2, weight_decay=0.0, steps=10,
                                              log_every=5, seeds=(0, 1)))
    assert script.main(["--out", str(tmp_path)]) in (0, 1)
    check_outputs(tmp_path, "figure1_ngd_vs_sgd", "# Figure 1")
    monkeypatch.setattr(script, "QUICK", dict(script.QUICK, seeds=(0,)))
    with pytest.raises(SystemExit):                                   # one seed: no standard error, refused
        script.main(["--out", str(tmp_path)])


def test_figure3_scaling_rule_runs(tmp_path, monkeypatch):
    script = load("figure3_scaling_rule")
    tiny = dict(batch=8, lr=0.4, weight_decay=0.01, steps=64, kappas=(1, 2, 4), seeds=(0, 1), m=6, measurements=4,
                hidden=(16,), svag_ls=(1, 2))
    monkeypatch.setattr(script, "settings", lambda full: dict(tiny))
    assert script.main(["--out", str(tmp_path)]) in (0, 1)
    check_outputs(tmp_path, "figure3_scaling_rule", "# Figure 3")
    monkeypatch.setattr(script, "settings", lambda full: dict(tiny, seeds=(0,)))
    with pytest.raises(SystemExit):                                   # one seed: no standard error, refused
        script.main(["--out", str(tmp_path)])


def runs_and_refuses_one_seed(name, heading, tmp_path, monkeypatch, **quick):
    """Run ``name``'s main with QUICK changed by ``quick``, check its outputs, and its refusal of one seed."""
    script = load(name)
    monkeypatch.setattr(script, "QUICK", dict(script.QUICK, seeds=(0, 1), **quick))
    assert script.main(["--out", str(tmp_path)]) in (0, 1)
    check_outputs(tmp_path, name, heading)
    monkeypatch.setattr(script, "QUICK", dict(script.QUICK, seeds=(0,)))
    with pytest.raises(SystemExit):                                   # one seed: no standard error, refused
        script.main(["--out", str(tmp_path)])
    return (tmp_path / f"{name}.md").read_text()


def test_figure_adaptive_svag_runs(tmp_path, monkeypatch):
    table = runs_and_refuses_one_seed("figure_adaptive_svag", "# SVAG for Adam tracks Adam", tmp_path, monkeypatch,
                                      hidden=(16,), steps=6, log_every=3, ls=(1, 2))
    assert "| 2 |" in table and "test_loss l=2 vs l=1" in table


def test_figure_svag_momentum_runs(tmp_path, monkeypatch):
    script = load("figure_svag_momentum")
    monkeypatch.setattr(script, "QUICK", dict(script.QUICK, hidden=(16,), checkpoints=(2, 4), seeds=(0, 1),
                                              ls=(1, 2)))
    assert script.main(["--out", str(tmp_path)]) in (0, 1, 2)           # PASS, FAIL, INCONCLUSIVE
    check_outputs(tmp_path, "figure_svag_momentum", "# SVAG with momentum (unvalidated) against l = 1")
    table = (tmp_path / "figure_svag_momentum.md").read_text()
    for run in ("right l=2", "too_fast l=2", "too_slow l=2", "beta_not_rescaled l=2"):
        assert f"| {run} | train_loss |" in table and f"| {run} | norm2 |" in table


def test_figure_svag_momentum_verdict_needs_power():
    """PASS only when the right scaling tracks l = 1 and every wrong scaling does not; a control that tracks
    too makes it INCONCLUSIVE; the right scaling off makes it FAIL, whatever the controls do."""
    script = load("figure_svag_momentum")
    rng = np.random.default_rng(0)
    curves = {"train_loss": np.array([2.0, 1.2, 0.57, 0.25]), "norm2": np.array([89.0, 92.0, 100.0, 112.0])}

    def runs(scale=1.0):                       # 5 seeds × 4 checkpoints, seed noise 0.2 %
        return {name: scale * curve * (1 + 0.002 * rng.standard_normal((5, 4))) for name, curve in curves.items()}

    def values(right=1.0, control=0.5, tracking_control=None):
        table = {("right", 1): runs(), ("right", 2): runs(right), ("right", 4): runs(right)}
        for scaling in script.CONTROLS:
            for l in (2, 4):
                table[(scaling, l)] = runs(1.0 if (scaling, l) == tracking_control else control)
        return table

    assert script.judge(values())[0] == "PASS"
    verdict, tracks = script.judge(values(tracking_control=("beta_not_rescaled", 2)))
    assert verdict == "INCONCLUSIVE" and tracks[("beta_not_rescaled", 2)] and not tracks[("too_fast", 4)]
    assert script.judge(values(control=1.03))[0] == "INCONCLUSIVE"      # 3 % off: inside the 5 % tolerance
    assert script.judge(values(right=1.08))[0] == "FAIL"
    assert script.judge(values(right=1.08, control=1.0))[0] == "FAIL"
    with pytest.raises(ValueError, match="controls"):
        script.judge({key: value for key, value in values().items() if key[0] == "right"})


def test_figure_square_root_rule_runs(tmp_path, monkeypatch):
    table = runs_and_refuses_one_seed("figure_square_root_rule", "# The square-root scaling rule for Adam", tmp_path,
                                      monkeypatch, hidden=(16,), steps=16, log_every=8, kappas=(2, 4))
    assert "| square_root κ=4 | 16 | 0.01 | 0.6 | 0.996 | 5e-09 | 4 |" in table     # the rule's hyperparameters
