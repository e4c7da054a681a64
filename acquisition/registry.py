"""The acquisition registry: one dict keyed by name, filled by a decorator and by plugins.

Outside packages add acquisitions through the entry-point group ``scaf_al.acquisition``. Each
entry point names either a module that registers on import, or an :class:`Acquisition`
subclass (registered under the entry point's name unless it is registered already). Plugins are
loaded once, at the first lookup, so importing :mod:`acquisition` stays cheap.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import inspect
import json
import re
import types
from collections.abc import Callable
from typing import Any, TypeVar

from acquisition.base import NEEDS, Acquisition, ScoreAcquisition, SetAcquisition

__all__ = [
    "ENTRY_POINT_GROUP",
    "AcquisitionRegistryError",
    "available",
    "get",
    "label",
    "list_acquisitions",
    "load_plugins",
    "register",
]

ENTRY_POINT_GROUP = "scaf_al.acquisition"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, type[Acquisition]] = {}
_plugins_loaded = False

A = TypeVar("A", bound=type[Acquisition])


class AcquisitionRegistryError(ValueError):
    """Unknown acquisition name, name clash, or a plugin that cannot be loaded."""


def register(name: str) -> Callable[[A], A]:
    """Class decorator registering an acquisition under ``name``.

    Args:
        name: snake_case name used in configs, e.g. ``"nnm"``.

    Returns:
        The decorator; it returns the class unchanged apart from setting ``cls.name``.

    Raises:
        AcquisitionRegistryError: if ``name`` is taken by a class from another module.
        TypeError: if the class is not a concrete :class:`Acquisition` with a docstring.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"acquisition name must be snake_case (lowercase letters, digits, '_', starting "
            f"with a letter); got {name!r}"
        )

    def decorator(cls: A) -> A:
        _check_class(name, cls)
        existing = _REGISTRY.get(name)
        if existing is not None and _origin(existing) != _origin(cls):
            raise AcquisitionRegistryError(
                f"acquisition name '{name}' is registered twice: by {_origin(existing)} and by "
                f"{_origin(cls)}; rename one of them"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def get(name: str, **params: Any) -> Acquisition:
    """Build the acquisition registered as ``name`` with the given parameters.

    Args:
        name: Registered name (see :func:`available`).
        **params: Parameters of that acquisition, e.g. ``window=7, discard_top=0.10``.

    Returns:
        A new acquisition instance; ``.params`` holds the resolved parameters.

    Raises:
        AcquisitionRegistryError: unknown name (the message lists the registered ones).
        ValueError: unknown or missing parameter (the message lists the accepted ones), or a
            parameter value out of its allowed range.
        TypeError: a parameter of the wrong type.
    """
    cls = _lookup(name)
    accepted = cls.parameter_defaults()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"acquisition '{name}' got unknown parameter(s) {unknown}; accepted: "
            f"{_describe_parameters(accepted)}"
        )
    missing = [key for key, default in accepted.items() if default is inspect.Parameter.empty]
    missing = [key for key in missing if key not in params]
    if missing:
        raise ValueError(f"acquisition '{name}' requires parameter(s) {missing}")
    acquisition = cls(**params)
    _check_params(acquisition)
    check_needs(acquisition)
    return acquisition


def label(name: str, params: dict[str, Any] | None = None) -> str:
    """Short display name for result rows and reports, e.g. ``nnm(discard_top=0.1)``.

    Parameters are sorted by key; a nested acquisition (a mapping with a ``"name"`` key, as a
    composer's ``score``) is written the same way, so ``diverse_top`` over NNM reads
    ``diverse_top(candidates=5,discard_top=0.1,score=nnm(window=7))``. Without nesting this is
    the same text as ``AcquisitionConfig.label()``.

    Args:
        name: Acquisition name.
        params: Its parameters as configured (None or empty: the bare name).

    Returns:
        The label.
    """
    if not params:
        return name
    return f"{name}({','.join(f'{key}={_label_value(params[key])}' for key in sorted(params))})"


def _label_value(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return label(value["name"], {k: v for k, v in value.items() if k != "name"})
    return f"{value}"


def available() -> dict[str, str]:
    """Registered acquisitions (built-ins and plugins): name -> one-line description, sorted."""
    load_plugins()
    return {name: _REGISTRY[name].description() for name in sorted(_REGISTRY)}


def list_acquisitions(pattern: str = "*") -> list[str]:
    """Sorted registered names matching a shell-style ``pattern`` (e.g. ``"k*"``)."""
    load_plugins()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def load_plugins() -> None:
    """Load the ``scaf_al.acquisition`` entry points once (later calls do nothing).

    Raises:
        AcquisitionRegistryError: if an entry point fails to import or clashes by name; the
            next lookup tries again, so the error is not swallowed.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    # Set first: a plugin that looks up acquisitions while importing must not recurse.
    _plugins_loaded = True
    try:
        for entry_point in _entry_points():
            _load_entry_point(entry_point)
    except BaseException:
        _plugins_loaded = False
        raise


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(entry_point: importlib.metadata.EntryPoint) -> None:
    dist = getattr(entry_point, "dist", None)
    where = (
        f"entry point '{entry_point.name} = {entry_point.value}' (group {ENTRY_POINT_GROUP}"
        + (f", distribution {dist.name}" if dist is not None else "")
        + ")"
    )
    try:
        loaded = entry_point.load()
    except Exception as error:
        raise AcquisitionRegistryError(f"could not load acquisition {where}: {error}") from error
    if isinstance(loaded, types.ModuleType):
        return  # the module registered its acquisitions on import
    if isinstance(loaded, type) and issubclass(loaded, Acquisition):
        if loaded not in _REGISTRY.values():
            register(entry_point.name)(loaded)
        return
    raise AcquisitionRegistryError(
        f"acquisition {where} loaded a {type(loaded).__name__}; it must name a module that "
        "registers acquisitions on import, or an Acquisition subclass"
    )


def _lookup(name: str) -> type[Acquisition]:
    load_plugins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise AcquisitionRegistryError(
        f"unknown acquisition {name!r}; registered: {sorted(_REGISTRY)}.{hint} Outside "
        f"packages add acquisitions through the '{ENTRY_POINT_GROUP}' entry-point group."
    )


def _check_class(name: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Acquisition)):
        raise TypeError(f"@register({name!r}) needs an Acquisition subclass; got {cls!r}")
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        raise TypeError(f"@register({name!r}): {_origin(cls)} does not implement {missing}")
    if not cls.description():
        raise TypeError(
            f"@register({name!r}): {_origin(cls)} needs a docstring; its first line is the "
            "description shown by `scaf-al acquisitions`"
        )
    if not (isinstance(cls.needs, frozenset) and cls.needs <= NEEDS):
        raise TypeError(
            f"@register({name!r}): {_origin(cls)}.needs must be a frozenset subset of "
            f"{sorted(NEEDS)}; got {cls.needs!r}"
        )
    check_kind(name, cls)
    owner = _REGISTRY.get(cls.__dict__.get("name", ""))
    if owner is cls and cls.name != name:
        raise AcquisitionRegistryError(
            f"{_origin(cls)} is already registered as '{cls.name}'; register a subclass to "
            f"also offer it as '{name}'"
        )


def check_kind(name: str, cls: type[Acquisition]) -> None:
    """Refuse a class whose kind cannot work: a set acquisition needing per-item inputs, or
    a score acquisition that implements no score."""
    if issubclass(cls, SetAcquisition) and not cls.needs <= {"features"}:
        raise TypeError(
            f"@register({name!r}): {_origin(cls)} is a SetAcquisition, whose select_from gets "
            f"features only; it cannot need {sorted(cls.needs - {'features'})}. Per-item "
            "inputs reach score acquisitions through score_chunk"
        )
    if issubclass(cls, ScoreAcquisition):
        own = {"compute_score", "compute_chunk_score"}
        if all(getattr(cls, m) is getattr(ScoreAcquisition, m) for m in own):
            raise TypeError(
                f"@register({name!r}): {_origin(cls)} does not implement ['compute_score'] "
                "(or compute_chunk_score, for inputs other than heatmaps)"
            )


def check_needs(acquisition: Acquisition) -> None:
    """Refuse an instance whose `needs` or `tta_samples` the pool streaming cannot serve."""
    # An instance may widen its class's needs (a composer adds its inner score's).
    needs, where = acquisition.needs, f"acquisition '{acquisition.name}'"
    if not (isinstance(needs, frozenset) and needs <= NEEDS):
        raise TypeError(
            f"{where}: needs must be a frozenset subset of {sorted(NEEDS)}; got {needs!r}"
        )
    samples = acquisition.tta_samples
    valid = isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1
    if "tta_landmarks" in needs and not valid:
        raise TypeError(
            f"{where} needs tta_landmarks, so tta_samples must be an int >= 1; got {samples!r}"
        )


def _check_params(acquisition: Acquisition) -> None:
    try:
        params = acquisition.params
    except AttributeError as error:
        raise TypeError(
            f"acquisition '{acquisition.name}' ({_origin(type(acquisition))}) must store each "
            f"__init__ parameter as an attribute of the same name: {error}"
        ) from None
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"acquisition '{acquisition.name}' parameters must be JSON-serialisable for result "
            f"rows; got {params!r} ({error})"
        ) from None


def _describe_parameters(accepted: dict[str, Any]) -> str:
    if not accepted:
        return "none"
    parts = [
        key if default is inspect.Parameter.empty else f"{key} (default {default!r})"
        for key, default in accepted.items()
    ]
    return ", ".join(parts)


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
