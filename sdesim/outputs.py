"""The files a command writes, checked before any work: a JSON record, a picture, an output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    if (target.exists() and not os.access(target, os.W_OK)) or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path!r} cannot be written (permission denied)")
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
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{what} {path!r} is a file, not a folder")
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path!r} cannot be written (permission denied in {str(existing)!r})")
    return target


def write_json(path, data) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")
