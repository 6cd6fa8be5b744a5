"""Run the examples of the documentation and hold every output it shows: docs/**/*.md and README.md.

Each page's ```python blocks run in order in one fresh module: they are joined into a .py file under
pytest's tmp_path and imported under a name of their own, with the working directory in
tmp_path.  A real file gives numba the source it needs for the @numba.njit functions the
pages define, and an importable module lets sdesim cache their kernels on disk, as it
does for a user's own module.  A block fenced as ```python {.no-run} is shown, not run.

Shown output.  A block fenced as ```text {.output} is what the code block above it prints (the
nearest ```python or ```bash block before it on the page; prose may stand between them):

- after a ```python block: exactly that block's standard output, from this fresh run of the page
  (the seed and path count are the ones the page's code states);
- after a ```bash block holding one ``sdesim`` command (a backslash at the end of a line continues it): exactly what the
  command prints (standard output and error), run in an empty folder that holds a copy of
  docs/examples/*.py (so ``--problem arctan_sde:make_problem`` finds them), and its exit status
  must be the one the text implies (2 for ``error:``, 1 if it says REJECTED, 3 INCONCLUSIVE, else 0).

Lines compare after trailing spaces are cut; a shown line that is only ``…`` stands for any number
of printed lines (a page that cuts an output says so in words).  No tolerance: every number sdesim's
engine prints is the same on 1 or 2 threads for a given seed (blocks of paths are merged in a fixed
order).  The one exception is torch, whose sums on the CPU depend on its thread count: the outputs of
training runs are fenced ```text {.output .approx}, where the words must match exactly and each number
within 1% (relative) or 1e-6 (absolute, for rounding-level numbers such as a float32 difference).
Every ```text block that follows a code block must carry ``.output`` (checked) or ``.no-check``
(shown but too costly to rerun here; the page must say so and give the cost).

Pictures.  demos/make_pictures.py draws docs/img/NAME.png and writes the numbers each picture shows
beside it, docs/img/NAME.txt; the test redraws them into tmp_path and requires the same numbers, the
same image size, and fewer than 1% of pixels changed by more than 64 of 255 levels in a colour (a
newer matplotlib moves text by a pixel; a stale picture, with another fit or a missing band, differs
in several percent: the picture before issue 22 differed in 7%).

Maths.  Formulas are written $…$ (pymdownx.arithmatex, rendered by MathJax): a raw ``^{`` or ``_{``
outside code and maths, or an ``x*`` that Markdown would read as the start of italics, fails.

Links to files of the repository are reference links [`path`][repo:path] whose targets are in
docs/.links.md (appended to every page); each path must exist.

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
import shutil
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
FENCE_INFO = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
OUTPUT, NO_CHECK = re.compile(r"\{[^}]*\.output\b[^}]*\}"), re.compile(r"\{[^}]*\.no-check\b[^}]*\}")
APPROX = re.compile(r"\{[^}]*\.approx\b[^}]*\}")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
RTOL, ATOL = 1e-2, 1e-6   # for ```text {.output .approx}: see the top of this file
MARK = "\x1esdesim-docs-block-end\x1e"   # printed after each block of a page, to cut its output into blocks


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
    """The page's blocks in order, each preceded by a comment naming its place in the page and followed
    by a print of MARK, so that the output of each block can be told apart."""
    parts = [f"# {page_id(page)}, line {line}\n{code}\nprint({MARK!r})\n" for line, code in blocks]
    return "\n\n".join(parts)


def shown_outputs(page: Path) -> list[tuple[int, str, int, str]]:
    """(line of the output, kind of the code above it, line of that code, shown text) for each ```text {.output}."""
    text = page.read_text()
    found, above = [], None
    for match in FENCE_INFO.finditer(text):
        lang, info, body = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        if lang == "text" and above is not None and OUTPUT.search(info):
            found.append((line, *above, body if not APPROX.search(info) else ApproxText(body)))
        elif lang == "python" and not NO_RUN.search(info):
            above = ("python", line + 1)
        elif lang == "bash":
            above = ("bash", line + 1)
        else:
            above = None
    return found


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_shown_outputs_are_marked(page):
    """A ```text block after a code block is shown output: ```text {.output} (checked against a fresh run)
    or ```text {.no-check} (too costly to rerun here, and the page says so)."""
    text, above = page.read_text(), None
    for match in FENCE_INFO.finditer(text):
        lang, info, _ = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        assert not (lang == "text" and above in ("python", "bash") and not (OUTPUT.search(info) or NO_CHECK.search(info))), (
            f"{page_id(page)}:{line}: mark this output ```text {{.output}} (checked) or ```text {{.no-check}} "
            "(say on the page why it is not)")
        above = None if lang == "python" and NO_RUN.search(info) else lang


class ApproxText(str):
    """A shown output whose numbers match within RTOL or ATOL (```text {.output .approx})."""


def _line_pattern(line: str, approx: bool) -> str:
    if not approx:
        return re.escape(line)
    return f"({NUMBER.pattern})".join(re.escape(part) for part in NUMBER.split(line))


def _matches(printed: str, shown: str) -> bool:
    """The printed lines are the shown ones; a shown line that is only … stands for any run of lines.
    For an ApproxText the words match exactly and each number within RTOL (relative) or ATOL."""
    approx = isinstance(shown, ApproxText)
    pattern = "".join(r"(?:.*\n)*?" if line.strip() == "…" else _line_pattern(line, approx) + r"\n"
                      for line in _lines(shown))
    match = re.fullmatch(pattern, "\n".join(_lines(printed)) + "\n")
    if match is None or not approx:
        return match is not None
    wanted = [float(n) for line in _lines(shown) if line.strip() != "…" for n in NUMBER.findall(line)]
    got = [float(n) for n in match.groups()]
    return len(wanted) == len(got) and all(abs(g - w) <= max(ATOL, RTOL * abs(w)) for g, w in zip(got, wanted))


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
def test_python_examples_run(page, tmp_path, monkeypatch, capsys):
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
    printed = capsys.readouterr().out.split(MARK + "\n")
    by_line = {line: out for (line, _), out in zip(blocks, printed)}
    for line, kind, code_line, shown in shown_outputs(page):
        if kind == "python":
            assert _matches(by_line[code_line], shown), (
                f"{page_id(page)}:{line}: the block at line {code_line} printed\n{by_line[code_line]}")


def cli_examples(page: Path) -> list[tuple[str, str]]:
    """(command, shown text) for each ```bash block of one ``sdesim`` command followed by a ```text {.output}."""
    text = page.read_text()
    code_at = {text.count("\n", 0, m.start()) + 2: m.group(3) for m in FENCE_INFO.finditer(text)}
    pairs = []
    for _, kind, code_line, shown in shown_outputs(page):
        command = re.sub(r"\\\n\s*", " ", code_at[code_line]).strip()
        if kind == "bash" and "\n" not in command and command.startswith("sdesim "):
            pairs.append((command, shown))
    return pairs


CLI_EXAMPLES = [(page, command, text) for page in PAGES for command, text in cli_examples(page)]


def test_cli_examples_are_found():
    assert any(page_id(page) == "docs/reference/cli.md" for page, _, _ in CLI_EXAMPLES)
    assert any(command.startswith("sdesim converge") for _, command, _ in CLI_EXAMPLES)


def _status_shown(text: str) -> int:
    """The exit status a shown output implies (sdesim.estimators.exit_status)."""
    if "error:" in text:
        return 2
    return 1 if "REJECTED" in text else 3 if "INCONCLUSIVE" in text else 0


@pytest.mark.parametrize("page,command,text", CLI_EXAMPLES,
                         ids=[f"{page_id(p)}:{c[7:60]}" for p, c, _ in CLI_EXAMPLES])
def test_cli_examples_print_what_the_docs_show(page, command, text, tmp_path):
    for example in (ROOT / "docs" / "examples").glob("*.py"):
        shutil.copy(example, tmp_path)
    argv = shlex.split(command)[1:]
    done = subprocess.run([sys.executable, "-m", "sdesim.cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert _matches(done.stdout + done.stderr, text), (
        f"{page_id(page)}: `{command}` printed\n{done.stdout}{done.stderr}")
    assert done.returncode == _status_shown(text)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def test_picture_script_reproduces_docs_img(tmp_path, capsys):
    """demos/make_pictures.py draws docs/img as committed: the same numbers beside each picture, and the
    same picture within 1% of pixels (see the top of this file for the tolerance)."""
    from PIL import Image
    import numpy as np

    spec = importlib.util.spec_from_file_location("sdesim_docs_make_pictures", ROOT / "demos" / "make_pictures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.draw(tmp_path)
    capsys.readouterr()
    for name in script.PICTURES:
        committed, fresh = ROOT / "docs" / "img" / name, tmp_path / name
        table = committed.with_suffix(".txt")
        assert table.exists(), f"docs/img/{table.name} is missing: run python demos/make_pictures.py"
        assert fresh.with_suffix(".txt").read_text() == table.read_text(), (
            f"the numbers of docs/img/{name} are stale: run python demos/make_pictures.py")
        old, new = (np.asarray(Image.open(p).convert("RGB"), dtype=int) for p in (committed, fresh))
        assert old.shape == new.shape, f"docs/img/{name} is {old.shape[:2]}, the script draws {new.shape[:2]}"
        changed = float((np.abs(old - new).max(axis=2) > 64).mean())
        assert changed < 0.01, f"docs/img/{name}: {changed:.1%} of its pixels differ from a fresh drawing"


def prose(page: Path) -> str:
    """The page without its code (fenced, indented and inline) and maths ($…$, $$…$$, \\(…\\)): the running text."""
    text = FENCE_INFO.sub("", page.read_text())
    text = re.sub(r"^(    |\t).*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.DOTALL)
    text = re.sub(r"\\\(.*?\\\)", "", text, flags=re.DOTALL)
    return re.sub(r"\$[^$\n]+\$", "", text)


SITE_PAGES = [p for p in PAGES if p.parent != ROOT]


# bold and italic spans as Markdown reads them: a star after a word character cannot open one
EMPHASIS = re.compile(r"(?<![\w*])(\*\*?)(?=\S)(?:(?!\n\s*\n)[^*])+?(?<=\S)\1(?![\w*])")


@pytest.mark.parametrize("page", SITE_PAGES, ids=page_id)
def test_maths_is_written_as_maths(page):
    """Running text has no raw ^{…}, _{…} or x^d (write $…$, which MathJax renders) and no x* that Markdown
    reads as the start of italics, swallowing the star (write $x^*$)."""
    for line in EMPHASIS.sub("", prose(page)).splitlines():
        assert not re.search(r"[\^_]\{|\w\^[\w(−-]", line), f"{page_id(page)}: raw maths outside $…$: {line.strip()!r}"
        assert not re.search(r"\w\*", line), (
            f"{page_id(page)}: a star Markdown may read as italics and swallow (write $x^*$): {line.strip()!r}")


def test_repository_links_exist():
    """Every [`path`][repo:path] of the site points at a file or folder of the repository."""
    links = re.findall(r"^\[repo:([^\]]+)\]: (\S+)$", (ROOT / "docs" / ".links.md").read_text(), re.MULTILINE)
    assert links
    for path, url in links:
        assert (ROOT / path).exists(), f"docs/.links.md links to {path}, which is not in the repository"
        assert url.endswith(path.rstrip("/")), f"docs/.links.md: {path} links to {url}"
    used = {m for page in PAGES for m in re.findall(r"\]\[repo:([^\]]+)\]", page.read_text())}
    assert used <= {path for path, _ in links}, f"no link definition for {sorted(used - {p for p, _ in links})}"
