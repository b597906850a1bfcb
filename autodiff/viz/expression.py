"""Formulas typed by people (``autodiff graph "sin(exp(x*y) + 2*x**2)"``), built as graphs
without ever running their text.

The text goes to ``ast.parse``, which only builds a syntax tree; every node of the tree is then
checked against a whitelist (numbers, names, ``+ - * / **``, unary ``-``, calls of the functions
in :data:`FUNCTIONS`, and ``name = expression`` statements separated by ``;`` or newlines, as in
the lecture's program ``z1 = x * y; ...; out = sin(z5)``), with limits on length, nesting, size
and constant exponents.  The checked tree is evaluated by a small interpreter that calls engine
operations; nothing reaches ``eval``, ``exec`` or ``compile``.  Walks are iterative.  Errors
show the text with a caret under the offending character.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from autodiff import ops
from autodiff.creation import tensor
from autodiff.tensor import Tensor

MAX_LENGTH = 2000  # characters
MAX_DEPTH = 100  # nesting of brackets
MAX_NODES = 1000  # syntax-tree nodes (this also bounds the depth of the tree)
MAX_EXPONENT = 100  # |c| for a constant exponent x ** c
WINDOW = 40  # error messages show this many characters each side of the caret

FUNCTIONS: dict[str, tuple[Callable[..., Tensor], int]] = {
    name: (getattr(ops, name), 1)
    for name in ("sin cos tan exp log log1p expm1 sqrt tanh sigmoid softplus relu abs sum mean".split())
}
FUNCTIONS.update(maximum=(ops.maximum, 2), minimum=(ops.minimum, 2))
CONSTANTS = {"pi": math.pi}
BINARY: dict[type, Callable[[Any, Any], Tensor]] = {
    ast.Add: ops.add,
    ast.Sub: ops.subtract,
    ast.Mult: ops.multiply,
    ast.Div: ops.divide,
    ast.Pow: ops.power,
}
FORBIDDEN = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.Compare: "comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "a conditional expression",
    ast.JoinedStr: "an f-string",
    ast.Starred: "*-unpacking",
    ast.keyword: "a keyword argument",
    ast.NamedExpr: "the walrus operator",
    ast.Import: "import",
    ast.ImportFrom: "import",
}
ALLOWED = "numbers, variables, + - * / **, unary -, name = ... statements, and calls of " + ", ".join(
    sorted(FUNCTIONS)
)


class ExpressionError(ValueError):
    """A formula that is refused: the message, then the line with a caret under ``offset``."""

    def __init__(self, message: str, text: str, offset: int):
        self.message, self.text, self.offset = message, text, offset
        start = max(text.rfind("\n", 0, offset) + 1, text.rfind("\r", 0, offset) + 1)
        end = min(
            (i for i in (text.find("\n", offset), text.find("\r", offset)) if i >= 0), default=len(text)
        )
        line = "".join(c if c.isprintable() else " " for c in text[start:end])
        column = offset - start
        if len(line) > 2 * WINDOW:  # show the part of a long line around the caret
            left = max(0, min(column - WINDOW, len(line) - 2 * WINDOW))
            line, column = line[left : left + 2 * WINDOW], column - left
            line = ("..." if left else "") + line + ("..." if left + 2 * WINDOW < end - start else "")
            column += 3 if left else 0
        super().__init__(f"{message}\n  {line}\n  {' ' * column}^")


@dataclass
class Formula:
    """A checked formula: its statements, and the variables it reads (with where each is
    first read) that are not assigned before."""

    text: str
    statements: list[ast.stmt]
    variables: dict[str, int]


def parse(text: str) -> Formula:
    """Check ``text`` against the whitelist and the limits; raise :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise TypeError(f"parse: expected the formula as a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters", text, MAX_LENGTH)
    if "\0" in text:
        raise ExpressionError("the expression contains a NUL character", text, text.index("\0"))
    if not text.strip():
        raise ExpressionError("the expression is empty", text, 0)
    depth = 0
    for i, c in enumerate(text):
        depth += (c in "([{") - (c in ")]}")
        if depth > MAX_DEPTH:
            raise ExpressionError(f"brackets are nested more than {MAX_DEPTH} deep", text, i)
    positions = _Positions(text)
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as error:
        offset = positions.char(error.lineno or 1, error.offset or 1, chars=True) - 1
        raise ExpressionError(f"syntax error: {error.msg}", text, max(offset, 0)) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply", text, 0) from None
    return Formula(text, tree.body, _check(tree, text, positions))


class _Positions:
    """Character offsets in the text from the (line, UTF-8 byte column) pairs of ``ast``."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def char(self, lineno: int, col: int, chars: bool = False) -> int:
        start = self.starts[min(max(lineno, 1), len(self.starts)) - 1]
        if chars:
            return start + col
        line = self.text[start:].encode("utf-8")[:col]
        return start + len(line.decode("utf-8", "replace"))

    def of(self, node: ast.AST) -> int:
        if isinstance(node, ast.Attribute):  # point at the attribute's name
            return self.char(node.end_lineno or 1, (node.end_col_offset or 0)) - len(node.attr)
        return self.char(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))


def _check(tree: ast.Module, text: str, positions: _Positions) -> dict[str, int]:
    """Walk the tree (iteratively, statements in order) and return the free variables."""

    def refuse(message: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(message, text, positions.of(node))

    if not tree.body:
        raise ExpressionError("the expression is empty (only a comment?)", text, 0)
    assigned: set[str] = set()
    free: dict[str, int] = {}
    count = 0
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            target = statement.targets[0]
            if len(statement.targets) != 1 or not isinstance(target, ast.Name):
                raise refuse("only assignments to one name are allowed (z1 = x * y)", target)
            _check_name(target, refuse)
            root: ast.AST = statement.value
        elif isinstance(statement, ast.Expr):
            root = statement.value
        else:
            raise refuse(f"{_describe(statement)} is not allowed: an expression may use {ALLOWED}", statement)
        stack = [root]
        while stack:
            node = stack.pop()
            count += 1
            if count > MAX_NODES:
                raise refuse(f"the expression has more than {MAX_NODES} parts", node)
            stack.extend(reversed(_children(node, refuse)))
            if isinstance(node, ast.Name):
                _check_name(node, refuse)
                if node.id not in assigned and node.id not in CONSTANTS:
                    free.setdefault(node.id, positions.of(node))
        if isinstance(statement, ast.Assign):
            assigned.add(statement.targets[0].id)
    return free


def _children(node: ast.AST, refuse: Callable[[str, ast.AST], ExpressionError]) -> list[ast.AST]:
    """The operands of an allowed node, or an error for anything else."""
    if isinstance(node, ast.BinOp):
        if type(node.op) not in BINARY:
            raise refuse(f"the operator {_describe(node.op)} is not allowed: use + - * / **", node)
        if isinstance(node.op, ast.Pow):
            _check_exponent(node.right, refuse)
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise refuse(f"the operator {_describe(node.op)} is not allowed: only unary - and +", node)
        return [node.operand]
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise refuse(
                f"only functions can be called, by name ({_describe(node.func)} is not allowed)", node.func
            )
        name = node.func.id
        if name not in FUNCTIONS:
            raise refuse(
                f"unknown function '{name}': the functions are {', '.join(sorted(FUNCTIONS))}", node.func
            )
        if node.keywords:
            raise refuse(f"{name}() takes no keyword arguments", node.keywords[0].value)
        arity = FUNCTIONS[name][1]
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise refuse("*-unpacking is not allowed", arg)
        if len(node.args) != arity:
            raise refuse(
                f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(node.args)}", node
            )
        return list(node.args)
    if isinstance(node, ast.Constant):
        _number(node, refuse)
        return []
    if isinstance(node, ast.Name):
        return []
    raise refuse(f"{_describe(node)} is not allowed: an expression may use {ALLOWED}", node)


def _check_name(node: ast.Name, refuse: Callable[[str, ast.AST], ExpressionError]) -> None:
    if node.id.startswith("_"):
        raise refuse(f"names starting with '_' are not allowed ('{node.id}')", node)
    if node.id in FUNCTIONS:
        raise refuse(f"'{node.id}' is a function: call it, as in {node.id}(x)", node)
    if isinstance(node.ctx, ast.Store) and node.id in CONSTANTS:
        raise refuse(f"'{node.id}' is a constant and cannot be assigned", node)


def _number(node: ast.Constant, refuse: Callable[[str, ast.AST], ExpressionError]) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        what = "strings" if isinstance(value, str | bytes) else f"{type(value).__name__} constants"
        raise refuse(f"{what} are not allowed: only real numbers", node)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise refuse("this number is too large for a float64", node)
    return number


def _check_exponent(node: ast.AST, refuse: Callable[[str, ast.AST], ExpressionError]) -> None:
    inner = node.operand if isinstance(node, ast.UnaryOp) else node
    if isinstance(inner, ast.Constant) and abs(_number(inner, refuse)) > MAX_EXPONENT:
        raise refuse(f"the exponent is too large: at most {MAX_EXPONENT} in absolute value", node)


def _describe(node: ast.AST) -> str:
    return FORBIDDEN.get(type(node)) or f"'{type(node).__name__}'"


def evaluate(formula: Formula, values: Mapping[str, float | Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """Build the graph: the output tensor, and the inputs ``{name: leaf that requires grad}``.

    Each variable is a float (made a leaf that requires grad, named after it) or a Tensor;
    assigned intermediate results are named after their variable (``z1``)."""
    text = formula.text
    missing = [name for name in formula.variables if name not in values]
    if missing:
        raise ExpressionError(
            f"no value for the variable '{missing[0]}' (give {', '.join(f'{m}=...' for m in missing)})",
            text,
            formula.variables[missing[0]],
        )
    inputs = {
        name: v if isinstance(v, Tensor) else tensor(float(v), requires_grad=True).name(name)
        for name, v in values.items()
        if name in formula.variables
    }
    env: dict[str, Any] = {**CONSTANTS, **inputs}
    positions = _Positions(text)
    result: Any = None
    for statement in formula.statements:
        result = _value(statement.value, env, lambda m, n: ExpressionError(m, text, positions.of(n)))
        if isinstance(statement, ast.Assign):
            name = statement.targets[0].id
            if isinstance(result, Tensor) and result.op is not None and result.label is None:
                result.name(name)
            env[name] = result
    if not isinstance(result, Tensor) or not result.requires_grad:
        raise ExpressionError("the expression does not depend on any variable", text, 0)
    return result, inputs


def _value(root: ast.AST, env: Mapping[str, Any], refuse: Callable[[str, ast.AST], ExpressionError]) -> Any:
    """Post-order evaluation with an explicit stack; numbers stay Python floats only as long
    as no arithmetic happens on them alone (that goes through the engine as float64)."""
    results: list[Any] = []
    stack: list[tuple[ast.AST, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if isinstance(node, ast.Constant):
            results.append(float(node.value))
        elif isinstance(node, ast.Name):
            results.append(env[node.id])
        elif not ready:
            stack.append((node, True))
            operands = [node.left, node.right] if isinstance(node, ast.BinOp) else getattr(node, "args", None)
            stack.extend((child, False) for child in reversed(operands or [node.operand]))
        else:
            n = 2 if isinstance(node, ast.BinOp) else len(getattr(node, "args", [None]))
            args = results[len(results) - n :]
            del results[len(results) - n :]
            if isinstance(node, ast.UnaryOp):
                a = args[0]
                if isinstance(node.op, ast.USub):
                    a = -a if isinstance(a, float) else _apply(ops.negative, args, node, refuse)
                results.append(a)
            elif isinstance(node, ast.BinOp):
                results.append(_apply(BINARY[type(node.op)], args, node, refuse))
            else:
                results.append(_apply(FUNCTIONS[node.func.id][0], args, node, refuse))
    return results[0]


def _apply(fn: Callable[..., Tensor], args: list, node: ast.AST, refuse: Callable) -> Tensor:
    if not any(isinstance(a, Tensor) for a in args):
        args = [tensor(args[0]), *args[1:]]  # constants combine as float64 arrays, never Python ints
    try:
        return fn(*args)
    except (ValueError, TypeError, ArithmeticError) as error:
        raise refuse(f"cannot evaluate this: {error}", node) from None
