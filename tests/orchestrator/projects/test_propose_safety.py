"""`propose` loses nothing and prints every bad input as one line: the driver lock, `resume`
on a project, a corrected annotation retrains round 0, outputs that are inputs, a cache
inside the image folder, decompression bombs, markup in file names, formulas in
to_annotate.csv and percent-encoded Label Studio URLs."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli.commands import main
from orchestrator.projects.label_studio import match_image
from orchestrator.projects.outputs import read_to_annotate
from orchestrator.projects.propose import ProposeError, propose
from orchestrator.results import read_rounds
from orchestrator.results.folder_lock import driver_lock
from tests.helpers.faces import bomb_png
from tests.helpers.propose_faces import annotate, tiny_spec, unlabeled_project
from trainers.datasets.pts import read_pts, write_pts


@pytest.fixture
def faces(tmp_path: Path, propose_autoencoder: Path) -> dict:
    """6 unlabeled synthetic faces, their held-back truth and a tiny spec (L0 = 4)."""
    return unlabeled_project(tmp_path, propose_autoencoder, 6)


def _cli(faces: dict, *extra: str, k: int = 2) -> int:
    return main(["propose", str(faces["project"]), "--images", str(faces["images"]), "--k",
                 str(k), "--spec", str(faces["spec"]), "--cold-start", "random", "--whole-image",
                 *extra])


def _errors(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("error:")]


def test_a_second_propose_on_a_project_is_refused_naming_the_holder(faces: dict,
                                                                    capsys) -> None:
    with driver_lock(faces["project"], "propose"):  # this process drives it already
        assert _cli(faces) == 2
    errors = _errors(capsys.readouterr().out)
    assert len(errors) == 1 and f"pid {os.getpid()}" in errors[0], errors
    assert "scaf-al propose" in errors[0]
    assert not faces["project"].exists()  # nothing was started, no folder left behind


def test_resume_on_a_project_says_how_to_continue_and_starts_nothing(faces: dict,
                                                                     capsys) -> None:
    assert _cli(faces, k=3) == 0
    project = faces["project"]
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))
    for argv in (["resume", str(project)], ["run", "--resume", "--out", str(project)]):
        capsys.readouterr()
        assert main(argv) == 2
        errors = _errors(capsys.readouterr().out)
        assert len(errors) == 1, errors
        assert "annotation project" in errors[0]
        assert (f"scaf-al propose {project} --images {faces['images']} --k 3 --whole-image"
                in errors[0])
        assert str(project / "round-000" / "to_annotate.csv") in errors[0]
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == before
    assert not (project / "tune").exists()


def test_a_corrected_annotation_trains_round_zero_anew(faces: dict, tmp_path: Path,
                                                      propose_autoencoder: Path) -> None:
    """Round 0 of a project is redone (its folder removed) three times: unchanged labels
    reuse the cached model, a corrected `.pts` does not."""
    images, project = faces["images"], faces["project"]
    spec = tiny_spec(tmp_path / "random.toml", tmp_path / "cache", budgets=[{"sizes": [4]}],
                     model={"pretrained": str(propose_autoencoder)},
                     acquisitions=[{"name": "random"}])  # training is what is tested
    annotate(images, faces["truth"], faces["names"][:4])  # L0 = 4: a trained round
    pts = images / f"{Path(faces['names'][0]).stem}.pts"
    reused = []
    for redo in ("first", "same labels", "corrected"):
        if redo == "corrected":  # the annotator moves a face's points
            write_pts(pts, read_pts(pts) + np.array([1.5, -2.0]))
        out = propose(project, images, 1, spec=spec)
        assert out.record.kind == "trained" and out.record.loop_round == 0
        reused += read_rounds(str(project)).column("reused_round0").to_pylist()
        shutil.rmtree(out.round_dir)
    assert reused == [False, True, False]


def test_outputs_over_inputs_and_a_cache_in_the_images_are_refused(faces: dict,
                                                                    tmp_path: Path) -> None:
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("image,x_min,y_min,x_max,y_max\n")
    with pytest.raises(ValueError, match=r"PROJECT .*boxes\.csv is the input --boxes"):
        propose(boxes, faces["images"], 2, spec=faces["spec"], boxes=boxes)
    with pytest.raises(ValueError, match=r"PROJECT .*spec\.toml is the input --spec"):
        propose(faces["spec"], faces["images"], 2, spec=faces["spec"])
    inside = tiny_spec(tmp_path / "inside.toml", faces["images"] / ".cache")
    with pytest.raises(ProposeError, match=r"cache_dir .*images/\.cache lies inside --images"):
        propose(faces["project"], faces["images"], 2, spec=inside)
    assert not faces["project"].exists() and not (faces["images"] / ".cache").exists()


def test_a_decompression_bomb_is_named_and_skip_bad_leaves_it_out(faces: dict,
                                                                   capsys) -> None:
    bomb = bomb_png(faces["images"] / "huge.png")
    assert _cli(faces) == 2
    bad = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("bad file:")]
    assert len(bad) == 1 and str(bomb) in bad[0] and "decompression-bomb limit" in bad[0]
    assert "900,000,000 pixels" in bad[0]
    assert _cli(faces, "--skip-bad") == 0
    assert any(ln.startswith("left out:") and str(bomb) in ln
               for ln in capsys.readouterr().out.splitlines())
    record = json.loads((faces["project"] / "round-000" / "round.json").read_text())
    assert [p for p, _ in record["skipped"]] == [str(bomb)]


def test_markup_in_a_file_name_is_printed_as_is(faces: dict, capsys) -> None:
    odd = faces["images"] / "[" / "x][bold]odd.png"  # the path holds "[/x]"
    odd.parent.mkdir()
    odd.write_bytes(b"not an image")
    assert _cli(faces) == 2
    bad = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("bad file:")]
    assert len(bad) == 1 and str(odd) in bad[0]


def test_formulas_are_neutralised_and_task_urls_percent_encoded(faces: dict) -> None:
    images = faces["images"]
    shutil.move(images / "face000.png", images / "=HYPERLINK(1).png")
    shutil.move(images / "face001.png", images / "a b#1&c?.png")
    out = propose(faces["project"], images, 6, spec=faces["spec"], cold_start="random",
                  whole_image=True)
    with (out.round_dir / "to_annotate.csv").open(newline="") as f:
        cells = {row[1] for row in csv.reader(f)}
    assert "'=HYPERLINK(1).png" in cells and "=HYPERLINK(1).png" not in cells
    # Read back without the apostrophe: the faces proposed (`<image>#<n>`).
    assert {f"{rel}#{n}" for _, rel, n, _ in read_to_annotate(out.round_dir / "to_annotate.csv")
            } == set(out.record.proposed)
    tasks = json.loads((out.round_dir / "label_studio.json").read_text())
    urls = {t["data"]["scaf_image"]: t["data"]["image"] for t in tasks}
    assert urls["a b#1&c?.png"] == "/data/local-files/?d=a%20b%231%26c%3F.png"
    assert urls["=HYPERLINK(1).png"] == "/data/local-files/?d=%3DHYPERLINK%281%29.png"
    # A task that lost `scaf_image` is matched by its decoded URL.
    images_proposed = [f.rsplit("#", 1)[0] for f in out.record.proposed]
    assert match_image(urls["a b#1&c?.png"], images_proposed) == "a b#1&c?.png"
