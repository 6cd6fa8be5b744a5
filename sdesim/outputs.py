"""The files a command writes, checked before any work: a JSON record, a picture, an output folder, and that
no two outputs of one command name the same file.  They are written atomically (`sdesim.atomic`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sdesim.atomic import unwritable, writable_folder, write_text

IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def output_file(path, what: str):
    """Check, before any work, that a file can be written at ``path``; return it as a Path (None for no file)."""
    if path is None:
        return None
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{what} {path!r} is a directory; give a file name in it")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"{what} {path!r}: the folder {str(folder)!r} does not exist")
    why = "permission denied" if target.exists() and not os.access(target, os.W_OK) else unwritable(folder)
    if why is not None:
        raise ValueError(f"{what} {path!r} cannot be written ({why})")
    return target


def picture_file(path, what: str):
    """The picture's path with a supported suffix (.png added to a name without one), checked before any work."""
    if path is None or str(path).lower() == "none":
        return None
    target = Path(path)
    if not target.suffix:
        target = target.with_name(target.name + ".png")
    elif target.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{what} {path!r}: unknown picture format {target.suffix!r}; use one of "
                         f"{', '.join(IMAGE_SUFFIXES)}")
    return output_file(str(target), what)


def output_folder(path, what: str):
    """Check, before any work, that ``path`` is a folder that exists or can be created, and can be written."""
    return writable_folder(what, path)


def distinct_outputs(paths: dict) -> None:
    """Refuse, before any work, two files of one command that are the same file (``--json r.png --plot r``:
    the picture would overwrite the record; a link counts too).  ``paths``: option -> path, or None (none)."""
    seen = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = (os.stat(path).st_dev, os.stat(path).st_ino) if os.path.exists(path) else os.path.realpath(path)
        if key in seen:
            first, first_path = seen[key]
            raise ValueError(f"{first} {str(first_path)!r} and {option} {str(path)!r} are the same file; give each "
                             f"output its own file")
        seen[key] = option, path


def write_json(path, data) -> None:
    """Write ``data`` as JSON to ``path`` (None: nothing) atomically: a reader sees the old file or the new one."""
    if path:
        write_text(path, json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")
