"""Redraw the pictures of the documentation, docs/img/*.png, from the demonstrations.

    python demos/make_pictures.py
"""

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

if __name__ == "__main__":
    folder = Path(__file__).resolve().parents[1] / "docs" / "img"
    folder.mkdir(exist_ok=True)
    for name, demo in PICTURES.items():
        result = demo()
        buffer = io.BytesIO()
        result.figure.savefig(buffer, format="png", dpi=80)
        # a 64-colour palette keeps the committed pictures small
        Image.open(buffer).convert("RGB").quantize(64).save(folder / name, optimize=True)
        print(result.table(), end="\n\n")
        print(f"wrote {folder / name} ({(folder / name).stat().st_size // 1024} KiB)", end="\n\n")
