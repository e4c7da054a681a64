"""Models, data, training stages and the active-learning loop (no Ray here)."""
