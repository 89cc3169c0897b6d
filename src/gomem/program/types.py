"""Go type expressions for programs: "int", "*Node", "[]*Node", "[8]byte".

A Program names its struct types; field and local types are written as Go
type expressions and resolved here into runtime type descriptors
(gomem.runtime.type). A pointer's layout never depends on what it points
to, so `*Node` can appear inside Node itself: the pointee is looked up by
name only when a program dereferences the pointer.

Supported: bool, byte/uint8/int8, int16, int32/rune, uint32, int, int64,
uint, uint64, uintptr, float32, float64, string, any/interface{},
unsafe.Pointer, *T, []T, [N]T and named structs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gomem.runtime.type import (
    BOOL,
    FLOAT32,
    FLOAT64,
    INT,
    INT8,
    INT16,
    INT32,
    INT64,
    INTERFACE,
    STRING,
    UINT8,
    UINT32,
    UINT64,
    UINTPTR,
    UNSAFE_POINTER,
    Kind,
    Type,
    array_of,
    slice_of,
    struct_of,
)

BASIC: dict[str, Type] = {
    "bool": BOOL,
    "byte": UINT8,
    "uint8": UINT8,
    "int8": INT8,
    "int16": INT16,
    "int32": INT32,
    "rune": INT32,
    "uint32": UINT32,
    "int": INT,
    "int64": INT64,
    "uint": UINT64,
    "uint64": UINT64,
    "uintptr": UINTPTR,
    "float32": FLOAT32,
    "float64": FLOAT64,
    "string": STRING,
    "any": INTERFACE,
    "interface{}": INTERFACE,
    "unsafe.Pointer": UNSAFE_POINTER,
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ARRAY = re.compile(r"\[(\d+)\](.+)\Z")


class TypeError_(ValueError):
    """A type expression that does not parse or names an unknown type."""


@dataclass(frozen=True, slots=True)
class Field:
    """A struct field as a program sees it."""

    name: str
    offset: int
    type: Type
    expr: str  # the type expression it was declared with, e.g. "*Node"


class StructType:
    """A named struct of a Program: its runtime Type and its fields by name."""

    def __init__(self, name: str, fields: dict[str, str]) -> None:
        self.name = name
        self.field_exprs = fields
        self._type: Type | None = None
        self.fields: dict[str, Field] = {}
        self.store_facts: dict[str, tuple[Any, ...]] = {}  # the program API's field cache

    def resolve(self, universe: TypeUniverse) -> Type:
        if self._type is None:
            placed = [(n, universe.parse(e)) for n, e in self.field_exprs.items()]
            self._type = struct_of(*placed, name=self.name)
            for (fname, offset, ftype), expr in zip(
                self._type.fields, self.field_exprs.values(), strict=True
            ):
                self.fields[fname] = Field(fname, offset, ftype, expr)
        return self._type

    @property
    def type(self) -> Type:
        if self._type is None:
            raise TypeError_(f"struct {self.name} is not resolved yet")
        return self._type

    def __repr__(self) -> str:
        return f"StructType({self.name})"


class TypeUniverse:
    """The named types of one program and the parser of type expressions."""

    def __init__(self) -> None:
        self.structs: dict[str, StructType] = {}
        self._cache: dict[str, Type] = {}

    def declare(self, name: str, fields: dict[str, str]) -> StructType:
        if not _NAME.match(name) or name in BASIC:
            raise TypeError_(f"bad struct name {name!r}")
        if name in self.structs:
            raise TypeError_(f"struct {name} declared twice")
        st = StructType(name, fields)
        self.structs[name] = st
        return st

    def parse(self, expr: str) -> Type:
        """The runtime Type of a Go type expression."""
        expr = expr.strip()
        cached = self._cache.get(expr)
        if cached is not None:
            return cached
        t = self._parse(expr)
        self._cache[expr] = t
        return t

    def _parse(self, expr: str) -> Type:
        if expr in BASIC:
            return BASIC[expr]
        if expr.startswith("*"):
            inner = expr[1:].strip()
            self._check_names(inner, expr)
            # Layout of a pointer is one pointer word, whatever it points to.
            return Type(f"*{inner}", Kind.POINTER, 8, 8, 8, 1)
        if expr.startswith("[]"):
            return slice_of(self.parse(expr[2:]))
        m = _ARRAY.match(expr)
        if m:
            return array_of(self.parse(m.group(2)), int(m.group(1)))
        if expr in self.structs:
            return self.structs[expr].resolve(self)
        raise TypeError_(f"unknown type {expr!r}")

    def _check_names(self, inner: str, expr: str) -> None:
        base = inner.lstrip("*[]0123456789").strip()
        if base not in BASIC and base not in self.structs and not _NAME.match(base):
            raise TypeError_(f"bad type expression {expr!r}")

    def pointee(self, ptr_expr: str) -> Type | StructType | None:
        """What a pointer of this expression points to (a StructType for named structs)."""
        inner = ptr_expr.strip()[1:].strip()
        if inner in self.structs:
            st = self.structs[inner]
            st.resolve(self)
            return st
        try:
            return self.parse(inner)
        except TypeError_:
            return None
