"""`hepcourse data ...` as a facilitator types it."""

import os
from pathlib import Path

from support import run_cli


def env_for(toy_cards) -> dict:
    return {"HEPCOURSE_DATASETS": str(toy_cards), "HEPCOURSE_DATA_DIR": os.environ["HEPCOURSE_DATA_DIR"],
            "HEPCOURSE_WORKERS": "2", "PYTHONPATH": str(Path(__file__).parent)}


def test_generate_list_verify_and_tampering(toy_cards):
    env = env_for(toy_cards)
    result = run_cli("hepcourse", "data", "generate", "toy_hdf5", "toy_csv", "--scale", "ci", env=env)
    assert result.returncode == 0, result.stderr
    assert "toy_hdf5: ci scale ready" in result.stdout and "row/s" in result.stderr  # progress bars
    listing = run_cli("hepcourse", "data", "list", env=env).stdout
    assert "toy_hdf5" in listing and "ci:        20*" in listing and "course:        50 " in listing
    verify = run_cli("hepcourse", "data", "verify", env=env)
    assert verify.returncode == 0 and verify.stdout.count("ok   ") == 4
    victim = Path(os.environ["HEPCOURSE_DATA_DIR"]) / "toy_csv" / "ci" / "b.bin"
    victim.write_bytes(victim.read_bytes()[:40])
    verify = run_cli("hepcourse", "data", "verify", "toy_csv", env=env)
    assert verify.returncode == 1
    assert "FAIL toy_csv/ci/b.bin" in verify.stdout and "sha256" in verify.stdout


def test_user_mistakes_are_one_line_errors(toy_cards):
    env = env_for(toy_cards)
    for args, message in [
        (["generate", "nope"], "unknown dataset 'nope'; known: toy_csv"),
        (["generate", "toy_csv", "--scale", "huge"], "unknown data scale 'huge'"),
        (["path", "toy_csv", "--scale", "full"], "hepcourse data fetch toy_csv"),
    ]:
        result = run_cli("hepcourse", "data", *args, env=env)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
