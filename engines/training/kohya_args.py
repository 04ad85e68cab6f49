"""sd-scripts' own command-line options, read from its source, and our kohya arguments checked against them.

Importing sd-scripts to build its parser would need its whole environment (its pinned torch, its
``library`` package and their dependencies), so the definitions are read statically: starting from the
script's ``setup_parser``, every ``add_argument`` call is collected, following the helper functions it
passes the parser to (``train_util.add_training_arguments(parser, ...)`` and the like) and the
``setup_parser`` of a script it extends (``sdxl_train_network`` builds on ``train_network``). Each option
keeps whether it takes a value and its ``choices``. The check then names every argument sd-scripts would
reject, before a run starts.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from pathlib import Path

VALUELESS_ACTIONS = ("store_true", "store_false", "count", "help")


@dataclass(frozen=True)
class Option:
    flag: str
    takes_value: bool
    choices: tuple | None = None


class _Source:
    """The checkout's Python modules by dotted name (``train_network``, ``library.train_util``), parsed on demand."""

    def __init__(self, root: Path) -> None:
        self.root, self.trees = root, {}

    def tree(self, module: str) -> ast.Module | None:
        if module not in self.trees:
            path = self.root.joinpath(*module.split(".")).with_suffix(".py")
            with warnings.catch_warnings():  # their regex strings' escapes are not ours to warn about
                warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
                self.trees[module] = ast.parse(path.read_text(encoding="utf-8")) if path.is_file() else None
        return self.trees[module]

    def imports(self, module: str) -> dict[str, tuple[str, str | None]]:
        """Local name -> (module, function or None for a module alias)."""
        names = {}
        for node in ast.walk(self.tree(module) or ast.Module([], [])):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name] = (alias.name, None)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    names[alias.asname or alias.name] = (node.module, alias.name)
        return names

    def function(self, module: str, name: str) -> ast.FunctionDef | None:
        tree = self.tree(module)
        for node in tree.body if tree else []:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        return None


def _option(call: ast.Call) -> list[Option]:
    flags = [a.value for a in call.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")]
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    action = keywords.get("action")
    valueless = isinstance(action, ast.Constant) and action.value in VALUELESS_ACTIONS
    choices = None
    if "choices" in keywords:
        try:
            choices = tuple(ast.literal_eval(keywords["choices"]))
        except ValueError:
            choices = None  # computed choices: not checkable statically
    return [Option(flag, not valueless, choices) for flag in flags]


def _callee(source: _Source, module: str, func: ast.expr) -> tuple[str, str] | None:
    imports = source.imports(module)
    if isinstance(func, ast.Name):
        target = imports.get(func.id)
        return (target[0], target[1]) if target and target[1] else (module, func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in imports:
        owner, name = imports[func.value.id]
        return (f"{owner}.{name}" if name else owner, func.attr)
    return None


def read_options(sd_scripts: str | Path, script: str = "train_network.py") -> dict[str, Option]:
    """Every option ``script``'s ``setup_parser`` defines, by flag (``--network_dim``)."""
    source = _Source(Path(sd_scripts))
    if source.tree(script.removesuffix(".py")) is None:
        raise FileNotFoundError(f"{Path(sd_scripts) / script} not found (is it an sd-scripts checkout?)")
    options: dict[str, Option] = {}
    pending, seen = [(script.removesuffix(".py"), "setup_parser")], set()
    while pending:
        module, name = pending.pop()
        function = source.function(module, name)
        if (module, name) in seen or function is None:
            continue
        seen.add((module, name))
        for call in (node for node in ast.walk(function) if isinstance(node, ast.Call)):
            if isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument":
                options.update({option.flag: option for option in _option(call)})
                continue
            target = _callee(source, module, call.func)
            passes_parser = any(isinstance(arg, ast.Name) and "parser" in arg.id for arg in call.args)
            if target and (passes_parser or target[1] == "setup_parser"):
                pending.append(target)
    return options


def argument_problems(args: list[str], options: dict[str, Option]) -> list[str]:
    """What sd-scripts' parser would reject in ``args``: unknown flags, missing values, values off its choices."""
    problems = []
    index = 0
    while index < len(args):
        flag = args[index]
        option = options.get(flag)
        value = args[index + 1] if index + 1 < len(args) and not args[index + 1].startswith("--") else None
        if option is None:
            problems.append(f"{flag}: sd-scripts has no such option")
        elif option.takes_value and value is None:
            problems.append(f"{flag}: sd-scripts expects a value")
        elif not option.takes_value and value is not None:
            problems.append(f"{flag}: sd-scripts takes no value, got {value!r}")
        elif option.choices and value is not None and value not in {str(c) for c in option.choices}:
            problems.append(f"{flag} {value}: sd-scripts accepts {', '.join(str(c) for c in option.choices)}")
        index += 2 if value is not None else 1
    return problems
