"""Run the examples of the documentation: every ```python block of docs/**/*.md and README.md.

Each page's blocks run in order in one fresh module: they are joined into a .py file under
pytest's tmp_path and imported under a name of their own, with the working directory in
tmp_path.  A real file gives numba the source it needs for the @numba.njit functions the
pages define, and an importable module lets sdesim cache their kernels on disk, as it
does for a user's own module.  A block fenced as ```python {.no-run} is shown, not run.

A one-line ```bash block holding an ``sdesim simulate`` command and followed at once by a
```text block is run too, and must print exactly that text.

The site itself is built with ``mkdocs build --strict`` (mkdocs.yml): any warning fails it,
among them a link to a missing page or heading, a page left out of the navigation, and a
cross-reference to an object of the API that does not exist.  The API pages are read from
the source, so the build must not need torch: it runs with torch made unimportable.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NO_RUN = re.compile(r"\{[^}]*\.no-run\b[^}]*\}")
# fence openings the site's Markdown (pymdownx.superfences) renders as code: ```lang, ```lang {.class …}
RENDERED_FENCE = re.compile(r"^```(\w+([ \t]+\{[^}\n]*\})?)?[ \t]*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
ANY_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block on the page that is not marked no-run."""
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if NO_RUN.search(match.group(1)):
            continue
        blocks.append((text.count("\n", 0, match.start()) + 2, match.group(2)))
    return blocks


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def module_source(page: Path, blocks) -> str:
    """The page's blocks in order, each preceded by a comment naming its place in the page."""
    parts = [f"# {page_id(page)}, line {line}\n{code}" for line, code in blocks]
    return "\n\n".join(parts)


def test_pages_exist():
    names = {page_id(p) for p in PAGES}
    for expected in ("docs/index.md", "docs/install.md", "docs/tutorial.md", "docs/theory/sde.md",
                     "docs/theory/scaling-rule.md", "docs/guide/simulate.md", "docs/guide/problems.md",
                     "docs/guide/custom-problem.md", "docs/guide/dask.md", "docs/guide/demos.md",
                     "docs/reference/json.md", "docs/reference/cli.md"):
        assert expected in names, f"missing page {expected}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_code_fences_render(page):
    """Every fence opens as ```lang or ```lang {.class}: other info strings (```python no-run)
    are not code to the site's Markdown, which then shows the code as text and its comments as headings."""
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.startswith("```") and line.strip() != "```":
            assert RENDERED_FENCE.match(line), (
                f"{page_id(page)}:{number}: fence {line!r} does not render as code; "
                "write ```python, or ```python {.no-run} for an example that is shown but not run")


def test_site_builds_strictly(tmp_path):
    """mkdocs build --strict: a broken link, heading, cross-reference or docstring fails the test."""
    blocker = tmp_path / "blocked"
    for name in ("torch", "torchsde"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(f"raise ImportError('the docs build must not import {name}')\n")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", SDESIM_DOCS_LESSONS="placeholder",   # lessons: tested on their own
               PYTHONPATH=os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    problems = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert done.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(problems or [done.stderr[-3000:]])
    assert (tmp_path / "site" / "reference" / "api" / "simulate.html").exists()


def anchors(page: Path) -> set[str]:
    """The heading anchors of a page, made as mkdocs' default (Python-Markdown toc) slugify makes them."""
    text = ANY_FENCE.sub("", page.read_text())
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE):
        plain = unicodedata.normalize("NFKD", heading.replace("`", "")).encode("ascii", "ignore").decode()
        found.add(re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", plain).strip().lower()))
    return found


def rendered_lesson(linked: Path) -> bool:
    """docs/lessons/NAME.html is written at build time (docs_hooks/lessons.py) from a lesson's notebook."""
    from sdesim.lessons import LESSONS

    if linked.parent != ROOT / "docs" / "lessons" or linked.suffix != ".html":
        return False
    return any(item.name == linked.stem and item.path.exists() for item in LESSONS)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve(page):
    """Links between pages point at files and headings that exist (web links are not checked)."""
    for target in LINK.findall(ANY_FENCE.sub("", page.read_text())):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if rendered_lesson(linked):
            continue
        assert linked.exists(), f"{page_id(page)} links to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page_id(page)} links to missing heading {target}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_python_examples_run(page, tmp_path, monkeypatch):
    blocks = python_blocks(page)
    if not blocks:
        return  # a page without Python examples has nothing to run
    slug = re.sub(r"\W", "_", page_id(page).removesuffix(".md"))
    name = f"sdesim_docs_{slug}"
    file = tmp_path / f"{name}.py"
    file.write_text(module_source(page, blocks))
    monkeypatch.chdir(tmp_path)          # examples that write files write them here
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module           # importable by name while it runs, so its kernels can be cached
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)


def cli_examples(page: Path) -> list[tuple[str, str]]:
    """(command, printed text) for each one-line `sdesim simulate` bash block followed by a text block."""
    fences = [(m.group(1), m.group(2)) for m in ANY_FENCE.finditer(page.read_text())]
    pairs = []
    for (lang, code), (next_lang, text) in zip(fences, fences[1:]):
        lines = code.strip().splitlines()
        if lang == "bash" and next_lang == "text" and len(lines) == 1 and lines[0].startswith("sdesim simulate"):
            pairs.append((lines[0], text))
    return pairs


CLI_EXAMPLES = [(page, command, text) for page in PAGES for command, text in cli_examples(page)]


def test_cli_examples_are_found():
    assert any(page_id(page) == "docs/reference/cli.md" for page, _, _ in CLI_EXAMPLES)


@pytest.mark.parametrize("page,command,text", CLI_EXAMPLES,
                         ids=[f"{page_id(p)}:{c[16:60]}" for p, c, _ in CLI_EXAMPLES])
def test_cli_examples_print_what_the_docs_show(page, command, text, tmp_path):
    argv = shlex.split(command)[1:]
    done = subprocess.run([sys.executable, "-m", "sdesim.cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert _lines(done.stdout + done.stderr) == _lines(text), (
        f"{page_id(page)}: `{command}` printed\n{done.stdout}{done.stderr}")
    assert done.returncode == (2 if "error:" in text else 0)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]
