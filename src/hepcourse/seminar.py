"""Live seminars: who may do what on a shared server (pushing a notebook into every home is
``homes.py``'s).

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
