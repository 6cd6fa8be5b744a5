"""Redraw the pictures of the documentation, docs/img/*.png, from the demonstrations.

    python demos/make_pictures.py [--out FOLDER]

Beside each picture NAME.png it writes NAME.txt, the table of the numbers the picture shows;
tests/test_docs.py redraws them and holds both against docs/img.
"""

import argparse
import io
from pathlib import Path

from PIL import Image

from sdesim import demos

PICTURES = {
    "histograms.png": demos.histograms,
    "double_well.png": demos.double_well_paths,
    "stationary_gibbs.png": demos.stationary_gibbs,
    "weak_error.png": demos.weak_error,
}
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def draw(folder: Path) -> None:
    """Each demonstration at its defaults: folder/NAME.png (80 dpi, 64 colours) and folder/NAME.txt (its table)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, demo in PICTURES.items():
        result = demo()
        buffer = io.BytesIO()
        result.figure.savefig(buffer, format="png", dpi=80)
        # a 64-colour palette keeps the committed pictures small
        Image.open(buffer).convert("RGB").quantize(64).save(folder / name, optimize=True)
        (folder / name).with_suffix(".txt").write_text(result.table() + "\n")
        print(result.table(), end="\n\n")
        print(f"wrote {folder / name} ({(folder / name).stat().st_size // 1024} KiB)", end="\n\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="redraw the documentation's pictures and their numbers")
    parser.add_argument("--out", type=Path, default=DOCS_IMG, help="folder to write to (default: docs/img)")
    draw(parser.parse_args().out)
