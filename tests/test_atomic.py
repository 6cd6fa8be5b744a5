"""Atomic outputs (`sdesim.atomic`): a reader sees the old file or the new one, never a torn one.

A full disk is a small tmpfs (needs root, or skipped with the reason) or, where none can be mounted, an
``os.fsync`` that answers ENOSPC; a read-only folder is a read-only tmpfs (root ignores permission bits)
or a chmod for other users.  Each failure must leave the old file intact and no temporary file behind,
and name the path and the reason.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess

import pytest

from sdesim.atomic import OutputError, append_whole, save_figure, write_text
from sdesim.cli import main
from sdesim.outputs import write_json


def _mount(folder, options) -> str | None:
    """Mount a tmpfs at ``folder``; None when done, else why it could not be."""
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"mount failed: {error}"
    return None if done.returncode == 0 else f"cannot mount a tmpfs here: {done.stderr.strip()}"


def _unmount(folder) -> None:
    """Unmount ``folder``, lazily if a file is still open in it (a writer that failed and kept its handle)."""
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@contextlib.contextmanager
def _tmpfs(folder):
    """A 64 KiB tmpfs at ``folder`` holding old.json ("old"), unmounted afterwards; skipped where none mounts."""
    why = _mount(folder, "size=64k")
    if why:
        pytest.skip(why)
    try:
        (folder / "old.json").write_text('"old"\n')
        yield folder
    finally:
        _unmount(folder)


@pytest.fixture
def full_disk(tmp_path):
    """A small tmpfs holding old.json and a filler that takes the rest: the next write hits ENOSPC."""
    with _tmpfs(tmp_path / "full") as folder:
        with open(folder / "filler", "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
        yield folder


@pytest.fixture
def read_only(tmp_path):
    """A folder in which nothing can be created, holding old.json: a read-only view of a tmpfs (root ignores
    permission bits), or a chmod for other users."""
    folder = tmp_path / "ro"
    if os.geteuid() != 0:
        folder.mkdir()
        (folder / "old.json").write_text('"old"\n')
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    with _tmpfs(tmp_path / "source") as source:
        folder.mkdir()
        subprocess.run(["mount", "--bind", str(source), str(folder)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
            yield folder
        finally:
            _unmount(folder)


def assert_intact(folder, message, name="old.json"):
    """The old file holds its old text, no temporary file is left, and the message names the path."""
    assert (folder / name).read_text() == '"old"\n'
    assert sorted(p.name for p in folder.iterdir()) == sorted(["old.json", "filler"] if (folder / "filler").exists()
                                                               else ["old.json"])
    assert str(folder / name) in message


# --- a full disk -----------------------------------------------------------------------------------

def test_json_on_a_full_disk_keeps_the_old_file_and_names_it(full_disk):
    with pytest.raises(OutputError, match="no space left on device \\(ENOSPC\\); the previous file is unchanged"
                       ) as failed:
        write_json(full_disk / "old.json", {"rows": list(range(20_000))})
    assert failed.value.errno == errno.ENOSPC
    assert_intact(full_disk, str(failed.value))


def test_simulate_json_on_a_full_disk_exits_4_with_the_path(full_disk, capsys):
    target = full_disk / "old.json"
    assert main(["simulate", "--paths", "100", "--steps", "10", "--json", str(target)]) == 4
    err = capsys.readouterr().err
    assert f"sdesim simulate: error: could not write '{target}': no space left on device" in err
    assert "Traceback" not in err
    assert_intact(full_disk, err)


def test_a_picture_on_a_full_disk_leaves_no_temporary_file(full_disk):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 8))
    fig.subplots().imshow(__import__("numpy").random.default_rng(0).random((400, 400)))
    with pytest.raises(OutputError, match="could not write .*p.png': no space left on device"):
        save_figure(fig, full_disk / "p.png", dpi=100)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "old.json"]


def test_an_appended_row_on_a_full_disk_is_cut_back_whole(full_disk):
    (full_disk / "filler").write_bytes(b"\0" * 40_000)   # room for the header and one short row, not the big one
    log = full_disk / "log.csv"
    append_whole(log, "step,loss\r\n0,0.91796875\r\n")
    with pytest.raises(OutputError, match="could not append to .*log.csv': no space .*keeps its earlier lines whole"):
        append_whole(log, "1,0.91796875\r\n" * 3000)
    assert log.read_bytes() == b"step,loss\r\n0,0.91796875\r\n"


def test_without_a_tmpfs_an_enospc_from_fsync_keeps_the_old_file(tmp_path, monkeypatch):
    """The same guarantee where no tmpfs can be mounted: the disk fills at the flush."""
    (tmp_path / "old.json").write_text('"old"\n')

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError) as failed:
        write_text(tmp_path / "old.json", "new\n")
    assert "no space left on device (ENOSPC); the previous file is unchanged" in str(failed.value)
    assert_intact(tmp_path, str(failed.value))


def test_an_error_of_the_writer_itself_is_not_an_output_error(tmp_path):
    """A bug in what is written (not the disk) passes through unchanged, and nothing is left behind."""
    class Broken:
        def savefig(self, handle, **options):
            handle.write(b"half a picture")
            raise RuntimeError("the figure is broken")

    with pytest.raises(RuntimeError, match="the figure is broken"):
        save_figure(Broken(), tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []


# --- a read-only folder ----------------------------------------------------------------------------

def test_a_read_only_folder_is_refused_before_any_work(read_only, capsys):
    assert main(["simulate", "--json", str(read_only / "r.json")]) == 2
    assert f"--json '{read_only / 'r.json'}' cannot be written (" in capsys.readouterr().err
    assert main(["validate", "--quick", "--out", str(read_only / "report")]) == 2
    assert f"--out '{read_only / 'report'}' cannot be written (" in capsys.readouterr().err


def test_a_write_into_a_read_only_folder_names_the_path(read_only):
    with pytest.raises(OutputError, match="could not write .*ro/old.json': (read-only file system|permission denied)"):
        write_json(read_only / "old.json", [1])
    assert (read_only / "old.json").read_text() == '"old"\n'


# --- two outputs naming one file -------------------------------------------------------------------

def test_rerun_refuses_to_overwrite_its_record(tmp_path, capsys):
    record = tmp_path / "study.json"
    record.write_text(json.dumps({"command": ["sdesim", "converge", "--exact"], "rows": []}))
    assert main(["rerun", str(record), "--json", str(record)]) == 2
    assert f"RECORD.json '{record}' and --json '{record}' are the same file" in capsys.readouterr().err


# --- the torch backend: checkpoints and loggers ----------------------------------------------------

def torch_trainer(**changes):
    pytest.importorskip("torch")
    from sdesim.torch.training import Trainer
    from tiny_torch import tiny_data, tiny_model

    return Trainer(tiny_model(), tiny_data(12), batch_size=3, **changes)


def test_a_checkpoint_on_a_full_disk_leaves_nothing_behind_and_names_it(full_disk):
    from sdesim.torch.training import Checkpoints

    run = torch_trainer(checkpoints=Checkpoints(full_disk / "ck", every=1))
    with pytest.raises(OutputError, match=f"could not write '{full_disk}/ck/step-00000001.pt': no space left on "
                                          f"device \\(ENOSPC\\); nothing was written"):
        run.run(1)
    assert list((full_disk / "ck").iterdir()) == []   # no .partial, no temporary file


def test_the_csv_logger_on_a_full_disk_keeps_every_row_whole(full_disk):
    pytest.importorskip("torch")
    from sdesim.torch.loggers import CSVLogger, read_csv

    (full_disk / "filler").unlink()
    (full_disk / "filler").write_bytes(b"\0" * 56_000)
    logger = CSVLogger(full_disk / "run.csv")
    logger.start([])
    rows = 0
    with pytest.raises(OutputError, match="could not append to .*run.csv': no space left on device"):
        for rows in range(10_000):
            logger.log({"step": rows, "loss": 0.91796875, "lr": 0.1})
    columns = read_csv(full_disk / "run.csv")
    assert columns["step"] == list(range(rows)) and rows > 10
    assert set(columns["loss"]) == {0.91796875}


def test_a_read_only_checkpoint_folder_or_log_folder_is_refused_before_the_first_step(read_only):
    from sdesim.torch.loggers import CSVLogger
    from sdesim.torch.training import Checkpoints, LogSettings

    with pytest.raises(ValueError, match=f"Checkpoints directory '{read_only}/ck' cannot be created \\("):
        torch_trainer(checkpoints=Checkpoints(read_only / "ck", every=1))
    with pytest.raises(ValueError, match=f"Checkpoints directory '{read_only}' cannot be written \\(.* in "):
        torch_trainer(checkpoints=Checkpoints(read_only, every=1))
    with pytest.raises(ValueError, match=f"CSVLogger folder '{read_only}' cannot be written"):
        torch_trainer(logging=LogSettings(loggers=[CSVLogger(read_only / "run.csv")]))
