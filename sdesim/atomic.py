"""Atomic outputs: a reader sees the old file or the new one, never a torn one.

A file is written to a temporary file in the same folder (``.NAME.PID-RANDOM.tmp``), flushed, fsynced and
renamed over the target (``os.replace``, atomic on one file system); an appended row is written whole and
fsynced, or cut back.  On any error (ENOSPC, EROFS, EACCES, ...) the temporary file is removed and an
`OutputError` names the path and the reason.  Used by every file sdesim writes: the CLI's JSON, pictures,
the validation report, the torch CSV logger and checkpoints.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path


class OutputError(OSError):
    """An output file that could not be written; the message names the path and the reason, and the old file
    (if any) is unchanged.  The CLI exits with status 4 (`sdesim.estimators.exit_status.OUTPUT_FAILED`)."""

    def __str__(self):
        return self.args[0]


def reason(error: BaseException) -> str:
    """The operating system's reason in ``error`` or in the exceptions it was raised from (torch wraps an
    ENOSPC in a RuntimeError), e.g. 'no space left on device (ENOSPC)'; else the error itself."""
    for seen in _chain(error):
        if isinstance(seen, OSError) and seen.errno:
            return f"{os.strerror(seen.errno).lower()} ({errno.errorcode.get(seen.errno, seen.errno)})"
    return f"{type(error).__name__}: {error}"


def _chain(error):
    """``error`` and the exceptions it was raised from or during."""
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: some file systems refuse fsync on a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replacing(path, mode: str = "w"):
    """``with replacing(path) as handle: handle.write(...)``: the text (mode "w", UTF-8) or bytes ("wb")
    written to ``handle`` replace ``path`` whole when the block ends; on an error nothing changes at ``path``,
    the temporary file is removed, and an OS error (also one wrapped by a library) becomes an `OutputError`."""
    path = Path(path)
    existed = path.exists()
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise _failed(path, error, existed) from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if existed:
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if any(isinstance(e, OSError) for e in _chain(error)):
            raise _failed(path, error, existed) from error
        raise
    _fsync_folder(path.parent)


def _failed(path: Path, error: BaseException, existed: bool, *, verb: str = "write", kept: str = "") -> OutputError:
    kept = kept or ("the previous file is unchanged" if existed else "nothing was written")
    failure = OutputError(f"could not {verb} {str(path)!r}: {reason(error)}; {kept}")
    failure.filename = str(path)
    failure.errno = next((e.errno for e in _chain(error) if isinstance(e, OSError)), None)
    return failure


def write_text(path, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) atomically."""
    with replacing(path) as handle:
        handle.write(text)


def save_figure(figure, path, **options) -> None:
    """``figure.savefig`` (matplotlib) to ``path`` atomically, in the format of the path's suffix."""
    suffix = Path(path).suffix.lstrip(".").lower()
    with replacing(path, "wb") as handle:
        figure.savefig(handle, format=suffix or None, **options)


def append_whole(path, text: str, *, sync: bool = True) -> None:
    """Append ``text`` (whole lines) to ``path`` in one write and, with ``sync``, fsync it; on an error the file
    is cut back to its earlier length, so it never ends in a torn line, and an `OutputError` says so."""
    path = Path(path)
    data = memoryview(text.encode("utf-8"))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as error:
        raise _failed(path, error, path.exists()) from None
    try:
        size = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data):]
            if sync:
                os.fsync(fd)
        except OSError as error:
            try:
                os.ftruncate(fd, size)
                kept = "the file keeps its earlier lines whole"
            except OSError:
                kept = "the file could not be cut back and may end in a torn line"
            raise _failed(path, error, True, verb="append to", kept=kept) from error
    finally:
        os.close(fd)


def sync_file(path) -> None:
    """fsync the file at ``path`` (rows appended without ``sync``); an error is an `OutputError`."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise _failed(Path(path), error, True, verb="flush", kept="its last rows may be lost") from error


def unwritable(folder) -> str | None:
    """Why files cannot be created in the existing ``folder`` ('permission denied', 'read-only file system
    (EROFS)', ...), or None when they can: the permission bits, then a real probe file (root passes the bits)."""
    folder = Path(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "permission denied"
    probe = folder / f".sdesim-probe.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        return reason(error)
    with contextlib.suppress(OSError):
        probe.unlink()
    return None


def writable_folder(what: str, path, *, create: bool = False) -> Path:
    """Check, before any work, that ``path`` is a folder that exists or can be created (``create``: create it)
    and that files can be written in it; raise ValueError naming ``what``, the path and the reason."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a file, not a folder")
    if create:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"{what} {str(path)!r} cannot be created ({reason(error)})") from None
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    why = "not a folder" if not existing.is_dir() else unwritable(existing)
    if why is not None:
        raise ValueError(f"{what} {str(path)!r} cannot be written ({why} in {str(existing)!r})")
    return target
