"""Annotation projects: `propose` runs one round of the loop on a user's photos, `status`
counts what is labeled, `label_studio` and `outputs` write what annotators get."""

#: How a project picks faces before it has L0 labeled ones (`propose --cold-start`); the
#: first is the default.
COLD_STARTS = ("kcenter", "random")
