"""The course roster: who may log in, and as instructor, facilitator (grader) or student.

YAML (``instructors: [...]``, ``facilitators: [...]``, ``students: [...]``) or CSV with the
columns ``username,role``. Groups follow nbgrader's multi-user convention.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, fill_defaults, load_schema, read_yaml, validate

ROLES = ("instructors", "facilitators", "students")
CSV_ROLES = {"instructor": "instructors", "facilitator": "facilitators", "student": "students"}


@dataclass(frozen=True)
class Roster:
    instructors: tuple[str, ...]
    facilitators: tuple[str, ...]
    students: tuple[str, ...]

    @property
    def users(self) -> set[str]:
        return set(self.instructors) | set(self.facilitators) | set(self.students)

    @property
    def graders(self) -> list[str]:
        return [*self.instructors, *self.facilitators]

    def groups(self, course_id: str) -> dict[str, list[str]]:
        """JupyterHub groups: nbgrader's ``formgrade-<course>`` and ``nbgrader-<course>``."""
        return {
            f"formgrade-{course_id}": self.graders,
            f"nbgrader-{course_id}": list(self.students),
            "instructors": list(self.instructors),
        }


def load_roster(path: str | Path) -> Roster:
    path = Path(path)
    data = _read_csv(path) if path.suffix.lower() == ".csv" else read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {', '.join(ROLES)}")
    schema = load_schema("roster")
    data = fill_defaults(data, schema)
    validate(data, schema, str(path))
    seen: dict[str, str] = {}
    clashes = []
    for role in ROLES:
        for name in data[role]:
            if name in seen:
                clashes.append(f"{path}: {name!r} is listed as both {seen[name][:-1]} and {role[:-1]}")
            seen[name] = role
    if clashes:
        raise ConfigError("\n".join(clashes))
    return Roster(*(tuple(data[role]) for role in ROLES))


def _read_csv(path: Path) -> dict:
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    if rows and not {"username", "role"} <= set(rows[0]):
        raise ConfigError(f"{path}: the CSV header must name the columns 'username' and 'role'")
    data: dict[str, list[str]] = {role: [] for role in ROLES}
    for line, row in enumerate(rows, start=2):
        role = CSV_ROLES.get((row["role"] or "").strip().lower())
        if role is None:
            raise ConfigError(
                f"{path}: line {line}: role {row['role']!r} is not one of {', '.join(CSV_ROLES)}"
            )
        data[role].append((row["username"] or "").strip())
    return data
