"""JupyterHub configuration of the ML-for-HEP course.

Values come from hub/settings.yaml (validated against hepcourse/schemas/settings.schema.yaml)
and hub/roster.yaml. Modes:
- ``local`` (default): SQLite, one local process per user (as the hub's OS user: trusted users
  only), configurable-http-proxy, loopback only. For development and CI.
- ``docker``: DockerSpawner, one container per user with a persistent named volume, memory and
  CPU limits, GPUs through device_requests. For the GPU server.
- ``slurm``: one Slurm job per user under the user's own account (batchspawner), resources
  from settings (partition, time, CPUs, memory, a GPU gres). For a department's cluster.
- ``kubernetes``: KubeSpawner, one pod per user from the course images with a home volume claim,
  the datasets and the exchange, profiles with GPUs or MIG slices; the hub runs in the cluster.

Start it with ``make run`` (``hepcourse hub``: checks the settings, ports and data folder, and
makes the state folder, the course directory and the demo passwords); loading this file changes
nothing on disk. ``jupyterhub -f hub/jupyterhub_config.py`` works once that has been done.
"""

import os
import sys
from pathlib import Path

import psutil

from hepcourse.auth import SHARED_PASSWORD, check_authenticator, demo_passwords, roster_auth_hook
from hepcourse.config import REPO_ROOT as REPO
from hepcourse.config import ConfigError, activity_interval, hub_api_port, load_settings, parse_size
from hepcourse.content import module_index
from hepcourse.cpus import cpu_budget
from hepcourse.grading.account import runs_as
from hepcourse.grading.course import Course
from hepcourse.hubdb import write_ahead_log
from hepcourse.net import free_port
from hepcourse.prestart import SERVICE as PRESTART_SERVICE
from hepcourse.prestart import start_scopes
from hepcourse.prestart import token_path as cli_token_path
from hepcourse.roster import load_roster
from hepcourse.seminar import ACTIONS, SHARE_MODES, custom_scopes, scope, share_scopes

c = get_config()  # noqa: F821 (provided by JupyterHub)

try:
    settings = load_settings()
    roster = load_roster(settings["roster"])
    check_authenticator(settings["auth"]["class"])
    if settings["auth"]["class"] == SHARED_PASSWORD:
        passwords = demo_passwords(Path(settings["hub"]["state_dir"]), settings["auth"])
except ConfigError as err:
    sys.exit(f"hepcourse: invalid configuration\n{err}")

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
mode = settings["mode"]
course = settings["course"]
graders = f"formgrade-{course['id']}"  # nbgrader's group of the course's graders (the roster's staff)
hub = settings["hub"]
state = Path(hub["state_dir"])  # made by the launcher's prepare step (hepcourse.launcher.prepare)

# --- the hub itself ---------------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://{hub['ip']}:{hub['port']}"
hub_database = state / "jupyterhub.sqlite"
c.JupyterHub.db_url = f"sqlite:///{hub_database}"
write_ahead_log(hub_database)  # commits that do not wait on the disk (hepcourse.hubdb)
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
# Branded pages: the login page and a course landing page (modules, live seminars) that users
# reach after logging in (hub/templates).
c.JupyterHub.template_paths = [str(HERE / "templates")]
c.JupyterHub.logo_file = str(HERE / "templates" / "logo.svg")
c.JupyterHub.default_url = "/hub/home"
c.JupyterHub.template_vars = {
    "course": course,
    # Read at each page view: a module folder added to content.source shows without a restart.
    "course_modules": lambda user: module_index(settings["content"]["source"]),
    "students": sorted(roster.students),
    "staff_group": graders,
    "action_scopes": {action: scope(action) for action in ACTIONS},
    # JupyterHub calls a callable value with the page's user (None before login).
    "share_scopes": lambda user: {mode: share_scopes(user.name, mode) for mode in SHARE_MODES} if user else {},
}
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
# JupyterHub's reference proxy (Node; `make` installs it from hub/proxy/package-lock.json).
PROXY = HERE / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
if not PROXY.exists():
    sys.exit(f"hepcourse: the proxy is not installed ({PROXY}): run `make venv` (npm ci in hub/proxy)")
c.ConfigurableHTTPProxy.command = [str(PROXY)]

# --- who may log in: the roster, whatever checks the password ---------------------------------
c.Authenticator.allowed_users = roster.users
c.Authenticator.admin_users = set(roster.instructors)
c.Authenticator.allow_existing_users = False  # a user taken off the roster is out
c.Authenticator.manage_groups = True  # groups follow the roster at every login
c.Authenticator.post_auth_hook = roster_auth_hook(roster, course["id"])
auth = settings["auth"]
if auth["class"] == SHARED_PASSWORD:
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = passwords["user"]
    c.SharedPasswordAuthenticator.admin_password = passwords["admin"]
else:
    c.JupyterHub.authenticator_class = auth["class"]
    for trait, value in auth["config"].items():
        setattr(c[auth["class"].rsplit(".", 1)[-1]], trait, value)

# --- services ---------------------------------------------------------------------------------
c.JupyterHub.services = []
c.JupyterHub.load_roles = []
# The culler stops servers idle for idle_timeout. Activity (the servers' own reports, the proxy's
# routes) reaches the hub ten times per timeout and the culler looks as often, so a working
# student never looks idle to it and an idle server goes within 1.1 timeouts (JupyterHub's
# defaults, 300 s reports and a check every timeout / 2, culled busy students under short
# timeouts and left idle ones up to 1.5 timeouts).
c.JupyterHub.last_activity_interval = activity_interval(settings)
if hub["idle_timeout"]:
    c.JupyterHub.services.append({
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={hub['idle_timeout']}",
                    f"--cull-every={activity_interval(settings)}"],
    })
    c.JupyterHub.load_roles.append({
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    })

# Formgrader: one Jupyter server in the nbgrader course directory, run by the hub as a service
# and reachable by the roster's graders only (group formgrade-<course>). Students have no
# formgrader at all: their servers disable it (hub/singleuser). A root hub runs it as the grader
# account, never as root (hepcourse.grading.account), and runs the grading broker beside it: the
# one root process grading needs, which starts autograde sandboxes on the account's request.
grading = Course(settings)
grader = runs_as(settings)
course_env = {
    "HEPCOURSE_SETTINGS": settings["_file"],
    "HEPCOURSE_DATA_DIR": settings["data"]["dir"],
    "HEPCOURSE_SCALE": settings["data"]["scale"],
    "PATH": f"{BIN}:{os.environ.get('PATH', '')}",   # nbgrader runs `alembic`
}
if grader:
    c.JupyterHub.services.append({
        "name": "grading-broker",
        "command": [sys.executable, "-m", "hepcourse.grading.broker"],
        "environment": course_env,
    })
c.JupyterHub.services.append({
    "name": "formgrader",
    "url": f"http://127.0.0.1:{free_port()}",
    "command": [str(BIN / "jupyterhub-singleuser")],
    "cwd": str(grading.root),
    "user": grader,
    "oauth_no_confirm": True,
    "environment": {
        "JUPYTERHUB_DEFAULT_URL": "/lab",
        # Its own server config (formgrader on, embeddable in its own JupyterLab: JupyterHub's
        # default CSP `frame-ancestors 'none'` blanks formgrader's iframe) and the course's
        # nbgrader config.
        "JUPYTER_CONFIG_PATH": f"{HERE / 'formgrader'}:{REPO / 'grading'}",
        **course_env,
    },
})
c.JupyterHub.load_roles.append({
    "name": graders,
    "groups": [graders],
    "scopes": ["access:services!service=formgrader"],
})

# Starting the class ahead of a lecture (hepcourse.prestart): `hepcourse class prestart` as the
# hepcourse-cli service (its token made by the launcher), and staff from the course page.
token = cli_token_path(settings)
if token.exists():
    c.JupyterHub.services.append({"name": PRESTART_SERVICE, "api_token": token.read_text().strip()})
if roster.students:
    c.JupyterHub.load_roles.append({
        "name": "class-prestart", "groups": [graders], "services": [PRESTART_SERVICE] if token.exists() else [],
        "scopes": start_scopes(roster.students),
    })

# Live seminars (hepcourse.seminar): staff share their server with each student; what the room
# may do there (read, write, execute: custom scopes in the share) is checked by the server.
c.JupyterHub.custom_scopes = custom_scopes()
c.JupyterHub.load_roles += [
    {"name": "seminar-host", "groups": [graders],
     "scopes": ["shares!user", "read:users:name", f"{scope('execute')}!user"]},
    # Instructors are hub admins: they keep full use of every server (helping a student).
    {"name": "instructor-servers", "users": list(roster.instructors), "scopes": [scope("execute")]},
]
c.Spawner.oauth_client_allowed_scopes = [f"{scope(a)}!server" for a in ACTIONS]
# The server's own token also reads the shares of the server (hepcourse.singleuser).
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", "read:shares!server"]

# --- user servers: common -------------------------------------------------------------------
c.Spawner.default_url = "/lab"
# "Start my server" is answered at once with the progress page, not after waiting up to 10 s
# (JupyterHub's slow_spawn_timeout) for a server that a class start keeps busy. Students turned
# away by the spawn limit are told to try again in 5-15 s, not JupyterHub's 30-60 s: a slot frees
# within seconds, and a class waiting half a minute leaves the CPU idle. (JupyterHub's own
# spawn_throttle_retry_range trait is not configurable in 6.1: its handlers read this setting.)
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0, "spawn_throttle_retry_range": (5, 15)}
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = hub["start_timeout"]
# Class-start throttles from the machine's size (hub/settings.yaml documents the defaults).
c.JupyterHub.concurrent_spawn_limit = hub["concurrent_spawn_limit"] or 4 * cpu_budget()
if mode in ("slurm", "kubernetes"):  # the servers run on the cluster, which queues what it cannot hold
    c.JupyterHub.active_server_limit = hub["active_server_limit"] or 0   # 0: no limit
else:
    per_student = 375 * 2**20 if mode == "local" else parse_size(settings["docker"]["mem_limit"])
    c.JupyterHub.active_server_limit = hub["active_server_limit"] or max(1, psutil.virtual_memory().total // per_student)
c.Spawner.environment = {
    "HEPCOURSE_COURSE_ID": course["id"],
    "HEPCOURSE_EXCHANGE": str(grading.exchange),
    "HEPCOURSE_CONTENT_EXCLUDE": ":".join(settings["content"]["exclude"]),
    "HEPCOURSE_SCALE": settings["data"]["scale"],
    "JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval(settings)),
    # The course's staff get the seminars with their worked answers (students: scaffolds).
    "HEPCOURSE_SOLUTIONS": lambda spawner: "1" if any(g.name == graders for g in spawner.user.groups) else "",
}

# The proxy's API on a free loopback port (JupyterHub's default, 8001, would make two hubs on
# one machine, a test hub and `make run`, or two courses, talk to each other's proxy).
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{free_port()}"

# --- user servers: per mode -----------------------------------------------------------------
# Servers that run on this machine's (or the cluster's shared) filesystem see its paths.
host_paths = {
    "HEPCOURSE_CONTENT": settings["content"]["source"],
    "HEPCOURSE_DATA_DIR": settings["data"]["dir"],
    "JUPYTER_CONFIG_PATH": str(HERE / "singleuser"),
}
if mode == "local":
    c.JupyterHub.spawner_class = "hepcourse.spawners.LocalCourseSpawner"
    c.LocalCourseSpawner.home_dir_template = str(state / "homes" / "{username}")
    c.LocalCourseSpawner.cmd = [sys.executable, "-m", "hepcourse.singleuser"]
    c.Spawner.environment.update(host_paths)
    # The hub API's port is stable (servers outlive a crashed hub and call it again).
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = hub_api_port(settings)

elif mode == "docker":
    docker = settings["docker"]
    c.JupyterHub.spawner_class = "hepcourse.spawners.CourseDockerSpawner"
    c.JupyterHub.hub_ip = "0.0.0.0"  # user containers reach the hub's API over the network
    c.JupyterHub.hub_connect_ip = docker["hub_connect_ip"]
    c.JupyterHub.hub_port = hub_api_port(settings)
    c.DockerSpawner.image = docker["image"]
    c.DockerSpawner.network_name = docker["network"]
    c.DockerSpawner.use_internal_ip = True
    c.DockerSpawner.remove = True  # containers are disposable; homes live in volumes
    c.DockerSpawner.notebook_dir = docker["home"]
    c.DockerSpawner.volumes = {
        docker["volume"]: docker["home"],
        settings["data"]["dir"]: {"bind": "/srv/hepcourse/data", "mode": "ro"},  # one copy for all
        str(grading.exchange): "/srv/nbgrader/exchange",
    }
    c.DockerSpawner.mem_limit = docker["mem_limit"]
    c.DockerSpawner.cpu_limit = float(docker["cpu_limit"])
    c.DockerSpawner.cmd = ["python3", "-m", "hepcourse.singleuser"]
    c.CourseDockerSpawner.uid_registry = str(state)  # a uid of their own per user (hepcourse.uids)
    c.Spawner.environment.update(HEPCOURSE_CONTENT="/opt/hepcourse/modules",
                                 HEPCOURSE_DATA_DIR="/srv/hepcourse/data",
                                 HEPCOURSE_EXCHANGE="/srv/nbgrader/exchange")
    if docker["gpus"] == "pool":
        c.CourseDockerSpawner.gpu_pool_devices = docker["gpu_pool"]["devices"]
        c.CourseDockerSpawner.gpu_users_per_device = docker["gpu_pool"]["users_per_device"]
    elif docker["gpus"] != "none":
        from hepcourse.gpus import device_requests

        c.DockerSpawner.extra_host_config = {"device_requests": device_requests(docker["gpus"])}

elif mode == "slurm":
    # Each server a Slurm job of the student's own account (hepcourse.slurm); the environment,
    # the content, the data and the exchange are on the cluster's shared filesystem.
    import hepcourse.slurm  # noqa: F401 (before the hub builds its handlers: batchspawner's port API)

    slurm = settings["slurm"]
    c.JupyterHub.spawner_class = "hepcourse.slurm.CourseSlurmSpawner"
    c.JupyterHub.hub_ip = "0.0.0.0"  # jobs on the compute nodes call the hub's API
    c.JupyterHub.hub_connect_ip = slurm["hub_connect_ip"]
    c.JupyterHub.hub_port = hub_api_port(settings)
    c.CourseSlurmSpawner.cmd = [str(BIN / "hepcourse-singleuser")]
    c.CourseSlurmSpawner.batchspawner_singleuser_cmd = str(BIN / "batchspawner-singleuser")
    c.CourseSlurmSpawner.req_partition = slurm["partition"]
    c.CourseSlurmSpawner.req_runtime = slurm["time"]
    c.CourseSlurmSpawner.req_nprocs = str(slurm["cpus"])
    c.CourseSlurmSpawner.req_memory = slurm["memory"]
    c.CourseSlurmSpawner.req_gres = slurm["gpus"]
    c.CourseSlurmSpawner.req_options = " ".join(slurm["options"])
    c.CourseSlurmSpawner.queue_timeout = slurm["queue_timeout"]
    c.CourseSlurmSpawner.req_prologue = f"export PATH={BIN}:$PATH"  # the course's tools in the job
    c.CourseSlurmSpawner.start_timeout = max(hub["start_timeout"], slurm["queue_timeout"] + 120)
    c.Spawner.environment.update(host_paths)

elif mode == "kubernetes":
    # Each server a pod of the course image (hepcourse.kubernetes: the home claim, the datasets,
    # the exchange, the profiles); the hub runs in the cluster, its pods call its API through
    # the hub's Service. Loading this contacts no cluster (KubeSpawner does, once the hub runs).
    from hepcourse.kubernetes import SERVER_PATHS, spawner_traits

    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_connect_ip = settings["kubernetes"]["hub_connect_ip"]
    c.JupyterHub.hub_port = hub_api_port(settings)
    for trait, value in spawner_traits(settings).items():
        setattr(c.KubeSpawner, trait, value)
    c.Spawner.environment.update(SERVER_PATHS)

# --- escape hatches (zero-to-jupyterhub's): any traitlet from settings, then Python files ---------
for cls, traits in hub["config"].items():
    for trait, value in traits.items():
        setattr(c[cls], trait, value)
for extra in sorted((Path(settings["_file"]).parent / "jupyterhub_config.d").glob("*.py")):
    load_subconfig(str(extra))  # noqa: F821 (provided by the config loader)
