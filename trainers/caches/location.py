"""Where the caches live: crops, auto-encoders and round-0 models of every experiment.

One rule for every command: the spec's `cache_dir`, else `$SCAF_AL_CACHE`, else
`~/.cache/scaf-al`, always as an absolute path (trials on other nodes and later runs must
find the same folder whatever the working directory).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SCAF_AL_CACHE"


def cache_root(configured: str | None = None) -> Path:
    """The cache folder: `configured` (a spec's `cache_dir`), else $SCAF_AL_CACHE, else
    ~/.cache/scaf-al; expanded and resolved."""
    chosen = configured or os.environ.get(CACHE_ENV)
    path = Path(chosen) if chosen else Path.home() / ".cache" / "scaf-al"
    return path.expanduser().resolve()
