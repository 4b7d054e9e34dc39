"""Print the lines of requirements.lock that the installed course package needs at run time: the
closure of its own requirements (extras and markers evaluated here), without the development
packages (pytest, playwright, ruff and what only they need) that the lock also pins.

    python images/runtime_requirements.py requirements.lock
"""

import re
import sys
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(name: str) -> set[str]:
    """Canonical names of ``name`` and everything it requires, transitively."""
    seen, stack = set(), [(name, frozenset())]
    while stack:
        package, extras = stack.pop()
        key = (canonicalize_name(package), extras)
        if key in seen:
            continue
        seen.add(key)
        for text in distribution(package).requires or []:
            requirement = Requirement(text)
            if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras or {""}):
                continue
            stack.append((requirement.name, frozenset(requirement.extras)))
    return {package for package, _ in seen}


if __name__ == "__main__":
    needed = closure("hepcourse")
    for line in Path(sys.argv[1]).read_text().splitlines():
        if canonicalize_name(re.split(r"[=<>!~ ;]", line, maxsplit=1)[0]) in needed:
            print(line)
