"""Loggers that receive every row of a training log as it is appended: a CSV file and TensorBoard.

A row is one dict of the `Trainer`'s log (``step``, ``lr``, ``examples``, ``step_loss``, ``time``, ``norm2``,
the train/test loss and accuracy every ``eval_every`` steps, a monitor's metrics such as the NSR
estimates).  Pass loggers as ``Trainer(..., loggers=[CSVLogger("run.csv"), TensorBoardLogger("tb")])``;
the trainer calls ``start(log)`` once, with the rows its log already holds (none for a fresh run, the
checkpoint's for a resumed one), then ``log(row)`` for each new row.  After a resume a logger thus
holds exactly the resumed run's log, without the rows the interrupted run wrote after its checkpoint.
"""

from __future__ import annotations

import abc
import csv
import io
import time
from pathlib import Path

from sdesim.atomic import OutputError, append_whole, reason, sync_file, writable_folder, write_text


class Logger(abc.ABC):
    """Receives the rows of a training log; a context manager that closes itself."""

    def start(self, log: list) -> None:
        """Called once before the first new row, with the rows the trainer's log already holds."""

    @abc.abstractmethod
    def log(self, row: dict) -> None:
        """Record one row of the log (called as the trainer appends it)."""

    def close(self) -> None:
        """Release files or writers; the rows written so far are already on disk."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def check_loggers(loggers) -> list:
    """None, one logger or a list of them -> a list; each needs a callable ``log(row)``."""
    if loggers is None:
        return []
    if not isinstance(loggers, (list, tuple)):
        loggers = [loggers]
    for position, logger in enumerate(loggers):
        if not callable(getattr(logger, "log", None)):
            raise TypeError(f"loggers[{position}] is a {type(logger).__name__}, which has no log(row) method; "
                            f"pass sdesim.torch.loggers.CSVLogger or TensorBoardLogger objects, or a subclass of "
                            f"sdesim.torch.loggers.Logger")
    return list(loggers)


# ---------------------------------------------------------------------------------------------------
# CSV

def _cell(value) -> str:
    """An int as written, a float as its shortest exact repr ('nan', 'inf' included), None as empty."""
    if value is None:
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def _value(text: str):
    """The inverse of `_cell`: '' -> None, an integer -> int, else float."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


class CSVLogger(Logger):
    """Streams the log to a CSV file at ``path``, one line per row, each appended whole in one write as it arrives
    (on an error the file is cut back to its earlier rows and an ``OutputError`` names it; `sdesim.atomic`), and
    fsynced at most every ``SYNC_SECONDS`` and at `close` (an fsync costs 2-3 ms on ext4: per row it would slow a
    run that logs every fast step many times over).  A kill of the process loses no written row; a power cut
    may lose the last second's rows, and `read_csv` refuses a file whose last row it left torn.

    The header holds the columns in order of first appearance (those of ``TrainResult.columns()``); a
    cell is empty where a row lacks the metric or holds None (``step_loss`` at step 0, evaluations
    between ``eval_every`` steps).  A row that brings a new column rewrites the file with the wider
    header (atomically: temporary file, then rename), so every line always has every column.  Floats
    are written exactly (shortest repr), so `read_csv` gives back ``TrainResult.columns()`` bit for bit.
    ``start`` rewrites the file with the rows the trainer already holds: a fresh run replaces an old
    file, a resumed run keeps the rows up to its checkpoint and drops the interrupted run's later ones.
    """

    SYNC_SECONDS = 1.0

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"CSVLogger path {str(self.path)!r} is a folder; give a file name such as 'run.csv'")
        writable_folder("CSVLogger folder", self.path.parent)   # before the first step
        self._rows: list[dict] = []
        self._columns: list[str] = []
        self._started = False
        self._synced = time.monotonic()     # when the file was last fsynced (a rewrite fsyncs)
        self._unsynced = False              # rows appended since then

    def start(self, log: list) -> None:
        """Open the file with the rows the trainer's log already holds (a resumed run rewrites them)."""
        self._rows = [dict(row) for row in log]
        self._columns = []
        for row in self._rows:
            self._columns += [name for name in row if name not in self._columns]
        self._rewrite()
        self._started = True

    def log(self, row: dict) -> None:
        """Append one row; a row with new columns rewrites the file with the wider header."""
        if not self._started:
            self.start([])
        self._rows.append(dict(row))
        new = [name for name in row if name not in self._columns]
        if new:
            self._columns += new
            self._rewrite()
            return
        now = time.monotonic()
        sync = now - self._synced >= self.SYNC_SECONDS
        append_whole(self.path, _lines([row], self._columns), sync=sync)
        self._synced, self._unsynced = (now, False) if sync else (self._synced, True)

    def close(self) -> None:
        """Flush the rows to disk (fsync)."""
        if self._unsynced:
            sync_file(self.path)
            self._synced, self._unsynced = time.monotonic(), False

    def _rewrite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text(self.path, (_lines([self._columns], None) if self._columns else "") +
                   _lines(self._rows, self._columns))
        self._synced, self._unsynced = time.monotonic(), False


def _lines(rows, columns) -> str:
    """CSV lines (each ending in \\r\\n) of ``rows``: their cells in ``columns`` (None: the rows are lists)."""
    text = io.StringIO()
    csv.writer(text).writerows(row if columns is None else [_cell(row.get(name)) for name in columns] for row in rows)
    return text.getvalue()


def read_csv(path) -> dict:
    """{column: [value per row]} of a file written by `CSVLogger` (ints, floats, None for empty cells):
    ``TrainResult.columns()`` of the run that wrote it.  A torn file (a last line without its line break, a row
    whose cells are not the header's) is refused: it was cut while being written."""
    with open(path, newline="") as handle:
        text = handle.read()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    torn = "" if text.endswith("\n") else f"its last line ({len(rows)}) does not end with a line break"
    for number, row in enumerate(body, start=2):
        if len(row) != len(header) and not torn:
            torn = f"line {number} has {len(row)} cells, the header {len(header)}"
    if torn:
        raise ValueError(f"{str(path)!r} is torn: {torn}; the file was cut while being written (a full disk, a "
                         f"killed writer), so its last row cannot be trusted; CSVLogger writes each row whole")
    return {name: [_value(row[i]) for row in body] for i, name in enumerate(header)}


# ---------------------------------------------------------------------------------------------------
# TensorBoard

class TensorBoardLogger(Logger):
    """Writes each row's numbers as TensorBoard scalars under their log names (``train_loss``, ``norm2``,
    ``time`` = the SDE time, ...), against the effective step; flushed after each row.  TensorBoard stores
    scalars as float32.  A resumed run purges the interrupted run's events after its last logged row
    (``SummaryWriter(purge_step=)``), a fresh one all earlier events in ``log_dir``.  Needs the ``tensorboard``
    extra.  An event file is appended records, each with its length and a CRC, and TensorBoard's reader skips a
    torn last one: so on a full disk the rows written so far still read back, and the write error becomes an
    ``OutputError`` naming ``log_dir``."""

    def __init__(self, log_dir):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ImportError(f"TensorBoardLogger needs the tensorboard package ({error}); install the extra: "
                              f"pip install -e '.[tensorboard]'") from None
        self.log_dir = writable_folder("TensorBoardLogger log_dir", log_dir)   # before the first step
        self._writer_class = SummaryWriter
        self._writer = None

    def start(self, log: list) -> None:
        """Open the writer, purging the events an interrupted run logged after the trainer's last row."""
        self.close()
        purge_step = log[-1]["step"] + 1 if log else 0
        self._writer = self._writer_class(str(self.log_dir), purge_step=purge_step)

    def log(self, row: dict) -> None:
        """Write the row's numbers as scalars at its effective step, and flush."""
        if self._writer is None:
            self.start([])
        step = row["step"]
        try:
            for name, value in row.items():
                if name != "step" and value is not None:
                    self._writer.add_scalar(name, value, global_step=step)
            self._writer.flush()
        except OSError as error:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except OSError:
                pass                 # the same error again, from the writer's thread
            raise OutputError(f"could not write the TensorBoard events of step {step} in {str(self.log_dir)!r}: "
                              f"{reason(error)}; the earlier rows read back (TensorBoard skips a torn last "
                              f"record)") from error

    def close(self) -> None:
        """Close the writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
