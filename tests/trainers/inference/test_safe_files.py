"""Nothing of the user's is replaced: outputs that are inputs are refused before any work,
overlays replace only what scaf-al wrote, and CSV cells never run as spreadsheet formulas."""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainers.inference.export import export_model
from trainers.inference.predict import predict_images
from trainers.inference.safe_files import (
    OVERLAY_MANIFEST,
    OutputPathError,
    overlay_names,
    spreadsheet_cell,
    unspreadsheet_cell,
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _photo(path: Path, seed: int, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+2.jpg", "'+1+2.jpg"),
    ("-cmd.jpg", "'-cmd.jpg"),
    ("@SUM(A1).png", "'@SUM(A1).png"),
    ("\tx.png", "'\tx.png"),
    ("photos/=1+1.jpg", "photos/=1+1.jpg"),  # a formula only at the start of the cell
    ("-1.5", "-1.5"), ("+3", "+3"),  # numbers stay numbers
    (-2.25, -2.25), (7, 7),
])
def test_formula_cells_get_an_apostrophe_and_numbers_stay(cell: object, written: object) -> None:
    assert spreadsheet_cell(cell) == written
    if isinstance(cell, str):
        assert unspreadsheet_cell(str(written)) == cell


def test_overlay_names_mirror_subfolders_and_never_collide(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a, b = _photo(photos / "a" / "x.jpg", 0), _photo(photos / "b" / "x.jpg", 1)
    top = _photo(photos / "x.png", 2)
    loose1, loose2 = _photo(tmp_path / "x.jpg", 3), _photo(tmp_path / "other" / "x.jpg", 4)
    names = overlay_names([photos, loose1, loose2], [a, b, top, loose1, loose2])
    assert names == ["a/x.png", "b/x.png", "x.png", "x-2.png", "x-3.png"]


def test_outputs_that_are_inputs_are_refused_before_any_work(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    image = _photo(photos / "face.png", 0)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("image,x_min,y_min,x_max,y_max\nface.png,1,1,20,20\n")
    model = tmp_path / "m.pt"
    model.write_bytes(b"not even a model: the refusal comes before it is read")
    os.link(boxes, tmp_path / "hardlink.csv")
    before = {p: _digest(p) for p in (image, boxes, model)}
    cases = {"the boxes CSV": boxes, "a hard link to it": tmp_path / "hardlink.csv",
             "an image": image, "the model": model, "the images folder": photos}
    for what, out in cases.items():
        with pytest.raises(OutputPathError, match="--out .* is the input") as caught:
            predict_images(model, [photos], out, boxes=boxes, device="cpu")
        assert "\n" not in str(caught.value), what
    with pytest.raises(OutputPathError, match=r"--out .*m\.pt is the input MODEL"):
        export_model(model, "torchscript", tmp_path / "." / "m.pt")
    assert {p: _digest(p) for p in before} == before


def test_overlay_refuses_a_users_file_before_any_work(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _photo(photos / "x.jpg", 0)
    users = _photo(photos / "x.png", 1)  # the user's own PNG (an input too)
    before = _digest(users)
    with pytest.raises(OutputPathError, match=r"photos/x\.png is an input image"):
        predict_images(tmp_path / "no-model.pt", [photos], tmp_path / "p.csv",
                       overlay_dir=photos, device="cpu")
    not_input = tmp_path / "overlays"
    _photo(not_input / "x.png", 5)
    with pytest.raises(OutputPathError, match="exists and was not written by scaf-al"):
        predict_images(tmp_path / "no-model.pt", [photos / "x.jpg"], tmp_path / "p.csv",
                       overlay_dir=not_input, device="cpu")
    assert _digest(users) == before and not (tmp_path / "p.csv").exists()


def test_overlays_rewrite_their_own_files_only(tmp_path: Path, tiny_landmark_model: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    _photo(photos / "a" / "x.jpg", 0)
    _photo(photos / "b" / "x.jpg", 1)
    _photo(photos / "=HYPERLINK(1).png", 2)
    out = tmp_path / "overlays"
    monkeypatch.chdir(tmp_path)  # relative inputs: the CSV's image cells start as given
    first = predict_images(tiny_landmark_model, [Path("photos")], Path("pred.csv"),
                           overlay_dir=out, device="cpu", whole_image=True)
    assert [p.relative_to(out).as_posix() for p in first.overlays] == [
        "=HYPERLINK(1).png", "a/x.png", "b/x.png"]
    assert (out / OVERLAY_MANIFEST).is_file()
    # Run again: the overlays are scaf-al's own, so they are replaced.
    predict_images(tiny_landmark_model, [Path("photos")], Path("pred.csv"), overlay_dir=out,
                   device="cpu", whole_image=True)
    _photo(out / "b" / "x.png", 9)  # the user edits one of them
    with pytest.raises(OutputPathError, match=r"b/x\.png changed since scaf-al wrote it"):
        predict_images(tiny_landmark_model, [Path("photos")], Path("pred.csv"),
                       overlay_dir=out, device="cpu", whole_image=True)
    with open("pred.csv", newline="") as f:
        cells = [row[0] for row in csv.reader(f)][1:]
    assert cells == ["photos/=HYPERLINK(1).png", "photos/a/x.jpg", "photos/b/x.jpg"]
    monkeypatch.chdir(photos)  # a name that is a formula from its first character
    predict_images(tiny_landmark_model, [Path("=HYPERLINK(1).png")], tmp_path / "one.csv",
                   device="cpu", whole_image=True)
    with (tmp_path / "one.csv").open(newline="") as f:
        assert [row[0] for row in csv.reader(f)][1] == "'=HYPERLINK(1).png"
