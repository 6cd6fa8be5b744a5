"""The command line tells the truth: its help shows the defaults that run, its reference documents every
option, its outputs are checked before any work and never lost after it, and Ctrl-C exits as shells expect."""

import json
import os
import re
from pathlib import Path

import pytest

from sdesim.cli import build_parser, main
from sdesim.simulate import Run

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--l", "1,2,4", "--paths", "2000", "--time", "0.4", "--no-progress"]


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def options(subparser, group=None):
    actions = subparser._actions if group is None else next(
        g for g in subparser._action_groups if g.title == group)._group_actions
    return [s for a in actions for s in a.option_strings if s.startswith("--") and s != "--help"]


def section(text: str, name: str) -> str:
    """The part of cli.md about one subcommand (simulate: from the top to the first other subcommand)."""
    if name == "simulate":
        return text[:text.index("## `sdesim converge`")]
    start = text.index(f"## `sdesim {name}`")
    following = text.find("\n## ", start + 1)
    return text[start:following if following > 0 else None]


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_the_cli_reference_documents_every_option_of_every_subcommand(name):
    text = (ROOT / "docs" / "reference" / "cli.md").read_text()
    problem_options = options(subcommands()["simulate"], group="problem")
    own = section(text, name)
    documented = section(text, "simulate")   # the problem options are documented once, in the Problem table
    missing = [o for o in options(subcommands()[name])
               if f"`{o}" not in own and not (o in problem_options and f"`{o}" in documented)]
    assert not missing, f"docs/reference/cli.md does not document {missing} of `sdesim {name}`"
    if any(o in problem_options for o in options(subcommands()[name])) and name != "simulate":
        assert "problem options" in " ".join(own.split())


def help_text(name):
    return subcommands()[name].format_help()


def test_help_shows_the_defaults_that_actually_run():
    converge = " ".join(help_text("converge").split())
    assert "default: exponential for this command" in converge          # CONVERGE_DEFAULTS
    assert "default: 2 in every entry" in converge                        # CONVERGE_X0
    assert "(default: norm4,norm2)" in converge and "['" not in converge  # a list as it is typed
    assert "(default: 1,2,4,8,16,32,64; adaptive methods, whose level l takes l² steps: 1,2,4,8)" in converge
    assert "default: exponential for this command" in " ".join(help_text("moments").split())
    assert "default: exponential for this command" in " ".join(help_text("decompose").split())
    assert "(default: sdesim-validation)" in " ".join(help_text("validate").split())
    simulate = " ".join(help_text("simulate").split())
    assert "the problem's (gaussian)" in simulate and "the problem's (0, or e₁" in simulate


@pytest.mark.parametrize("argv,message", [
    (["simulate", "--json", "/nonexistent/d/r.json"], "--json '/nonexistent/d/r.json': the folder '/nonexistent/d' does not exist"),
    (["simulate", "--json", "/tmp"], "--json '/tmp' is a directory"),
    (["simulate", "--json", "/etc/hostname/r.json"], "the folder '/etc/hostname' does not exist"),
    (["converge", "--plot", "/nonexistent/p.png", "--json", "ok.json"], "--plot '/nonexistent/p.png': the folder"),
    (["converge", "--plot", "weak.bmpx"], "unknown picture format '.bmpx'"),
    (["decompose", "--json", "/nonexistent/x.json"], "the folder '/nonexistent' does not exist"),
    (["moments", "--json", "/nonexistent/x.json"], "the folder '/nonexistent' does not exist"),
    (["demo", "histograms", "--out", "/nonexistent/h.png"], "--out '/nonexistent/h.png': the folder"),
    (["validate", "--quick", "--out", "/etc/hostname"], "--out '/etc/hostname' is a file, not a folder"),
    (["validate", "--quick", "--out", "/etc/hostname/report"], "cannot be written"),
])
def test_output_paths_are_checked_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Run, "blocks", lambda *a, **k: pytest.fail("a path moved before the error"))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "ok.json").exists()


def test_an_unwritable_folder_is_refused(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    # what the operating system answers for a read-only folder (root would be let through a chmod)
    monkeypatch.setattr(os, "access", lambda path, mode: not str(path).startswith(str(folder)))
    assert main(["simulate", "--json", str(folder / "r.json")]) == 2
    assert "cannot be written (permission denied)" in capsys.readouterr().err
    assert main(["validate", "--quick", "--out", str(folder / "report")]) == 2
    assert "cannot be written (permission denied in" in capsys.readouterr().err


def test_a_picture_without_a_suffix_is_written_as_png_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["converge", "--exact", "--problem", "linear_regression", "--test", "norm2", "--plot", "myplot",
                 "--l", "1,2,4,8,16"]) == 0     # confirmed (through l = 8 the exact fit is inconclusive: status 3)
    assert (tmp_path / "myplot.png").stat().st_size > 10_000
    assert "wrote myplot.png" in capsys.readouterr().out


def test_a_failing_picture_never_loses_the_json(tmp_path, monkeypatch, capsys):
    import sdesim.plotting

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(sdesim.plotting, "plot_weak_error", broken)
    out = tmp_path / "study.json"
    assert main(["converge", "--exact", "--problem", "linear_regression", "--test", "norm2", "--l", "1,2,4,8,16",
                 "--json", str(out), "--plot", str(tmp_path / "p.png")]) == 4   # output failed (1: a rejection)
    assert json.loads(out.read_text())["verdict_kind"] == "confirmed"
    assert "the picture could not be written: OSError: No space left on device" in capsys.readouterr().err


def test_ctrl_c_keeps_the_finished_levels_says_interrupted_and_exits_130(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    original = Run.blocks

    def interrupted(self, offset, paths):
        calls["n"] += 1
        if calls["n"] > 4:          # two levels finish (two tasks each), then Ctrl-C
            raise KeyboardInterrupt
        return original(self, offset, paths)

    monkeypatch.setattr(Run, "blocks", interrupted)
    out = tmp_path / "cut.json"
    assert main(["converge", *SMALL, "--test", "norm4", "--plot", "none", "--json", str(out)]) == 130
    captured = capsys.readouterr()
    assert "sdesim converge: interrupted" in captured.err
    assert "noise floor" not in captured.out and "interrupted (Ctrl-C) after the levels l = 1, 2" in captured.out
    data = json.loads(out.read_text())
    assert data["interrupted"] and data["verdict_kind"] == "inconclusive" and {r["l"] for r in data["rows"]} == {1, 2}


def test_moments_ends_with_a_verdict_and_explains_the_erratum_columns(capsys):
    assert main(["moments", "--l", "1,4", "--paths", "100000"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^verdict: pass: every sampled moment is within 5 standard errors", out, re.MULTILINE)
    assert "printed (iii): largest |z| of the paper's formula" in out and "not sdesim" in out


def test_moments_below_the_calibrated_sample_size_gives_no_verdict(capsys):
    assert main(["moments", "--l", "1", "--paths", "5000"]) == 3   # no verdict: inconclusive
    assert "verdict: none: 5000 samples per row is below 100000" in capsys.readouterr().out


def test_validate_writes_its_default_report_outside_the_repository(tmp_path, monkeypatch):
    from sdesim.validation import runner

    seen = {}
    monkeypatch.setattr(runner, "select", lambda only=None: [])
    monkeypatch.setattr(runner, "write_report", lambda results, out_dir, **kw: seen.setdefault("out", out_dir))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--quick", "--no-progress"]) == 0
    assert seen["out"] == "sdesim-validation"


def test_negative_values_are_values_not_options(tmp_path):
    """argparse took -1,2 (and -1e-8, -inf) for an option: "expected one argument" (issue 21)."""
    out = tmp_path / "negative.json"
    assert main(["simulate", "--x0", "-1,2", "--steps", "1", "--paths", "100", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["x0"] == [-1.0, 2.0]
