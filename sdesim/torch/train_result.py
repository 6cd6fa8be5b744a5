"""The result of a training run: its log (one dict per logged effective step), its settings and how it ended."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from sdesim.atomic import write_text


@dataclass
class TrainResult:
    """The log of a run (one dict per logged effective step) and how it ended.

    ``stopped`` is None for a run that finished, or {"step": k, "reason": ...} for one that stopped at
    effective step k (a non-finite loss); the log then ends at the last entry before step k.
    """

    log: list
    steps: int
    config: dict
    stopped: dict | None = None
    examples: int = 0

    @property
    def diverged(self) -> bool:
        return self.stopped is not None

    def columns(self) -> dict:
        """{metric: [value per log entry]}, None where an entry lacks the metric."""
        names = []
        for entry in self.log:
            names += [n for n in entry if n not in names]
        return {n: [entry.get(n) for entry in self.log] for n in names}

    def last(self, name: str):
        """The last logged value of ``name`` (None if never logged)."""
        for entry in reversed(self.log):
            if entry.get(name) is not None:
                return entry[name]
        return None

    def table(self, names=None, *, digits: int = 4) -> str:
        """The log as a markdown table (``names``: which columns, default all); a run that diverged gets a
        line under it saying where and why it stopped."""
        columns = self.columns()
        names = list(columns) if names is None else list(names)
        cell = lambda v: "" if v is None else (f"{v:.{digits}g}" if isinstance(v, float) else str(v))  # noqa: E731
        lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        for i in range(len(self.log)):
            lines.append("| " + " | ".join(cell(columns.get(n, [None] * len(self.log))[i]) for n in names) + " |")
        if self.stopped is not None:
            lines += ["", f"**Diverged**: the run stopped at effective step {self.stopped['step']} "
                          f"({self.stopped['reason']}); the log ends before it."]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The run as plain data: ``config``, ``steps``, ``examples``, ``stopped`` and the ``log`` rows."""
        return {"config": self.config, "steps": self.steps, "examples": self.examples,
                "stopped": self.stopped, "log": self.log}

    def to_json(self, path=None) -> str:
        """JSON text of `to_dict` (non-finite numbers as null); written to ``path`` if given."""
        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value
        text = json.dumps(clean(self.to_dict()), indent=1)
        if path is not None:
            write_text(path, text)   # atomically (sdesim.atomic)
        return text
