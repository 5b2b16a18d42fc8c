"""Field checks shared by the object validators (pure; each raises the caller's error type)."""

from __future__ import annotations

from typing import Any

from . import codec
from .errors import InvalidBlock, NewerFormat

MAX_SAFE_INT = 2**53 - 1  # integers in ipfeed objects stay exact in every language


class Fields:
    """Typed access to one decoded map, raising `error` with `what` in every message; unknown
    fields are an error unless `ignore_unknown` (format v2 bodies and content blocks)."""

    def __init__(self, obj: Any, what: str, error: type[Exception],
                 required: frozenset[str], optional: frozenset[str] = frozenset(), *,
                 ignore_unknown: bool = False) -> None:
        if not isinstance(obj, dict):
            raise error(f"{what}: not a map")
        keys = set(obj)
        if missing := required - keys:
            raise error(f"{what}: missing field(s) {', '.join(sorted(missing))}")
        # Format v2's growth rule (must-ignore): a body or content block may carry fields this
        # reader does not know; they are ignored, never read, while the known ones are strict.
        if not ignore_unknown and (extra := keys - required - optional):
            raise error(f"{what}: unknown field(s) {', '.join(sorted(extra))}")
        self.obj, self.what, self.error = obj, what, error

    def fail(self, message: str) -> Exception:
        """The error to raise for a broken rule."""
        return self.error(f"{self.what}: {message}")

    def has(self, key: str) -> bool:
        """Whether an optional field is present."""
        return key in self.obj

    def const(self, key: str, value: object) -> None:
        """The field must equal `value` exactly (type included)."""
        got = self.obj[key]
        if type(got) is not type(value) or got != value:
            raise self.fail(f"{key} must be {value!r}, not {got!r}")

    def integer(self, key: str, low: int = 0, high: int = MAX_SAFE_INT) -> int:
        """An integer (never a bool) in [low, high]."""
        v = self.obj[key]
        if type(v) is not int:
            raise self.fail(f"{key} must be an integer")
        if not low <= v <= high:
            raise self.fail(f"{key} is {v}, outside {low}..{high}")
        return v

    def link(self, key: str, prefixes: tuple[bytes, ...], value: object = None) -> str:
        """A DAG-CBOR link (tag 42) to one of `prefixes` (`value` instead of the field when
        given, e.g. a list item); its canonical text."""
        try:
            return codec.check_link(self.obj[key] if value is None else value, prefixes, key)
        except InvalidBlock as e:
            raise self.fail(str(e)) from e

    def cid(self, key: str, prefixes: tuple[bytes, ...] = (codec.PREFIX_DAG_CBOR,)) -> str:
        """A binary CID held as bytes (not a link: nothing is pinned through it); its text."""
        try:
            return codec.check_cid_bytes(self.obj[key], prefixes, key)
        except InvalidBlock as e:
            raise self.fail(str(e)) from e

    def boolean(self, key: str) -> bool:
        """A CBOR boolean (never an integer)."""
        v = self.obj[key]
        if type(v) is not bool:
            raise self.fail(f"{key} must be true or false")
        return v

    def blob(self, key: str, size: int) -> bytes:
        """A byte string of exactly `size` bytes."""
        v = self.obj[key]
        if not isinstance(v, bytes) or len(v) != size:
            raise self.fail(f"{key} must be {size} bytes")
        return v

    def text(self, key: str, max_bytes: int, min_bytes: int = 0) -> str:
        """A string whose UTF-8 form is within the byte limits."""
        v = self.obj[key]
        if not isinstance(v, str):
            raise self.fail(f"{key} must be a string")
        n = len(v.encode("utf-8", "surrogatepass"))
        if n > max_bytes:
            raise self.fail(f"{key} is {n} bytes, over the limit of {max_bytes}")
        if n < min_bytes:
            raise self.fail(f"{key} must not be empty")
        return v

    def items(self, key: str, max_items: int, min_items: int = 1) -> list[Any]:
        """A list of min..max items."""
        v = self.obj[key]
        if not isinstance(v, list):
            raise self.fail(f"{key} must be a list")
        if not min_items <= len(v) <= max_items:
            raise self.fail(f"{key} has {len(v)} items, allowed {min_items}..{max_items}")
        return v


def check_version(obj: object, type_: str, version: int, what: str, error: type[Exception],
                  oldest: int | None = None) -> int:
    """`type` and `v` before anything else (`v` in oldest … version, default just version): a
    newer `v` is NewerFormat ("upgrade ipfeed"), not a broken object, so that a future format is
    told apart from garbage. Returns `v`."""
    if not isinstance(obj, dict):
        raise error(f"{what}: not a map")
    got_type, v = obj.get("type"), obj.get("v")
    if got_type != type_ or type(got_type) is not str:
        raise error(f"{what}: type must be {type_!r}, not {got_type!r}")
    if type(v) is int and v > version:
        raise NewerFormat(f"{what}: {type_} v {v} is a newer format than this ipfeed reads "
                          f"(v {version}); newer format, upgrade ipfeed")
    if type(v) is not int or not (oldest or version) <= v <= version:
        allowed = version if oldest is None else f"{oldest} … {version}"
        raise error(f"{what}: v must be {allowed}, not {v!r}")
    return v
