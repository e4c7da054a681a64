"""The data-set registry: each data set states its facts once, here or in a plugin.

A data set registers its loader with :func:`register_dataset`; the decorator's arguments are
the facts the rest of scaf-al asks for (the split names and their official sizes, the pool
and test splits, the pre-training split, titles for reports, the landmark layout, the image
suffixes, and the options with their types, read from the loader's signature or a
dataclass). Plan, preflight, the spec checks, the probe, the report and the CLI ask
:func:`get_dataset`; none of them switches on a name.

Outside packages add data sets through the entry-point group ``scaf_al.datasets``: each
entry point names a module that registers on import. Plugins are loaded once, at the
first lookup; a name registered twice is an error that names both modules.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainers.datasets.base import LandmarkDataset
from trainers.datasets.crop_cache import RendersCropSet
from trainers.datasets.layouts import IBUG_68, Layout

__all__ = [
    "ENTRY_POINT_GROUP",
    "IMAGE_SUFFIXES",
    "DatasetInfo",
    "DatasetRegistryError",
    "dataset_names",
    "find_dataset",
    "get_dataset",
    "load_plugins",
    "register_dataset",
]

ENTRY_POINT_GROUP = "scaf_al.datasets"
#: Image files every folder-based reader takes (one list: the `folder` data set, the
#: annotation projects, `scaf-al predict`).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm")
#: Loader parameters that are not options: where the data is, which split, how strict.
RESERVED = ("root", "split", "strict")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_REGISTRY: dict[str, DatasetInfo] = {}
_plugins_loaded = False

#: A loader: `open(root, split, *, strict, **options)`, a data set read from files or one
#: that renders its own crops (generated data).
Opener = Callable[..., LandmarkDataset | RendersCropSet]


class DatasetRegistryError(ValueError):
    """Unknown data set, a name registered twice, or a plugin that cannot be loaded."""


@dataclass(frozen=True)
class DatasetInfo:
    """What scaf-al knows about a data set before opening it.

    Attributes:
        name: the name specs use (`[data] name`).
        title: how reports name it ("300-W").
        open: the loader, `open(root, split, *, strict, **options) -> LandmarkDataset`.
        splits: the split names it accepts (with `any_split`, others are sub-folders).
        train_split: the default pool split.
        test_splits: the default test splits.
        pretrain_split: the split `scaf-al pretrain` trains an auto-encoder on by default
            (a grid pre-trains on its own pool, the cells' `train_split`).
        split_sizes: official image counts per split (checked before anything is read).
        size_options: splits whose size is an option (synthetic `n_pool`), split -> option.
        split_titles: column titles of test splits in reports (others show their name).
        derived_splits: test splits computed from others' per-image errors, never loaded.
        layout: the landmark layout; None when the options set it (`landmarks_option`).
        landmarks_option: the option that holds the landmark count (with layout None).
        suffixes: the image files it reads (`datasets list` shows them; the built-in
            readers scan with them).
        generated: rendered by a generator (needs no root folder).
        any_split: any sub-folder name is a split too.
        boxes: where its face boxes come from ("annotation", "landmarks", ".mat").
        options_from: the loader, or a dataclass (whose construction checks the values;
            an `input_size` field is set from the network), whose fields are the options.
        module: the module that registered it (named in clash errors).
    """

    name: str
    title: str
    open: Opener
    splits: tuple[str, ...]
    train_split: str
    test_splits: tuple[str, ...]
    pretrain_split: str
    split_sizes: Mapping[str, int] = field(default_factory=dict)
    size_options: Mapping[str, str] = field(default_factory=dict)
    split_titles: Mapping[str, str] = field(default_factory=dict)
    derived_splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    layout: Layout | None = IBUG_68
    landmarks_option: str | None = None
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES
    generated: bool = False
    any_split: bool = False
    boxes: str = "landmarks"
    options_from: Callable[..., Any] | None = None
    module: str = ""

    def option_types(self) -> dict[str, Any] | None:
        """{option: type hint}; None when the loader takes any keyword."""
        source = self.options_from or self.open
        if dataclasses.is_dataclass(source):
            hints = typing.get_type_hints(source)
            return {f.name: hints[f.name] for f in dataclasses.fields(source)
                    if f.name not in RESERVED and f.name != "input_size"}
        params = inspect.signature(source).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        hints = typing.get_type_hints(source)
        return {p.name: hints.get(p.name, Any) for p in params if p.name not in RESERVED}

    def option_default(self, option: str) -> Any:
        """The default of one option (as its loader or dataclass declares it)."""
        source = self.options_from or self.open
        if dataclasses.is_dataclass(source):
            return getattr(source(), option)
        default = inspect.signature(source).parameters[option].default
        if default is inspect.Parameter.empty:
            raise DatasetRegistryError(f"data set {self.name!r}: option {option!r} has no "
                                       "default")
        return default

    def accepts_split(self, split: str) -> bool:
        return self.any_split or split in self.splits

    def split_size(self, split: str, options: Mapping[str, Any]) -> int | None:
        """Images in a split as the spec alone tells (None: only opening it tells)."""
        option = self.size_options.get(split)
        if option is not None:
            return int(options.get(option, self.option_default(option)))
        return self.split_sizes.get(split)

    def num_landmarks(self, options: Mapping[str, Any]) -> int | None:
        """Landmarks per face, from the layout or from the options (None: only the
        files tell)."""
        if self.layout is not None:
            return self.layout.num_landmarks
        assert self.landmarks_option is not None  # checked at registration
        value = options.get(self.landmarks_option, self.option_default(self.landmarks_option))
        return None if value is None else int(value)

    def split_title(self, split: str) -> str:
        return self.split_titles.get(split, split)

    def needs_root(self) -> bool:
        return not self.generated


def register_dataset(name: str, **facts: Any) -> Callable[[Opener], Opener]:
    """Decorator registering a loader under `name` with the facts of :class:`DatasetInfo`.

    Raises:
        DatasetRegistryError: for a bad name, missing facts, or a name registered by
            another module.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise DatasetRegistryError(f"data set name {name!r} must be lower-case letters, "
                                   "digits and underscores")

    def decorate(opener: Opener) -> Opener:
        try:
            info = DatasetInfo(name=name, open=opener, module=opener.__module__, **facts)
        except TypeError as e:
            raise DatasetRegistryError(f"data set {name!r} ({opener.__module__}): {e}") from e
        _check_facts(info)
        have = _REGISTRY.get(name)
        if have is not None and have.module != info.module:
            raise DatasetRegistryError(f"data set {name!r} is registered twice: by "
                                       f"{have.module} and by {info.module}")
        _REGISTRY[name] = info
        return opener

    return decorate


def _check_facts(info: DatasetInfo) -> None:
    where = f"data set {info.name!r} ({info.module})"
    if info.layout is None and info.landmarks_option is None:
        raise DatasetRegistryError(f"{where}: give a layout or a landmarks_option")
    for split in (info.train_split, info.pretrain_split, *info.test_splits):
        if not info.accepts_split(split) and split not in info.derived_splits:
            raise DatasetRegistryError(f"{where}: split {split!r} is not among its splits "
                                       f"{', '.join(info.splits)}")
    if not all(s.startswith(".") and s == s.lower() for s in info.suffixes):
        raise DatasetRegistryError(f"{where}: suffixes must be lower-case and start with '.'")


def get_dataset(name: str) -> DatasetInfo:
    """The registered data set `name` (plugins loaded on the first lookup).

    Raises:
        DatasetRegistryError: naming the registered data sets (and a close match).
    """
    info = find_dataset(name)
    if info is None:
        names = dataset_names()
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DatasetRegistryError(f"unknown data set {name!r}; registered: "
                                   f"{', '.join(names)}.{hint}")
    return info


def find_dataset(name: str) -> DatasetInfo | None:
    """`get_dataset`, or None for a name nobody registered (e.g. an old store's data set
    whose plugin is not installed here)."""
    key = str(name).lower()
    if key not in _REGISTRY:
        load_plugins()
    return _REGISTRY.get(key)


def dataset_names() -> list[str]:
    """Registered names, sorted (built-ins and plugins)."""
    load_plugins()
    return sorted(_REGISTRY)


def load_plugins() -> None:
    """Load the ``scaf_al.datasets`` entry points once (later calls do nothing).

    Raises:
        DatasetRegistryError: an entry point that fails to import; the next lookup tries
            again, so the error is not swallowed.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # first: a plugin that looks data sets up while importing
    try:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            _load_entry_point(entry_point)
    except BaseException:
        _plugins_loaded = False
        raise


def _load_entry_point(entry_point: importlib.metadata.EntryPoint) -> None:
    dist = getattr(entry_point, "dist", None)
    where = (f"entry point '{entry_point.name} = {entry_point.value}' (group "
             f"{ENTRY_POINT_GROUP}" + (f", distribution {dist.name}" if dist else "") + ")")
    try:
        entry_point.load()
    except DatasetRegistryError:
        raise
    except Exception as error:
        raise DatasetRegistryError(f"could not load data set {where}: {error}") from error

