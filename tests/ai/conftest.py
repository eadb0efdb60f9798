"""Fixtures for the AI provider tests (offline: no network, no keys)."""

from __future__ import annotations

import sys
from pathlib import Path

# `uv run pytest` does not put the project root on sys.path (the project is not installed:
# tool.uv.package = false). Make `import app` work without depending on a top-level conftest.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
