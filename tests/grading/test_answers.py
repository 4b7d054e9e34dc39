"""The plain-data channel between a graded kernel and the verdicts, and the cutting of verdicts
out of a cell (no kernel needed)."""

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest

from hepcourse.grading.answers import decode, encode
from hepcourse.grading.verdicts import judge, split_verdicts


def through_json(answers):
    return decode(json.loads(json.dumps(encode(answers), allow_nan=False)))


def test_numbers_strings_and_arrays_cross_as_plain_data():
    got = through_json({"x": np.arange(3.0), "labels": np.array(["e+", "pi+"]), "n": np.int64(3), "inf": np.inf,
                        "nan": float("nan"), "series": pd.Series([1, 2]), "nested": [{"a": np.float32(0.5)}, (1, "b")]})
    assert got["x"].dtype == np.float64 and np.array_equal(got["x"], [0, 1, 2])
    assert list(got["labels"]) == ["e+", "pi+"] and got["n"] == 3 and np.isinf(got["inf"]) and np.isnan(got["nan"])
    assert np.array_equal(got["series"], [1, 2]) and got["nested"] == [{"a": 0.5}, [1, "b"]]


def test_a_rigged_number_arrives_as_a_plain_one():
    class Always(float):
        def __ge__(self, other):
            return True

    got = through_json({"auc": Always(0.5)})
    assert type(got["auc"]) is float and not got["auc"] >= 0.9


@pytest.mark.parametrize("value", [np.array([object()]), object(), {1, 2}])
def test_objects_cannot_be_handed_in(value):
    with pytest.raises(TypeError):
        encode({"x": value})


def test_a_pickle_never_loads():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        decode({"x": {"__ndarray__": base64.b64encode(buffer.getvalue()).decode()}})
    with pytest.raises(TypeError):
        decode(["not", "a", "mapping"])


CELL = '''assert f(1) == 2
### BEGIN HIDDEN TESTS
hand_in(y=f(3))


@verdict
def check(answers):
    print("seen", answers["y"])
    assert answers["y"] == 6, "f(3) must be 6"


def helper():
    return 1
### END HIDDEN TESTS'''


def test_verdicts_are_cut_out_and_judged_outside():
    kernel, (found,) = split_verdicts(CELL)
    assert "answers" not in kernel and "@verdict" not in kernel and "def helper" in kernel
    assert len(kernel.splitlines()) == len(CELL.splitlines())             # line numbers stay
    assert judge(found, {"y": 6}, None) == ("seen 6\n", None)
    assert judge(found, {"y": 5}, None)[1] == "f(3) must be 6"
    assert "could not be checked (KeyError" in judge(found, {}, None)[1]


THRESHOLDS = '''
@verdict
def _(answers):
    from hepcourse.grading.answers import at_least, below
    at_least("held-out AUC", answers["auc"], 0.9, "train on all features")
    below("two-sample AUC", answers["c2st"], 0.75)
'''


def test_threshold_checks_say_both_numbers_and_are_recorded_per_verdict():
    from hepcourse.grading import answers

    (found,) = split_verdicts(THRESHOLDS)[1]
    assert judge(found, {"auc": 0.95, "c2st": 0.6}, None) == ("", None)
    assert [(m["what"], m["value"], m["relation"], m["bar"], m["passed"]) for m in answers.measured] == \
        [("held-out AUC", 0.95, ">=", 0.9, True), ("two-sample AUC", 0.6, "<", 0.75, True)]
    assert judge(found, {"auc": 0.8, "c2st": 0.6}, None)[1] == \
        "held-out AUC is 0.8; at least 0.9 is needed: train on all features"
    assert len(answers.measured) == 1 and not answers.measured[0]["passed"]     # the next judge starts afresh
    assert judge(found, {"auc": 0.9, "c2st": 0.75}, None)[1] == "two-sample AUC is 0.75; below 0.75 is needed"
