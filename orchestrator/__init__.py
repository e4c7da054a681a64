"""Experiment orchestration on Ray Tune: specs, grids, trials, result store, CLI."""
