"""``sdesim rerun RECORD.json``: repeat a ``converge`` study from its record and compare the rows bit for bit.

The record's ``command`` is parsed by the same parser as the first run.  Before any path moves,
the user functions that command would use now (the ``--problem`` factory and the problem's
functions, ``--test`` and ``--reference`` callables) are hashed and held against the record's
``user_functions``: a changed source, a function added or gone, or a module that no longer
imports is a refusal with the reason.  The study then runs as recorded (no picture; its JSON
to ``--json OUT`` if given), with the record's ``stream_version`` (1 for a record without one), and
every row is compared with the record's.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from sdesim.cli import CONVERGE_DEFAULTS, _reference_from_args, _tests_from_args, build_parser
from sdesim.cli_problem import problem_factory, problem_from_args
from sdesim.estimators.record import changed_functions, differing_rows, git_commit, user_functions, versions
from sdesim.outputs import distinct_outputs, output_file
from sdesim.rng.versions import stream_version as check_stream_version


def read_record(path) -> dict:
    """The record at ``path``, with a ``command`` of ``sdesim converge``, or a clear error."""
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path!r}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path!r} is not a JSON record: {error}") from None
    command = record.get("command") if isinstance(record, dict) else None
    if not command:
        raise ValueError(f"{path!r} has no command: only a study run by `sdesim converge` (recorded with its "
                         "command line) can be re-run; a study run from Python is re-run by the call that made it")
    if len(command) < 2 or command[1] != "converge":
        raise ValueError(f"{path!r}: the recorded command {' '.join(command)!r} is not `sdesim converge`")
    return record


def recorded_args(record: dict, path):
    """The recorded command, parsed as the first run parsed it, with the record's stream version (1 when it has none)."""
    try:
        args = build_parser().parse_args(record["command"][1:])
    except SystemExit:   # argparse has said what it could not parse
        raise ValueError(f"{path!r}: the recorded command no longer parses (options changed since?)") from None
    try:
        args.stream_version = check_stream_version(record.get("stream_version", 1))
    except ValueError as error:
        raise ValueError(f"{path!r}: {error}") from None
    return args


def functions_now(args) -> dict:
    """The user functions the parsed command would use now: role → {name, sha256}."""
    problem, _ = problem_from_args(args, CONVERGE_DEFAULTS)
    _, user_tests = _tests_from_args(args.test)
    return {**problem_factory(args), **user_functions(problem, user_tests, _reference_from_args(args.reference))}


def rerun(path, out=None) -> int:
    """Repeat the study recorded at ``path``; 0 when every row equals the record's bit for bit, 1 when one differs."""
    record = read_record(path)
    args = recorded_args(record, path)
    recorded = record.get("dtype", "float64")   # a record without it ran in float64
    if getattr(args, "dtype", "float64") != recorded:
        raise ValueError(f"refusing to re-run {path}: its record says dtype {recorded!r} but its command runs "
                         f"{args.dtype!r}; the record was edited or written by another version")
    output_file(out, "--json")
    distinct_outputs({"RECORD.json": path, "--json": out})   # the record re-run is the evidence: never overwritten
    try:
        reasons = changed_functions(record.get("user_functions") or {}, functions_now(args))
    except ValueError as error:      # a module that no longer imports, a factory that fails
        raise ValueError(f"refusing to re-run {path}: {error}") from None
    if reasons:
        raise ValueError(f"refusing to re-run {path}: " + "; ".join(reasons))
    for name, then in (record.get("versions") or {}).items():
        now = versions().get(name)
        if now != then:
            print(f"note: the study ran with {name} {then}, this run has {now}")
    then, now = record.get("git") or {}, git_commit() or {}
    if then.get("commit") != now.get("commit"):
        print(f"note: the study ran at sdesim commit {then.get('commit')}, this run is at {now.get('commit')}")
    if then.get("dirty"):
        print("note: the study ran from a checkout with uncommitted changes in sdesim/: the commit does not pin "
              "its code")
    with tempfile.TemporaryDirectory() as scratch:
        args.json, args.plot, args.argv = out or str(Path(scratch) / "rerun.json"), "none", record["command"][1:]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = args.run(args)
        hidden = "" if out else f"wrote {args.json}"   # the scratch copy is not the user's to find
        print("\n".join(line for line in printed.getvalue().splitlines() if line != hidden))
        again = json.loads(Path(args.json).read_text())
    if code == 130:
        return code
    differ = differing_rows(record["rows"], again["rows"])
    if not differ:
        print(f"the rows equal the record's bit for bit ({len(again['rows'])} rows)")
        return 0
    print(f"{len(differ)} of {len(again['rows'])} rows differ from the record's:")
    print("\n".join(f"  {line}" for line in differ))
    return 1
