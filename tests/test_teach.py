"""``sdesim teach``: the list of lessons, its refusals before any work (exit status 2, each with a message that
says what was wrong and what is allowed), the static page and notebook it exports, and the docs hook that renders
every lesson into the site.  The machinery runs on a fixture notebook (tests/data/teach_fixture.py: a slider n
and n² beside it); the refusals that need a lesson run on every lesson whose notebook is in the tree."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sdesim import lessons
from sdesim import teach as teach_module
from sdesim.cli import main
from teach_browser import FIXTURE

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = [item.name for item in lessons.LESSONS if item.path.is_file()]
NOTEBOOKS = [str(FIXTURE), *INSTALLED]     # a lesson's name, or a notebook's path
SERVED = ["--no-browser"]


def teach(capsys, *argv):
    status = main(["teach", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_list_names_every_lesson_with_its_title(capsys):
    status, out, _ = teach(capsys, "--list")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == len(lessons.LESSONS)
    for line, item in zip(lines, lessons.LESSONS):
        assert line.startswith(item.name) and item.title in line
        assert line.endswith("(not installed)") == (not item.path.is_file())


def test_an_unknown_lesson_is_refused_with_the_names(capsys):
    status, _, err = teach(capsys, "sgd-proces")
    assert status == 2
    assert "no lesson 'sgd-proces'; the lessons are: " + ", ".join(lessons.names()) in err


@pytest.mark.parametrize("argv,message", [
    ([], "give a lesson's name, or --list; the lessons are: sgd-process"),
    (["--list", "sgd-process"], "--list takes no NAME"),
    (["--list", "--port", "3000"], "--port does not apply with --list"),
    (["missing_notebook.py"], "notebook 'missing_notebook.py' does not exist"),
])
def test_teach_without_a_lesson_is_refused(capsys, argv, message):
    status, _, err = teach(capsys, *argv)
    assert status == 2 and message in err, err


@pytest.mark.parametrize("notebook", NOTEBOOKS)
@pytest.mark.parametrize("argv,message", [
    (["--export", "html"], "--export FORMAT needs --out PATH"),
    (["--out", "x.html"], "--out needs --export {html,ipynb}"),
    (["--export", "html", "--out", "/nonexistent/dir/x.html"], "--out '/nonexistent/dir/x.html': the folder "
                                                                "'/nonexistent/dir' does not exist"),
    (["--export", "html", "--out", "/proc/x.html"], "--out '/proc/x.html' cannot be written"),
    (["--export", "ipynb", "--out", "/tmp"], "--out '/tmp' is a directory"),
    (["--export", "html", "--out", "x.html", "--port", "3000"], "--port does not apply to --export"),
    (["--export", "html", "--out", "x.html", "--no-browser"], "--no-browser does not apply to --export"),
    (["--port", "70000", *SERVED], "--port 70000: a port is from 1 to 65535"),
    (["--host", "256.0.0.1", *SERVED], "--host '256.0.0.1' cannot be served on"),
])
def test_bad_options_are_refused_before_any_work(capsys, tmp_path, monkeypatch, notebook, argv, message):
    monkeypatch.chdir(tmp_path)
    status, out, err = teach(capsys, notebook, *argv)
    assert status == 2 and message in err, err
    assert out == "" and not list(tmp_path.iterdir())


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_an_unknown_format_is_refused(capsys, notebook):
    with pytest.raises(SystemExit) as stop:
        main(["teach", notebook, "--export", "pdf", "--out", "x.pdf"])
    assert stop.value.code == 2
    assert "argument --export: invalid choice: 'pdf' (choose from 'html', 'ipynb')" in capsys.readouterr().err


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_a_port_in_use_is_refused_naming_a_free_one(capsys, notebook):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, out, err = teach(capsys, notebook, "--port", str(port), *SERVED)
        assert status == 2
        assert f"--port {port}: the port is in use on 127.0.0.1" in err, err
        suggested = int(err.split("try --port ")[1].split()[0])
        assert suggested != port
        with socket.socket() as probe:      # the suggested port is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", suggested))
    assert "serving" not in out


def test_without_a_port_the_default_or_the_next_free_one_is_served_on():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert teach_module.free_port("127.0.0.1", port) > port
    assert teach_module.serving_port("127.0.0.1", None) >= teach_module.DEFAULT_PORT


def test_without_the_teach_extra_the_command_says_how_to_install_it(tmp_path):
    """marimo made unimportable (as when the extra is not installed): refused, naming the install command."""
    blocked = tmp_path / "blocked" / "marimo"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('No module named marimo')\n")
    done = subprocess.run([sys.executable, "-m", "sdesim.cli", "teach", str(FIXTURE), "--export", "html", "--out",
                           str(tmp_path / "x.html")], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocked.parent),
                                                                           os.environ.get("PYTHONPATH", "")])))
    assert done.returncode == 2, done.stderr
    assert "the lessons need marimo, which is not installed; install it with: pip install 'sdesim[teach]'" \
        in done.stderr
    assert not (tmp_path / "x.html").exists()


marimo_needed = pytest.mark.skipif(importlib.util.find_spec("marimo") is None, reason="the teach extra is not installed")


@marimo_needed
@pytest.mark.parametrize("notebook", [str(FIXTURE), lessons.LESSONS[0].name])
def test_export_html_runs_the_notebook_and_embeds_its_outputs(capsys, tmp_path, notebook):
    if notebook == lessons.LESSONS[0].name and notebook not in INSTALLED:
        pytest.skip(f"{lessons.LESSONS[0].path} is not in the tree yet")
    out = tmp_path / "lesson.html"
    status, printed, err = teach(capsys, notebook, "--export", "html", "--out", str(out))
    assert status == 0, err
    assert printed.strip() == f"wrote {out}"
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "marimo" in page
    if notebook == str(FIXTURE):
        assert "n squared is" in page and "9" in page
    assert [p.name for p in tmp_path.iterdir()] == ["lesson.html"]      # no temporary file, no __marimo__ cache
    assert not (FIXTURE.parent / "__marimo__").exists()


@marimo_needed
def test_export_ipynb_writes_a_notebook_with_its_outputs(capsys, tmp_path):
    out = tmp_path / "lesson.ipynb"
    status, _, err = teach(capsys, str(FIXTURE), "--export", "ipynb", "--out", str(out))
    assert status == 0, err
    notebook = json.loads(out.read_text())
    assert notebook["nbformat"] == 4
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert any("n.value ** 2" in source for source in sources)
    shown = json.dumps([cell.get("outputs") for cell in notebook["cells"]])
    assert "n squared is" in shown and "9" in shown


@marimo_needed
def test_a_notebook_whose_cell_raises_exports_nothing_and_exits_1(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text(FIXTURE.read_text().replace("square = n.value ** 2", "square = 1 / 0"))
    out = tmp_path / "broken.html"
    status, _, err = teach(capsys, str(broken), "--export", "html", "--out", str(out))
    assert status == 1
    assert "marimo could not export" in err and "division by zero" in err
    assert not out.exists()


def load_hook():
    spec = importlib.util.spec_from_file_location("docs_hooks_lessons", ROOT / "docs_hooks" / "lessons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@marimo_needed
def test_the_docs_hook_renders_a_lesson_and_fails_the_build_when_a_cell_raises(tmp_path):
    pytest.importorskip("mkdocs")
    from mkdocs.exceptions import PluginError

    hook = load_hook()
    assert "n squared is" in hook.rendered(str(FIXTURE))
    broken = tmp_path / "broken.py"
    broken.write_text(FIXTURE.read_text().replace("square = n.value ** 2", "square = 1 / 0"))
    with pytest.raises(PluginError, match="division by zero"):
        hook.rendered(str(broken))
    placeholder = hook.page(lessons.LESSONS[0], "placeholder")
    assert "sdesim teach sgd-process" in placeholder and "without running the lessons" in placeholder
