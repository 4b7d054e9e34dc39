"""The users' home folders as the hub sees them (local folders, or docker volumes), and pushing a
course notebook into every one of them, never over a copy its user changed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import content
from .errors import UserError


@dataclass
class Home:
    user: str
    path: Path | None  # None: the user never started a server (no home yet)


def homes(settings: dict, users: list[str]) -> list[Home]:
    """The users' home folders as the hub sees them: local folders, their accounts' homes (slurm,
    on the cluster's shared filesystem), or docker volumes."""
    if settings["mode"] == "local":
        root = Path(settings["hub"]["state_dir"]) / "homes"
        return [Home(u, root / u if (root / u).is_dir() else None) for u in users]
    if settings["mode"] == "slurm":
        return [Home(u, _account_home(u)) for u in users]
    if settings["mode"] == "kubernetes":
        raise UserError("mode: kubernetes: the homes are the cluster's volume claims "
                        f"({settings['kubernetes']['home_claim']}), which this command cannot reach; "
                        "a notebook added to the course image reaches every home at the next server start")
    import docker
    from docker.errors import NotFound

    client = docker.from_env()
    found = []
    for user in users:
        try:
            volume = client.volumes.get(settings["docker"]["volume"].format(username=user))
            found.append(Home(user, Path(volume.attrs["Mountpoint"])))
        except NotFound:
            found.append(Home(user, None))
    return found


def _account_home(user: str) -> Path | None:
    import pwd

    try:
        home = Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        return None
    return home if home.is_dir() else None


def push(settings: dict, module: str, notebook: str, users: list[str],
         solutions: bool = False) -> list[tuple[str, str, str]]:
    """Copy ``modules/<module>/<notebook>`` from the course into every user's ``~/modules`` as
    students receive it, or with its worked answers as ``<name>_solutions.ipynb``
    (``solutions``), never over a copy the user changed. Returns (user, outcome, path) rows."""
    source = Path(settings["content"]["source"]) / module / notebook
    if not source.is_file():
        known = ", ".join(m["name"] for m in content.module_index(settings["content"]["source"]))
        raise UserError(f"no {notebook} in module {module!r} (modules: {known})")
    rows = []
    for home in homes(settings, users):
        if home.path is None:
            rows.append((home.user, "no home yet", "delivered at first login"))
            continue
        rel = f"{module}/{Path(notebook).stem}_solutions.ipynb" if solutions else f"{module}/{notebook}"
        outcome, written = content.push(source, home.path / "modules", rel, solutions=solutions)
        owner = home.path.stat()
        for path in (home.path / "modules", home.path / "modules" / module, home.path / "modules" / written,
                     home.path / content.MANIFEST.parent, home.path / content.MANIFEST):
            if path.exists():  # the hub may run as root: files belong to the home's owner
                os.chown(path, owner.st_uid, owner.st_gid)
        rows.append((home.user, outcome, f"modules/{written}"))
    return rows
