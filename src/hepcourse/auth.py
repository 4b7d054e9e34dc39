"""Authentication glue: the roster decides who logs in, their groups and admin rights,
whatever authenticator checks the password."""

from __future__ import annotations

import importlib
import secrets
from pathlib import Path

import yaml

from .config import ConfigError
from .roster import Roster

SHARED_PASSWORD = "shared-password"


def check_authenticator(class_path: str) -> None:
    """Raise ConfigError unless ``auth.class`` names an importable authenticator."""
    if class_path == SHARED_PASSWORD:
        return
    module, _, name = class_path.rpartition(".")
    try:
        getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(
            f"auth.class: cannot import {class_path!r}; is its package installed in the hub's "
            "environment? (nativeauthenticator and oauthenticator are)"
        ) from None


def roster_auth_hook(roster: Roster, course_id: str):
    """A ``post_auth_hook`` setting groups (``manage_groups``) and admin from the roster, so a
    roster edit takes effect at the user's next login."""
    groups = roster.groups(course_id)

    def hook(authenticator, handler, authentication):
        name = authentication["name"]
        authentication["groups"] = sorted(g for g, members in groups.items() if name in members)
        authentication["admin"] = name in roster.instructors
        return authentication

    return hook


def demo_passwords(state_dir: Path, auth: dict, create: bool = False) -> dict:
    """Shared passwords for the ``shared-password`` authenticator: from the settings, else made
    once (``create``: the launcher's prepare step) and kept (mode 600) in the state folder.
    Instructors (hub admins) have their own, 32+ characters as JupyterHub requires."""
    path = state_dir / "passwords.yaml"
    stored = yaml.safe_load(path.read_text()) if path.exists() else {}
    if create:
        generated = {
            "user": stored.get("user") or secrets.token_urlsafe(9),
            "admin": stored.get("admin") or secrets.token_urlsafe(24),
        }
        if generated != stored:
            path.touch(mode=0o600)
            path.write_text(yaml.safe_dump(generated))
        stored = generated
    passwords = {"user": auth["password"] or stored.get("user"), "admin": auth["admin_password"] or stored.get("admin")}
    if not all(passwords.values()):
        raise ConfigError(f"{path}: no demo passwords yet: start the hub with `make run` (hepcourse hub), "
                          "which makes them, or set auth.password and auth.admin_password")
    return passwords
