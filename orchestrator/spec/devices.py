"""`resources.device` against the grid's GPUs, checked before anything exists.

Inside a trial Ray sets `CUDA_VISIBLE_DEVICES` to the GPUs it gave the trial, so the trial
sees them as `cuda:0`, `cuda:1`, ...: one for a fraction of a GPU (or "auto"), n for n whole
GPUs. A trial with no GPU gets no such variable and would see (and share) every GPU of its
node. So a CUDA device needs GPUs per trial, an index below what a trial sees, and GPUs
where the trials run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.spec.experiment import SpecError

if TYPE_CHECKING:
    from orchestrator.spec.tables import Resources

FIELD = "resources.device"


def gpus_seen_by_a_trial(gpus_per_trial: float | str) -> int:
    """How many GPUs one trial sees: 0, 1 for a share (or "auto"), n for n whole GPUs."""
    if gpus_per_trial == "auto":
        return 1
    g = float(gpus_per_trial)
    return 0 if g == 0 else max(1, int(g))


def trial_device(resources: Resources, gpus: float | str | None = None) -> str:
    """The device string trials (and the auto-encoder's pre-training) run on: the spec's,
    except "auto" with no GPU per trial, which is the CPU (a GPU would be shared unasked)."""
    g = resources.gpus_per_trial if gpus is None else gpus
    if resources.device == "auto" and g != "auto" and float(g) == 0:
        return "cpu"
    return resources.device


def _cuda_index(device: str) -> int | None:
    """None for a non-CUDA device, else its index (0 for plain "cuda").

    Raises:
        SpecError: not a device torch knows.
    """
    import torch

    if device == "auto":
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise SpecError(FIELD, f"{device!r} is not a device; use \"auto\", \"cpu\", \"cuda\" "
                               "or \"cuda:N\"") from None
    if dev.type != "cuda":
        return None
    return dev.index or 0


def check_trial_device(resources: Resources) -> None:
    """The device against the GPUs each trial is given (needs nothing but the spec).

    Raises:
        SpecError: "resources.device: ..." for a CUDA device with `gpus_per_trial = 0`, or an
            index a trial cannot see.
    """
    index = _cuda_index(resources.device)
    if index is None:
        return
    seen = gpus_seen_by_a_trial(resources.gpus_per_trial)
    if seen == 0:
        raise SpecError(FIELD, f"{resources.device!r} with gpus_per_trial = 0: Ray gives the "
                               "trials no GPU, so all of them would share GPU 0 unaccounted; "
                               "give gpus_per_trial (a share like 0.25, or \"auto\"), or use "
                               "device = \"cpu\"")
    if index >= seen:
        what = "one GPU" if seen == 1 else f"{seen} GPUs"
        raise SpecError(FIELD, f"{resources.device!r}: a trial with gpus_per_trial = "
                               f"{resources.gpus_per_trial} sees {what} (Ray sets "
                               f"CUDA_VISIBLE_DEVICES per trial), numbered from cuda:0; use "
                               f"\"cuda\" (or an index below {seen})")


def _gpus(n: float) -> str:
    n = int(n) if float(n).is_integer() else n
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def check_gpus_available(resources: Resources, where: str, *, cuda: bool, gpus: int,
                         ray_gpus: float, per_node: bool = False) -> None:
    """The device and GPU shares against where the trials run. A trial runs on one node,
    so on a cluster the counts are those of its node with the most GPUs.

    Args:
        resources: the spec's table.
        where: "this machine" or "the Ray cluster at HOST:PORT", for the message.
        cuda: whether there is a CUDA GPU there (this machine: torch sees one; a cluster:
            Ray counts GPUs).
        gpus: the CUDA devices there (this machine: `torch.cuda.device_count()`; a cluster:
            the most any one node has).
        ray_gpus: the GPUs Ray can hand one trial there (logical ones, `num_gpus`,
            included; on a cluster the most any one node has).
        per_node: `where` is a cluster: the counts are per node.

    Raises:
        SpecError: a CUDA device or "auto" without a GPU, a device index past the GPUs
            there, or more GPUs per trial than there are (no trial could ever start).
    """
    has = (f"no node of {where} has more than {{}}" if per_node else f"{where} has {{}}")
    index = _cuda_index(resources.device)
    if not cuda and index is not None:
        raise SpecError(FIELD, f"{resources.device!r}, but {where} has no GPU (use "
                               "device = \"cpu\" or \"auto\")")
    if index is not None and index >= gpus:
        raise SpecError(FIELD, f"{resources.device!r}, but {has.format(_gpus(gpus))}, "
                               f"numbered from cuda:0 (use \"cuda\" or an index below "
                               f"{gpus})")
    g = resources.gpus_per_trial
    if g == "auto":
        if not cuda:
            raise SpecError("resources.gpus_per_trial", f'"auto" needs a GPU to probe on; '
                            f"{where} has none (give a fraction, or 0 for CPU trials)")
    elif float(g) > 0 and ray_gpus <= 0:
        raise SpecError("resources.gpus_per_trial", f"{g} GPU per trial, but {where} has no "
                        "GPU: no trial could start (0 for CPU trials, or num_gpus for "
                        "logical GPUs)")
    elif float(g) > ray_gpus:
        raise SpecError("resources.gpus_per_trial", f"{g} GPUs per trial, but "
                        f"{has.format(_gpus(ray_gpus))}: no trial could start (a trial "
                        "runs on one node; give at most that many)")
