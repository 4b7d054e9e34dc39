"""Shared test helpers (importable from every test folder)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HUB_CONFIG = REPO / "hub" / "jupyterhub_config.py"


def run_cli(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """Run a console command from the venv as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(Path(sys.executable).parent / args[0]), *args[1:]],
        check=False, capture_output=True, text=True, env=full_env, timeout=timeout, stdin=subprocess.DEVNULL,
    )
