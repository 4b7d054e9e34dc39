"""Entry point of every user's server (local process or container): deliver the course into the
home, then run ``jupyterhub-singleuser`` in this same process.

``$HEPCOURSE_CONTENT`` names the course folder (the repo's ``modules/`` locally,
``/opt/hepcourse/modules`` in the image); it lands in ``~/modules``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import content


def deliver_course(env=os.environ) -> None:
    source = env.get("HEPCOURSE_CONTENT")
    if not source:
        return
    exclude = [p for p in env.get("HEPCOURSE_CONTENT_EXCLUDE", "").split(":") if p] or None
    home = Path(env.get("HOME") or Path.home())
    try:
        report = content.sync(source, home / "modules", exclude or content.DEFAULT_EXCLUDE)
    except OSError as err:  # never block a student's server on a content problem
        print(f"hepcourse: course content not delivered: {err}", file=sys.stderr)
        return
    print(f"hepcourse: course content in {home / 'modules'}: {report.summary()}", file=sys.stderr)
    for rel, new in report.renamed:
        print(f"hepcourse: your file modules/{rel} was renamed to modules/{new}", file=sys.stderr)


def main() -> int:
    deliver_course()
    from jupyterhub.singleuser import main as singleuser_main

    sys.argv[0] = "jupyterhub-singleuser"
    return singleuser_main()


if __name__ == "__main__":
    sys.exit(main())
