"""`scaf-al propose` inputs: bad files (with and without --skip-bad), the image folder left
untouched, cold starts (k-center on latents vs random), and `scaf-al status PROJECT`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli.commands import main
from orchestrator.projects.propose import ProposeError, propose
from tests.helpers.propose_faces import (
    annotate,
    folder_digest,
    unlabeled_project,
)


@pytest.fixture
def faces(tmp_path: Path, propose_autoencoder: Path) -> dict:
    """10 unlabeled synthetic faces, their held-back truth and a tiny spec (L0 = 4)."""
    return unlabeled_project(tmp_path, propose_autoencoder, 10)


def _cli(faces: dict, *extra: str) -> int:
    return main(["propose", str(faces["project"]), "--images", str(faces["images"]), "--k",
                 "3", "--spec", str(faces["spec"]), "--cold-start", "random", "--whole-image",
                 *extra])


def _make_bad(kind: str, images: Path, truth: Path) -> list[Path]:
    """Spoil the folder one way; returns the files the error must name."""
    if kind == "corrupt pts":
        (images / "face001.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n")
        return [images / "face001.pts"]
    if kind == "landmark count":
        shutil.copyfile(truth / "face000.pts", images / "face000.pts")
        shutil.copyfile(truth / "face002.pts", images / "face002.pts")
        (images / "face001.pts").write_text("version: 1\nn_points: 2\n{\n1 2\n3 4\n}\n")
        return [images / "face001.pts"]
    if kind == "unreadable image":
        (images / "broken.png").write_bytes(b"not a png at all")
        return [images / "broken.png"]
    (images / "sub").mkdir()
    shutil.copyfile(images / "face003.png", images / "sub" / "face003.jpg")
    return [images / "face003.png", images / "sub" / "face003.jpg"]


BAD_KINDS = ("corrupt pts", "landmark count", "unreadable image", "same stem")


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_a_bad_file_is_named_and_nothing_starts(faces: dict, kind: str, capsys) -> None:
    named = _make_bad(kind, faces["images"], faces["truth"])
    assert _cli(faces) == 2
    out = capsys.readouterr().out
    bad_lines = [ln for ln in out.splitlines() if ln.startswith("bad file:")]
    assert len(bad_lines) == len(named)
    for path in named:
        assert any(str(path) in ln for ln in bad_lines), (path, out)
    assert not faces["project"].exists()  # the round did not start


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_skip_bad_leaves_the_files_out_and_lists_them(faces: dict, kind: str, capsys) -> None:
    named = _make_bad(kind, faces["images"], faces["truth"])
    assert _cli(faces, "--skip-bad") == 0
    out = capsys.readouterr().out
    assert sum(ln.startswith("left out:") for ln in out.splitlines()) == len(named)
    record = json.loads((faces["project"] / "round-000" / "round.json").read_text())
    assert sorted(p for p, _why in record["skipped"]) == sorted(str(p) for p in named)
    proposed = {str(faces["images"] / rel) for rel in record["proposed"]}
    assert not proposed & {str(p) for p in named}


def test_the_image_folder_is_never_written(faces: dict) -> None:
    images = faces["images"]
    shutil.copyfile(faces["truth"] / "face009.pts", images / "face009.pts")  # the user's own
    before = folder_digest(images)
    out = propose(faces["project"], images, 4, spec=faces["spec"], cold_start="random",
        whole_image=True)
    assert folder_digest(images) == before
    annotate(images, faces["truth"], out.record.proposed)
    before = folder_digest(images)
    trained = propose(faces["project"], images, 3,  # writes pre-annotations: not into DIR
        whole_image=True)
    assert trained.record.kind == "trained"
    assert folder_digest(images) == before
    assert len(list((faces["project"] / "round-001" / "preannotations").glob("*.pts"))) == 3


def test_a_project_inside_the_image_folder_is_refused(faces: dict) -> None:
    with pytest.raises(ProposeError, match="inside --images"):
        propose(faces["images"] / "project", faces["images"], 3, spec=faces["spec"],
            whole_image=True)
    assert not (faces["images"] / "project").exists()


def test_random_cold_start_draws_from_the_seed_and_skips_labeled(faces: dict) -> None:
    images = faces["images"]
    annotate(images, faces["truth"], ["face000.png", "face005.png"])  # 2 < L0 = 4
    a = propose(faces["project"], images, 5, spec=faces["spec"], cold_start="random",
        whole_image=True)
    assert a.record.kind == "cold-start-random"
    assert len(set(a.record.proposed)) == 5
    assert not {"face000.png#1", "face005.png#1"} & set(a.record.proposed)
    assert a.record.labeled == ["face000.png#1", "face005.png#1"]  # face ids: image#n
    # Seed-determined: a second project with the same seed proposes the same images.
    b = propose(faces["project"].with_name("again"), images, 5, spec=faces["spec"],
                cold_start="random", whole_image=True)
    assert b.record.proposed == a.record.proposed


def test_kcenter_cold_start_spreads_over_distinct_faces(faces: dict, tmp_path: Path) -> None:
    """Eight copies of one face and two other faces: k-center on the latent code picks at
    most one copy (identical codes are at distance 0); random picks three copies or more
    in most draws."""
    images = tmp_path / "dups"
    images.mkdir()
    for i in range(8):
        shutil.copyfile(faces["images"] / "face000.png", images / f"copy{i}.png")
    shutil.copyfile(faces["images"] / "face004.png", images / "other1.png")
    shutil.copyfile(faces["images"] / "face007.png", images / "other2.png")
    out = propose(tmp_path / "kc", images, 3, spec=faces["spec"], cold_start="kcenter",
        whole_image=True)
    assert out.record.kind == "cold-start-kcenter"
    picked = out.record.proposed
    assert sum(p.startswith("copy") for p in picked) == 1
    assert {"other1.png#1", "other2.png#1"} <= set(picked)
    assert not (out.round_dir / "model.pt").exists()  # no trained head in a cold start
    assert np.isinf(out.proposal.scores[0])  # the first centre has no distance yet
    assert all(np.isfinite(out.proposal.scores[1:]))


def test_status_counts_labeled_unlabeled_and_waiting(faces: dict, capsys) -> None:
    images, project = faces["images"], faces["project"]
    annotate(images, faces["truth"], ["face009.png"])
    out = propose(project, images, 4, spec=faces["spec"], cold_start="random", whole_image=True)
    annotate(images, faces["truth"], out.record.proposed[:2])
    assert main(["status", str(project)]) == 0
    text = capsys.readouterr().out
    # 1 labeled before + 2 annotated = 3 of 10; 2 proposed still waiting.
    assert "3 labeled, 7 unlabeled, 2 proposed and not yet annotated" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("000"))
    assert row.split() == ["000", "cold-start-random", "1", "4", "2", "2", "-"]


def test_a_waiting_image_is_not_proposed_again(faces: dict) -> None:
    images, project = faces["images"], faces["project"]
    first = propose(project, images, 4, spec=faces["spec"], cold_start="random", whole_image=True)
    annotate(images, faces["truth"], first.record.proposed[:3])  # one left waiting
    second = propose(project, images, 3, cold_start="random", whole_image=True)
    assert second.record.pending_excluded == [first.record.proposed[3]]
    assert not set(second.record.proposed) & set(first.record.proposed)


def test_gallery_and_watch_read_a_project(faces: dict, tmp_path: Path, capsys) -> None:
    out = propose(faces["project"], faces["images"], 4, spec=faces["spec"],
                  cold_start="random", whole_image=True)
    sheet = tmp_path / "g.png"
    assert main(["gallery", str(faces["project"]), "--round", "0", "--out", str(sheet)]) == 0
    assert sheet.read_bytes() == (out.round_dir / "contact_sheet.png").read_bytes()
    assert main(["watch", "--once", "--plain", str(faces["project"])]) == 0
    assert "1/1 trial-rounds" in capsys.readouterr().out
