"""The ``kubernetes`` mode: each user's server is a pod of the course image, through KubeSpawner.

From ``hub/settings.yaml`` (``kubernetes``) come the KubeSpawner traits of the course's own hub
(:func:`spawner_traits`, read by hub/jupyterhub_config.py) and the same servers as a values.yaml
of zero-to-jupyterhub's Helm chart (:func:`values`, ``hepcourse k8s values``) for a hub that the
chart runs. Nothing here contacts a cluster.
"""

from __future__ import annotations

from .auth import SHARED_PASSWORD
from .config import ConfigError, activity_interval
from .roster import Roster
from .uids import uid_of

# The zero-to-jupyterhub chart whose keys values() writes (its schema: tests/data/z2jh-4.4.0).
CHART_VERSION = "4.4.0"

# Where the course image keeps things (images/Containerfile); docker mode mounts the same paths.
HOME = "/home/jovyan"
SERVER_PATHS = {
    "HEPCOURSE_CONTENT": "/opt/hepcourse/modules",
    "HEPCOURSE_DATA_DIR": "/srv/hepcourse/data",
    "HEPCOURSE_EXCHANGE": "/srv/nbgrader/exchange",
}
CMD = ["python3", "-m", "hepcourse.singleuser"]

GPU = "nvidia.com/gpu"
# GPU nodes are commonly tainted so that only pods asking for GPUs land there.
GPU_TOLERATION = {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
# No root and no privileges (with allow_privilege_escalation off): what Kubernetes' "restricted"
# Pod Security Standard asks of a container.
SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def quantity(size: str) -> str:
    """A size setting (1024-based, '10G') as a Kubernetes quantity ('10Gi': '10G' would be 10^10)."""
    return f"{size}i"


def environment(settings: dict) -> dict[str, str]:
    """Every server's environment, as hub/jupyterhub_config.py sets it, with the image's paths."""
    return {
        "HEPCOURSE_COURSE_ID": settings["course"]["id"],
        "HEPCOURSE_CONTENT_EXCLUDE": ":".join(settings["content"]["exclude"]),
        "HEPCOURSE_SCALE": settings["data"]["scale"],
        "JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval(settings)),
        **SERVER_PATHS,
    }


def shared_volumes(k8s: dict) -> tuple[list[dict], list[dict]]:
    """The volumes every server mounts besides its home, and their mounts: the datasets'
    claim read-only, the exchange's read-write."""
    volumes = [
        {"name": "datasets", "persistentVolumeClaim": {"claimName": k8s["datasets_claim"], "readOnly": True}},
        {"name": "exchange", "persistentVolumeClaim": {"claimName": k8s["exchange_claim"]}},
    ]
    mounts = [
        {"name": "datasets", "mountPath": SERVER_PATHS["HEPCOURSE_DATA_DIR"], "readOnly": True},
        {"name": "exchange", "mountPath": SERVER_PATHS["HEPCOURSE_EXCHANGE"]},
    ]
    return volumes, mounts


def profile_list(k8s: dict) -> list[dict]:
    """KubeSpawner's profile_list: each profile overrides the limits it sets, and one with GPUs
    asks for them (or for MIG slices) and runs the GPU image."""
    profiles = []
    for profile in k8s["profiles"]:
        override = {}
        if profile["memory"]:
            override["mem_limit"] = profile["memory"]
        if profile["cpu"]:
            override["cpu_limit"] = float(profile["cpu"])
        if profile["gpus"]:
            resource = profile["mig"] or GPU
            override.update(
                image=k8s["gpu_image"],
                extra_resource_limits={resource: str(profile["gpus"])},
                extra_resource_guarantees={resource: str(profile["gpus"])},
                tolerations=[*k8s["tolerations"], GPU_TOLERATION],
            )
        profiles.append({"display_name": profile["name"], "description": profile["description"],
                         "kubespawner_override": override})
    return profiles


def spawner_traits(settings: dict) -> dict:
    """KubeSpawner's traits for the course's hub: trait name -> value."""
    k8s = settings["kubernetes"]
    volumes, mounts = shared_volumes(k8s)
    traits = {
        "image": k8s["image"],
        "cmd": CMD,
        # Each user's own uid (hepcourse.uids), as in docker mode: the exchange tells students'
        # files apart by owner. (The chart's hub takes one fixed uid: values() below.)
        "uid": lambda spawner: uid_of(spawner.user.name, settings["hub"]["state_dir"]),
        "gid": k8s["gid"],
        "fs_gid": k8s["fs_gid"],
        "allow_privilege_escalation": False,
        "container_security_context": SECURITY_CONTEXT,
        "mem_limit": k8s["mem_limit"],
        "mem_guarantee": k8s["mem_guarantee"],
        "cpu_limit": float(k8s["cpu_limit"]),
        "cpu_guarantee": float(k8s["cpu_guarantee"]),
        # Each user's home: a claim made at the first start, mounted over the image's home.
        "storage_pvc_ensure": True,
        "pvc_name_template": k8s["home_claim"],
        "storage_capacity": quantity(k8s["home_size"]),
        "delete_pvc": False,  # a deleted user's home stays, as docker mode's volumes do
        "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}, *volumes],
        "volume_mounts": [{"name": "home", "mountPath": HOME}, *mounts],
        "profile_list": profile_list(k8s),
        "node_selector": k8s["node_selector"],
        "tolerations": k8s["tolerations"],
    }
    if k8s["storage_class"]:
        traits["storage_class"] = k8s["storage_class"]
    if k8s["namespace"]:
        traits["namespace"] = k8s["namespace"]
    return traits


def image_spec(image: str) -> dict:
    """An image reference as the chart's {name, tag}: the chart would append its own tag to a
    name without one."""
    name, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:  # no tag, only a registry's port
        return {"name": image, "tag": "latest"}
    return {"name": name, "tag": tag}


def chart_hub_config(settings: dict, roster: Roster) -> dict:
    """The chart's hub.config: who may log in (the roster, checked by auth.class), the servers'
    settings that the chart has no key for, then the settings' own hub.config."""
    auth, k8s = settings["auth"], settings["kubernetes"]
    config = {
        "JupyterHub": {"authenticator_class": auth["class"],
                       "last_activity_interval": activity_interval(settings),
                       "load_groups": roster.groups(settings["course"]["id"])},   # nbgrader's, the staff's
        "Authenticator": {"allowed_users": sorted(roster.users), "admin_users": sorted(roster.instructors),
                          "allow_existing_users": False},
        "KubeSpawner": {"gid": k8s["gid"], "container_security_context": SECURITY_CONTEXT, "delete_pvc": False},
    }
    if auth["class"] == SHARED_PASSWORD:
        if not (auth["password"] and auth["admin_password"]):
            # The chart's own default would be its dummy authenticator: any password at all.
            raise ConfigError(f"{settings['_file']}: auth.password: the chart's hub has no state folder to make "
                              "the shared passwords in: set auth.password and auth.admin_password, or an "
                              "auth.class (OAuth, LDAP ...)")
        config["SharedPasswordAuthenticator"] = {"user_password": auth["password"],
                                                 "admin_password": auth["admin_password"]}
    elif auth["config"]:
        config[auth["class"].rsplit(".", 1)[-1]] = dict(auth["config"])
    for cls, traits in settings["hub"]["config"].items():
        config.setdefault(cls, {}).update(traits)
    return config


def values(settings: dict, roster: Roster) -> dict:
    """zero-to-jupyterhub's values.yaml for the course's servers (chart ``CHART_VERSION``)."""
    k8s, hub = settings["kubernetes"], settings["hub"]
    volumes, mounts = shared_volumes(k8s)
    graders = f"formgrade-{settings['course']['id']}"
    chart_hub = {"config": chart_hub_config(settings, roster), "db": {"type": "sqlite-pvc"},
                 "extraConfig": {"hepcourse": SOLUTIONS.format(graders=graders)}}
    if hub["concurrent_spawn_limit"]:
        chart_hub["concurrentSpawnLimit"] = hub["concurrent_spawn_limit"]
    if hub["active_server_limit"]:
        chart_hub["activeServerLimit"] = hub["active_server_limit"]
    singleuser = {
        "image": image_spec(k8s["image"]),
        "cmd": CMD,
        "defaultUrl": "/lab",
        "startTimeout": hub["start_timeout"],
        "uid": k8s["uid"],
        "fsGid": k8s["fs_gid"],
        "allowPrivilegeEscalation": False,
        "memory": {"limit": k8s["mem_limit"], "guarantee": k8s["mem_guarantee"]},
        "cpu": {"limit": k8s["cpu_limit"], "guarantee": k8s["cpu_guarantee"]},
        "storage": {
            "type": "dynamic",
            "capacity": quantity(k8s["home_size"]),
            "homeMountPath": HOME,
            "dynamic": {"pvcNameTemplate": k8s["home_claim"], "storageClass": k8s["storage_class"] or None},
            "extraVolumes": volumes,
            "extraVolumeMounts": mounts,
        },
        "extraEnv": environment(settings),
        "profileList": profile_list(k8s),
        "nodeSelector": k8s["node_selector"],
        "extraTolerations": k8s["tolerations"],
    }
    timeout = hub["idle_timeout"]
    cull = {"enabled": True, "timeout": timeout, "every": activity_interval(settings)} if timeout else {"enabled": False}
    return {"hub": chart_hub, "singleuser": singleuser, "cull": cull}


# The chart's hub knows no course: the staff's group comes from the roster (load_groups) and the
# rule that gives them the seminars' worked answers, as hub/jupyterhub_config.py has it, as code.
SOLUTIONS = """# hepcourse: the course's staff get the seminars with their worked answers
c.KubeSpawner.environment.update({{"HEPCOURSE_SOLUTIONS": lambda spawner: "1" if any(
    group.name == {graders!r} for group in spawner.user.groups) else ""}})
"""
