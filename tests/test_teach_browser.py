"""A served lesson, used as a student uses it: ``sdesim teach NAME --no-browser --port P`` in a subprocess, opened
in a real headless Chromium (Debian's chromium and chromedriver, through Selenium), a slider moved, and the
numbers the other cells show change.  It skips, saying why, where no browser is installed (.ci/run installs one).

It runs on the fixture notebook (tests/data/teach_fixture.py: a slider and its square) and on the first lesson
(skipped until its notebook is in the tree).
"""

import pytest

from teach_browser import FIXTURE, chromium, open_lesson, redraw, served, unavailable

pytest.importorskip("marimo")
pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")

from sdesim import lessons  # noqa: E402

FIRST = lessons.LESSONS[0]


@pytest.mark.parametrize("notebook", [str(FIXTURE), FIRST.name], ids=["fixture", FIRST.name])
def test_moving_a_slider_in_the_served_lesson_changes_the_numbers_shown(notebook):
    if notebook == FIRST.name and not FIRST.path.is_file():
        pytest.skip(f"{FIRST.path} is not in the tree yet")
    with served(notebook) as (url, server), chromium() as driver:
        texts, _ = open_lesson(driver, url)
        assert any(any(ch.isdigit() for ch in text) for text in texts.values()), f"no number on the page: {texts}"
        before, after, first, _ = redraw(driver)
        assert before != after
        if notebook == str(FIXTURE):   # n = 3 moved one step right: n² from 9 to 16, in the cell after the slider
            assert ["9"] in before.values() and ["16"] in after.values(), (before, after)
    assert server.returncode == 143, server.stdout.read()   # stopped with SIGTERM: 128 + 15
