"""What every lesson shows: its numbers beside their exact values, and an exercise's verdict."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """A self-check's answer to a student: right or wrong, and why."""

    right: bool
    why: str

    def markdown(self) -> str:
        return f"**{'Right' if self.right else 'Not yet'}.** {self.why}"


def rows_markdown(rows, *, note: str = "") -> str:
    """A Markdown table of `sdesim.demos.Row`s: measured ± standard error, exact, z = (measured − exact)/stderr."""
    lines = ["| quantity | measured | ± stderr | exact | z |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.measured:.5g} | {f'{r.stderr:.2g}' if r.stderr else ''} | "
                     f"{'' if r.exact is None else f'{r.exact:.5g}'} | {'' if r.z is None else f'{r.z:+.2f}'} |")
    if note:
        lines += ["", note]
    return "\n".join(lines)


def picture(figure, dpi: int = 150):
    """A matplotlib figure as a marimo image, drawn once at ``dpi`` and shown 100 px per inch.

    marimo's own display of a figure draws it at twice its dpi with a tight bounding box (two
    draws); one plain draw takes about 30% less of a redraw's time, which a live class feels.
    """
    import io

    import marimo as mo

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return mo.image(buffer.getvalue(), width=round(figure.get_figwidth() * 100))
