"""Checkpoints: our documented format, and the official 3FabRec `saae.mdl` snapshots.

Our format (one `torch.save` file, written atomically via a temp file + `os.replace`):

    {
        "format": "scaf-al/checkpoint",
        "version": 1,
        "model_config": ModelConfig.to_dict(),   # arch, num_landmarks, input_size, width, z_dim
        "state_dict": {name: tensor},           # whole model, CPU tensors, official key names
        "extra": {...},                          # caller's data: step, optimizer states, RNG
    }

`extra` may hold only dicts, lists, tuples, str, int, float, bool, None and tensors, so the
file loads with `torch.load(weights_only=True)`.

The official 3FabRec file is `{"arch", "z_dim", "input_size", "state_dict"}` with keys
prefixed `Q.`, `P.`, `D_z.`, `D.` and (landmark snapshots) `LMH.`. Both are always read with
`weights_only=True`: a file that needs arbitrary unpickling is refused, never executed.

Loading rules (`load_pretrained`): every encoder and generator tensor must be in the file
with the right shape; the head loads where the file has it (ITLs + final ConvT as one
group, each SCAF bottleneck as its own group; groups the file lacks stay freshly
initialised); `D_z.`/`D.` load into the discriminators when the model has them and are
set aside otherwise. Anything else missing, unexpected or wrongly shaped is a
CheckpointError naming the file and the keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from trainers.models.config import ModelConfig
from trainers.models.fabrec import FabRec
from trainers.models.itl_head import SKIP_NAMES

FORMAT = "scaf-al/checkpoint"
VERSION = 1

_ITL_GROUP = "LMH"  # t1..t4 + lin
_DISC_PREFIXES = ("D_z.", "D.")
_MAX_KEYS_SHOWN = 8


class CheckpointError(ValueError):
    """A checkpoint file cannot be read, or does not fit the model it is loaded into."""


@dataclass
class Checkpoint:
    """A checkpoint file's contents after validation of its outer structure.

    Attributes:
        path: the file.
        source: "scaf-al" (our format) or "official" (3FabRec snapshot or bare state dict).
        config: the model config the file describes (for official files: inferred from
            `input_size`, `z_dim`, the stem width and `LMH.lin.weight`).
        state_dict: tensors by key.
        extra: our format's `extra` dict ({} for official files).
        file_arch: our config's arch, or the official class name ("AAE", "Fabrec", ...).
    """

    path: Path
    source: str
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    extra: dict = field(default_factory=dict)
    file_arch: str = ""

    @property
    def has_head(self) -> bool:
        return "LMH.lin.weight" in self.state_dict


@dataclass
class LoadReport:
    """What `load_pretrained` did.

    Attributes:
        path: the file read.
        source: "scaf-al" or "official".
        file_config: the model config the file describes.
        loaded: module groups loaded from the file ("Q", "P", "LMH", "LMH.skip8", "D_z", "D").
        fresh: model groups the file did not have, left as initialised.
        set_aside: file keys not loaded because the model has no place for them
            (discriminators, or a head when the model is an auto-encoder only).
        num_tensors: number of tensors copied into the model.
    """

    path: Path
    source: str
    file_config: ModelConfig
    loaded: list[str]
    fresh: list[str]
    set_aside: list[str]
    num_tensors: int

    def summary(self) -> str:
        parts = [f"{self.path} ({self.source}): loaded {', '.join(self.loaded)}"]
        if self.fresh:
            parts.append(f"fresh {', '.join(self.fresh)}")
        if self.set_aside:
            parts.append(f"set aside {len(self.set_aside)} tensors "
                         f"({', '.join(sorted({k.split('.')[0] for k in self.set_aside}))})")
        return "; ".join(parts)



def _show(keys: list[str]) -> str:
    keys = sorted(keys)
    head = ", ".join(keys[:_MAX_KEYS_SHOWN])
    more = len(keys) - _MAX_KEYS_SHOWN
    return f"[{head}{f', ... (+{more} more)' if more > 0 else ''}]"


def _torch_load(path: Path) -> object:
    if path.is_dir() and (path / "saae.mdl").is_file():
        path = path / "saae.mdl"  # an official snapshot folder (saae.mdl + meta.json)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad files; all mean "unreadable"
        text = str(e)
        blocked = re.search(r"GLOBAL ([\w.]+)", text)
        if blocked:  # torch names the class/function the pickle tried to import
            raise CheckpointError(
                f"checkpoint {path}: refused, it asks to import {blocked.group(1)}, which no "
                "model checkpoint needs; it was not unpickled (weights_only=True)"
            ) from e
        raise CheckpointError(
            f"checkpoint {path}: cannot be read (truncated, corrupt, or not a torch "
            f"checkpoint; read with weights_only=True): {type(e).__name__}: "
            f"{_unpickler_reason(text)}"
        ) from e


def _unpickler_reason(text: str) -> str:
    """The informative line of a torch.load error (its messages run to a paragraph)."""
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = text.split(marker, 1)[1].strip()
        return rest.split("\n", 1)[0].strip()
    lines = text.strip().splitlines()
    return lines[0] if lines else "no details"


def _tensor_dict(path: Path, sd: object) -> dict[str, torch.Tensor]:
    if not isinstance(sd, Mapping):
        raise CheckpointError(f"checkpoint {path}: state_dict is a {type(sd).__name__}, not a dict")
    bad = [str(k) for k, v in sd.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(f"checkpoint {path}: state_dict entries that are not tensors: "
                              f"{_show(bad)}")
    return dict(sd)


def _infer_official_config(path: Path, obj: Mapping, sd: dict[str, torch.Tensor]) -> ModelConfig:
    stem = sd.get("Q.conv1.weight")
    if stem is None or stem.dim() != 4:
        raise CheckpointError(f"checkpoint {path}: no encoder stem 'Q.conv1.weight'; "
                              "not a 3FabRec snapshot")
    width = stem.shape[0] / 64
    lin = sd.get("LMH.lin.weight")
    num_landmarks = int(lin.shape[1]) if lin is not None and lin.dim() == 4 else 0
    input_size = obj.get("input_size", 256)
    z_dim = obj.get("z_dim", 99)
    try:
        return ModelConfig(arch="3fabrec", num_landmarks=num_landmarks,
                           input_size=int(input_size), width=float(width), z_dim=int(z_dim))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path}: unsupported 3FabRec snapshot: {e}") from e


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a checkpoint file (ours or official) without a model.

    Raises:
        CheckpointError: missing, truncated, corrupt or malicious file, or not a checkpoint.
    """
    path = Path(path)
    obj = _torch_load(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path}: holds a {type(obj).__name__}, expected a dict")
    if obj.get("format") == FORMAT:
        if obj.get("version") != VERSION:
            raise CheckpointError(f"checkpoint {path}: format version {obj.get('version')!r}, "
                                  f"this code reads version {VERSION}")
        try:
            config = ModelConfig.from_dict(dict(obj["model_config"]))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint {path}: bad model_config: {e}") from e
        sd = _tensor_dict(path, obj.get("state_dict"))
        extra = obj.get("extra") or {}
        return Checkpoint(path, "scaf-al", config, sd, dict(extra), config.arch)
    if "state_dict" in obj:
        sd = _tensor_dict(path, obj["state_dict"])
        arch = str(obj.get("arch", "?"))
    elif all(isinstance(k, str) for k in obj) and any(k.startswith("Q.") for k in obj):
        sd = _tensor_dict(path, obj)  # a bare official-style state dict
        arch = "state_dict"
    else:
        raise CheckpointError(
            f"checkpoint {path}: neither a scaf-al checkpoint (format={FORMAT!r}) nor a "
            f"3FabRec snapshot (keys arch, z_dim, input_size, state_dict); top-level keys "
            f"{_show([str(k) for k in obj])}"
        )
    return Checkpoint(path, "official", _infer_official_config(path, obj, sd), sd, {}, arch)



def _group_of(key: str) -> str:
    """Load group of a state-dict key: Q, P, D_z, D, LMH (ITLs) or LMH.skipN."""
    top, _, rest = key.partition(".")
    if top == "LMH":
        sub = rest.split(".", 1)[0]
        return f"LMH.{sub}" if sub in SKIP_NAMES else _ITL_GROUP
    return top


def _check_compatible(ckpt: Checkpoint, model: FabRec) -> None:
    fc, mc = ckpt.config, model.config
    what = []
    if fc.input_size != mc.input_size:
        what.append(f"input_size {fc.input_size} (model {mc.input_size})")
    if abs(fc.width - mc.width) > 1e-9:
        what.append(f"width {fc.width:g} (model {mc.width:g})")
    if fc.z_dim != mc.z_dim:
        what.append(f"z_dim {fc.z_dim} (model {mc.z_dim})")
    if ckpt.has_head and mc.num_landmarks > 0 and fc.num_landmarks != mc.num_landmarks:
        what.append(f"{fc.num_landmarks} landmarks (model {mc.num_landmarks})")
    # Official snapshots are 3FabRec and feed either arch; our own landmark checkpoints
    # carry arch-specific heads, so they must match (an auto-encoder-only file fits both).
    if ckpt.source == "scaf-al" and ckpt.has_head and mc.num_landmarks > 0 and fc.arch != mc.arch:
        what.append(f"arch {fc.arch!r} (model {mc.arch!r})")
    if what:
        raise CheckpointError(f"checkpoint {ckpt.path} does not fit this model: the file has "
                              + "; ".join(what))


def _select(ckpt: Checkpoint, model: FabRec, strict_head: bool
            ) -> tuple[dict[str, torch.Tensor], list[str], list[str], list[str]]:
    """Pick the tensors to load; returns (to_load, loaded groups, fresh groups, set aside)."""
    model_sd = model.state_dict()
    model_groups: dict[str, set[str]] = {}
    for k in model_sd:
        model_groups.setdefault(_group_of(k), set()).add(k)
    file_groups: dict[str, set[str]] = {}
    for k in ckpt.state_dict:
        file_groups.setdefault(_group_of(k), set()).add(k)

    errors: list[str] = []
    set_aside: list[str] = []
    to_load: dict[str, torch.Tensor] = {}
    loaded: list[str] = []
    for g, fkeys in file_groups.items():
        if g not in model_groups:
            if g in ("D_z", "D") or (g.startswith("LMH") and model.LMH is None):
                set_aside += sorted(fkeys)
            else:
                errors.append(f"unexpected keys {_show(list(fkeys))}")
            continue
        mkeys = model_groups[g]
        # Files from PyTorch < 0.4.1 lack BN counters; they carry no weights, so fill them.
        missing = [k for k in mkeys - fkeys if not k.endswith("num_batches_tracked")]
        unexpected = sorted(fkeys - mkeys)
        if missing:
            errors.append(f"missing keys {_show(missing)}")
        if unexpected:
            errors.append(f"unexpected keys {_show(unexpected)}")
        shapes = [f"{k} file {tuple(ckpt.state_dict[k].shape)} vs model {tuple(model_sd[k].shape)}"
                  for k in sorted(fkeys & mkeys)
                  if ckpt.state_dict[k].shape != model_sd[k].shape]
        if shapes:
            errors.append("wrong shapes: " + "; ".join(shapes[:_MAX_KEYS_SHOWN]))
        to_load.update({k: ckpt.state_dict[k] for k in fkeys & mkeys})
        loaded.append(g)
    fresh = sorted(g for g in model_groups if g not in file_groups)
    for g in ("Q", "P"):
        if g in fresh:
            errors.append(f"no {'encoder' if g == 'Q' else 'generator'} tensors "
                          f"('{g}.' keys) in the file")
    head_fresh = [g for g in fresh if g.startswith("LMH")]
    if strict_head and head_fresh:
        errors.append(f"strict_head: the file lacks the head groups {head_fresh}")
    if errors:
        raise CheckpointError(f"checkpoint {ckpt.path} does not match the model: "
                              + "; ".join(errors))
    return to_load, _ordered(loaded), _ordered(fresh), set_aside


def _ordered(groups: list[str]) -> list[str]:
    """Groups in model order (encoder, generator, head, skips coarse to fine, discriminators)."""
    order = ["Q", "P", "LMH", *(f"LMH.{n}" for n in SKIP_NAMES), "D_z", "D"]
    return sorted(groups, key=lambda g: order.index(g) if g in order else len(order))


def load_pretrained(model: FabRec, path: str | os.PathLike, *,
                    strict_head: bool = False) -> LoadReport:
    """Load an official 3FabRec snapshot or one of our checkpoints into `model`.

    Args:
        model: a model from `build_model`.
        path: `saae.mdl` (official) or a file `save_checkpoint` wrote.
        strict_head: require every head tensor (ITLs, final ConvT and, for SCAF, the skip
            bottlenecks) to be in the file, e.g. to evaluate a trained landmark model.

    Returns:
        A LoadReport listing loaded, fresh and set-aside parts.

    Raises:
        CheckpointError: unreadable or malicious file, or one that does not fit `model`
            (the message says what the file has versus what the model is, or names keys).
    """
    return _load_into(model, read_checkpoint(path), strict_head)


def _load_into(model: FabRec, ckpt: Checkpoint, strict_head: bool) -> LoadReport:
    _check_compatible(ckpt, model)
    to_load, loaded, fresh, set_aside = _select(ckpt, model, strict_head)
    result = model.load_state_dict(to_load, strict=False)
    if result.unexpected_keys:  # pragma: no cover - _select only passes model keys
        raise CheckpointError(f"checkpoint {ckpt.path}: unexpected {result.unexpected_keys}")
    return LoadReport(ckpt.path, ckpt.source, ckpt.config, loaded, fresh, set_aside, len(to_load))


def load_model(path: str | os.PathLike, *, with_discriminators: bool | None = None) -> FabRec:
    """Rebuild a model from a checkpoint (ours: its config; official: arch 3fabrec, L
    from `LMH.lin.weight`, 0 = auto-encoder only) and load every tensor, in eval mode.

    Args:
        path: the checkpoint.
        with_discriminators: build D_z/D; default: when the file holds them.
    """
    ckpt = read_checkpoint(path)
    if with_discriminators is None:
        with_discriminators = any(k.startswith(_DISC_PREFIXES) for k in ckpt.state_dict)
    model = FabRec(ckpt.config, with_discriminators=with_discriminators)
    _load_into(model, ckpt, strict_head=True)
    return model.eval()



def _check_plain(obj: object, where: str) -> None:
    """Refuse `extra` content that weights_only loading would reject later."""
    if obj is None or isinstance(obj, str | int | float | bool) or torch.is_tensor(obj):
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str | int):
                raise TypeError(f"checkpoint extra{where}: key {k!r} must be str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"checkpoint extra{where}: {type(obj).__name__} is not storable; use "
                    "dict, list, tuple, str, int, float, bool, None or tensors")


def save_checkpoint(model: FabRec, path: str | os.PathLike, *,
                    extra: dict | None = None) -> Path:
    """Write `model` (config + all weights) and `extra` to `path` atomically.

    The file is written to a temp file in the same folder, flushed to disk, then renamed
    over `path`, so a crash never leaves a half-written checkpoint behind.

    Raises:
        TypeError: `extra` holds something weights_only loading would refuse.
    """
    path = Path(path)
    extra = dict(extra or {})
    _check_plain(extra, "")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
