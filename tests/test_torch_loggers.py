"""Streaming logs (CSV, TensorBoard), the SDE time column, periodic checkpoints and resume="latest"
(their bad input is the table at the end)."""

from __future__ import annotations

import dataclasses
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sdesim.torch import checkpoint  # noqa: E402
from sdesim.torch.loggers import CSVLogger, Logger, TensorBoardLogger, read_csv  # noqa: E402
from sdesim.torch.training import Checkpoints, LogSettings, Trainer, train  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)


class Rows(Logger):
    """Keeps each row it is handed, and what ``csv_path`` held at that moment."""

    def __init__(self, csv_path=None):
        self.rows, self.starts, self.csv_path, self.seen_on_disk = [], [], csv_path, []

    def start(self, log):
        self.starts.append(list(log))

    def log(self, row):
        self.rows.append(row)
        if self.csv_path is not None:
            self.seen_on_disk.append(len(read_csv(self.csv_path)["step"]))


def late_monitor(model, step):
    """A metric that first appears at step 2, so the CSV header must widen."""
    return {"late": step / 3} if step else {}


# --- the SDE time --------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,l", [("sgd", 1), ("svag", 2), ("gd", 1)])
def test_sgd_family_logs_the_sde_time_sum_of_learning_rates(method, l):
    result = train(tiny_model(), tiny_data(), method=method, l=l, lr=0.1, batch_size=3, steps=4,
                   logging=LogSettings(log_every=1),
                   schedule={2: 0.5})
    expected, time = [0.0], 0.0
    for rate in (0.1, 0.1, 0.05, 0.05):
        time += rate
        expected.append(time)
    assert result.columns()["time"] == expected


def test_an_old_sgd_checkpoint_resumes_with_the_time_recomputed(tmp_path):
    """Checkpoints written before SGD logged its time held Σ η_k² and logs without 'time'."""
    settings = dict(lr=0.1, batch_size=3, logging=LogSettings(log_every=1), schedule={2: 0.5})
    whole = train(tiny_model(), tiny_data(), steps=4, **settings)
    first = Trainer(tiny_model(), tiny_data(), **settings)
    first.run(3)
    first.time = 0.1**2 * 2 + 0.05**2
    first.log = [{name: value for name, value in row.items() if name != "time"} for row in first.log]
    first.save(tmp_path / "old.pt")
    resumed = Trainer.load(tmp_path / "old.pt", tiny_model(), tiny_data()).run(1)
    assert resumed.log[-1] == whole.log[-1]


# --- loggers -------------------------------------------------------------------------------------------

def test_the_csv_file_is_the_log_row_by_row(tmp_path):
    path = tmp_path / "run.csv"
    rows = Rows(path)
    with CSVLogger(path) as csv_logger:
        result = train(tiny_model(), tiny_data(), test_data=tiny_data(6, seed=2), method="svag", l=2, lr=0.1,
                       batch_size=3, steps=6, logging=LogSettings(log_every=1, eval_every=2, monitor=late_monitor,
                                                                  monitor_every=2, loggers=[csv_logger, rows]))
    assert rows.starts == [[]] and rows.rows == result.log
    assert rows.seen_on_disk == list(range(1, len(result.log) + 1))        # each row on disk as it arrives
    back = read_csv(path)
    assert back == result.columns()
    assert list(back) == list(result.columns())                               # 'late' appears at step 2
    assert [type(v) for v in back["examples"]] == [int] * 7 and back["test_acc"][1] is None


def test_tensorboard_gets_every_number_against_the_effective_step(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with TensorBoardLogger(tmp_path / "tb") as board:
        result = train(tiny_model(), tiny_data(), method="svag", l=2, lr=0.1, batch_size=3, steps=4,
                       logging=LogSettings(log_every=1, eval_every=2, monitor=late_monitor, monitor_every=2,
                                           loggers=board))
    assert_board_holds(tmp_path / "tb", result.columns(), EventAccumulator)


def assert_board_holds(log_dir, columns, accumulator_class):
    """TensorBoard's scalars are the log's numbers as float32, tag by tag, at the logged steps."""
    events = accumulator_class(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    expected = {name: [(step, np.float32(value)) for step, value in zip(columns["step"], values) if value is not None]
                for name, values in columns.items() if name != "step"}
    assert set(events.Tags()["scalars"]) == set(expected) and "time" in expected
    for name, pairs in expected.items():
        assert [(e.step, np.float32(e.value)) for e in events.Scalars(name)] == pairs, name


# --- periodic checkpoints and resume="latest" ------------------------------------------------------------

SETTINGS = dict(method="svag", l=2, lr=0.2, batch_size=5, weight_decay=0.01, logging=LogSettings(log_every=1), seed=9,
                schedule={5: 0.5})


def run_settings(tmp_path, base=SETTINGS, *, keep=2, loggers=None):
    return dict(base, test_data=tiny_data(10, seed=2), checkpoints=Checkpoints(tmp_path / "ckpt", every=3, keep=keep),
                logging=dataclasses.replace(base["logging"], loggers=loggers))


def names(folder):
    return sorted(path.name for path in Path(folder).iterdir())


@pytest.mark.parametrize("method,damage", [("svag", None), ("svag", "newest truncated"), ("adam", None)])
def test_a_preempted_run_resumes_bit_for_bit(tmp_path, method, damage):
    data = tiny_data(40)
    base = dict(SETTINGS, method=method, lr=0.2 if method == "svag" else 0.01)
    whole_model = tiny_model(norm="batch", dropout=0.3)
    whole = train(whole_model, data, steps=10, **dict(base, test_data=tiny_data(10, seed=2)))

    killed = Trainer(tiny_model(norm="batch", dropout=0.3), data,
                     **run_settings(tmp_path, base, loggers=[CSVLogger(tmp_path / "run.csv")]))
    killed.run(7)                                        # the kill: checkpoints at 3 and 6, log rows up to 7
    del killed
    assert names(tmp_path / "ckpt") == ["step-00000003.pt", "step-00000006.pt"]
    assert read_csv(tmp_path / "run.csv")["step"] == list(range(8))
    if damage:
        newest = tmp_path / "ckpt" / "step-00000006.pt"
        newest.write_bytes(newest.read_bytes()[:200])

    model = tiny_model(seed=123, norm="batch", dropout=0.3)
    rows = Rows()
    with pytest.warns(UserWarning, match="skipping checkpoint step-00000006.pt") if damage else nullcontext():
        result = train(model, data, steps=10, resume="latest",
                       **run_settings(tmp_path, base, loggers=[CSVLogger(tmp_path / "run.csv"), rows]))

    for p, q in zip(whole_model.state_dict().values(), model.state_dict().values()):
        assert torch.equal(p, q)
    assert result.log == whole.log and result.steps == 10 and result.examples == whole.examples
    assert read_csv(tmp_path / "run.csv") == whole.columns()                  # no row twice
    resumed_at = 3 if damage else 6
    assert [row["step"] for row in rows.starts[0]] == list(range(resumed_at + 1))
    assert names(tmp_path / "ckpt") == ["step-00000006.pt", "step-00000009.pt"]
    assert checkpoint.read(tmp_path / "ckpt" / "step-00000006.pt")["step"] == 6


def test_resume_latest_in_an_empty_folder_starts_fresh_and_a_finished_run_takes_no_step(tmp_path):
    data = tiny_data(40)
    fresh = train(tiny_model(), data, steps=4, resume="latest", **run_settings(tmp_path))
    assert names(tmp_path / "ckpt") == ["step-00000003.pt"]
    again = train(tiny_model(seed=5), data, steps=3, resume="latest", **run_settings(tmp_path))
    assert again.log == fresh.log[:4] and again.steps == 3


def test_resuming_an_older_checkpoint_in_the_folder_drops_the_later_timeline(tmp_path):
    data = tiny_data(40)
    Trainer(tiny_model(), data, **run_settings(tmp_path, keep=3)).run(9)
    assert names(tmp_path / "ckpt") == ["step-00000003.pt", "step-00000006.pt", "step-00000009.pt"]
    older = Trainer.load(tmp_path / "ckpt" / "step-00000003.pt", tiny_model(), data, test_data=tiny_data(10, seed=2),
                         schedule=SETTINGS["schedule"], checkpoints=Checkpoints(tmp_path / "ckpt", every=3, keep=3))
    older.run(2)
    assert len(names(tmp_path / "ckpt")) == 3                 # nothing written or removed before step 6
    older.run(1)
    assert names(tmp_path / "ckpt") == ["step-00000003.pt", "step-00000006.pt"]


def test_tensorboard_drops_the_killed_runs_rows_after_the_checkpoint(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = tiny_data(40)
    whole = train(tiny_model(), data, steps=8, **dict(SETTINGS, test_data=tiny_data(10, seed=2)))
    killed = Trainer(tiny_model(), data, **run_settings(tmp_path, loggers=TensorBoardLogger(tmp_path / "tb")))
    killed.run(5)                                        # events up to step 5, checkpoint at 3
    killed.loggers[0].close()
    with TensorBoardLogger(tmp_path / "tb") as board:
        train(tiny_model(), data, steps=8, resume="latest", **run_settings(tmp_path, loggers=board))
    assert_board_holds(tmp_path / "tb", whole.columns(), EventAccumulator)


# --- bad input -------------------------------------------------------------------------------------------

def trainer(**settings):
    return Trainer(tiny_model(), tiny_data(), **dict(dict(batch_size=3), **settings))


def folder_of(**settings):
    """A checkpoint folder holding one checkpoint (at step 0) of a run with ``settings``."""
    run = trainer(**settings)
    Path("held").mkdir(exist_ok=True)
    run.save(Path("held") / "step-00000000.pt")
    return "held"


def no_tensorboard(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    return TensorBoardLogger("tb")


BAD = [
    ("a logger without log", lambda mp: trainer(logging=LogSettings(loggers=[CSVLogger("a.csv"), 3])), TypeError,
     r"loggers\[1\] is a int, which has no log\(row\) method"),
    ("a CSV path that is a folder", lambda mp: CSVLogger("."), ValueError, "is a folder; give a file name"),
    ("TensorBoard without tensorboard", no_tensorboard, ImportError,
     r"needs the tensorboard package .*pip install -e '.\[tensorboard\]'"),
    ("Checkpoints without a folder", lambda mp: trainer(checkpoints=Checkpoints(None, every=3)), ValueError,
     r"Checkpoints\(every=3\) needs a directory"),
    ("Checkpoints without every", lambda mp: trainer(checkpoints=Checkpoints("c", every=None)), ValueError,
     r"Checkpoints\(directory='c'\) needs every"),
    ("Checkpoints every=0", lambda mp: trainer(checkpoints=Checkpoints("c", every=0)), ValueError,
     r"Checkpoints.every must be a positive integer \(1, 2, 3, ...\), got 0"),
    ("Checkpoints keep=0", lambda mp: trainer(checkpoints=Checkpoints("c", every=2, keep=0)),
     ValueError, r"Checkpoints.keep must be a positive integer \(1, 2, 3, ...\), got 0"),
    ("a checkpoint folder that is a file",
     lambda mp: trainer(checkpoints=Checkpoints(Path("f").write_text("") or "f", every=2)),
     ValueError, "Checkpoints directory 'f' is a file, not a folder"),
    ("a checkpoints object of the wrong type", lambda mp: trainer(checkpoints="c"), TypeError,
     r"checkpoints must be a Checkpoints\(...\) or None, got str"),
    ("an old keyword", lambda mp: trainer(checkpoint_dir="c"), TypeError,
     r"checkpoint_dir= -> checkpoints=Checkpoints\(directory='c'\)"),
    ("a fresh run in a folder of checkpoints", lambda mp: trainer(checkpoints=Checkpoints(folder_of(), every=2)),
     ValueError, "'held' already holds checkpoints .*resume='latest'.* or start this one in an empty folder"),
    ("resume an l=2 run with l=4",
     lambda mp: train(tiny_model(), tiny_data(), steps=3, resume="latest",
                      checkpoints=Checkpoints(folder_of(method="svag", l=2), every=1),
                      method="svag", l=4, batch_size=3),
     ValueError, r"'held' holds a run with l=2 \(step-00000000.pt\), but this call asks for l=4"),
    ("resume an sgd run as svag",
     lambda mp: train(tiny_model(), tiny_data(), steps=3, resume="latest",
                      checkpoints=Checkpoints(folder_of(), every=1),
                      method="svag", l=2, batch_size=3),
     ValueError, r"holds a run with method='sgd', l=1 \(step-00000000.pt\), but this call asks for method='svag', l=2"),
    ("resume past the total", lambda mp: train(tiny_model(), tiny_data(), steps=2, resume="latest",
                                              checkpoints=Checkpoints(shifted(folder_of(), 5), every=1),
                                              batch_size=3),
     ValueError, r"already at effective step 5, beyond steps=2 \(steps is the run's total\)"),
    ("resume='newest'", lambda mp: train(tiny_model(), tiny_data(), steps=2, resume="newest"), ValueError,
     "resume must be None or 'latest'"),
    ("resume='latest' without checkpoints", lambda mp: train(tiny_model(), tiny_data(), steps=2, resume="latest"),
     ValueError, r"resume='latest' needs checkpoints=Checkpoints\(directory, every\)"),
]


def shifted(folder, step):
    """Make the folder's checkpoint claim ``step`` effective steps done."""
    path = Path(folder) / "step-00000000.pt"
    state = checkpoint.read(path)
    state["step"] = step
    checkpoint.write(Path(folder) / f"step-{step:08d}.pt", state)
    path.unlink()
    return folder


@pytest.mark.parametrize("what,call,raised,message", BAD, ids=[row[0] for row in BAD])
def test_bad_input_is_refused_before_any_step(what, call, raised, message, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    def no_step(self):
        raise AssertionError(f"{what}: a training step ran before the input was refused")

    monkeypatch.setattr(Trainer, "_take_small_step", no_step)
    with pytest.raises(raised, match=message):
        call(monkeypatch)

