"""Hub settings: YAML values validated against a schema that also documents them.

Every problem is reported as ``file: key.path: message`` in a :class:`ConfigError`, which the
CLI and ``hub/jupyterhub_config.py`` print without a traceback.
"""

from __future__ import annotations

import copy
import os
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from .errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SETTINGS = REPO_ROOT / "hub" / "settings.yaml"

# Environment overrides: variable -> settings key path.
ENV_OVERRIDES = {"HEPCOURSE_MODE": ("mode",), "HEPCOURSE_PORT": ("hub", "port"),
                 "HEPCOURSE_STATE_DIR": ("hub", "state_dir")}
# Keys holding paths relative to the settings file.
PATH_KEYS = [("roster",), ("hub", "state_dir"), ("content", "source"), ("data", "dir"), ("grading", "dir"),
             ("grading", "slurm", "workdir")]


class ConfigError(UserError):
    """Invalid configuration (settings, roster, dataset cards): the message says where and what."""


def load_schema(name: str) -> dict:
    return yaml.safe_load(resources.files("hepcourse.schemas").joinpath(f"{name}.schema.yaml").read_text())


def read_yaml(path: Path) -> object:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}: not valid YAML{line}: {problem}") from None


def fill_defaults(value: object, schema: dict) -> object:
    """Return ``value`` with the schema's defaults filled in for missing object keys, also in
    the objects of a list (kubernetes.profiles)."""
    if schema.get("type") == "array" and isinstance(value, list) and "items" in schema:
        return [fill_defaults(item, schema["items"]) for item in value]
    if schema.get("type") == "object" and isinstance(value, dict):
        value = dict(value)
        for key, sub in schema.get("properties", {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = fill_defaults(value[key], sub)
    return value


def validate(value: object, schema: dict, source: str, origins: dict | None = None) -> None:
    """Raise ConfigError listing every schema violation as ``source: key.path: message``."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        key = ".".join(map(str, err.absolute_path)) or "(top level)"
        origin = (origins or {}).get(tuple(err.absolute_path))
        problems.append(f"{source}: {key}: {_describe(err)}" + (f" (from {origin})" if origin else ""))
    if problems:
        raise ConfigError("\n".join(problems))


def _describe(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        return f"{err.message}; known keys: {allowed}"
    if err.validator in ("anyOf", "oneOf", "pattern"):
        # The schema's description says what is allowed; never echo a password back.
        secret = any("password" in str(key) for key in err.absolute_path)
        shown = "this value" if secret else repr(err.instance)
        return f"{shown} is not allowed: {err.schema.get('description', '').strip()}"
    return err.message


def load_settings(path: str | os.PathLike | None = None, env: dict | None = None) -> dict:
    """Load, override from the environment, fill defaults, validate and resolve paths."""
    env = os.environ if env is None else env
    path = Path(path or env.get("HEPCOURSE_SETTINGS") or DEFAULT_SETTINGS).resolve()
    values = read_yaml(path)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
    origins = {}
    for var, keys in ENV_OVERRIDES.items():
        if env.get(var):
            node = values
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = _coerce(env[var])
            origins[keys] = f"${var}"
    schema = load_schema("settings")
    values = fill_defaults(values, schema)
    validate(values, schema, str(path), origins)
    for keys in PATH_KEYS:
        node = values
        for key in keys[:-1]:
            node = node[key]
        if node[keys[-1]]:                   # empty: a default derived elsewhere
            node[keys[-1]] = str((path.parent / node[keys[-1]]).resolve())
    values["_file"] = str(path)
    return values


def _coerce(text: str) -> object:
    """Environment values are strings; integers are meant as integers (HEPCOURSE_PORT=8001)."""
    return int(text) if text.strip().isdigit() else text.strip()


def parse_size(text: str) -> int:
    """A size setting ('6G', checked by the schema's ``size``) in bytes, read as JupyterHub reads
    ``mem_limit``."""
    from jupyterhub.traitlets import ByteSpecification  # not for every settings load

    return int(ByteSpecification().validate(None, text))


def check_data_folder(settings: dict) -> str:
    """The shared dataset folder as the users' servers will see it: a one-line state, or a
    ConfigError saying what is wrong and how to fill it. In local mode a missing folder is made
    at start (files are generated on first use); docker mode mounts it, so it must exist and be
    readable by the users' uids (others: r-x on it and on every folder above it), as must slurm
    mode's jobs. Kubernetes servers read kubernetes.datasets_claim instead: only the hub (its
    grading) reads data.dir."""
    folder = Path(settings["data"]["dir"])
    fill = "fill it with `make data` (the course datasets, generated offline)"
    if not folder.exists():
        if settings["mode"] == "local":
            return f"{folder}: not there yet; made at start, datasets generated on first use ({fill})"
        raise ConfigError(f"data.dir: {folder} does not exist: {fill}")
    if not folder.is_dir():
        raise ConfigError(f"data.dir: {folder} is not a folder: point data.dir at the datasets' folder and {fill}")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ConfigError(f"data.dir: {folder} cannot be read by the hub's user")
    if settings["mode"] in ("docker", "slurm"):
        closed = [p for p in (folder, *folder.parents) if p.stat().st_mode & 0o005 != 0o005]
        if closed:
            raise ConfigError(f"data.dir: {folder} cannot be read by the users' containers (their own uids): "
                              f"{closed[0]} is not readable by others (chmod o+rx {closed[0]})")
    files = sum(1 for p in folder.rglob("*.json"))
    return f"{folder}: {files} dataset files" if files else f"{folder}: empty; {fill}"


def check_mode_tools(settings: dict, env=os.environ) -> None:
    """ConfigError unless the mode's own tools are there: the Slurm client on the hub's PATH
    (slurm); a cluster to talk to (kubernetes: the hub's pod's service account, or a kubeconfig),
    looked for, never contacted."""
    if settings["mode"] == "slurm" and not shutil.which("sbatch"):
        raise ConfigError("mode: slurm needs Slurm's commands (sbatch, squeue, scancel) on the hub's PATH: "
                          "install the cluster's Slurm client (Debian: slurm-client)")
    if settings["mode"] == "kubernetes" and not env.get("KUBERNETES_SERVICE_HOST"):
        kubeconfigs = env.get("KUBECONFIG") or str(Path(env.get("HOME") or "~", ".kube", "config"))
        if not any(Path(p).expanduser().is_file() for p in kubeconfigs.split(os.pathsep) if p):
            raise ConfigError(f"mode: kubernetes needs a cluster: run the hub in a pod of it (its service account), "
                              f"or give it a kubeconfig (none at {kubeconfigs}; $KUBECONFIG names another). "
                              "`hepcourse k8s values` writes the values of zero-to-jupyterhub's chart instead")


def activity_interval(settings: dict) -> int:
    """Seconds between the servers' activity reports and between the culler's looks: a tenth of
    ``hub.idle_timeout``, at most 300 (hub/jupyterhub_config.py says why)."""
    timeout = settings["hub"]["idle_timeout"]
    return max(1, min(300, timeout // 10)) if timeout else 300


def hub_api_port(settings: dict) -> int:
    """The hub API's port: ``hub.api_port``, else the public port + 1 (local) or 8081 (the other
    modes, whose servers reach it over the network)."""
    hub = settings["hub"]
    return hub["api_port"] or (hub["port"] + 1 if settings["mode"] == "local" else 8081)
