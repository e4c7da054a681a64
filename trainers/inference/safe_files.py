"""Writing next to the user's files without losing any of them.

- `refuse_output_over_inputs`: an output path that is one of the command's inputs (an
  image, the boxes CSV, the model, an input folder) is refused before any work.
- `spreadsheet_cell`: a CSV text cell that a spreadsheet would run as a formula (it starts
  with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading apostrophe, as OWASP
  recommends for CSV injection; numbers stay numbers. `unspreadsheet_cell` undoes it.
- `OverlayFolder`: overlay PNGs written only where they replace nothing of the user's. Names
  mirror the images' paths under their input folder (`a/x.jpg` -> `a/x.png`, `b/x.jpg` ->
  `b/x.png`), and `.scaf-al-overlays.json` in the folder records what scaf-al wrote (name and
  SHA-256): a name that exists and is not recorded there, or whose content changed since, is
  refused before any image is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
OVERLAY_MANIFEST = ".scaf-al-overlays.json"


class OutputPathError(ValueError):
    """An output path that would replace an input or a file scaf-al did not write."""


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def refuse_output_over_inputs(out: str | os.PathLike, flag: str,
                              inputs: Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]
                                              | None]) -> None:
    """Raise when `out` is one of `inputs` (by path, links and hard links followed).

    Args:
        out: the output path.
        flag: how the user named it ("--out", "--overlay", "PROJECT").
        inputs: {how the user named an input: a path, several paths, or None}.

    Raises:
        OutputPathError: one line naming both, before anything is written.
    """
    target = Path(out)
    for name, value in inputs.items():
        if value is None:
            continue
        paths = [value] if isinstance(value, str | os.PathLike) else list(value)
        for p in paths:
            if _same(target, Path(p)):
                raise OutputPathError(f"{flag} {target} is the input {name} {p}; nothing was "
                                      f"written (choose another {flag})")


def spreadsheet_cell(value: object) -> object:
    """`value`, with a leading apostrophe when it is text a spreadsheet would take for a
    formula; numbers (and text that reads as a number, like "-1.5") stay as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def unspreadsheet_cell(text: str) -> str:
    """The text `spreadsheet_cell` was given (its apostrophe removed)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def overlay_names(inputs: Sequence[str | os.PathLike], images: Sequence[Path]) -> list[str]:
    """An overlay name per image: its path under the input folder it was found in (a file
    argument: its name), `.png` for the suffix; a name taken already gets `-2`, `-3`, ..."""
    folders = [Path(i) for i in inputs if Path(i).is_dir()]
    taken: set[str] = set()
    names = []
    for image in images:
        under = next((f for f in folders if f == image.parent or f in image.parents), None)
        rel = image.relative_to(under) if under is not None else Path(image.name)
        base, n = rel.with_suffix("").as_posix(), 1
        name = f"{base}.png"
        while name.lower() in taken:  # case-insensitive file systems too
            n += 1
            name = f"{base}-{n}.png"
        taken.add(name.lower())
        names.append(name)
    return names


class OverlayFolder:
    """Where `predict --overlay DIR` writes (see the module docstring)."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self.folder = Path(folder)
        self.names = list(names)
        self.manifest = self.folder / OVERLAY_MANIFEST
        self.written: dict[str, str | None] = self._read()

    def _read(self) -> dict[str, str | None]:
        if not self.manifest.is_file():
            return {}
        try:
            doc = json.loads(self.manifest.read_text(encoding="utf-8"))
            return {str(k): (None if v is None else str(v)) for k, v in doc["written"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise OutputPathError(f"{self.manifest}: not a scaf-al overlay record ({e}); "
                                  "remove it or choose another --overlay folder") from None

    def paths(self) -> list[Path]:
        return [self.folder / n for n in self.names]

    def check(self, inputs: Sequence[Path]) -> None:
        """Refuse, before any work, a name that would replace a file scaf-al did not write
        (or one changed since), or an input image."""
        refuse_output_over_inputs(self.folder, "--overlay", {"image": list(inputs)})
        given = {p.resolve() for p in inputs}
        for name, path in zip(self.names, self.paths(), strict=True):
            if path.resolve() in given:
                raise OutputPathError(f"--overlay {self.folder}: {path} is an input image; "
                                      "nothing was written (choose another --overlay folder)")
            if not (path.exists() or path.is_symlink()):
                continue
            if path.is_symlink() or not path.is_file():
                raise OutputPathError(f"--overlay {self.folder}: {path} exists and is not a "
                                      "plain file; nothing was written")
            if name not in self.written:
                raise OutputPathError(f"--overlay {self.folder}: {path} exists and was not "
                                      "written by scaf-al; nothing was written (choose another "
                                      "--overlay folder, or move that file)")
            recorded = self.written[name]
            if recorded is not None and _sha256(path) != recorded:
                raise OutputPathError(f"--overlay {self.folder}: {path} changed since scaf-al "
                                      "wrote it; nothing was written (choose another --overlay "
                                      "folder, or move that file)")

    def begin(self) -> list[Path]:
        """Record the names about to be written (a run stopped halfway leaves them ours);
        the paths to write, in image order."""
        for n in self.names:
            self.written[n] = None
        self._save()
        return self.paths()

    def finish(self, written: Sequence[Path]) -> None:
        """Record what each written overlay holds."""
        for path in written:
            self.written[path.relative_to(self.folder).as_posix()] = _sha256(path)
        self._save()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_name(f"{OVERLAY_MANIFEST}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"written": self.written}, indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
        os.replace(tmp, self.manifest)
