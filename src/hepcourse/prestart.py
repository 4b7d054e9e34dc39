"""Start the class's servers before a lecture: ``hepcourse class prestart``.

Fifty students logging in at once wait on the machine: every server and kernel starts at the
same time. Started ahead (ten minutes before the lecture), each student's lab opens at once.
The command talks to the hub's REST API as the ``hepcourse-cli`` service, whose token the
launcher's prepare step keeps in the state folder (readable by the hub's user only); its role
may start, stop and read the roster students' servers and nothing else. The hub's own
``concurrent_spawn_limit`` paces the starts: one the hub turns away (429) is asked again after
the time the hub gives. Staff have the same power from the course page's button.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import requests
from tqdm import tqdm

from .errors import UserError

SERVICE = "hepcourse-cli"


def token_path(settings: dict) -> Path:
    return Path(settings["hub"]["state_dir"]) / "cli.token"


def make_token(settings: dict) -> None:
    """The service's token, made once (the launcher's prepare step)."""
    path = token_path(settings)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")


def start_scopes(students) -> list[str]:
    """What starting the class needs: the roster students' servers, one filter each (groups
    come only with a first login, and prestart is for students who have not logged in yet)."""
    return [f"servers!user={name}" for name in sorted(students)]


def hub_api(settings: dict) -> str:
    hub = settings["hub"]
    host = "127.0.0.1" if hub["ip"] in ("", "0.0.0.0") else hub["ip"]
    return f"http://{host}:{hub['port']}/hub/api"


def prestart(settings: dict, users: list[str], timeout: float = 900, progress: bool = True) -> list[tuple]:
    """Start ``users``' servers and wait until each is ready; (user, outcome, seconds) each,
    outcome ``started``, ``running`` (it already was) or why it failed."""
    path = token_path(settings)
    if not path.exists():
        raise UserError(f"no {path}: start the hub once with `make run` (hepcourse hub), which makes it")
    http = requests.Session()
    http.headers["Authorization"] = f"token {path.read_text().strip()}"
    api = hub_api(settings)
    started = time.monotonic()
    todo, waiting, done = list(users), {}, {}
    # Turned away by the hub's spawn limit: ask again once one of ours is ready, or after the
    # time the hub gives (its Retry-After), whichever comes first.
    turned_away = None
    bar = tqdm(total=len(users), desc="servers ready", unit="server", disable=not progress)
    try:
        while todo or waiting:
            if time.monotonic() - started > timeout:
                done.update({user: "not ready in time" for user in [*todo, *waiting]})
                break
            while todo and (turned_away is None or len(waiting) < turned_away[0] or time.monotonic() > turned_away[1]):
                r = http.post(f"{api}/users/{todo[0]}/server", timeout=60)
                if r.status_code == 429:
                    turned_away = (len(waiting), time.monotonic() + float(r.headers.get("Retry-After", 2)))
                    break
                turned_away = None
                user = todo.pop(0)
                if r.status_code in (201, 202):
                    waiting[user] = time.monotonic()
                elif r.status_code == 400 and "already running" in r.text:
                    done[user] = "running"
                    bar.update()
                else:
                    done[user] = _reason(r)
                    bar.update()
            for user in list(waiting):
                r = http.get(f"{api}/users/{user}", timeout=60)
                server = r.json().get("servers", {}).get("") if r.ok else None
                if server and server.get("ready"):
                    done[user] = ("started", time.monotonic() - waiting.pop(user))
                    bar.update()
                elif not server or not server.get("pending"):
                    waiting.pop(user)
                    done[user] = "failed to start (the hub's log says why)" if r.ok else _reason(r)
                    bar.update()
            time.sleep(0.5)
    finally:
        bar.close()
    return [(user, *(done[user] if isinstance(done[user], tuple) else (done[user], None))) for user in users]


def _reason(r: requests.Response) -> str:
    try:
        return f"{r.status_code}: {r.json().get('message', r.text)}"
    except ValueError:
        return f"{r.status_code}: {r.text[:200]}"
