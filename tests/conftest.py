"""Test-wide settings.

Property-based tests explore new random examples on every developer run; on CI (`CI` set,
as .ci/run does) they replay a fixed, derandomised set, so a landing run does not depend on
luck. A failure found locally prints its example: add it as an @example to keep it.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
