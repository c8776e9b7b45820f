"""Typed expression trees for activation functions and schemas, and the safe parser (no ``eval``).

The parser checks names and arities against the operator catalogue only, so it runs without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from act_bench.errors import ParseError
from act_bench.space._catalogue import OpKind, get_spec, list_operators

__all__ = ["MAX_DEPTH", "PLACEHOLDERS", "Expr", "X", "parse", "parse_schema"]

#: Placeholder names allowed in schemas, mapped to the operator kind they stand for.
PLACEHOLDERS: dict[str, OpKind] = {"unary": OpKind.UNARY, "binary": OpKind.BINARY, "n-ary": OpKind.NARY,
                                   "n_ary": OpKind.NARY, "nary": OpKind.NARY}
#: Deepest nesting the parser accepts (guards against pathological input).
MAX_DEPTH = 64
_VAR = "x"


@dataclass(frozen=True)
class Expr:
    """A node of an activation-function computation graph.

    ``Expr("x")`` is the input; any other node applies operator (or schema placeholder) ``op`` to ``args``.
    ``str(expr)`` is the canonical, upstream-compatible spelling (no spaces) and ``parse(str(expr)) == expr``.

    Examples
    --------
    >>> e = parse("max( relu(x), cosh(elu(x)) )")
    >>> str(e)
    'max(relu(x),cosh(elu(x)))'
    >>> e.n_nodes
    4
    """

    op: str
    args: tuple[Expr, ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.op
        parts: list[str] = []
        stack: list[Expr | str] = [self]
        while stack:  # iterative, so very deep trees print without recursion limits
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
            elif not item.args:
                parts.append(item.op)
            else:
                parts.append(item.op + "(")
                stack.append(")")
                for i in range(len(item.args) - 1, -1, -1):
                    stack.append(item.args[i])
                    if i:
                        stack.append(",")
        return "".join(parts)

    def __repr__(self) -> str:
        return f"Expr({str(self)!r})"

    @property
    def is_input(self) -> bool:
        return not self.args and self.op == _VAR

    @property
    def n_nodes(self) -> int:
        """Number of operator nodes (the input ``x`` is not counted)."""
        return (0 if self.is_input else 1) + sum(a.n_nodes for a in self.args)

    @property
    def is_schema(self) -> bool:
        """True if any node is a placeholder (``unary``, ``binary``, ``n-ary``)."""
        return self.op in PLACEHOLDERS or any(a.is_schema for a in self.args)

    def walk(self):
        """Yield the nodes in pre-order."""
        yield self
        for a in self.args:
            yield from a.walk()


X = Expr(_VAR)

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)?)|(?P<punct>[(),])|(?P<bad>\S))")


class _Parser:
    def __init__(self, text: str, allow_placeholders: bool) -> None:
        self.text = text
        self.allow = allow_placeholders
        self.pos = 0
        self.what = "schema" if allow_placeholders else "activation function"

    def error(self, message: str, position: int) -> ParseError:
        return ParseError(f"invalid {self.what} {self.text!r}: {message} at position {position}",
                          text=self.text, position=position)

    def peek(self) -> tuple[str, str, int]:
        """(kind, value, position) of the next token without consuming it; kind 'end' at the end."""
        m = _TOKEN.match(self.text, self.pos)
        if m is None:  # only whitespace left
            return "end", "", len(self.text)
        kind = m.lastgroup or "end"
        return kind, m.group(kind), m.start(kind)

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        m = _TOKEN.match(self.text, self.pos)
        self.pos = m.end() if m is not None else len(self.text)
        return tok

    def expect(self, char: str) -> None:
        kind, value, pos = self.take()
        if value != char or kind != "punct":
            found = "end of input" if kind == "end" else repr(value)
            raise self.error(f"expected {char!r}, found {found}", pos)

    def node(self, depth: int) -> Expr:
        kind, name, pos = self.take()
        if kind != "name":
            found = "end of input" if kind == "end" else repr(name)
            raise self.error(f"expected an operator name or 'x', found {found}", pos)
        if depth > MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels", pos)
        if name == _VAR:
            return X
        placeholder = PLACEHOLDERS.get(name)
        op = get_spec(name)
        if placeholder is not None and self.allow:
            name = placeholder.value
        elif op is None:
            hint = " (placeholders are only allowed in schemas)" if placeholder is not None else ""
            extra = ", the placeholders unary, binary, n-ary" if self.allow else ""
            raise self.error(f"unknown operator {name!r}{hint}; valid operators: {', '.join(list_operators())}"
                             f"{extra} and the input 'x'", pos)
        self.expect("(")
        args = [self.node(depth + 1)]
        while True:
            kind, value, p = self.take()
            if kind == "punct" and value == ",":
                args.append(self.node(depth + 1))
            elif kind == "punct" and value == ")":
                break
            else:
                if kind == "end":
                    raise self.error("expected ')'", p)
                raise self.error(f"expected ')' or ',', found {value!r}", p)
        if op is not None and placeholder is None and not op.accepts(len(args)):
            raise self.error(f"operator {name!r} takes {op.arity_text}, got {len(args)}", pos)
        if placeholder is not None and self.allow:
            kind_ = placeholder
            ok = len(args) == 1 if kind_ is OpKind.UNARY else len(args) == 2 if kind_ is OpKind.BINARY else len(args) >= 2
            if not ok:
                raise self.error(f"placeholder {name!r} cannot take {len(args)} arguments", pos)
        return Expr(name, tuple(args))

    def parse(self) -> Expr:
        if not isinstance(self.text, str):
            raise ParseError(f"an {self.what} must be a string; got {type(self.text).__name__}")
        if not self.text.strip():
            raise self.error("empty string", 0)
        expr = self.node(0)
        kind, value, pos = self.take()
        if kind != "end":
            raise self.error(f"unexpected {value!r} after the end of the expression", pos)
        return expr


def parse(text: str) -> Expr:
    """Parse an activation-function string such as ``"max(relu(x),cosh(elu(x)))"`` into an :class:`Expr`.

    Whitespace is ignored. Raises :class:`act_bench.errors.ParseError` (a ``ValueError``) naming the position and
    what was expected, e.g. ``expected ')' at position 11`` for ``"max(relu(x)"``.

    Examples
    --------
    >>> str(parse("add( x , sigmoid(x))"))
    'add(x,sigmoid(x))'
    """
    return _Parser(text, allow_placeholders=False).parse()


def parse_schema(text: str) -> Expr:
    """Parse a schema: an expression whose nodes may be the placeholders ``unary``, ``binary`` or ``n-ary``.

    Examples
    --------
    >>> str(parse_schema("binary(unary(x), unary(x))"))
    'binary(unary(x),unary(x))'
    """
    return _Parser(text, allow_placeholders=True).parse()
