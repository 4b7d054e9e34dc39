"""Atomic writes: the target is whole or untouched, and no temporary file is left over."""

import json

import pytest

from hepcourse.files import replacing, write_json


def test_a_failed_write_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "grades.json"
    write_json(target, {"alice": 1})
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"alice": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["grades.json"]
