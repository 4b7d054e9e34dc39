"""Static audit of a submission's own cells, before any of its code runs: the second wall.

Points come only from verdicts run outside the kernel (``verdicts.py``), which hold whatever a
kernel does. The audit is the second wall, and the one students meet: a cell that tampers with
what the tests run (``np.allclose = lambda *a: True``, ``roc_auc_score = ...`` over the setup
cell's import, ``get_ipython().showtraceback = ...``, an IPython input transformer) is not run:
its source is replaced by an error naming the finding, so the tests that need it score 0 and
the reason is in the graded notebook and the feedback. Cells are read as IPython reads them
(magics and shell escapes become Python first), so ``%time <code>`` is audited like any code.
Ordinary code (assigning ``pd.options.display.max_rows``, subclassing, plotting, ``%matplotlib``,
``!ls``, ``gc.collect()``) passes.
"""

from __future__ import annotations

import ast
import importlib
import sys
import types

from IPython.core.inputtransformer2 import TransformerManager

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
}
FORBIDDEN_ATTRIBUTES = {"modules": "sys", "settrace": "sys", "setprofile": "sys", "_getframe": "sys"}
# Attributes that change any object behind the audit's back, whatever they are called on.
FORBIDDEN_DUNDERS = {"__setattr__", "__delattr__", "__dict__", "__globals__", "__code__"}
# IPython calls that magics and shell escapes become; of the magics, those whose argument is code
# (audited like the cell) and those that do nothing to the tests.
CODE_MAGICS = {"time", "timeit", "prun", "capture"}
HARMLESS_MAGICS = {"matplotlib", "config", "pip", "conda", "env", "who", "whos", "precision", "pprint", "writefile",
                   "bash", "sh", "html", "markdown", "latex", "load_ext", "autoreload", "history", "pwd", "ls", "cd"}
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


def audit(source: str, aliases: dict[str, str], protected: dict[str, str | None],
          refused: dict[str, str] | None = None) -> str | None:
    """The first finding in one student cell's ``source`` (None when clean). ``aliases``: the
    imports of the whole notebook; ``protected``: :func:`protected_names` of the locked cells;
    ``refused``: names this homework does not allow (e.g. a package function that is one of its
    answers), with why."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError as err:
        return f"line {err.lineno}: not valid Python ({err.msg})"
    magics = {}
    for node in ast.walk(tree):
        call = _magic(node)
        if call:
            magics[id(node.func.value.func)] = call
    for node in ast.walk(tree):
        if id(node) in magics:
            method, args = magics[id(node)]
            finding = _check_magic(method, args, aliases, protected, refused or {})
        else:
            finding = _check(node, aliases, protected) or _refused(node, refused or {})
        if finding:
            return f"line {getattr(node, 'lineno', '?')}: {finding}"
    return None


def _magic(node: ast.AST) -> tuple[str, list[str]] | None:
    """(method, constant arguments) of ``get_ipython().<magic or shell call>(...)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput") \
            and isinstance(node.func.value, ast.Call) and not node.func.value.args \
            and isinstance(node.func.value.func, ast.Name) and node.func.value.func.id == "get_ipython" \
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args) and not node.keywords:
        return node.func.attr, [a.value for a in node.args]
    return None


def _check_magic(method: str, args: list[str], aliases, protected, refused) -> str | None:
    if method in ("system", "getoutput"):
        return None                              # a shell command: no more than the kernel may do
    name = args[0] if args else ""
    if name in CODE_MAGICS:
        return audit("\n".join(args[1:]), aliases, protected, refused)
    if name in HARMLESS_MAGICS:
        return None
    return f"uses the magic %{name}, which runs code hidden from the audit"


def _refused(node: ast.AST, refused: dict[str, str]) -> str | None:
    """A use of a name the homework refuses: as a name, an attribute, an import or getattr's."""
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.alias):
        name = node.name.split(".")[-1]
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        name = node.value
    else:
        return None
    return f"uses `{name}`, which this homework does not allow: {refused[name]}" if name in refused else None


def _check(node: ast.AST, aliases: dict[str, str], protected: dict[str, str | None]) -> str | None:
    if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
        return f"uses `{node.id}`, which {FORBIDDEN_NAMES[node.id]}"
    if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_DUNDERS:
        return f"uses `{node.attr}`, which changes objects behind the audit's back"
    if isinstance(node, ast.ImportFrom) and node.module == "sys" \
            and any(n.name in FORBIDDEN_ATTRIBUTES for n in node.names):
        return "imports the interpreter's internals from `sys`"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "vars" and node.args \
            and isinstance(node.args[0], (ast.Name, ast.Attribute, ast.Subscript)) and ast.unparse(node.args[0]) != "self":
        owner = _resolve(node.args[0], aliases)
        if owner is None or isinstance(owner, (types.ModuleType, type)):
            return f"calls `vars` on `{ast.unparse(node.args[0])}` (the tests' modules may be changed through it)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
            and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
        return "calls `getattr` with a computed name, which hides from the audit what it reaches"
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


def _python(source: str) -> str:
    """The cell as IPython runs it: magics and shell escapes turned into Python calls (same lines)."""
    return TransformerManager().transform_cell(source)


def _parse_all(sources):
    for source in sources:
        try:
            yield ast.parse(_python(source))
        except SyntaxError:
            continue
