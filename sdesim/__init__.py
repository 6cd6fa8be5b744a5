"""sdesim: simulate SGD, SVAG, noisy GD and the Itô SDE side by side, and test when they agree."""

__version__ = "0.1.0"

from sdesim.result import Result  # noqa: E402
from sdesim.simulate import simulate  # noqa: E402

__all__ = ["simulate", "Result", "__version__"]
