"""mkdocs hook: every lesson rendered into the site at build time, never committed.

For each lesson of `sdesim.lessons.LESSONS` it runs ``sdesim teach NAME --export html`` (marimo runs the
notebook and embeds its outputs) and adds the page to the site as ``lessons/NAME.html``, which
docs/lessons/index.md links to.  A lesson that fails to run fails the build.  A lesson whose notebook is not
in the tree yet, or every lesson when ``SDESIM_DOCS_LESSONS=placeholder`` (the docs test: the lessons have
tests of their own), gets a short page saying so instead, and the build log says which.
"""

from __future__ import annotations

import html
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from sdesim import lessons

log = logging.getLogger("mkdocs.hooks.lessons")
MODES = ("render", "placeholder")
PLACEHOLDER = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{why}</p><p>Run it live with <code>sdesim teach {name}</code>, or render it with
<code>sdesim teach {name} --export html --out {name}.html</code>.</p></body></html>
"""


def mode() -> str:
    chosen = os.environ.get("SDESIM_DOCS_LESSONS", "render")
    if chosen not in MODES:
        raise PluginError(f"SDESIM_DOCS_LESSONS={chosen!r}: use one of {', '.join(MODES)}")
    return chosen


def rendered(notebook: str) -> str:
    """The static page of a lesson (its name) or notebook (its path): ``sdesim teach NOTEBOOK --export html``;
    PluginError, with the command's message, if it fails."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "lesson.html"
        done = subprocess.run([sys.executable, "-m", "sdesim.cli", "teach", notebook, "--export", "html", "--out",
                               str(out)], capture_output=True, text=True)
        if done.returncode != 0:
            raise PluginError(f"sdesim teach {notebook} --export html failed ({done.returncode}):\n"
                              f"{done.stderr.strip()}")
        return out.read_text(encoding="utf-8")


_PAGES: dict = {}   # (name, the notebook's mtime) -> page: `mkdocs serve` rebuilds without running lessons again


def page(item, chosen: str) -> str:
    if chosen == "render" and item.path.is_file():
        key = item.name, item.path.stat().st_mtime_ns
        if key not in _PAGES:
            log.info("lessons: rendering %s", item.name)
            _PAGES[key] = rendered(item.name)
        return _PAGES[key]
    why = ("This build of the site was made without running the lessons (SDESIM_DOCS_LESSONS=placeholder)."
           if chosen == "placeholder" else f"This lesson's notebook (sdesim/lessons/{item.file}) is not in this "
                                           "build yet.")
    log.info("lessons: %s not rendered: %s", item.name, why)
    return PLACEHOLDER.format(title=html.escape(item.title), why=html.escape(why), name=item.name)


def on_files(files, config):
    chosen = mode()
    for item in lessons.LESSONS:
        files.append(File.generated(config, f"lessons/{item.name}.html", content=page(item, chosen)))
    return files
