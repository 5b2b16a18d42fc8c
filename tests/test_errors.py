"""The exception tree: one root, and the tree drawn in errors.py's docstring is the real one."""

from __future__ import annotations

import inspect
import re

from ipfeed import errors


def _drawn() -> dict[str, str | None]:
    """Each class name in the docstring's tree with the name of its drawn parent."""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        m = re.match(r"^( {4}(?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)", line)
        if not m or not (m.group(2) == "IpfeedError" or "── " in line):
            continue
        depth = (len(m.group(1)) - 4) // 4 + (1 if "── " in line else 0)
        del stack[depth:]
        parents[m.group(2)] = stack[-1] if stack else None
        stack.append(m.group(2))
    return parents


def test_every_error_class_is_drawn_under_its_real_parent() -> None:
    classes = {name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, errors.IpfeedError)}
    drawn = _drawn()
    assert set(drawn) == set(classes)
    for name, cls in classes.items():
        base = next((b for b in cls.__bases__ if issubclass(b, errors.IpfeedError)), None)
        assert drawn[name] == (base.__name__ if base else None), name


def test_data_errors_are_value_errors_and_each_class_says_what_it_is() -> None:
    assert issubclass(errors.InvalidInput, ValueError) and issubclass(errors.Fork, ValueError)
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        assert cls.__doc__ and cls.__module__ == "ipfeed.errors"
