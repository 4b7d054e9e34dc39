from pathlib import Path

import pytest

from hepcourse.config import ConfigError, load_settings, parse_size


def test_defaults_fill_and_paths_resolve(write):
    path = write("settings.yaml", "roster: people.yaml\n")
    s = load_settings(path, env={})
    assert s["mode"] == "local"
    assert s["hub"] == {"ip": "127.0.0.1", "port": 8000, "api_port": None, "concurrent_spawn_limit": None,
                        "active_server_limit": None, "start_timeout": 120, "config": {}, "idle_timeout": 3600,
                        "state_dir": str((path.parent / "../.state").resolve())}
    assert s["roster"] == str(path.parent / "people.yaml")
    assert s["docker"]["gpus"] == "none"


def test_repo_settings_are_valid():
    s = load_settings(env={})
    assert Path(s["roster"]).exists() and Path(s["content"]["source"]).is_dir()


def test_environment_overrides_mode_port_and_state(write):
    path = write("settings.yaml", "mode: local\n")
    s = load_settings(path, env={"HEPCOURSE_MODE": "docker", "HEPCOURSE_PORT": "8123",
                                 "HEPCOURSE_STATE_DIR": "/var/lib/hepcourse"})
    assert (s["mode"], s["hub"]["port"], s["hub"]["state_dir"]) == ("docker", 8123, "/var/lib/hepcourse")


def test_settings_file_from_environment(write):
    path = write("other.yaml", "course: {id: phys101}\n")
    assert load_settings(env={"HEPCOURSE_SETTINGS": str(path)})["course"]["id"] == "phys101"


@pytest.mark.parametrize(
    "text, env, expected",
    [
        ("mode: nomad\n", {}, "mode: 'nomad' is not one of ['local', 'docker', 'slurm', 'kubernetes']"),
        ("slurm: {gpus: 2}\n", {}, "slurm.gpus: 2 is not of type 'string'"),
        ("slurm: {time: 'a week'}\n", {}, "slurm.time: 'a week' is not allowed: A Slurm time limit"),
        ("", {"HEPCOURSE_MODE": "k8s"}, "(from $HEPCOURSE_MODE)"),
        ("hub: {port: eighty}\n", {}, "hub.port: 'eighty' is not of type 'integer'"),
        ("", {"HEPCOURSE_PORT": "99999"}, "hub.port: 99999 is greater than the maximum of 65535"),
        ("hub: {prot: 1}\n", {}, "known keys: active_server_limit, api_port, concurrent_spawn_limit, config, idle_timeout, ip, port, start_timeout, state_dir"),
        ("docker: {gpus: some}\n", {}, "docker.gpus: 'some' is not allowed: GPUs of each user container"),
        ("course: {id: 'ML HEP'}\n", {}, "course.id: 'ML HEP' is not allowed: Course id (2-32"),
        ("auth: {password: short}\n", {}, "auth.password: this value is not allowed"),
        ("- a\n- b\n", {}, "expected a mapping of settings, got list"),
        ("hub: {port: [}\n", {}, "not valid YAML (line 1, column 14)"),
        ("grading: {sandbox: {memory: 4096}}\n", {}, "grading.sandbox.memory: 4096 is not of type 'string'"),
        ("docker: {mem_limit: 8GB}\n", {}, "docker.mem_limit: '8GB' is not allowed: A size in bytes with a 1024-based suffix"),
    ],
)
def test_bad_settings_say_where_and_what(write, text, env, expected):
    path = write("settings.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env=env)
    assert expected in str(err.value)
    assert str(path) in str(err.value)
    assert "short" not in str(err.value)  # a password is never echoed


def test_every_problem_is_reported_at_once(write):
    path = write("settings.yaml", "mode: x\nhub: {port: y}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert len(str(err.value).splitlines()) == 2


def test_missing_settings_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_sizes_read_as_jupyterhub_reads_mem_limit(write):
    settings = load_settings(write("settings.yaml", "grading: {sandbox: {memory: 1.5G, file_size: 512M}}\n"))
    sandbox = settings["grading"]["sandbox"]
    assert parse_size(sandbox["memory"]) == 1536 * 2**20 and parse_size(sandbox["file_size"]) == 512 * 2**20
