"""Freed array memory stays in the process, so a training step does not page-fault it in again."""
from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import resource, numpy as np
import engine
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):  # a training step's activations: blocks of 4 to 20 MiB, freed together
    arrays = [np.ones(n, dtype="float32") for n in (1_000_000, 3_000_000, 5_000_000, 2_000_000)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env_value):
    env = {"FITQ_KEEP_FREED_MEMORY": env_value, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc thresholds")
def test_repeated_steps_reuse_freed_memory_instead_of_faulting_it_in_again():
    pages_per_step = 11_000_000 * 4 // 4096
    kept = _faults("1")
    returned = _faults("0")
    assert kept < pages_per_step  # only the first step faults its pages in
    assert returned > 4 * pages_per_step  # glibc's defaults hand them back and fault them in again
