"""``hepcourse``: the facilitators' command line.

    hepcourse hub [--mode local|docker|slurm|kubernetes] [--port N]
                                                     start the hub (what `make run` does)
    hepcourse check                                  validate settings, roster, the data and modules folders
    hepcourse class prestart [--users USER...]       start the students' servers before a lecture
    hepcourse config docs                            every setting, its default and meaning
    hepcourse content sync SOURCE DEST               deliver course files (nbgitpuller rules)
    hepcourse content claims [MODULE...]             check every number the course quotes (claims.yaml)
    hepcourse content check NOTEBOOK... [--image I]  does it run here (or in the course image), and if not, why
    hepcourse content slides NOTEBOOK...             slide breaks (RISE) at the headings
    hepcourse data list|generate|fetch|verify|path   the course datasets
    hepcourse grade build|release|collect|autograde|feedback|export|status
                                                     the homework cycle (nbgrader)
    hepcourse k8s values [--settings FILE] [-o FILE] zero-to-jupyterhub's values.yaml from the settings
    hepcourse seminar push MODULE                    a fresh seminar notebook in every home
    hepcourse seminar solutions MODULE               its worked answers (seminar_solutions.ipynb)
    hepcourse state backup [FILE] | restore FILE     the course's state in one archive
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import UserError


def _hub(args) -> int:
    from .launcher import run

    return run(mode=args.mode, port=args.port)


def _check(args) -> int:
    from .config import check_data_folder, check_mode_tools, load_settings
    from .roster import load_roster

    settings = load_settings()
    roster = load_roster(settings["roster"])
    data = check_data_folder(settings)
    check_mode_tools(settings)
    print(f"settings: {settings['_file']} (mode {settings['mode']}, course {settings['course']['id']})")
    print(
        f"roster:   {settings['roster']}: {len(roster.instructors)} instructors, "
        f"{len(roster.facilitators)} facilitators, {len(roster.students)} students"
    )
    print(f"data:     {data}")
    print(f"modules:  {_modules_summary(settings['content']['source'])}")
    return 0


def _modules_summary(source) -> str:
    """The modules the course page lists, then each problem of the modules folder on a line."""
    from .content import module_index, module_problems

    modules = module_index(source)
    homework = sum(m["homework"] for m in modules)
    return "\n".join([f"{source}: {len(modules)} modules, {homework} with homework",
                      *(f"  warning: {problem}" for problem in module_problems(source))])


def _config_docs(args) -> int:
    from .config import load_schema
    from .environment import ENVIRONMENT

    def walk(schema, prefix=""):
        for key, sub in schema.get("properties", {}).items():
            name = f"{prefix}{key}"
            if "properties" in sub:
                yield from walk(sub, name + ".")
            else:
                given = "required" if key in schema.get("required", []) else f"default: {sub.get('default')!r}"
                yield name, given, " ".join(sub.get("description", "").split())
                if "properties" in sub.get("items", {}):   # a list of objects: their keys
                    yield from walk(sub["items"], name + "[].")

    for name, given, text in walk(load_schema("settings")):
        print(f"{name}  ({given})\n    {text}")
    print("\nEnvironment variables:")
    for name, text in ENVIRONMENT.items():
        print(f"{name}\n    {text}")
    return 0


def _content_sync(args) -> int:
    from .content import sync

    print(sync(args.source, args.dest).summary())
    return 0


def _content_slides(args) -> int:
    import nbformat

    from .content import mark_slides

    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        if mark_slides(notebook):
            nbformat.write(notebook, path)
            print(f"{path}: slide breaks set")
    return 0


def _content_claims(args) -> int:
    from pathlib import Path

    from .claims import check, table
    from .config import load_settings

    source = Path(load_settings()["content"]["source"])
    modules = [Path(m) if Path(m).is_dir() else source / m for m in args.modules] or \
        sorted(p for p in source.iterdir() if (p / "claims.yaml").exists())
    missing = [str(m) for m in modules if not m.is_dir()]
    if missing:
        raise UserError(f"no such module: {', '.join(missing)} (modules are folders of {source})")
    outcomes = check(modules, args.scale)
    report = table(outcomes, args.scale)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} quoted numbers hold at {args.scale} scale", file=sys.stderr)
    return 1 if failed else 0


def _content_check(args) -> int:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from .notebookcheck import check, check_in_image

    missing = [n for n in args.notebooks if not Path(n).is_file()]
    if missing:
        raise UserError(f"no such notebook: {', '.join(missing)}")
    if args.root:
        args.root = Path(args.root).resolve()
        outside = [n for n in args.notebooks if not Path(n).resolve().is_relative_to(args.root)]
        if outside:
            raise UserError(f"--root {args.root} does not hold {', '.join(outside)}")
    if args.image:
        reports = check_in_image([Path(n) for n in args.notebooks], args.image, timeout=args.timeout, root=args.root)
    else:
        reports = [check(Path(n), timeout=args.timeout, registry=args.registry, root=args.root) for n in args.notebooks]
    if args.json:
        print(json.dumps([asdict(r) for r in reports]))
        return 0 if all(r.ok for r in reports) else 1
    print(table([[r.notebook, "ran to the end" if r.ok else "failed", r.cell or "", r.cause, f"{r.seconds:.0f}"]
                 for r in reports], ["notebook", "result", "cell", "cause", "seconds"]))
    return 0 if all(r.ok for r in reports) else 1


def _k8s_values(args) -> int:
    from pathlib import Path

    import yaml

    from .config import load_settings
    from .kubernetes import CHART_VERSION, values
    from .roster import load_roster

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):  # each value written out, never as &id001 / *id001
            return True

    settings = load_settings(args.settings)
    text = (f"# zero-to-jupyterhub (chart {CHART_VERSION}) values of the course's servers, from "
            f"{settings['_file']} by `hepcourse k8s values`\n"
            + yaml.dump(values(settings, load_roster(settings["roster"])), Dumper=Dumper, sort_keys=False))
    if not args.output:
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    try:  # private: it may hold passwords or an OAuth client secret (auth)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text)
    except OSError as err:
        raise UserError(f"{path}: cannot write ({err.strerror})") from None
    print(f"{path}: zero-to-jupyterhub values (helm upgrade --install ... --values {path})", file=sys.stderr)
    return 0


def _state_backup(args) -> int:
    import time
    from pathlib import Path

    from . import state
    from .config import load_settings

    settings = load_settings()
    name = args.file or f"hepcourse-{settings['course']['id']}-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    print(state.backup(settings, Path(name)))
    return 0


def _state_restore(args) -> int:
    from pathlib import Path

    from . import state
    from .config import load_settings

    settings = load_settings()
    for aside in state.restore(settings, Path(args.file), force=args.force):
        print(f"the state that was there is kept in {aside}")
    print(f"restored {args.file} into {', '.join(map(str, state.roots(settings).values()))}")
    return 0


def _seminar_push(args) -> int:
    from .config import load_settings
    from .homes import push
    from .roster import load_roster

    settings = load_settings()
    roster = load_roster(settings["roster"])
    users = args.users or sorted(roster.students)
    unknown = sorted(set(users) - set(roster.users))
    if unknown:
        raise UserError(f"not on the roster: {', '.join(unknown)}")
    notebook = args.notebook if args.notebook.endswith(".ipynb") else f"{args.notebook}.ipynb"
    rows = push(settings, args.module, notebook, users, solutions=getattr(args, "solutions", False))
    print(table([list(r) for r in rows], ["user", "outcome", "file"]))
    beside = sum(r[1] == "beside" for r in rows)
    if beside:
        print(f"{beside} user(s) had changed their copy: it is kept, the fresh one is beside it", file=sys.stderr)
    return 0


def _class_prestart(args) -> int:
    from .config import load_settings
    from .prestart import prestart
    from .roster import load_roster

    settings = load_settings()
    students = sorted(load_roster(settings["roster"]).students)
    users = args.users or students
    unknown = sorted(set(users) - set(students))
    if unknown:
        raise UserError(f"not students on the roster: {', '.join(unknown)}")
    rows = prestart(settings, users, timeout=args.timeout)
    print(table([[user, outcome, "" if seconds is None else f"{seconds:.1f}"] for user, outcome, seconds in rows],
                ["user", "server", "seconds to ready"]))
    failed = [user for user, outcome, _ in rows if outcome not in ("started", "running")]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} servers ready", file=sys.stderr)
    return 1 if failed else 0


def table(rows: list[list[str]], header: list[str]) -> str:
    """Rows under a header, in columns: what every command prints its results as."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def handler(module: str, name: str):
    """``module.name(args)`` as a subcommand's ``func``, imported only when that command runs
    (pandas, nbgrader and torch load only for the commands that use them)."""
    def run(args) -> int:
        return getattr(importlib.import_module(module), name)(args)

    return run


def add_data_parser(sub) -> None:
    data = sub.add_parser("data", help="the course datasets").add_subparsers(dest="what", required=True)
    data.add_parser("list", help="datasets, their sizes and what is cached").set_defaults(func=handler("hepcourse.data.cli", "cmd_list"))
    for name, text in [("generate", "generate offline (Monte Carlo, same schema)"),
                       ("fetch", "download the public files (the full scale)")]:
        p = data.add_parser(name, help=text)
        p.add_argument("names", nargs="*", metavar="NAME", help="datasets (default: all)")
        if name == "generate":
            p.add_argument("--scale", help="ci, course or full (default: $HEPCOURSE_SCALE or course)")
            p.add_argument("--workers", type=int, help="parallel processes (default: all cores)")
            p.add_argument("--heldout", action="store_true",
                           help="also each assignment's held-out grading data ($HEPCOURSE_HELDOUT_DIR), seeded by the course secret")
        p.set_defaults(func=handler("hepcourse.data.cli", f"cmd_{name}"))
    p = data.add_parser("verify", help="check checksums, schemas and sizes of cached files")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--scale", default="all", help="ci, course, full or all (default)")
    p.set_defaults(func=handler("hepcourse.data.cli", "cmd_verify"))
    p = data.add_parser("path", help="where a dataset file is (generating it if needed)")
    p.add_argument("name")
    p.add_argument("--file")
    p.add_argument("--scale")
    p.set_defaults(func=handler("hepcourse.data.cli", "cmd_path"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hepcourse", description="ML-for-HEP course platform")
    sub = p.add_subparsers(dest="command", required=True)
    hub = sub.add_parser("hub", help="start the course hub")
    hub.add_argument("--mode", help="local, docker, slurm or kubernetes (default: from settings)")
    hub.add_argument("--port", type=int, help="public port (default: from settings)")
    hub.set_defaults(func=_hub)
    sub.add_parser("check", help="validate settings, roster, the data and modules folders").set_defaults(func=_check)
    config = sub.add_parser("config", help="settings reference").add_subparsers(dest="what", required=True)
    config.add_parser("docs", help="list every setting").set_defaults(func=_config_docs)
    content = sub.add_parser("content", help="course content").add_subparsers(dest="what", required=True)
    sync = content.add_parser("sync", help="merge course files into a folder")
    sync.add_argument("source")
    sync.add_argument("dest")
    sync.set_defaults(func=_content_sync)
    checks = content.add_parser("check", help="run notebooks in the course environment: did each run, and if "
                                "not, why (a missing package, a removed API, a blocked download, GPU-only code)")
    checks.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    checks.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    checks.add_argument("--image", help="run them in a throwaway container of this course image "
                        "(e.g. localhost/hepcourse/singleuser-cpu; podman or docker)")
    checks.add_argument("--root", help="copy this folder (which holds the notebooks) for each run, for notebooks "
                        "that read files beside their own folder (../data); default: each notebook's folder")
    checks.add_argument("--json", action="store_true", help="the reports as JSON, for other programs")
    checks.add_argument("--no-registry", dest="registry", action="store_false",
                        help="do not ask the package registry about a missing package (offline)")
    checks.set_defaults(func=_content_check)
    claims = content.add_parser("claims", help="run the notebooks and check every number the course quotes "
                                "(each module's claims.yaml)")
    claims.add_argument("modules", nargs="*", help="module folders or names (default: every module with claims)")
    claims.add_argument("--scale", default="course", choices=["ci", "course", "full"])
    claims.add_argument("--out", metavar="FILE", help="also write the table here (markdown)")
    claims.set_defaults(func=_content_claims)
    slides = content.add_parser("slides", help="slide breaks (RISE) at a notebook's headings")
    slides.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    slides.set_defaults(func=_content_slides)
    add_data_parser(sub)
    states = sub.add_parser("state", help="back up or restore the course's state").add_subparsers(dest="what", required=True)
    cmd = states.add_parser("backup", help="hub database, exchange, gradebook, secrets, uids in one .tar.gz")
    cmd.add_argument("file", nargs="?", metavar="FILE", help="default: hepcourse-<course>-<time>.tar.gz here")
    cmd.set_defaults(func=_state_backup)
    cmd = states.add_parser("restore", help="put a backup back (the hub stopped)")
    cmd.add_argument("file", metavar="FILE")
    cmd.add_argument("--force", action="store_true", help="move a non-empty state aside first")
    cmd.set_defaults(func=_state_restore)
    from .grading.cli import add_parser as add_grade_parser

    add_grade_parser(sub)
    classes = sub.add_parser("class", help="the class as a whole").add_subparsers(dest="what", required=True)
    cmd = classes.add_parser("prestart", help="start the students' servers before a lecture (the hub running)")
    cmd.add_argument("--users", nargs="+", metavar="USER", help="default: every student on the roster")
    cmd.add_argument("--timeout", type=float, default=900, help="seconds to wait for all of them (default: 900)")
    cmd.set_defaults(func=_class_prestart)
    k8s = sub.add_parser("k8s", help="Kubernetes (mode: kubernetes)").add_subparsers(dest="what", required=True)
    cmd = k8s.add_parser("values", help="zero-to-jupyterhub's values.yaml for the course's servers")
    cmd.add_argument("--settings", metavar="FILE", help="default: $HEPCOURSE_SETTINGS or hub/settings.yaml")
    cmd.add_argument("-o", "--output", metavar="FILE", help="write it here (private, mode 600); default: stdout")
    cmd.set_defaults(func=_k8s_values)
    seminar = sub.add_parser("seminar", help="live seminars").add_subparsers(dest="what", required=True)
    cmd = seminar.add_parser("push", help="copy a module's notebook into every student's home (never over their own)")
    cmd.add_argument("module", help="e.g. 04_neural_nets")
    cmd.add_argument("--notebook", default="seminar.ipynb", help="which notebook (default: seminar.ipynb)")
    cmd.add_argument("--users", nargs="+", metavar="USER", help="default: every student on the roster")
    cmd.set_defaults(func=_seminar_push)
    cmd = seminar.add_parser("solutions", help="release a notebook's worked answers: <name>_solutions.ipynb in every "
                             "student's home")
    cmd.add_argument("module", help="e.g. 04_neural_nets")
    cmd.add_argument("--notebook", default="seminar.ipynb", help="which notebook (default: seminar.ipynb)")
    cmd.add_argument("--users", nargs="+", metavar="USER", help="default: every student on the roster")
    cmd.set_defaults(func=_seminar_push, solutions=True)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"hepcourse: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:       # the output went into `head` or a pager that closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
