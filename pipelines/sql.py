"""Quoting for SQL assembled in Python: identifiers, string literals and lists of them."""

from __future__ import annotations

from collections.abc import Iterable


def q(name: str) -> str:
    """Quote an identifier (a column or table name)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """Quote a string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: Iterable[str]) -> str:
    """A parenthesised list of string literals, for IN (...)."""
    return "(" + ", ".join(lit(v) for v in values) + ")"
