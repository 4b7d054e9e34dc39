"""Entry point of every user's server (local process or container): deliver the course into the
home, then run ``jupyterhub-singleuser`` in this same process.

Its Jupyter config (hub/singleuser) makes ``SeminarAuthorizer`` check every request.
``$HEPCOURSE_CONTENT`` names the course folder (the repo's ``modules/`` locally,
``/opt/hepcourse/modules`` in the image); it lands in ``~/modules``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import ClassVar

import requests
from jupyterhub.singleuser.extension import JupyterHubAuthorizer

from . import content
from .seminar import scope


def deliver_course(env=os.environ) -> None:
    source = env.get("HEPCOURSE_CONTENT")
    if not source:
        return
    exclude = [p for p in env.get("HEPCOURSE_CONTENT_EXCLUDE", "").split(":") if p] or None
    home = Path(env.get("HOME") or Path.home())
    try:
        report = content.sync(source, home / "modules", exclude or content.DEFAULT_EXCLUDE,
                              solutions=env.get("HEPCOURSE_SOLUTIONS") == "1")
    except OSError as err:  # never block a student's server on a content problem
        print(f"hepcourse: course content not delivered: {err}", file=sys.stderr)
        return
    print(f"hepcourse: course content in {home / 'modules'}: {report.summary()}", file=sys.stderr)
    for rel, new in report.renamed:
        print(f"hepcourse: your file modules/{rel} was renamed to modules/{new}", file=sys.stderr)


class SeminarAuthorizer(JupyterHubAuthorizer):
    """Every request to a user's server: the owner may do anything; anyone else needs the action
    (read, write or execute) on this server, from a role (instructors) or from a share the owner
    granted them (their live seminar). Starting, stopping or talking to kernels and terminals
    counts as execute: Jupyter Server calls starting one "write", but a kernel runs code as the
    owner.

    Shares are read from the hub's share list (refreshed every few seconds: a revoked share
    stops working within them), because JupyterHub does not put a share's custom scopes into
    the OAuth token a browser gets for the shared server, only its access scope.
    """

    EXECUTING: ClassVar[set[str]] = {"kernels", "terminals", "sessions"}
    refresh_seconds = 5.0
    _shared: ClassVar[dict[str, set[str]]] = {}
    _fetched = float("-inf")

    def is_authorized(self, handler, user, action, resource):
        owner = os.environ["JUPYTERHUB_USER"]
        allowed = super().is_authorized(handler, user, action, resource)  # the access scope
        name = user.hub_user.get("name")
        if name == owner or not allowed:
            return allowed
        if action == "write" and resource in self.EXECUTING:
            action = "execute"
        server = f"{owner}/{os.environ.get('JUPYTERHUB_SERVER_NAME', '')}"
        wanted = {scope(action) + f"!user={owner}", scope(action) + f"!server={server}"}
        return bool(self.hub_auth.check_scopes(wanted, user.hub_user)) or scope(action) in self.shared_with(name, server)

    def shared_with(self, name: str, server: str) -> set[str]:
        """Scopes (filters stripped) that this server's shares grant to ``name``."""
        if time.monotonic() - self._fetched > self.refresh_seconds:
            shared, url = {}, f"{self.hub_auth.api_url}/shares/{server}"
            try:
                while url:
                    r = requests.get(url, headers={"Authorization": f"token {self.hub_auth.api_token}"}, timeout=5)
                    r.raise_for_status()
                    page = r.json()
                    for share in page["items"]:
                        if share["user"]:
                            shared[share["user"]["name"]] = {s.split("!", 1)[0] for s in share["scopes"]}
                    url = (page["_pagination"].get("next") or {}).get("url")
            except (requests.RequestException, KeyError, ValueError) as err:
                self.log.warning("hepcourse: cannot read this server's shares (%s): shared access refused", err)
                shared = {}
            SeminarAuthorizer._shared, SeminarAuthorizer._fetched = shared, time.monotonic()
        return self._shared.get(name, set())


def main() -> int:
    deliver_course()
    from jupyterhub.singleuser import main as singleuser_main

    sys.argv[0] = "jupyterhub-singleuser"
    return singleuser_main()


if __name__ == "__main__":
    sys.exit(main())
