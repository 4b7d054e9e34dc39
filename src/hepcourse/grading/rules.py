"""What students are told about grading: the budgets their notebook runs under and what its
cells may not do. Written into each homework's grading-rules cell (a markdown cell with
``metadata.hepcourse.rules``) by ``Course.build`` from the course's own settings, so the text
always states the limits that course really applies."""

from __future__ import annotations

from .audit import CODE_MAGICS

RULES_KEY = "rules"


# Where points come from: the course's own homework (verdicts), or one graded by its tests in the kernel.
OUTSIDE = """Points come from hidden checks that run **outside** your kernel, on what your code returns for
hidden inputs and for held-out events whose labels your kernel never sees: train honestly,
do not try to find the answers."""
INSIDE = """Points come from the notebook's test cells (and hidden tests), run in your kernel after your
code: a test cell scores if it runs without an error."""


def rules_markdown(settings: dict, refused: dict[str, str] | None = None, in_kernel: bool = False) -> str:
    sandbox = settings["grading"]["sandbox"]
    magics = ", ".join(f"`%{name}`" for name in sorted(CODE_MAGICS | {"matplotlib", "pip"}))
    return f"""### How this homework is graded

The autograder runs your notebook top to bottom in a fresh kernel, with:

| budget | limit |
|---|---|
| time per cell | {sandbox["cell_timeout"]} s |
| CPU time, whole notebook | {sandbox["cpu_seconds"]} s |
| threads | 1 (other students are graded on the other cores) |
| memory | {sandbox["memory"]}B |
| largest file, and each of `/tmp`, `/var/tmp`, `/dev/shm` | {sandbox["file_size"]}B |
| output, whole notebook | {sandbox["output"]}B (more is dropped) |
| GPU | none: train on the CPU within the budgets above |
| network | none |

{INSIDE if in_kernel else OUTSIDE} A cell of yours is **not run** (and your feedback says why) if it
changes what the tests use: reassigning or patching imported modules, functions or classes
(`np.allclose = ...`, `vars(np)[...]`, `__dict__`, `__setattr__`, `setattr` on a module or
class), `get_ipython()`, `exec`, `eval`, `compile`, `__import__`, `importlib`, `builtins`,
`sys.modules`, `ctypes`, `getattr` with a computed name, or magics other than {magics} and a few
display ones. Shell commands (`!ls`) are fine.
""" + "".join(f"\nThis homework does not allow `{name}`: {why}.\n" for name, why in (refused or {}).items())


def fill_rules(nb, settings: dict, in_kernel: bool = False) -> bool:
    """Write the rules into ``nb``'s rules cell (``in_kernel``: its tests run in the kernel); False
    if it has none."""
    cells = [cell for cell in nb.cells if cell.metadata.get("hepcourse", {}).get(RULES_KEY)]
    for cell in cells:
        cell.source = rules_markdown(settings, nb.metadata.get("hepcourse", {}).get("refuse"), in_kernel)
    return bool(cells)

