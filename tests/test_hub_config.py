"""hub/jupyterhub_config.py loads and validates in every mode, with no container engine."""

import asyncio
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest
from support import REPO
from support import disk_tree as tree
from support import load_hub_config as load

from hepcourse.spawners import CourseDockerSpawner


def test_loading_the_configuration_changes_nothing_on_disk(monkeypatch, write, tmp_path):
    with pytest.raises(SystemExit, match="no demo passwords yet: start the hub with `make run`"):
        load(monkeypatch, write, "", prepared=False)
    assert not (tmp_path / "state").exists()
    load(monkeypatch, write, "")   # prepared: state folder, course directory, passwords
    before = tree(tmp_path)
    load(monkeypatch, write, "", prepared=False)
    assert tree(tmp_path) == before


def test_local_mode(monkeypatch, write, tmp_path):
    c = load(monkeypatch, write, "")
    assert c.JupyterHub.spawner_class == "hepcourse.spawners.LocalCourseSpawner"
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'state' / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.JupyterHub.hub_ip == "127.0.0.1" and c.JupyterHub.hub_port == 8001   # stable: public + 1
    assert c.Spawner.default_url == "/lab"
    assert c.Spawner.environment["HEPCOURSE_CONTENT"] == str((tmp_path / ".." / "modules").resolve())
    assert c.Spawner.environment["JUPYTER_CONFIG_PATH"] == str(REPO / "hub" / "singleuser")
    assert c.LocalCourseSpawner.home_dir_template == str(tmp_path / "state" / "homes" / "{username}")
    assert c.Spawner.environment["HEPCOURSE_DATA_DIR"] == str((tmp_path / ".." / ".cache" / "data").resolve())
    assert c.Spawner.environment["HEPCOURSE_SCALE"] == "course"


def test_the_hubs_database_commits_without_waiting_on_the_disk(monkeypatch, write, tmp_path):
    """The hub's SQLite file: write-ahead log, synchronous=NORMAL (hepcourse.hubdb); any other
    database of the process keeps SQLite's defaults."""
    from sqlalchemy import create_engine, text

    c = load(monkeypatch, write, "")

    def pragmas(url: str) -> tuple:
        with create_engine(url).connect() as db:
            return db.execute(text("PRAGMA journal_mode")).scalar(), db.execute(text("PRAGMA synchronous")).scalar()

    assert pragmas(c.JupyterHub.db_url) == ("wal", 1)
    assert pragmas(f"sqlite:///{tmp_path / 'gradebook.db'}") == ("delete", 2)


def test_class_start_throttles_follow_the_machine(monkeypatch, write):
    import psutil

    from hepcourse.cpus import cpu_budget

    c = load(monkeypatch, write, "")
    assert c.JupyterHub.concurrent_spawn_limit == 4 * cpu_budget()
    assert c.JupyterHub.active_server_limit == psutil.virtual_memory().total // (375 * 2**20)
    assert c.Spawner.start_timeout == 120
    docker = load(monkeypatch, write, "mode: docker\ndocker: {mem_limit: 4G}\n").JupyterHub
    assert docker.active_server_limit == psutil.virtual_memory().total // 2**32
    set_here = load(monkeypatch, write, "hub: {state_dir: s, concurrent_spawn_limit: 3, active_server_limit: 40,"
                                        " start_timeout: 300}\n")
    assert (set_here.JupyterHub.concurrent_spawn_limit, set_here.JupyterHub.active_server_limit,
            set_here.Spawner.start_timeout) == (3, 40, 300)


@pytest.mark.parametrize("mode", ["local", "docker", "slurm", "kubernetes"])
def test_every_option_set_is_one_jupyterhub_reads(monkeypatch, write, mode):
    """An option the class does not declare configurable is dropped with a mere warning (as
    JupyterHub 6.1's spawn_throttle_retry_range was)."""
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from jupyterhub.proxy import ConfigurableHTTPProxy
    from jupyterhub.spawner import Spawner

    c = load(monkeypatch, write, f"mode: {mode}\n")
    for cls in (JupyterHub, Spawner, Authenticator, ConfigurableHTTPProxy):
        unread = set(c[cls.__name__]) - set(cls.class_trait_names(config=True))
        assert not unread, f"{cls.__name__}: {sorted(unread)}"


def test_any_jupyterhub_setting_passes_through(monkeypatch, write, tmp_path):
    (tmp_path / "jupyterhub_config.d").mkdir()
    (tmp_path / "jupyterhub_config.d" / "50-site.py").write_text("c.JupyterHub.shutdown_on_logout = True\n")
    c = load(monkeypatch, write, "hub: {state_dir: s, config: {Spawner: {cpu_limit: 2}, JupyterHub: {concurrent_spawn_limit: 5}}}\n")
    assert c.Spawner.cpu_limit == 2 and c.JupyterHub.concurrent_spawn_limit == 5   # after the course's own
    assert c.JupyterHub.shutdown_on_logout is True


def test_roster_drives_authentication(monkeypatch, write):
    c = load(monkeypatch, write, "")
    assert c.Authenticator.allowed_users == {"prof", "ta", "alice"}
    assert c.Authenticator.admin_users == {"prof"}
    assert c.Authenticator.allow_existing_users is False
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert len(c.SharedPasswordAuthenticator.admin_password) >= 32
    hook = c.Authenticator.post_auth_hook
    assert hook(None, None, {"name": "ta"}) == {"name": "ta", "groups": ["formgrade-mlhep"], "admin": False}
    assert hook(None, None, {"name": "prof"})["groups"] == ["formgrade-mlhep", "instructors"]
    assert hook(None, None, {"name": "alice"})["groups"] == ["nbgrader-mlhep"]


def test_generated_demo_passwords_persist(monkeypatch, write, tmp_path):
    first = load(monkeypatch, write, "").SharedPasswordAuthenticator.user_password
    assert load(monkeypatch, write, "").SharedPasswordAuthenticator.user_password == first
    assert oct((tmp_path / "state" / "passwords.yaml").stat().st_mode & 0o777) == "0o600"


def test_other_authenticators_get_their_config(monkeypatch, write):
    c = load(monkeypatch, write, "auth:\n  class: oauthenticator.generic.GenericOAuthenticator\n"
                                 "  config: {client_id: course-hub, scope: [openid]}\n")
    assert c.JupyterHub.authenticator_class == "oauthenticator.generic.GenericOAuthenticator"
    assert c.GenericOAuthenticator.client_id == "course-hub"
    assert c.Authenticator.allowed_users == {"prof", "ta", "alice"}


def test_services_and_their_roles(monkeypatch, write, tmp_path):
    c = load(monkeypatch, write, "")
    services = {s["name"]: s for s in c.JupyterHub.services}
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert {"--timeout=3600", "--cull-every=300"} <= set(services["idle-culler"]["command"])
    assert c.JupyterHub.last_activity_interval == 300 and c.Spawner.environment["JUPYTERHUB_ACTIVITY_INTERVAL"] == "300"
    assert roles["idle-culler"]["services"] == ["idle-culler"]
    # Formgrader: a server in the private course directory, for the graders' group only.
    formgrader = services["formgrader"]
    assert formgrader["cwd"] == str(tmp_path / "state" / "grading")
    assert oct((tmp_path / "state" / "grading").stat().st_mode & 0o777) == "0o700"
    assert formgrader["environment"]["JUPYTER_CONFIG_PATH"].split(":") == [
        str(REPO / "hub" / "formgrader"), str(REPO / "grading")]
    assert roles["formgrade-mlhep"] == {"name": "formgrade-mlhep", "groups": ["formgrade-mlhep"],
                                        "scopes": ["access:services!service=formgrader"]}
    assert c.Spawner.environment["HEPCOURSE_EXCHANGE"] == str(tmp_path / "state" / "exchange")
    # A root hub runs the formgrader as the grader account, and the grading broker (root) beside it.
    root = os.geteuid() == 0
    assert formgrader["user"] == ("hepcourse-grader" if root else "") and ("grading-broker" in services) == root
    # `hepcourse class prestart` (its token made by prepare) and staff may start the students' servers.
    assert services["hepcourse-cli"]["api_token"] == (tmp_path / "state" / "cli.token").read_text().strip()
    assert roles["class-prestart"] == {"name": "class-prestart", "groups": ["formgrade-mlhep"],
                                       "services": ["hepcourse-cli"], "scopes": ["servers!user=alice"]}
    no_culler = load(monkeypatch, write, "hub: {idle_timeout: 0, state_dir: s}\n").JupyterHub
    assert "idle-culler" not in [s["name"] for s in no_culler.services] and no_culler.last_activity_interval == 300
    short = load(monkeypatch, write, "hub: {idle_timeout: 60, state_dir: s}\n")
    assert "--cull-every=6" in {s["name"]: s for s in short.JupyterHub.services}["idle-culler"]["command"]
    assert short.Spawner.environment["JUPYTERHUB_ACTIVITY_INTERVAL"] == "6"


@pytest.mark.parametrize("gpus, expected", [
    ("all", [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]),
    ("['0', '3']", [{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0", "3"], "Capabilities": [["gpu"]]}]),
])
def test_docker_mode_builds_a_valid_container_config(monkeypatch, write, gpus, expected):
    c = load(monkeypatch, write, f"mode: docker\ndocker: {{mem_limit: 6G, cpu_limit: 2, gpus: {gpus}}}\n")
    assert c.JupyterHub.spawner_class == "hepcourse.spawners.CourseDockerSpawner"
    assert c.JupyterHub.hub_ip == "0.0.0.0"
    # A real (Course)DockerSpawner accepts the values (its traits validate them) without an engine ...
    spawner = CourseDockerSpawner(config=c, user=SimpleNamespace(name="alice", url="/user/alice/"))
    assert spawner.mem_limit == 6 * 1024**3 and spawner.cpu_limit == 2.0
    data_dir = str(Path(c.Spawner.environment["HEPCOURSE_DATA_DIR"]))
    assert data_dir == "/srv/hepcourse/data"
    assert spawner.volume_binds["hepcourse-home-alice"] == {"bind": "/home/jovyan", "mode": "rw"}
    shared = [v for k, v in spawner.volume_binds.items() if k.endswith("/.cache/data")]
    assert shared == [{"bind": "/srv/hepcourse/data", "mode": "ro"}]  # one read-only copy for all
    assert spawner.remove is True and spawner.cmd == ["python3", "-m", "hepcourse.singleuser"]
    # ... and docker-py turns them into the HostConfig the engine API receives.
    host = docker.types.HostConfig(version="1.44", mem_limit=spawner.mem_limit,
                                   binds=spawner.volume_binds, **spawner.extra_host_config)
    assert [{k: v for k, v in r.items() if v not in ({}, [], None)} for r in host["DeviceRequests"]] == expected
    assert host["Memory"] == 6 * 1024**3


def test_docker_mode_without_gpus_requests_none(monkeypatch, write):
    c = load(monkeypatch, write, "mode: docker\n")
    assert "extra_host_config" not in c.DockerSpawner
    assert "gpu_pool_devices" not in c.CourseDockerSpawner


def test_docker_mode_with_a_gpu_pool(monkeypatch, write):
    c = load(monkeypatch, write, "mode: docker\ndocker: {gpus: pool, gpu_pool: {devices: ['0', '1'], users_per_device: 2}}\n")
    spawner = CourseDockerSpawner(config=c, user=SimpleNamespace(name="alice", url="/user/alice/"))
    assert spawner.gpu_pool_devices == ["0", "1"] and spawner.gpu_users_per_device == 2
    assert "extra_host_config" not in c.DockerSpawner   # the pool decides, per user


def test_slurm_mode_submits_a_job_with_the_courses_resources(monkeypatch, write):
    from hepcourse.slurm import CourseSlurmSpawner

    c = load(monkeypatch, write, "mode: slurm\nslurm: {partition: gpu, time: '2:00:00', cpus: 4, memory: 16G, "
                                 "gpus: 'gpu:1g.10gb:1', options: [--account=physics], hub_connect_ip: hub.cluster}\n")
    assert c.JupyterHub.spawner_class == "hepcourse.slurm.CourseSlurmSpawner"
    assert c.JupyterHub.hub_ip == "0.0.0.0" and c.JupyterHub.hub_connect_ip == "hub.cluster"
    assert c.JupyterHub.active_server_limit == 0           # none: the cluster queues what it cannot hold
    spawner = CourseSlurmSpawner(config=c, user=SimpleNamespace(name="alice", url="/user/alice/"))
    spawner.req_homedir, spawner.req_keepvars = "/home/alice", "PATH"   # no account, no hub here
    script = asyncio.run(spawner._get_batch_script(**spawner.get_req_subvars(), cmd="CMD"))
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=2:00:00", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --mem=16G", "#SBATCH --gres=gpu:1g.10gb:1", "#SBATCH --account=physics",
                 "#SBATCH --chdir=/home/alice"):
        assert line in script.splitlines(), script
    assert spawner.cmd == [str(Path(sys.executable).parent / "hepcourse-singleuser")]
    assert spawner.exec_prefix == ("runuser -u {username} --" if os.geteuid() == 0 else "sudo -E -u {username}")


def test_unimportable_authenticator_is_a_clear_error(monkeypatch, write):
    with pytest.raises(SystemExit) as exc:
        load(monkeypatch, write, "auth: {class: ldapauthenticator.LDAPAuthenticator}\n")
    assert "auth.class: cannot import 'ldapauthenticator.LDAPAuthenticator'" in str(exc.value.code)


def test_bad_settings_exit_with_a_message_not_a_traceback(monkeypatch, write):
    with pytest.raises(SystemExit) as exc:
        load(monkeypatch, write, "mode: swarm\n", prepared=False)
    assert "mode: 'swarm' is not one of ['local', 'docker', 'slurm', 'kubernetes']" in str(exc.value.code)


def test_local_servers_never_share_a_port(monkeypatch):
    """The OS may hand the same free port to two servers starting together: the spawner skips
    ports already given to another server of this hub."""
    from hepcourse import spawners

    offered = iter([41001, 41002, 41001, 41002, 41001, 41003])
    monkeypatch.setattr(spawners, "pick_port", lambda host, ports: next(offered))
    monkeypatch.setattr(spawners.LocalCourseSpawner, "_ports_handed_out", set())
    assert [spawners.LocalCourseSpawner.unique_port() for _ in range(3)] == [41001, 41002, 41003]
