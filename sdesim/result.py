"""The result of a simulation: observables' means and standard errors plus the record that made them.

``Result.to_json`` writes the JSON contract documented in docs/reference/json.md;
``Result.from_json`` reads it back equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdesim.atomic import write_text


def to_jsonable(value):
    """Arrays to nested lists, numpy scalars to Python numbers, NaN to null; recursively."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub" or (value.dtype.kind == "f" and np.isfinite(value).all()):
            return value.tolist()   # Python numbers already, nothing to replace: no second pass over a large data set
        return to_jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    return value


@dataclass(frozen=True, eq=False)
class Observable:
    """Means and standard errors at each checkpoint (a vector observable: one row per checkpoint).

    Attributes:
        mean: ḡ_k = (1/n_k) Σᵢ g(x_k⁽ⁱ⁾) over the n_k paths alive at checkpoint k; shape (checkpoints,)
            or (checkpoints, components).
        stderr: s_k/√n_k, with s_k² the sample variance (divisor n_k − 1); NaN where n_k ≤ 1.
    """

    mean: np.ndarray
    stderr: np.ndarray


@dataclass(frozen=True, eq=False)
class Result:
    """What a call of `sdesim.simulate` produced, and everything needed to repeat it.

    Each observable g is estimated at each checkpoint t_k by its mean over the paths, E g(x_k) ≈ ḡ_k,
    with the standard error s_k/√n_k (`mean`, `stderr`). The JSON record (`to_json`, `from_json`;
    fields in docs/reference/json.md) holds every field below and reads back equal.

    Attributes:
        problem: the problem's record, ``{"name": ..., "params": {...}}`` (`sdesim.problems.from_record`
            rebuilds it).
        method: ``sgd``, ``svag``, ``ngd``, ``sde`` (eqs. (1), (5), (3), (2)), an adaptive method or ``outside``.
        lr: the learning rate η (for an SDE in its own terms, the step ``dt``).
        l: SVAG's l (small steps of η/l per effective step, eq. (5)); 1 for the other methods.
        steps: effective steps; the run ends at t = steps·η (steps·η² for the adaptive methods).
        paths: independent paths simulated.
        seed: the seed every path's random stream derives from (`sdesim.rng.stream_key`).
        times: checkpoint times t_k = kη (kη² when ``time_scale`` is ``"lr^2"``, k·dt for ``"dt"``).
        observables: name → `Observable` (mean and standard error at each checkpoint).
        counts: n_k, the paths that reached checkpoint k without blowing up.
        diverged: paths that blew up (NaN or inf); they are left out of every mean.
        first_divergence_time: the earliest time a path blew up, or None.
        x0: the starting point, or None for the problem's own.
        dt: the small step h of an SDE or SVAG run (η/l by default), or None.
        scheme: ``euler`` or ``exact`` for the SDE, None for the others.
        block_size: paths per block; statistics are merged block by block in a fixed order, so 1 and 2
            threads give the same bits.
        path_offset: the index of the first path (a study runs ranges of paths in parts).
        kept_paths: whole trajectories of the first paths, shape (paths kept, points, d), or None.
        kept_times: the times of ``kept_paths``' points, or None.
        versions: the versions of sdesim, numpy and numba that produced the result.
        time_scale: ``"lr"``: t = kη (SGD, SVAG, NGD, SDE); ``"lr^2"``: t = kη² (RMSprop, Adam, their
            SDEs); ``"dt"``: an SDE in its own terms, t = k·dt (``lr`` holds dt).
        hyperparameters: the adaptive methods' beta1, beta2, eps, ...
        interrupted: Ctrl-C or SIGTERM stopped the run; ``counts`` paths reached each checkpoint.
        dtype: the floating-point type the paths were held and stepped in, ``float64`` or ``float32``
            (statistics are float64 either way); a record without it is float64.
        stream_version: the normal sampler the paths drew from (`sdesim.rng.versions`); 1 for a record
            written before the field existed.
    """

    problem: dict                 # {"name": ..., "params": {...}}
    method: str
    lr: float
    l: int
    steps: int
    paths: int
    seed: int
    times: np.ndarray             # checkpoint times t = kη (t = kη² when time_scale is "lr^2")
    observables: dict             # name -> Observable
    counts: np.ndarray            # paths that reached each checkpoint without blowing up
    diverged: int = 0             # paths that blew up (NaN or inf)
    first_divergence_time: float | None = None
    x0: np.ndarray | None = None
    dt: float | None = None       # the small step h
    scheme: str | None = None
    block_size: int = 1024
    path_offset: int = 0
    kept_paths: np.ndarray | None = None   # (paths kept, points, d), or None
    kept_times: np.ndarray | None = None
    versions: dict = field(default_factory=dict)
    time_scale: str = "lr"        # "lr": t = kη (SGD, SVAG, NGD, SDE); "lr^2": t = kη² (RMSprop, Adam, their SDEs);
                                  # "dt": an SDE in its own terms, t = k·dt (``lr`` holds dt)
    hyperparameters: dict = field(default_factory=dict)   # the adaptive methods' beta1, beta2, eps, ...
    interrupted: bool = False     # Ctrl-C or SIGTERM stopped the run: ``counts`` paths reached each checkpoint
    dtype: str = "float64"        # the paths' floating-point type (sdesim.kernels.precision)
    stream_version: int = 1       # the normal sampler (sdesim.rng.versions); 1 in records without the field

    def mean(self, name: str) -> np.ndarray:
        """ḡ_k = (1/n_k) Σᵢ g(x_k⁽ⁱ⁾): the estimate of E g(x_k) at each checkpoint, one row per checkpoint.

        ``name`` is an observable of the run (``x``, ``norm2``, ``loss``, ...); any other is a KeyError
        that lists them.
        """
        return self._get(name).mean

    def stderr(self, name: str) -> np.ndarray:
        """s_k/√n_k, the standard error of `mean` at each checkpoint (s_k² the sample variance over the
        n_k paths, divisor n_k − 1); NaN where fewer than 2 paths are left."""
        return self._get(name).stderr

    def _get(self, name: str) -> Observable:
        if name not in self.observables:
            raise KeyError(f"no observable {name!r} in this result; it has {sorted(self.observables)}")
        return self.observables[name]

    # JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Every field as plain JSON values (arrays as lists, NaN and inf as None)."""
        out = {
            "problem": self.problem, "method": self.method, "lr": self.lr, "l": self.l,
            "steps": self.steps, "paths": self.paths, "seed": self.seed, "times": self.times,
            "observables": {k: {"mean": v.mean, "stderr": v.stderr} for k, v in self.observables.items()},
            "counts": self.counts, "diverged": self.diverged,
            "first_divergence_time": self.first_divergence_time, "x0": self.x0, "dt": self.dt,
            "scheme": self.scheme, "block_size": self.block_size, "path_offset": self.path_offset,
            "versions": self.versions, "time_scale": self.time_scale, "hyperparameters": self.hyperparameters, "interrupted": self.interrupted,
            "dtype": self.dtype,
            "stream_version": self.stream_version,
        }
        if self.kept_paths is not None:
            out["kept_paths"] = self.kept_paths
            out["kept_times"] = self.kept_times
        return to_jsonable(out)

    def to_json(self, path=None, indent: int = 1) -> str:
        """The JSON record (docs/reference/json.md); with ``path``, also written there atomically.

        ``Result.from_json(r.to_json())`` reads back equal: same fields, same arrays.
        """
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            write_text(path, text + "\n")   # atomically: the old file or the new one, never a torn one
        return text

    @classmethod
    def from_dict(cls, data: dict) -> "Result":
        """The `Result` a `to_dict` record describes (fields added since a record was written take their defaults)."""
        def arr(v):  # null (a NaN written out) reads back as NaN
            return None if v is None else np.array(v, dtype=np.float64)

        observables = {k: Observable(arr(v["mean"]), arr(v["stderr"])) for k, v in data["observables"].items()}
        kept = data.get("kept_paths")
        return cls(
            problem=data["problem"], method=data["method"], lr=data["lr"], l=data["l"], steps=data["steps"],
            paths=data["paths"], seed=data["seed"], times=np.asarray(data["times"], dtype=np.float64),
            observables=observables, counts=np.asarray(data["counts"], dtype=np.int64),
            diverged=data["diverged"], first_divergence_time=data["first_divergence_time"],
            x0=None if data.get("x0") is None else np.asarray(data["x0"], dtype=np.float64),
            dt=data.get("dt"), scheme=data.get("scheme"), block_size=data.get("block_size", 1024),
            path_offset=data.get("path_offset", 0),
            kept_paths=None if kept is None else np.asarray(kept, dtype=np.float64),
            kept_times=None if kept is None else np.asarray(data["kept_times"], dtype=np.float64),
            versions=data.get("versions", {}), time_scale=data.get("time_scale", "lr"),
            hyperparameters=data.get("hyperparameters", {}), interrupted=data.get("interrupted", False),
            dtype=data.get("dtype", "float64"),
            stream_version=data.get("stream_version", 1),
        )

    @classmethod
    def from_json(cls, text_or_path) -> "Result":
        """The `Result` of a JSON record: its text (starting with ``{``) or the path of a file holding it."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text))

    # Samples ------------------------------------------------------------------------------
    @classmethod
    def from_samples(cls, times, samples: dict, *, problem="your simulator", method: str = "outside",
                     lr: float = float("nan"), l: int = 1, seed: int | None = None) -> "Result":
        """A `Result` from any simulator's samples: mean and standard error over paths at each time.

        ``samples[name]`` holds one row of samples per checkpoint time, shape (len(times), paths)
        or (len(times), paths, d): mean = Σ_i v_i / n and stderr = s / √n (s the sample standard
        deviation, n the paths).  A path with a value that is not finite at some time counts as
        blown up (``diverged``): the means there are over the other paths, as `sdesim.simulate`'s.
        ``problem`` (a name or a {"name", "params"} record) and ``method`` label the messages.
        """
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
            raise ValueError(f"times must be a non-empty list of finite checkpoint times, got {times.tolist()}")
        if not isinstance(samples, dict) or not samples:
            raise TypeError("samples must be a non-empty dict {observable name: array of shape "
                            f"(len(times), paths) or (len(times), paths, d)}}, got {type(samples).__name__}")
        arrays, paths = {}, None
        for name, value in samples.items():
            try:
                a = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"samples[{name!r}] must be an array of numbers") from None
            if a.ndim not in (2, 3) or a.shape[0] != times.size or a.shape[1] < 2:
                raise ValueError(f"samples[{name!r}] must have shape (len(times), paths) or (len(times), paths, d) "
                                 f"with {times.size} times and at least 2 paths, got shape {a.shape}")
            if paths not in (None, a.shape[1]):
                raise ValueError(f"samples[{name!r}] has {a.shape[1]} paths, the others {paths}: one path per row")
            arrays[name], paths = a, a.shape[1]
        ok = np.ones((times.size, paths), dtype=bool)       # a path survives until its first non-finite value
        for a in arrays.values():
            ok &= np.isfinite(a).reshape(times.size, paths, -1).all(axis=2)
        ok = np.logical_and.accumulate(ok, axis=0)
        counts = ok.sum(axis=1)
        observables = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for name, a in arrays.items():
                w = ok.reshape(ok.shape + (1,) * (a.ndim - 2))
                n = counts.reshape((-1,) + (1,) * (a.ndim - 2))
                mean = np.where(w, a, 0.0).sum(axis=1) / n
                var = np.where(w, (np.where(w, a, 0.0) - mean[:, None]) ** 2, 0.0).sum(axis=1) / (n - 1)
                observables[name] = Observable(mean, np.sqrt(var / n))
        lost = np.flatnonzero(counts < paths)
        record = {"name": problem, "params": {}} if isinstance(problem, str) else dict(problem)
        return cls(problem=record, method=method, lr=lr, l=l, steps=0, paths=paths, seed=seed, times=times,
                   observables=observables, counts=counts, diverged=int(paths - counts[-1]),
                   first_divergence_time=float(times[lost[0]]) if lost.size else None)

    # Text ---------------------------------------------------------------------------------
    def table(self, max_components: int = 4) -> str:
        """A readable table: one row per checkpoint, mean ± standard error of each observable."""
        columns, cells = ["t", "paths"], []
        for name, obs in self.observables.items():
            if obs.mean.ndim == 1:
                columns.append(name)
                cells.append([(m, s) for m, s in zip(obs.mean, obs.stderr)])
            else:
                for j in range(min(obs.mean.shape[1], max_components)):
                    columns.append(f"{name}[{j}]")
                    cells.append([(m, s) for m, s in zip(obs.mean[:, j], obs.stderr[:, j])])
        rows = []
        for i, t in enumerate(self.times):
            row = [f"{t:g}", str(int(self.counts[i]))]
            for col in cells:
                m, s = col[i]
                row.append(f"{m:.6g} ± {s:.2g}")
            rows.append(row)
        widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
        head = (f"{self.method}" + (f" (l={self.l})" if self.l != 1 or self.method == "svag" else "")
                + f" on {self.problem['name']}, {'dt' if self.time_scale == 'dt' else 'lr'}={self.lr:g}, {self.steps} steps, {self.paths} paths, seed {self.seed}")
        out = [head, *lines]
        if self.interrupted:
            out.append(f"interrupted: the paths column says how many of the {self.paths} paths reached each time")
        if self.diverged:
            out.append(f"warning: {self.diverged} of {self.paths} paths blew up (NaN or inf), the first at "
                       f"t = {self.first_divergence_time:g}; the means above are over the paths that did not")
        return "\n".join(out)


