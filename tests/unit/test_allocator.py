"""A server process keeps the memory it frees: arrays of the sizes a dashboard decodes, made
and freed request after request, do not fault their pages in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Arrays of a few hundred kilobytes to several megabytes, made and freed 20 times (a
# dashboard's decoding at a million reports); prints the page faults after the first round.
WORKLOAD = """
import resource, sys
import numpy as np
from portal.web import allocator
if sys.argv[1] == "kept" and not allocator.keep_freed_memory():
    sys.exit("no glibc mallopt")
def request():
    arrays = [np.ones(size // 8) for size in (300_000, 2_000_000, 6_000_000, 1_000_000)]
    return sum(float(a.sum()) for a in arrays)
request()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    request()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    """The page faults of the workload in a process of its own (the setting is per process)."""
    result = subprocess.run([sys.executable, "-c", WORKLOAD, mode], capture_output=True, text=True)
    if "no glibc mallopt" in result.stderr:
        pytest.skip("no glibc mallopt here")
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_freed_memory_is_reused_without_new_page_faults() -> None:
    # A round touches 2,270 pages: 20 rounds would fault up to 45,000 of them in again.
    assert faults("kept") < 100
    assert faults("default") > 10 * max(faults("kept"), 10)
