"""Live seminars: who may do what on a shared server, and pushing a notebook into every home.

Sharing is JupyterHub's (5.0+) server sharing: the instructor grants every student access to
their running server, and jupyter-collaboration makes everyone who opens a notebook there edit
the same document live. What the room may do there is a JupyterHub custom scope per action,
listed in the share and checked for every request by ``hepcourse.singleuser.SeminarAuthorizer``
(the server's owner keeps full rights):

- ``follow``: open and edit the notebooks live (read + write), no code execution, no terminals;
- ``run``: also run cells, as the instructor (for a room you trust with your account).

Only staff (the roster's instructors and facilitators) may share; students may only join.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import content
from .errors import UserError

ACTIONS = ("read", "write", "execute")
SHARE_MODES = {"follow": ("read", "write"), "run": ("read", "write", "execute")}


def scope(action: str) -> str:
    return f"custom:jupyter_server:{action}:*"


def custom_scopes() -> dict:
    """JupyterHub.custom_scopes: each action implies the ones before it."""
    text = {"read": "open files and notebooks on a shared server",
            "write": "edit files and notebooks on a shared server, live",
            "execute": "run code and terminals on a shared server, as its owner"}
    return {scope(a): {"description": text[a], "subscopes": [scope(b) for b in ACTIONS[:i]]}
            for i, a in enumerate(ACTIONS)}


def share_scopes(owner: str, mode: str, server: str = "") -> list[str]:
    """What a share in ``mode`` grants on ``owner``'s server (the body of POST /api/shares)."""
    target = f"!server={owner}/{server}"
    return [f"access:servers{target}", *(scope(a) + target for a in SHARE_MODES[mode])]


@dataclass
class Home:
    user: str
    path: Path | None  # None: the user never started a server (no home yet)


def homes(settings: dict, users: list[str]) -> list[Home]:
    """The users' home folders as the hub sees them: local folders, or docker volumes."""
    if settings["mode"] == "local":
        root = Path(settings["hub"]["state_dir"]) / "homes"
        return [Home(u, root / u if (root / u).is_dir() else None) for u in users]
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


def push(settings: dict, module: str, notebook: str, users: list[str]) -> list[tuple[str, str, str]]:
    """Copy ``modules/<module>/<notebook>`` from the course into every user's ``~/modules``, never
    over a copy the user changed. Returns (user, outcome, path) rows."""
    source = Path(settings["content"]["source"]) / module / notebook
    if not source.is_file():
        known = ", ".join(m["name"] for m in content.module_index(settings["content"]["source"]))
        raise UserError(f"no {notebook} in module {module!r} (modules: {known})")
    rows = []
    for home in homes(settings, users):
        if home.path is None:
            rows.append((home.user, "no home yet", "delivered at first login"))
            continue
        rel = f"{module}/{notebook}"
        outcome, written = content.push(source, home.path / "modules", rel)
        owner = home.path.stat()
        for path in (home.path / "modules", home.path / "modules" / module, home.path / "modules" / written,
                     home.path / content.MANIFEST.parent, home.path / content.MANIFEST):
            if path.exists():  # the hub may run as root: files belong to the home's owner
                os.chown(path, owner.st_uid, owner.st_gid)
        rows.append((home.user, outcome, f"modules/{written}"))
    return rows


def cmd_push(args) -> int:
    from .config import load_settings
    from .grading.cli import table
    from .roster import load_roster

    settings = load_settings()
    roster = load_roster(settings["roster"])
    users = args.users or sorted(roster.students)
    unknown = sorted(set(users) - set(roster.users))
    if unknown:
        raise UserError(f"not on the roster: {', '.join(unknown)}")
    notebook = args.notebook if args.notebook.endswith(".ipynb") else f"{args.notebook}.ipynb"
    rows = push(settings, args.module, notebook, users)
    print(table([list(r) for r in rows], ["user", "outcome", "file"]))
    beside = sum(r[1] == "beside" for r in rows)
    if beside:
        print(f"{beside} user(s) had changed their copy: it is kept, the fresh one is beside it", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    seminar = sub.add_parser("seminar", help="live seminars").add_subparsers(dest="what", required=True)
    p = seminar.add_parser("push", help="copy a module's notebook into every student's home (never over their own)")
    p.add_argument("module", help="e.g. 04_neural_nets")
    p.add_argument("--notebook", default="seminar.ipynb", help="which notebook (default: seminar.ipynb)")
    p.add_argument("--users", nargs="+", metavar="USER", help="default: every student on the roster")
    p.set_defaults(func=cmd_push)
