"""Helpers shared by the test modules, one module per kind of help; import from the module
(`from tests.helpers.faces import face_points`), this package re-exports nothing.

* `acquisition_inputs`: heatmaps, TTA landmarks and pool chunks for the acquisition tests;
* `plugins`: the example acquisition plugin, installed into a scratch folder;
* `faces`: face-like landmark sets, random images, blocky crops;
* `datasets_on_disk`: miniature 300-W and WFLW downloads;
* `specs`: the tiny experiment spec of the orchestrator tests;
* `cells`: cells (CellConfig) for result stores and for the loop;
* `store`: result stores written by hand and read back by key;
* `runs`: cells run in-process by the plain loop;
* `processes`: processes a test started, and the failures Tune logged;
* `bench`: the benchmark record schema.

conftest.py files only define fixtures. Project packages are imported inside the helpers
that need them, so that a room's tests import only that room (acquisition tests never load
torch or Ray through these modules).
"""
