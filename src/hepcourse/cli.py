"""``hepcourse``: the facilitators' command line.

    hepcourse hub [--mode local|docker] [--port N]   start the hub (what `make run` does)
    hepcourse check                                  validate settings and roster
    hepcourse config docs                            every setting, its default and meaning
    hepcourse content sync SOURCE DEST               deliver course files (nbgitpuller rules)
"""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError


def _hub(args) -> int:
    from .launcher import run

    return run(mode=args.mode, port=args.port)


def _check(args) -> int:
    from .config import load_settings
    from .roster import load_roster

    settings = load_settings()
    roster = load_roster(settings["roster"])
    print(f"settings: {settings['_file']} (mode {settings['mode']}, course {settings['course']['id']})")
    print(
        f"roster:   {settings['roster']}: {len(roster.instructors)} instructors, "
        f"{len(roster.facilitators)} facilitators, {len(roster.students)} students"
    )
    return 0


def _config_docs(args) -> int:
    from .config import load_schema

    def walk(schema, prefix=""):
        for key, sub in schema.get("properties", {}).items():
            name = f"{prefix}{key}"
            if "properties" in sub:
                yield from walk(sub, name + ".")
            else:
                yield name, sub.get("default"), " ".join(sub.get("description", "").split())

    for name, default, text in walk(load_schema("settings")):
        print(f"{name}  (default: {default!r})\n    {text}")
    return 0


def _content_sync(args) -> int:
    from .content import sync

    print(sync(args.source, args.dest).summary())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hepcourse", description="ML-for-HEP course platform")
    sub = p.add_subparsers(dest="command", required=True)
    hub = sub.add_parser("hub", help="start the course hub")
    hub.add_argument("--mode", help="local or docker (default: from settings)")
    hub.add_argument("--port", type=int, help="public port (default: from settings)")
    hub.set_defaults(func=_hub)
    sub.add_parser("check", help="validate settings and roster").set_defaults(func=_check)
    config = sub.add_parser("config", help="settings reference").add_subparsers(dest="what", required=True)
    config.add_parser("docs", help="list every setting").set_defaults(func=_config_docs)
    content = sub.add_parser("content", help="course content").add_subparsers(dest="what", required=True)
    sync = content.add_parser("sync", help="merge course files into a folder")
    sync.add_argument("source")
    sync.add_argument("dest")
    sync.set_defaults(func=_content_sync)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"hepcourse: invalid configuration\n{err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"hepcourse: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
