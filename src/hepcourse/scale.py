"""The data scale a notebook runs at: ``ci`` (seconds, for CI), ``course`` (the default, what
students use) or ``full`` (the public datasets' full size).

Chosen by the ``HEPCOURSE_SCALE`` environment variable, with a per-call override, so the same
notebook executes in CI in seconds and gives meaningful results in class.
"""

from __future__ import annotations

import os

from .errors import UserError

SCALES = ("ci", "course", "full")
ENV_VAR = "HEPCOURSE_SCALE"
DEFAULT = "course"


class ScaleError(UserError, ValueError):
    """An unknown data scale."""


def current(override: str | None = None) -> str:
    """The scale in force: ``override`` if given, else ``$HEPCOURSE_SCALE``, else ``course``."""
    value = (override or os.environ.get(ENV_VAR) or DEFAULT).strip().lower()
    if value not in SCALES:
        source = "argument" if override else f"${ENV_VAR}"
        raise ScaleError(f"unknown data scale {value!r} (from {source}); choose one of {', '.join(SCALES)}")
    return value


def pick(ci, course, full=None, *, scale: str | None = None):
    """Pick a per-scale value, e.g. ``n_events = pick(ci=2_000, course=200_000)``.

    ``full`` falls back to ``course`` when a notebook has nothing bigger to offer.
    """
    return {"ci": ci, "course": course, "full": course if full is None else full}[current(scale)]
