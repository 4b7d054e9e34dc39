"""Static audit of a submission's own cells, before any of its code runs.

Tests run in the same kernel as the student's code, so a cell that rebinds what the tests rely on
(``np.allclose = lambda *a: True``, ``roc_auc_score = ...`` over the setup cell's import,
``get_ipython().showtraceback = ...``) could turn failures into passes. Nothing inside the
kernel can be trusted once such code ran; the audit reads the source in the grader's process
instead. A flagged cell is not executed: its source is replaced by an error that names the
finding, so the tests that need it score 0 and the reason is in the graded notebook and the
feedback. Ordinary code (assigning ``pd.options.display.max_rows``, subclassing, plotting) passes.
"""

from __future__ import annotations

import ast
import importlib
import sys
import types

# Names whose mere use in a student's cell is flagged: interpreter internals that reach the
# tests' objects, dynamic code that would hide from this audit, and the grader-only data.
FORBIDDEN_NAMES = {
    "__builtins__": "reaches the interpreter's builtins",
    "builtins": "reaches the interpreter's builtins",
    "get_ipython": "reaches the kernel that reports test failures",
    "exec": "runs code hidden from the audit",
    "eval": "runs code hidden from the audit",
    "compile": "runs code hidden from the audit",
    "__import__": "imports modules hidden from the audit",
    "importlib": "imports modules hidden from the audit",
    "ctypes": "changes memory behind the interpreter's back",
    "gc": "reaches other objects through the garbage collector",
    "heldout": "reads the held-out data that only the grader may use",
    "HEPCOURSE_HELDOUT_DIR": "reads the held-out data that only the grader may use",
}
FORBIDDEN_ATTRIBUTES = {"modules": "sys", "settrace": "sys", "setprofile": "sys", "_getframe": "sys"}
# Top-level packages the audit may import to learn whether a dotted name is a module or class.
RESOLVABLE = {"numpy", "pandas", "scipy", "sklearn", "torch", "xgboost", "matplotlib", "mplhep",
              "math", "statistics", "random", "os", "sys", "hepcourse", "awkward", "uproot", "hist",
              "vector", "nbgrader", "IPython", "unittest", "pytest", "operator", "functools"}


def module_aliases(sources: list[str]) -> dict[str, str]:
    """Names bound by ``import`` statements in ``sources``: alias -> dotted module/object path."""
    aliases = {}
    for tree in _parse_all(sources):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for name in node.names:
                    aliases[name.asname or name.name.split(".")[0]] = _bound(name)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for name in node.names:
                    aliases[name.asname or name.name] = f"{node.module}.{name.name}"
    return aliases


def protected_names(sources: list[str]) -> dict[str, str | None]:
    """Global names the locked cells bind to modules, functions or classes (imports and defs):
    what the tests call. Maps each to what its import binds (None for a def). A student's cell
    must not rebind them."""
    names: dict[str, str | None] = dict(module_aliases(sources))
    for tree in _parse_all(sources):
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = None
    return names


def audit(source: str, aliases: dict[str, str], protected: dict[str, str | None]) -> str | None:
    """The first finding in one student cell's ``source`` (None when clean). ``aliases``: the
    imports of the whole notebook; ``protected``: :func:`protected_names` of the locked cells."""
    try:
        tree = ast.parse(_python_only(source))
    except SyntaxError:
        return None                       # the kernel reports it; nothing can have run
    for node in ast.walk(tree):
        finding = _check(node, aliases, protected)
        if finding:
            return f"line {getattr(node, 'lineno', '?')}: {finding}"
    return None


def _check(node: ast.AST, aliases: dict[str, str], protected: dict[str, str | None]) -> str | None:
    if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
        return f"uses `{node.id}`, which {FORBIDDEN_NAMES[node.id]}"
    if isinstance(node, ast.alias) and node.name.split(".")[0] in FORBIDDEN_NAMES:
        return f"imports `{node.name}`, which {FORBIDDEN_NAMES[node.name.split('.')[0]]}"
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_NAMES:
        return f"imports from `{node.module}`, which {FORBIDDEN_NAMES[node.module.split('.')[0]]}"
    if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES \
            and FORBIDDEN_ATTRIBUTES[node.attr] == _dotted(node.value, aliases):
        return f"uses `sys.{node.attr}`, which reaches the interpreter's internals"
    targets = []
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in protected:
        return f"redefines `{node.name}`, which the tests use"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for name in node.names:
            bound = name.asname or name.name.split(".")[0]
            target = f"{node.module}.{name.name}" if isinstance(node, ast.ImportFrom) else _bound(name)
            if bound in protected and protected[bound] != target:
                return f"rebinds `{bound}`, which the tests use, by an import"
    for target in _flatten(targets):
        if isinstance(target, ast.Name) and target.id in protected:
            return f"rebinds `{target.id}`, which the tests use"
        if isinstance(target, ast.Attribute):
            owner = _resolve(target.value, aliases)
            if isinstance(owner, (types.ModuleType, type)):
                return f"replaces `{ast.unparse(target)}` (an attribute of a module or class the tests may use)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
        owner = _resolve(node.args[0], aliases) if node.args else None
        if owner is None or isinstance(owner, (types.ModuleType, type)):
            return f"calls `{node.func.id}` on `{ast.unparse(node.args[0]) if node.args else '?'}`"
    return None


def _bound(name: ast.alias) -> str:
    """What ``import a.b`` (binds a) or ``import a.b as c`` (binds a.b) puts in the name."""
    return name.name if name.asname else name.name.split(".")[0]


def _resolve(node: ast.AST, aliases: dict[str, str]) -> object | None:
    """The real object a dotted expression names, when it is a module/class the audit may import."""
    dotted = _dotted(node, aliases)
    if not dotted or dotted.split(".")[0] not in RESOLVABLE:
        return None
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):          # longest importable prefix, then attributes
        name = ".".join(parts[:i])
        try:
            obj = sys.modules.get(name) or importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - not a module: try a shorter prefix
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _flatten(targets):
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            yield from _flatten(target.elts)
        elif isinstance(target, ast.Starred):
            yield from _flatten([target.value])
        else:
            yield target


def _python_only(source: str) -> str:
    """Drop IPython magics and shell escapes (lines starting with % or !)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _parse_all(sources):
    for source in sources:
        try:
            yield ast.parse(_python_only(source))
        except SyntaxError:
            continue
