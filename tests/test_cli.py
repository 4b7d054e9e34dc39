"""User mistakes get a clear message and exit code 2, never a traceback."""

import socket

import pytest
from support import HUB_CONFIG, REPO, run_cli

from hepcourse.net import free_port


def settings(write, roster_text="instructors: [prof]\nstudents: [alice]\n", extra=""):
    roster = write("roster.yaml", roster_text)
    return write("settings.yaml", f"roster: {roster}\nhub: {{state_dir: state}}\n{extra}")


def assert_clear_error(result, *expected):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in result.stderr


def test_check_summarises_a_good_config(write):
    result = run_cli("hepcourse", "check", env={"HEPCOURSE_SETTINGS": str(settings(write))})
    assert result.returncode == 0
    assert "1 instructors, 0 facilitators, 1 students" in result.stdout


def test_check_reports_the_data_folder(write, tmp_path):
    data = tmp_path / "data"
    (data / "higgs" / "ci").mkdir(parents=True)
    (data / "higgs" / "ci" / "HIGGS.csv.gz.json").write_text("{}")
    good = run_cli("hepcourse", "check", env={"HEPCOURSE_SETTINGS": str(settings(write, extra=f"data: {{dir: {data}}}\n"))})
    assert good.returncode == 0 and f"data:     {data}: 1 dataset files" in good.stdout
    missing = settings(write, extra=f"data: {{dir: {tmp_path / 'nowhere'}}}\n")
    local = run_cli("hepcourse", "check", env={"HEPCOURSE_SETTINGS": str(missing)})
    assert local.returncode == 0 and "not there yet; made at start" in local.stdout
    docker = run_cli("hepcourse", "check", env={"HEPCOURSE_SETTINGS": str(missing), "HEPCOURSE_MODE": "docker"})
    assert_clear_error(docker, f"data.dir: {tmp_path / 'nowhere'} does not exist: fill it with `make data`")
    data.chmod(0o700)    # a container runs as the student's own uid: it could not read the mount
    closed = run_cli("hepcourse", "check", env={"HEPCOURSE_SETTINGS": str(settings(write, extra=f"data: {{dir: {data}}}\n")),
                                              "HEPCOURSE_MODE": "docker"})
    assert_clear_error(closed, f"data.dir: {data} cannot be read by the users' containers", f"chmod o+rx {data}")
    a_file = write("data.txt", "not a folder")
    for command in ("check", "hub"):
        result = run_cli("hepcourse", command, env={"HEPCOURSE_SETTINGS": str(settings(write, extra=f"data: {{dir: {a_file}}}\n"))})
        assert_clear_error(result, f"data.dir: {a_file} is not a folder", "make data")


def test_slurm_mode_needs_slurms_commands(write, tmp_path):
    path = settings(write, extra=f"mode: slurm\ndata: {{dir: {REPO / 'datasets'}}}\n")   # a folder others read
    result = run_cli("hepcourse", "check", env={"HEPCOURSE_SETTINGS": str(path), "PATH": str(tmp_path)})
    assert_clear_error(result, "mode: slurm needs Slurm's commands (sbatch, squeue, scancel) on the hub's PATH")


def test_malformed_roster(write):
    path = settings(write, roster_text="instructors: [prof\nstudents: alice\n")
    result = run_cli("hepcourse", "hub", env={"HEPCOURSE_SETTINGS": str(path)})
    assert_clear_error(result, "roster.yaml: not valid YAML (line 2")


def test_unknown_mode(write):
    result = run_cli("hepcourse", "hub", "--mode", "nomad", env={"HEPCOURSE_SETTINGS": str(settings(write))})
    assert_clear_error(result, "mode: 'nomad' is not one of ['local', 'docker', 'slurm', 'kubernetes'] (from $HEPCOURSE_MODE)")


def test_port_in_use(write):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("hepcourse", "hub", "--port", str(port), env={"HEPCOURSE_SETTINGS": str(settings(write))})
    assert_clear_error(result, f"port {port} on 127.0.0.1 is already in use", f"make run PORT={port + 1}")


def test_hub_api_port_in_use(write):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        api = busy.getsockname()[1]
        roster = write("roster.yaml", "instructors: [prof]\nstudents: [alice]\n")
        path = write("settings.yaml", f"roster: {roster}\nhub: {{state_dir: state, port: {free_port()}, api_port: {api}}}\n")
        result = run_cli("hepcourse", "hub", env={"HEPCOURSE_SETTINGS": str(path)})
    assert_clear_error(result, f"port {api} on 127.0.0.1, for the hub's API, is already in use")


def test_missing_roster_file(write):
    path = write("settings.yaml", "roster: nowhere.yaml\n")
    result = run_cli("hepcourse", "check", env={"HEPCOURSE_SETTINGS": str(path)})
    assert_clear_error(result, "nowhere.yaml: file not found")


@pytest.mark.parametrize("extra", ["mode: swarm\n", "hub: {port: none}\n"])
def test_jupyterhub_itself_reports_bad_settings_cleanly(write, extra):
    """Started directly (not through make run), the hub still says what is wrong."""
    env = {"HEPCOURSE_SETTINGS": str(settings(write, extra=extra))}
    result = run_cli("jupyterhub", "-f", str(HUB_CONFIG), env=env)
    assert result.returncode != 0
    assert "hepcourse: invalid configuration" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_docs_lists_every_setting_and_every_environment_variable():
    """The one list of environment variables is complete: every HEPCOURSE_* name the package,
    the hub and the images read is in it, and `config docs` prints it with the settings."""
    import re

    from support import REPO

    from hepcourse.environment import ENVIRONMENT

    used = set()
    for folder in ("src", "hub", "images"):
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and path.suffix in ("", ".py", ".yaml", ".service", ".sh") and "node_modules" not in path.parts:
                used |= set(re.findall(r"HEPCOURSE_[A-Z_]+", path.read_text(errors="ignore")))
    assert used <= set(ENVIRONMENT), f"not listed in hepcourse.environment: {sorted(used - set(ENVIRONMENT))}"
    out = run_cli("hepcourse", "config", "docs").stdout
    assert "grading.sandbox.file_size" in out and all(name in out for name in ENVIRONMENT)
    assert "kubernetes.profiles[].name  (required)" in out and "kubernetes.profiles[].mig  (default: '')" in out


def test_output_into_a_pipe_that_closes_early_is_no_error():
    """`hepcourse ... | head`: the reader is gone before the output is written."""
    import os
    import subprocess

    read, write = os.pipe()
    os.close(read)
    try:
        out = subprocess.run([str(REPO / ".venv" / "bin" / "hepcourse"), "config", "docs"], stdout=write,
                             stderr=subprocess.PIPE, text=True, check=False, timeout=60)
    finally:
        os.close(write)
    assert out.returncode == 141 and not out.stderr, out.stderr
