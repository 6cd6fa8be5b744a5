"""``sdesim teach``: list the lessons, serve one live in the browser, or export it as a page or a notebook.

    sdesim teach --list
    sdesim teach NAME [--port P] [--host H] [--no-browser]      marimo run: the lesson as an app
    sdesim teach NAME --export html|ipynb --out PATH            marimo export: a static page or a notebook

NAME is a lesson's name (`sdesim.lessons.LESSONS`) or the path of a marimo notebook of your own.  Every
refusal (an unknown name, a port in use, an output that cannot be written, marimo not installed) comes
before any work, with exit status 2.
"""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from sdesim import lessons
from sdesim.atomic import write_text
from sdesim.cli_parser import refuse_unless
from sdesim.outputs import output_file

FORMATS = ("html", "ipynb")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2718          # marimo's own default
SERVE_OPTIONS = ("port", "host", "no_browser")


class LessonFailed(RuntimeError):
    """marimo could not run or export the notebook (a cell raised, or marimo itself failed)."""


def add_parser(sub, formatter_class):
    """The ``teach`` subcommand on the cli's subparsers (its options live here, with the command)."""
    teach = sub.add_parser("teach", help="serve an interactive lesson in the browser, or export it as a page or notebook",
                           formatter_class=formatter_class,
                           description="The lessons are marimo notebooks (the teach extra: "
                                       f"{lessons.INSTALL}): moving a control reruns only what depends on it.")
    teach.add_argument("name", nargs="?", metavar="NAME",
                       help=f"a lesson ({', '.join(lessons.names())}) or a marimo notebook file of your own")
    teach.add_argument("--list", action="store_true", help="list the lessons' names and titles")
    teach.add_argument("--port", type=int, help=f"the port to serve on (default: {DEFAULT_PORT}, or the next free "
                                                "one when it is taken)")
    teach.add_argument("--host", default=DEFAULT_HOST, help="the address to serve on (0.0.0.0: every interface; "
                                                            "no token is asked for)")
    teach.add_argument("--no-browser", action="store_true", help="serve without opening a browser")
    teach.add_argument("--export", choices=FORMATS, help="write a static page (html: the lesson run, its outputs "
                                                         "embedded) or a Jupyter notebook (ipynb) instead of serving")
    teach.add_argument("--out", metavar="PATH", help="--export only: the file to write")
    teach.set_defaults(run=teach_command)
    return teach


def notebook(name: str) -> Path:
    """The notebook file of lesson ``name``, or of a marimo notebook path; ValueError listing the lessons."""
    if name.endswith(".py") and name not in lessons.names():
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"notebook {name!r} does not exist; the lessons are: {', '.join(lessons.names())}")
        return path
    path = lessons.lesson(name).path
    if not path.is_file():
        raise ValueError(f"lesson {name!r} is not in this installation (no {path})")
    return path


def port_in_use(host: str, port: int) -> bool:
    """Whether a server already listens on ``host:port`` (a bind there fails; connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise ValueError(f"--host {host!r} cannot be served on ({error.strerror})") from None
    return False


def free_port(host: str, start: int) -> int:
    """The first port from ``start`` on that no server holds."""
    for port in range(start, min(start + 200, 65536)):
        if not port_in_use(host, port):
            return port
    raise ValueError(f"no free port in {start}..{start + 199} on {host}; give one with --port")


def serving_port(host: str, port: int | None) -> int:
    """``port`` if it is free (ValueError saying so and naming a free one if not); the default or the next free one."""
    if port is None:
        return free_port(host, DEFAULT_PORT)
    if not 1 <= port <= 65535:
        raise ValueError(f"--port {port}: a port is from 1 to 65535")
    if port_in_use(host, port):
        raise ValueError(f"--port {port}: the port is in use on {host} (another server, perhaps another lesson); "
                         f"try --port {free_port(host, port + 1)}")
    return port


def serve_command(path: Path, host: str, port: int, browser: bool) -> list[str]:
    """``marimo run`` of the notebook: read-only app, no token (a local class), a browser unless ``browser`` is False."""
    return [sys.executable, "-m", "marimo", "run", str(path), "--host", host, "--port", str(port), "--no-token",
            "--no-sandbox", *(() if browser else ("--headless",))]


def export(path: Path, fmt: str, out: Path) -> None:
    """Run the notebook and write it to ``out`` atomically: html (the page with its outputs) or ipynb (with outputs).
    It runs from a temporary copy: marimo keeps a session cache (``__marimo__/``) beside the notebook it exports,
    and the package's folder may be read-only."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / path.name, Path(folder) / f"notebook.{fmt}"
        shutil.copyfile(path, source)
        command = [sys.executable, "-m", "marimo", "export", fmt, str(source), "-o", str(target), "-f", "--no-sandbox"]
        done = subprocess.run(command + (["--include-outputs"] if fmt == "ipynb" else []),
                              capture_output=True, text=True)
        if done.returncode != 0 or not target.is_file():
            raise LessonFailed(f"marimo could not export {path}:\n{(done.stderr or done.stdout).strip()}")
        write_text(out, target.read_text(encoding="utf-8"))


def list_lessons() -> str:
    """One line per lesson: its name and title, and a note where its notebook is not installed."""
    width = max(len(name) for name in lessons.names())
    return "\n".join(f"{item.name:<{width}}  {item.title}" + ("" if item.path.is_file() else "  (not installed)")
                     for item in lessons.LESSONS)


def _checked(args):
    """Every refusal, before any work: the lesson or notebook, the options' combination, marimo, the output or port."""
    if args.list:
        refuse_unless(args, False, ("export", "out", *SERVE_OPTIONS), "with --list")
        if args.name is not None:
            raise ValueError(f"--list takes no NAME (given {args.name!r})")
        return None
    if args.name is None:
        raise ValueError(f"give a lesson's name, or --list; the lessons are: {', '.join(lessons.names())}")
    path = notebook(args.name)
    refuse_unless(args, args.export is None, SERVE_OPTIONS, "to --export (they are for serving)")
    if (args.export is None) != (args.out is None):
        raise ValueError("--export FORMAT needs --out PATH" if args.out is None else
                         f"--out needs --export {{{','.join(FORMATS)}}} (without --export the lesson is served)")
    lessons.require_marimo()
    if args.export == "ipynb":
        try:
            import nbformat  # noqa: F401  (marimo writes .ipynb through it)
        except ImportError as error:
            raise ImportError(f"--export ipynb needs nbformat, which is not installed; install it with: "
                              f"{lessons.INSTALL}") from error
    if args.export is not None:
        return path, output_file(args.out, "--out"), None
    return path, None, serving_port(args.host, args.port)


def teach_command(args) -> int:
    try:
        checked = _checked(args)
    except ImportError as error:
        print(f"sdesim teach: error: {error}", file=sys.stderr)
        return 2
    if checked is None:
        print(list_lessons())
        return 0
    path, out, port = checked
    if out is not None:
        try:
            export(path, args.export, out)
        except LessonFailed as error:
            print(f"sdesim teach: error: {error}", file=sys.stderr)
            return 1
        print(f"wrote {out}")
        return 0
    print(f"serving {args.name} at http://{args.host}:{port} (Ctrl-C stops it)", flush=True)
    server = subprocess.Popen(serve_command(path, args.host, port, not args.no_browser))
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        raise
