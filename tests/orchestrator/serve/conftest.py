"""Projects for the `scaf-al serve` tests: a trained one (a random cold start of 4, annotated,
then a trained round of K = 5 on 14 synthetic faces) and an untrained one (a random cold
start only: no model, no training needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.projects.propose import propose
from tests.helpers.propose_faces import annotate, tiny_spec, write_faces


@dataclass
class Project:
    """A project folder, its images, the held-back truth and the latest round's picks."""

    path: Path
    images: Path
    truth: Path
    proposed: list[str]


def _images_of(faces: list[str]) -> list[str]:
    """The images of face ids `<image>#<n>` (one face per synthetic image)."""
    return [f.rsplit("#", 1)[0] for f in faces]


def trained_project(tmp: Path, autoencoder: Path) -> Project:
    images, truth = tmp / "images", tmp / "truth"
    write_faces(images, truth, 14)
    spec = tiny_spec(tmp / "spec.toml", tmp / "cache", model={"pretrained": str(autoencoder)},
                     budgets=[{"sizes": [4]}])
    first = propose(tmp / "project", images, 4, spec=spec, cold_start="random",
                    whole_image=True)
    annotate(images, truth, first.record.proposed)
    out = propose(tmp / "project", images, 5, whole_image=True)
    return Project(tmp / "project", images, truth, _images_of(out.record.proposed))


def untrained_project(tmp: Path) -> Project:
    images, truth = tmp / "images", tmp / "truth"
    write_faces(images, truth, 6, prefix="other")
    spec = tiny_spec(tmp / "spec.toml", tmp / "cache", experiment={"name": "other"},
                     budgets=[{"sizes": [10]}])
    out = propose(tmp / "project", images, 2, spec=spec, cold_start="random",
                  whole_image=True)
    return Project(tmp / "project", images, truth, _images_of(out.record.proposed))


@pytest.fixture(scope="session")
def served_trained(tmp_path_factory: pytest.TempPathFactory,
                   propose_autoencoder: Path) -> Project:
    """A trained project the backend tests read (they do not change it)."""
    return trained_project(tmp_path_factory.mktemp("serve-trained"), propose_autoencoder)


@pytest.fixture
def served_untrained(tmp_path: Path) -> Project:
    """An untrained project (its own per test: training adds rounds to it)."""
    return untrained_project(tmp_path)
