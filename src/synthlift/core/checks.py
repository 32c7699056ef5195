"""Argument checks that components run in their constructors; each returns the value as the right type
or raises `InvalidArgument` naming the argument and what it should be."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from synthlift.core.errors import InvalidArgument


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _checked(rule: Callable[[Any], bool], expected: str, cast: type) -> Callable[[str, Any], Any]:
    def check(argument: str, value: Any) -> Any:
        if not rule(value):
            raise InvalidArgument(argument, value, expected)
        return cast(value)

    check.__doc__ = f"`value` if it is {expected}, else InvalidArgument."
    return check


positive_int = _checked(lambda v: _is_int(v) and v > 0, "an integer > 0", int)
non_negative_int = _checked(lambda v: _is_int(v) and v >= 0, "an integer >= 0", int)
positive = _checked(lambda v: _is_number(v) and v > 0, "a number > 0", float)
non_negative = _checked(lambda v: _is_number(v) and v >= 0, "a number >= 0", float)
open_fraction = _checked(lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)", float)
probability = _checked(lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)", float)
unit_target = _checked(lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]", float)


def one_of(argument: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise InvalidArgument(argument, value, "one of " + ", ".join(map(repr, choices)))
    return value


def check_fields(component: Any, checks: dict[str, Callable[[str, Any], Any]]) -> None:
    """Run each field's check on a (dataclass) component and store the cast value back."""
    for name, check in checks.items():
        setattr(component, name, check(name, getattr(component, name)))


def layer_sizes(argument: str, value: Sequence[Any], allow_empty: bool) -> list[int]:
    """A list of hidden layer sizes (integers > 0); `allow_empty` for models where [] means no hidden layer."""
    sizes = list(value)
    if (not sizes and not allow_empty) or not all(_is_int(size) and size > 0 for size in sizes):
        expected = "a list of integers > 0" + (" ([] = no hidden layer)" if allow_empty else ", not empty")
        raise InvalidArgument(argument, sizes, expected)
    return [int(size) for size in sizes]
