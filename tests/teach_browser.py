"""A served lesson in a real headless Chromium: serve it with ``sdesim teach NAME --no-browser --port P``, open
it, move a slider and watch the numbers the other cells show (tests/test_teach_browser.py,
benchmarks/bench_lessons.py).

The browser is Debian's chromium driven by Debian's chromedriver (the same version, packages chromium and
chromium-driver) through Selenium.  What is read is the text of each cell's output (marimo's ``.output-area``),
less the cell that shows the slider: a redraw is a change in the numbers there.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "data" / "teach_fixture.py"   # a slider n, and n² in the next cell
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# what Chromium needs here: no sandbox as root, no GPU, and no background connections (refused on a closed network)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,2000")
NUMBER = re.compile(r"[-−]?\d+(?:[.,]\d+)*(?:[eE][-+−]?\d+)?")
OUTPUTS = "return [...document.querySelectorAll('.output-area')].map(e => [e.id, e.innerText]);"
RUNNING = "return document.querySelectorAll('.running-app-icon').length;"   # marimo's hourglass while cells run
CONTROLS = "marimo-slider, marimo-dropdown"   # the controls a redraw is timed on, in page order


def unavailable() -> str | None:
    """Why no browser test can run here (None when it can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the test extra)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(notebook: str, timeout: float = 60.0):
    """``sdesim teach NOTEBOOK --no-browser --port P`` in a subprocess until the block ends; yields
    ``(url, process)``.  It is stopped with SIGTERM, and must then exit with 143 (`sdesim.interrupts`)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen([sys.executable, "-m", "sdesim.cli", "teach", notebook, "--no-browser", "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sdesim teach {notebook} exited with {process.returncode}:\n{process.stdout.read()}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=2).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"sdesim teach {notebook} did not answer at {url} within {timeout:g} s")
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def chromium():
    """A headless Chromium (Selenium WebDriver) with a fresh profile, quit when the block ends."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory() as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def numbers(texts: dict) -> dict:
    """The numbers each output shows, in order: {cell output id: [number text, ...]}."""
    return {key: NUMBER.findall(text) for key, text in texts.items()}


def outputs(driver, leave_out: str | None = None) -> dict:
    """The text of every cell's output but ``leave_out`` (an output's id)."""
    return {key: text for key, text in driver.execute_script(OUTPUTS) if key != leave_out}


def settled(driver, leave_out=None, quiet: float = 1.0, timeout: float = 120.0):
    """Wait until no cell runs and the outputs' text has not changed for ``quiet`` seconds; return
    ``(texts, time of the last change)``."""
    start = last = time.monotonic()
    texts = outputs(driver, leave_out)
    while time.monotonic() - last < quiet:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"the page did not settle within {timeout:g} s")
        time.sleep(0.02)
        now = outputs(driver, leave_out)
        if now != texts or driver.execute_script(RUNNING):
            texts, last = now, time.monotonic()
    return texts, last


def open_lesson(driver, url: str, timeout: float = 300.0):
    """Load the app and wait until it shows a control and its outputs have settled (the timeout leaves room for a
    cold compile of the lesson's kernels)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, CONTROLS))
    return settled(driver, timeout=timeout)


def move_control(driver, index: int = 0) -> str:
    """Move control ``index`` (a slider or a dropdown, in page order) one step: an arrow key on a slider (right,
    or left at its maximum), the next option of a dropdown (the first after the last); return its cell output's id."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select

    host = driver.find_elements(By.CSS_SELECTOR, CONTROLS)[index]
    cell = driver.execute_script("return arguments[0].closest('.output-area').id;", host)
    if host.tag_name == "marimo-dropdown":
        select = Select(host.shadow_root.find_element(By.CSS_SELECTOR, "select"))
        chosen = [option.get_attribute("value") for option in select.all_selected_options]
        values = [option.get_attribute("value") for option in select.options]
        select.select_by_index((values.index(chosen[0]) + 1) % len(values) if chosen else 0)
        return cell
    thumb = host.shadow_root.find_element(By.CSS_SELECTOR, "[role=slider]")
    at_max = thumb.get_attribute("aria-valuenow") == thumb.get_attribute("aria-valuemax")
    thumb.send_keys(Keys.ARROW_LEFT if at_max else Keys.ARROW_RIGHT)
    return cell


def redraw(driver, index: int = 0, timeout: float = 120.0) -> tuple[dict, dict, float, float]:
    """Move control ``index`` and time the redraw of the other cells: ``(numbers before, numbers after, seconds
    to the first change of a number, seconds to the last change of any output text)``."""
    leave_out = driver.execute_script(
        "return document.querySelectorAll(arguments[1])[arguments[0]].closest('.output-area').id;", index, CONTROLS)
    before = numbers(outputs(driver, leave_out))
    moved = time.monotonic()
    move_control(driver, index)
    first = None
    while first is None:
        if time.monotonic() - moved > timeout:
            raise TimeoutError(f"no number changed within {timeout:g} s of moving the control")
        if numbers(outputs(driver, leave_out)) != before:
            first = time.monotonic() - moved
        else:
            time.sleep(0.01)
    texts, last = settled(driver, leave_out, timeout=timeout)
    return before, numbers(texts), first, last - moved
