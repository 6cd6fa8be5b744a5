"""The command line's argument parser: negative values reach the range checks, and it notes which options were given.

argparse reads an argument that starts with '-' as an option unless it looks like a plain negative
number (-5, -0.5): ``--eps -1e-8``, ``--l -1,2,4`` or ``--lr -inf`` got "expected one argument",
never the range check that says what is allowed.  `Parser` reads any argument that starts with '-'
and then a digit, a point and a digit, 'inf' or 'nan' as a value.  It also notes the options given
on the command line (`given`), so that one given where it does not apply is refused, not ignored,
even when it has a default.
"""

from __future__ import annotations

import argparse
import re

# -1, -1.5, -.5, -1e-8, -1,2,4, -inf, -nan: a value, never an option (no option of sdesim starts like this)
NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)
GIVEN = "given_options"   # the namespace attribute holding the destinations of the options given


def _noting(action_class):
    """``action_class`` that also adds its destination to the namespace's set of given options."""

    class Noted(action_class):
        def __call__(self, parser, namespace, values, option_string=None):
            super().__call__(parser, namespace, values, option_string)
            setattr(namespace, GIVEN, getattr(namespace, GIVEN, frozenset()) | {self.dest})

    Noted.__name__ = f"Noted{action_class.__name__}"
    return Noted


class Parser(argparse.ArgumentParser):
    """An ArgumentParser (and its subcommands' parsers) with the two changes of the module docstring."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_VALUE
        for name, action in (("store", argparse._StoreAction), ("store_true", argparse._StoreTrueAction),
                             ("store_const", argparse._StoreConstAction)):
            self.register("action", name, _noting(action))
        self.register("action", None, _noting(argparse._StoreAction))


def given(args) -> frozenset:
    """The destinations of the options given on the command line (``paths`` for ``--paths``)."""
    return getattr(args, GIVEN, frozenset())


def refuse_unless(args, needed: bool, options, why: str) -> None:
    """Raise, naming them, if any of ``options`` (destinations) was given where it does not apply (``not needed``)."""
    if needed:
        return
    named = [f"--{o.replace('_', '-')}" for o in options if o in given(args)]
    if named:
        raise ValueError(f"{', '.join(named)} {'does' if len(named) == 1 else 'do'} not apply {why}")


def add_stream_version_argument(group) -> None:
    """``--stream-version``: the normal sampler of the paths (`sdesim.rng.versions`), 1 or 2."""
    from sdesim.rng.versions import DEFAULT_STREAM_VERSION, STREAM_VERSIONS

    group.add_argument("--stream-version", type=int, default=DEFAULT_STREAM_VERSION, choices=sorted(STREAM_VERSIONS),
                       help="the normal sampler: 1, the ziggurat every earlier result used; 2, the same law with a "
                            "cheaper fast path (other bits); recorded in the JSON")
