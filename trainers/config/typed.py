"""Build frozen config dataclasses from plain tables (TOML, JSON, Tune's param_space).

One parser for every config: it reads a dataclass's fields and type hints, checks the keys
and the value types, recurses into nested dataclasses, and names the full field path in
every error (`model.pretrain.step: unknown key; allowed: steps, batch_size, ...`).

    cell = from_table(CellConfig, {"arch": "scaf", "model": {"width": 0.5}}, "cell")

Value checks that go beyond the type (ranges, choices) live in each dataclass's
`__post_init__`, which raises `ConfigError(field, message)`; the parser prefixes the path.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is invalid; `path` is the field path (e.g. `model.pretrain.steps`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def join_path(parent: str, child: str) -> str:
    """`parent.child` (or `parent[0]` for an index), without a leading dot at the top."""
    if not parent:
        return child
    if not child:
        return parent
    return f"{parent}{child}" if child.startswith("[") else f"{parent}.{child}"


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
    """Raise ConfigError naming the first key of `table` not in `allowed` (in their order).

    Raises:
        ConfigError: `<path>.<key>: unknown key; allowed: a, b, c`.
    """
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(join_path(path, str(key)),
                              f"unknown key; allowed: {', '.join(allowed)}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def table_fields(cls: type) -> list[str]:
    """The keys a table for dataclass `cls` may hold, in declaration order."""
    return [f.name for f in dataclasses.fields(cls) if f.init]


def from_table(cls: type[T], table: Any, path: str = "", **given: Any) -> T:
    """Build dataclass `cls` from a table, checking keys and types.

    Args:
        cls: a dataclass whose fields have type hints (int, float, bool, str, `X | None`,
            `tuple[X, ...]`, `tuple[X, Y]`, `dict[str, Any]`, `Any`, or another dataclass).
        table: the mapping read from the file.
        path: the table's field path, used in error messages ("" at the top).
        **given: values for fields that do not come from the table (not allowed in it).

    Raises:
        ConfigError: naming the path of the first unknown key, wrongly typed value, or
            value the dataclass refuses.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(path, f"must be a table, got {table!r}")
    hints = _hints(typing.cast(type, cls))  # mypy does not see a type[T] as Hashable
    check_keys(table, [k for k in table_fields(cls) if k not in given], path)
    values = {k: convert(v, hints[k], join_path(path, k)) for k, v in table.items()}
    return build(cls, path, **values, **given)


def build(cls: type[T], path: str, **values: Any) -> T:
    """`cls(**values)`, with the dataclass's own errors re-raised under `path`."""
    try:
        return cls(**values)
    except ConfigError as e:
        raise ConfigError(join_path(path, e.path), e.message) from None
    except (TypeError, ValueError) as e:
        raise ConfigError(path, str(e)) from None


_SCALARS: dict[type, str] = {bool: "true or false", int: "an integer", float: "a number",
                             str: "a string"}


def convert(value: Any, hint: Any, path: str) -> Any:
    """`value` checked against type `hint` (tuples built from lists, tables from dicts)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _convert_union(value, args, path)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_table(hint, value, path)
    if origin is tuple:
        return _convert_tuple(value, args, path)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"must be a table, got {value!r}")
        return dict(value)
    if hint in _SCALARS:
        if not _is_scalar(value, hint):
            raise ConfigError(path, f"must be {_SCALARS[hint]}, got {value!r}")
        return value
    raise TypeError(f"{path}: type {hint!r} is not supported by the config parser")


def _is_scalar(value: Any, hint: type) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False  # True is an int to Python, never a count or a rate in a config
    # An integer is a number (PEP 484's numeric tower); it is kept as written, so that
    # the dict a config serialises to (and its hash) stays what the file said.
    return isinstance(value, int | float) if hint is float else isinstance(value, hint)


def _convert_union(value: Any, args: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    if len(options) == 1:
        return convert(value, options[0], path)
    for option in options:
        try:
            return convert(value, option, path)
        except ConfigError:
            continue
    names = " or ".join(_SCALARS.get(o, getattr(o, "__name__", str(o))) for o in options)
    raise ConfigError(path, f"must be {names}, got {value!r}")


def _convert_tuple(value: Any, args: tuple[Any, ...], path: str) -> tuple[Any, ...]:
    variadic = len(args) == 2 and args[1] is Ellipsis
    if variadic and not isinstance(value, list | tuple):
        value = [value]  # `seeds = 0` means `seeds = [0]`
    if not isinstance(value, list | tuple):
        raise ConfigError(path, f"must be a list of {len(args)} values, got {value!r}")
    item_hints = [args[0]] * len(value) if variadic else list(args)
    if len(value) != len(item_hints):
        raise ConfigError(path, f"must be a list of {len(args)} values, got {value!r}")
    return tuple(convert(v, h, f"{path}[{i}]")
                 for i, (v, h) in enumerate(zip(value, item_hints, strict=True)))
