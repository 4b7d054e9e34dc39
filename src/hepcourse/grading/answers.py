"""The kernel side of a graded test: held-out features in, plain answers out.

A graded cell's hidden part runs in the student's kernel: it calls the student's code on inputs
(generated arrays, the held-out set's *features* from :func:`heldout`) and passes what comes back
out with :func:`hand_in`. Its verdict, a function decorated with :func:`verdict`, compares those
answers with the truth. The autograder cuts every verdict out of the cell before the kernel sees
it and runs it in the grading process, where no student code runs, with the labels that only
that process reads (``verdicts.py``). Only plain data crosses: JSON, arrays as ``.npy`` bytes
(no pickles), so nothing a kernel hands in can run code or compare itself as "equal".

Outside the autograder (an instructor running the source notebook) the same cell works in one
kernel: :func:`heldout` reads the held-out files itself and :func:`verdict` calls the function
at once with the answers just handed in.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import numpy as np

INPUTS_VAR = "HEPCOURSE_GRADING_INPUTS"        # the folder of held-out features the grader wrote
MIME = "application/vnd.hepcourse.answers+json"
_plain: dict = {"answers": {}, "assignment": None}


def heldout(name: str, assignment: str):
    """The held-out set ``name`` of ``assignment`` without its truth (labels, truth kinematics,
    and whatever else the homework withholds), rows shuffled: a DataFrame or a dict of arrays."""
    folder = os.environ.get(INPUTS_VAR)
    if folder:
        path = Path(folder) / f"{name}.npz"
        if not path.exists():
            raise LookupError(f"{assignment} is not graded on a held-out {name} set")
        return read_table(path)
    from ..data import heldout_rows, without
    from ..data.cards import get_card

    _plain["assignment"] = assignment
    return without(heldout_rows(name, assignment), get_card(name).data.get("truth", []))


def hand_in(**answers) -> None:
    """Pass ``answers`` (numbers, strings, arrays, lists and dicts of them) to the verdict."""
    from IPython.display import display

    payload = encode(answers)
    display({MIME: payload, "text/plain": f"answers handed in: {', '.join(answers)}"}, raw=True)
    _plain["answers"].update(decode(json.loads(json.dumps(payload))))


def verdict(function):
    """Mark ``function(answers[, heldout])`` as a verdict. Here, outside the autograder, it runs
    at once on the answers handed in since the last verdict; ``heldout(name)`` gives the full
    held-out rows (truth included) in the order of :func:`heldout`."""
    from ..data import heldout_rows

    answers, _plain["answers"] = _plain["answers"], {}
    if function.__code__.co_argcount > 1:
        function(answers, lambda name: heldout_rows(name, _plain["assignment"]))
    else:
        function(answers)
    return function


def at_least(what: str, value: float, bar: float, hint: str = "") -> None:
    """The verdict's threshold check ``value >= bar``: fails with a message that gives both
    numbers (and ``hint``), and records the measurement for ``bench/bench_thresholds.py``."""
    _check(what, float(value), ">=", bar, value >= bar, hint)


def at_most(what: str, value: float, bar: float, hint: str = "") -> None:
    """The verdict's ceiling check ``value <= bar``, as :func:`at_least`."""
    _check(what, float(value), "<=", bar, value <= bar, hint)


def below(what: str, value: float, bar: float, hint: str = "") -> None:
    """The verdict's strict ceiling check ``value < bar``, as :func:`at_least`."""
    _check(what, float(value), "<", bar, value < bar, hint)


measured: list[dict] = []    # the checks of the verdicts run since it was last emptied


def _check(what: str, value: float, relation: str, bar: float, passed, hint: str) -> None:
    measured.append({"what": what, "value": value, "relation": relation, "bar": float(bar), "passed": bool(passed)})
    need = {">=": "at least", "<=": "at most", "<": "below"}[relation]
    assert passed, f"{what} is {value:.4g}; {need} {bar:.4g} is needed" + (f": {hint}" if hint else "")


def encode(answers: dict) -> dict:
    """``answers`` as JSON data: arrays as base64 ``.npy`` bytes, non-finite floats spelled out."""
    return _plain_data(answers)


def decode(data) -> dict:
    """What :func:`encode` made (as parsed from JSON) back into numbers and arrays. Anything
    else raises ValueError or TypeError."""
    if not isinstance(data, dict):
        raise TypeError(f"answers are a JSON object, not {type(data).__name__}")
    return _from_data(data)


def _from_data(value):
    if isinstance(value, list):
        return [_from_data(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__ndarray__"}:
        return np.load(io.BytesIO(base64.b64decode(value["__ndarray__"], validate=True)), allow_pickle=False)
    if set(value) == {"__float__"}:
        return float(value["__float__"])
    return {key: _from_data(item) for key, item in value.items()}


def _plain_data(value):
    if hasattr(value, "__array__") and not isinstance(value, np.ndarray):     # Series, tensors
        value = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("arrays of Python objects cannot be handed in: give numbers or strings")
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {"__ndarray__": base64.b64encode(buffer.getvalue()).decode()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return float(value) if np.isfinite(value) else {"__float__": repr(float(value))}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_data(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain_data(item) for key, item in value.items()}
    raise TypeError(f"a {type(value).__name__} cannot be handed in: give numbers, strings or arrays")


def write_table(table, path: Path) -> None:
    """A DataFrame or a dict of arrays as an ``.npz`` of plain arrays."""
    kind = "DataFrame" if hasattr(table, "columns") else "dict"
    names = list(table.columns if kind == "DataFrame" else table)
    arrays = {f"f{i}": np.asarray(table[name]) for i, name in enumerate(names)}
    np.savez(path, __names__=np.array(names, dtype=str), __kind__=np.array(kind), **arrays)


def read_table(path: Path):
    with np.load(path, allow_pickle=False) as npz:
        names = [str(name) for name in npz["__names__"]]
        columns = {name: npz[f"f{i}"] for i, name in enumerate(names)}
        if str(npz["__kind__"]) != "DataFrame":
            return columns
    import pandas as pd  # only where a DataFrame is asked for: a slim image has numpy alone

    return pd.DataFrame(columns)
