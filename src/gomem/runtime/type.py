"""Go type descriptors: size, alignment, pointer bytes and the pointer bitmap.

Models internal/abi/type.go's Type (Size_, PtrBytes, Align_, Kind_, GCData)
and the layout rules of cmd/compile's types/size.go for amd64 (go1.24), as
runtime/type.go and the collector see a type. See docs/ARCHITECTURE.md.

A type's pointer bitmap has one bit per 8-byte word: bit i is set when word
i holds a pointer the collector must follow. PtrBytes is the length of the
prefix that can hold pointers: the offset just past the last pointer word,
so 0 means the type is pointer-free ("noscan") and the allocator may put it
in a noscan span or the tiny allocator.

Layout rules (amd64): a struct places each field at the next multiple of
the field's alignment; its alignment is the largest of its fields' (at
least 1); its size is rounded up to that alignment, after one byte of
padding if the last field has size 0 (so a pointer to it cannot point past
the object). An array of n elements is n times the element, aligned as the
element.

Simplified: no method sets, names of packages, hashes or equality
functions; the bitmap is always materialised (Go builds it on demand for
large types, TFlagGCMaskOnDemand).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

PTR_SIZE = 8  # goarch.PtrSize on amd64


class Kind(Enum):
    """abi.Kind, the kinds this model needs."""

    BOOL = "bool"
    INT = "int"
    UINT = "uint"
    FLOAT = "float"
    COMPLEX = "complex"
    POINTER = "pointer"
    UNSAFE_POINTER = "unsafe.Pointer"
    STRING = "string"
    SLICE = "slice"
    INTERFACE = "interface"
    MAP = "map"
    CHAN = "chan"
    FUNC = "func"
    ARRAY = "array"
    STRUCT = "struct"


@dataclass(frozen=True, slots=True)
class Type:
    """A Go type as the runtime sees it."""

    name: str  # Go syntax, e.g. "struct { p *int; n int }"
    kind: Kind
    size: int  # Size_: bytes of a value
    align: int  # Align_: alignment of a value (a power of two)
    ptr_bytes: int  # PtrBytes: prefix that can hold pointers (0: pointer-free)
    ptrmask: int  # GCData as an int: bit i set <=> word i is a pointer
    fields: tuple[tuple[str, int, Type], ...] = field(default=(), compare=False)
    # (name, offset, type) of a struct's fields; empty otherwise
    elem: Type | None = field(default=None, compare=False)  # array/slice/pointer element

    @property
    def noscan(self) -> bool:
        """No pointers: the collector never scans values of this type."""
        return self.ptr_bytes == 0

    def pointer_offsets(self) -> list[int]:
        """Byte offsets of the pointer words, in increasing order."""
        out, mask, word = [], self.ptrmask, 0
        while mask:
            if mask & 1:
                out.append(word * PTR_SIZE)
            mask >>= 1
            word += 1
        return out

    def __str__(self) -> str:
        return self.name


def _ptr_bytes(mask: int) -> int:
    return mask.bit_length() * PTR_SIZE


def _scalar(name: str, kind: Kind, size: int) -> Type:
    return Type(name, kind, size, max(1, min(size, PTR_SIZE)), 0, 0)


def _one_pointer(name: str, kind: Kind, elem: Type | None = None) -> Type:
    return Type(name, kind, PTR_SIZE, PTR_SIZE, PTR_SIZE, 1, elem=elem)


BOOL = _scalar("bool", Kind.BOOL, 1)
INT8 = _scalar("int8", Kind.INT, 1)
UINT8 = _scalar("uint8", Kind.UINT, 1)
INT16 = _scalar("int16", Kind.INT, 2)
INT32 = _scalar("int32", Kind.INT, 4)
UINT32 = _scalar("uint32", Kind.UINT, 4)
INT = _scalar("int", Kind.INT, 8)
INT64 = _scalar("int64", Kind.INT, 8)
UINT64 = _scalar("uint64", Kind.UINT, 8)
UINTPTR = _scalar("uintptr", Kind.UINT, 8)  # an integer: the collector ignores it
FLOAT32 = _scalar("float32", Kind.FLOAT, 4)
FLOAT64 = _scalar("float64", Kind.FLOAT, 8)
COMPLEX128 = Type("complex128", Kind.COMPLEX, 16, 8, 0, 0)
UNSAFE_POINTER = _one_pointer("unsafe.Pointer", Kind.UNSAFE_POINTER)
# A string header is {data *byte; len int}: the data word is a pointer.
STRING = Type("string", Kind.STRING, 16, 8, 8, 0b1)
# An interface is {type or itab pointer; data pointer}. Only the data word is
# in the pointer bitmap: types and itabs never live in the garbage-collected heap.
INTERFACE = Type("interface {}", Kind.INTERFACE, 16, 8, 16, 0b10)


def pointer(elem: Type) -> Type:
    """*elem."""
    return _one_pointer(f"*{elem.name}", Kind.POINTER, elem)


def map_of(key: Type, value: Type) -> Type:
    """map[key]value: a pointer to the runtime's map header."""
    return _one_pointer(f"map[{key.name}]{value.name}", Kind.MAP)


def chan_of(elem: Type) -> Type:
    return _one_pointer(f"chan {elem.name}", Kind.CHAN, elem)


def func_type(name: str = "func()") -> Type:
    """A func value: a pointer to its closure."""
    return _one_pointer(name, Kind.FUNC)


def slice_of(elem: Type) -> Type:
    """[]elem: the header {data *elem; len, cap int}; the data word is a pointer."""
    return Type(f"[]{elem.name}", Kind.SLICE, 24, 8, 8, 0b1, elem=elem)


def array_of(elem: Type, n: int) -> Type:
    """[n]elem; also the backing array makeslice allocates for make([]elem, n)."""
    if n < 0:
        raise ValueError(f"array_of: negative length {n}")
    mask = 0
    if elem.ptrmask:
        words = elem.size // PTR_SIZE
        for i in range(n):
            mask |= elem.ptrmask << (i * words)
    return Type(
        f"[{n}]{elem.name}",
        Kind.ARRAY,
        elem.size * n,
        elem.align,
        _ptr_bytes(mask),
        mask,
        elem=elem,
    )


def struct_of(*fields: tuple[str, Type], name: str | None = None) -> Type:
    """struct { name type; ... } laid out as the amd64 compiler does."""
    offset, align, mask = 0, 1, 0
    placed = []
    for fname, ftype in fields:
        offset = (offset + ftype.align - 1) // ftype.align * ftype.align
        placed.append((fname, offset, ftype))
        if ftype.ptrmask:
            # Pointer fields are word-aligned, so the field's mask shifts by whole words.
            mask |= ftype.ptrmask << (offset // PTR_SIZE)
        offset += ftype.size
        align = max(align, ftype.align)
    if fields and fields[-1][1].size == 0 and offset > 0:
        offset += 1  # a pointer to a trailing zero-size field must stay inside the object
    size = (offset + align - 1) // align * align
    text = name or "struct { " + "; ".join(f"{n} {t.name}" for n, t in fields) + " }"
    return Type(text, Kind.STRUCT, size, align, _ptr_bytes(mask), mask, tuple(placed))
