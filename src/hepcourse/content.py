"""Deliver the course material into a user's home without ever losing a student's work.

Merge rules follow nbgitpuller's:
- a new upstream file is copied in;
- an upstream change replaces the home copy only if the student has not modified it;
- a file the student modified is kept as it is (the student wins);
- a delivered file the student deleted is restored;
- a student's own file that collides with a new upstream file is renamed
  ``name_<timestamp>.ext`` before the upstream file is copied in;
- a file removed upstream is removed from the home only if the student never touched it.

What was delivered is remembered in ``~/.hepcourse/delivered.json`` (path -> sha256).
``push`` delivers one file now (an instructor's "everyone open this"), to the same rules except
that a student's own version is never renamed: the fresh copy lands beside it.

Worked answers of a notebook's exercises sit between ``### BEGIN SOLUTION`` and ``### END
SOLUTION`` lines, as in nbgrader's homework; students receive the notebook with each such region
replaced by ``pass  # (your code here)`` (the scaffold around it stays), until the instructor releases
the answers (``hepcourse seminar solutions``: the whole notebook as ``<name>_solutions.ipynb``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .files import replacing, sha256_of, write_json
from .locks import locked_folder

MANIFEST = Path(".hepcourse") / "delivered.json"
# nbgrader's solution delimiters (its ClearSolutions does the same for homework; importing nbgrader
# costs every server start 2 s of CPU, so the seminars' regions are cut here).
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.MULTILINE | re.DOTALL)
STUB = "pass  # (your code here)"   # a statement: the region may be a function's whole body
DEFAULT_EXCLUDE = ("homework*", ".ipynb_checkpoints", "__pycache__")


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # modified by the student: left alone
    renamed: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(v)} {k}" for k, v in vars(self).items() if v]
        return ", ".join(parts) or "up to date"


def course_files(source: Path, exclude=DEFAULT_EXCLUDE) -> dict[str, Path]:
    """Files under ``source`` to deliver, keyed by their path relative to it (POSIX)."""
    files = {}
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not _excluded(d, exclude))
        for name in sorted(names):
            if not _excluded(name, exclude):
                path = Path(root, name)
                files[path.relative_to(source).as_posix()] = path
    return files


def _excluded(name: str, patterns) -> bool:
    return name.startswith(".") or any(fnmatch.fnmatch(name, p) for p in patterns)


def sync(source: str | Path, dest: str | Path, exclude=DEFAULT_EXCLUDE, solutions: bool = False) -> SyncReport:
    """Merge the course files under ``source`` into ``dest`` (e.g. ``~/modules``): as students
    receive them, or with the worked answers (``solutions``: the course's staff)."""
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"course content folder {source} does not exist")
    with locked_folder(dest.parent / MANIFEST.parent):   # a seminar push may deliver at the same time
        return _sync(source, dest, exclude, solutions)


def _sync(source: Path, dest: Path, exclude, solutions: bool) -> SyncReport:
    delivered = _load_manifest(dest)
    report = SyncReport()
    upstream = course_files(source, exclude)
    stamp = time.strftime("%Y%m%d%H%M%S")

    for rel, src in upstream.items():
        target = dest / rel
        payload = src.read_bytes() if solutions else deliverable(src)
        new_hash = hashlib.sha256(payload).hexdigest()
        old_hash = delivered.get(rel)
        if not target.exists():
            (report.restored if old_hash else report.added).append(rel)
        elif old_hash is None:
            if sha256_of(target) == new_hash:
                delivered[rel] = new_hash
                continue
            renamed = target.with_name(f"{target.stem}_{stamp}{target.suffix}")
            target.rename(renamed)
            report.renamed.append((rel, renamed.relative_to(dest).as_posix()))
        else:
            current = sha256_of(target)
            if current != old_hash:
                if new_hash != old_hash:
                    report.kept.append(rel)
                continue
            if current == new_hash:
                continue
            report.updated.append(rel)
        _write(payload, target)
        delivered[rel] = new_hash

    for rel in sorted(set(delivered) - set(upstream)):
        target = dest / rel
        if target.exists() and sha256_of(target) == delivered[rel]:
            target.unlink()
            report.removed.append(rel)
        del delivered[rel]

    _save_manifest(dest, delivered)
    return report


def push(src: str | Path, dest: str | Path, rel: str, solutions: bool = False) -> tuple[str, str]:
    """Deliver ``src`` to ``dest/rel`` now (as students receive it, or with its worked answers:
    ``solutions``). Returns (outcome, path written, relative to dest): ``added`` (absent, or
    deleted by the student), ``updated`` (the student's copy was untouched), ``current`` (already
    this version) or ``beside`` (the student changed theirs: it stays, the fresh copy is written
    next to it as ``name_<timestamp>.ext``)."""
    src, dest = Path(src), Path(dest)
    payload = src.read_bytes() if solutions else deliverable(src)
    with locked_folder(dest.parent / MANIFEST.parent):   # the user's server may deliver at the same time
        return _push(payload, dest, rel)


def _push(payload: bytes, dest: Path, rel: str) -> tuple[str, str]:
    delivered = _load_manifest(dest)
    target, new_hash = dest / rel, hashlib.sha256(payload).hexdigest()
    current = sha256_of(target) if target.exists() else None
    if current is None:
        outcome = "added"
    elif current == new_hash:
        outcome = "current"
    elif current == delivered.get(rel):
        outcome = "updated"
    else:
        target = target.with_name(f"{target.stem}_{time.strftime('%Y%m%d%H%M%S')}{target.suffix}")
        outcome = "beside"
    if outcome != "current":
        _write(payload, target)
    if outcome != "beside":
        delivered[rel] = new_hash
        _save_manifest(dest, delivered)
    return outcome, target.relative_to(dest).as_posix()


# A module is a folder ``NN_name`` (its number orders the course page; its name is the homework's
# assignment id in nbgrader, which refuses spaces and other punctuation).
MODULE_NAME = re.compile(r"^\d{2}_[A-Za-z0-9][A-Za-z0-9_-]*$")


def module_folders(source: str | Path) -> list[Path]:
    """The course's module folders under ``source``, in order (none when it does not exist)."""
    folders = Path(source).iterdir() if Path(source).is_dir() else []
    return sorted(p for p in folders if p.is_dir() and MODULE_NAME.match(p.name))


def module_index(source: str | Path) -> list[dict]:
    """The course's modules for its landing page: folder name, title (the README's heading) and
    the notebooks students find in their home (homework comes through the Assignments tab).
    No folder, no modules: delivery reports a missing folder when a server starts."""
    return [{"name": folder.name, "title": _title(folder), "notebooks": _notebooks(folder),
             "homework": (folder / "homework.ipynb").exists()} for folder in module_folders(source)]


def _title(folder: Path) -> str:
    """The first heading of the module's README, else the folder's name."""
    readme = folder / "README.md"
    lines = readme.read_text(errors="replace").splitlines() if readme.is_file() else []
    return next((line.lstrip("#").strip() for line in lines if line.startswith("#") and line.lstrip("#").strip()),
                folder.name)


def _notebooks(folder: Path) -> list[str]:
    return [n.stem for n in sorted(folder.glob("*.ipynb")) if not n.name.startswith("homework")]


def module_problems(source: str | Path) -> list[str]:
    """What a facilitator should fix in the modules folder (nothing breaks: the course page and the
    grade commands leave out what they cannot use), one sentence each."""
    source = Path(source)
    if not source.is_dir():
        return [f"the modules folder {source} does not exist (content.source in the settings)"]
    problems = []
    for path in sorted(p for p in source.iterdir() if p.is_dir() and not _excluded(p.name, ("__pycache__",))):
        if not MODULE_NAME.match(path.name):
            problems.append(f"{path.name}: not a module folder name, so the course page and the grade commands leave "
                            "it out: name it NN_name (two digits, an underscore, then letters, digits, _ or -), "
                            "e.g. 07_graph_networks")
    for folder in module_folders(source):
        if not any(folder.glob("*.ipynb")):
            problems.append(f"{folder.name}: no notebook (.ipynb) in the folder: the course page lists the module "
                            "with nothing to open")
        if _title(folder) == folder.name:
            problems.append(f"{folder.name}: no README.md with a '# Title' line: the course page shows the folder's "
                            "name instead")
        problems += [f"{folder.name}/{notebook.name}: not a notebook (not JSON with cells): save it from JupyterLab "
                     "again" for notebook in sorted(folder.glob("*.ipynb")) if not _is_notebook(notebook)]
    return problems


def _is_notebook(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_bytes()).get("cells"), list)
    except (ValueError, AttributeError):   # not JSON, or JSON that is not an object
        return False


SLIDE_LEVELS = {"# ": "slide", "## ": "slide", "### ": "subslide"}


def mark_slides(notebook) -> int:
    """Slide breaks for RISE at the headings: a new slide at each ``#``/``##``, a subslide at
    each ``###``; other cells continue the slide above. Returns how many cells changed."""
    changed = 0
    for cell in notebook.cells:
        level = next((kind for head, kind in SLIDE_LEVELS.items()
                      if cell.cell_type == "markdown" and cell.source.startswith(head)), None)
        if level and cell.metadata.get("slideshow", {}).get("slide_type") != level:
            cell.metadata["slideshow"] = {"slide_type": level}
            changed += 1
    return changed


def _load_manifest(dest: Path) -> dict[str, str]:
    manifest_path = dest.parent / MANIFEST
    if not manifest_path.exists():
        return {}
    return json.loads(manifest_path.read_text()).get(dest.name, {})


def _save_manifest(dest: Path, delivered: dict[str, str]) -> None:
    manifest_path = dest.parent / MANIFEST
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    all_delivered = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    all_delivered[dest.name] = delivered
    write_json(manifest_path, all_delivered)


def deliverable(src: Path) -> bytes:
    """What a student receives of ``src``: a notebook without its worked answers (each solution
    region replaced by a stub), any other file as it is."""
    data = src.read_bytes()
    if src.suffix != ".ipynb" or b"### BEGIN SOLUTION" not in data:
        return data
    notebook = json.loads(data)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = SOLUTION.sub(lambda m: f"{m.group(1)}{STUB}{m.group(2)}", text).splitlines(keepends=True)
    # nbformat's own layout: indent 1, sorted keys, sources as lists of lines.
    return (json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _write(payload: bytes, target: Path) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a notebook."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as tmp:
        tmp.write_bytes(payload)

