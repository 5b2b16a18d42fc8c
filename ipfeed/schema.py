"""Field checks shared by the object validators (pure; each raises the caller's error type)."""

from __future__ import annotations

from typing import Any

MAX_SAFE_INT = 2**53 - 1  # integers in ipfeed objects stay exact in every language


class Fields:
    """Typed access to one decoded map, raising `error` with `what` in every message."""

    def __init__(self, obj: Any, what: str, error: type[Exception],
                 required: frozenset[str], optional: frozenset[str] = frozenset()) -> None:
        if not isinstance(obj, dict):
            raise error(f"{what}: not a map")
        keys = set(obj)
        if missing := required - keys:
            raise error(f"{what}: missing field(s) {', '.join(sorted(missing))}")
        if extra := keys - required - optional:
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
