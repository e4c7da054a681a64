"""Progress of an experiment: one snapshot model (`snapshot`), the grid view (`grid`), its
renderers (`render`), the standings against random (`standing`) and Tune's trial states
(`tune_state`)."""

#: Seconds between two snapshots of the plain live view (logs, pipes, CI), the default of
#: `run`, `resume` and `extend --plain --interval`.
PLAIN_INTERVAL_S = 30.0
