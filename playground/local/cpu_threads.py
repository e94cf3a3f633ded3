"""How many threads llama.cpp should compute with: one per physical core this process may use.

llama-cpp-python's default is half the logical CPUs, which assumes every core runs two
hardware threads. On a machine without them (most cloud VMs expose one thread per core) that
leaves half the cores idle while a single sequence decodes: on a 2-core VM, SmolLM2 took
18 ms a token on one thread against 12 ms on two. llama.cpp's own tools count physical
cores, reading which logical CPUs are hyperthread siblings of one another; so does this.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")


def usable_cpus() -> set[int]:
    """The logical CPUs the scheduler lets this process run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def physical_cores(cpus: Iterable[int] | None = None, sysfs: Path = SYSFS_CPUS) -> int:
    """The number of distinct physical cores among ``cpus`` (default: the usable ones).

    A CPU whose topology cannot be read counts as a core of its own.
    """
    cores = set()
    for cpu in usable_cpus() if cpus is None else cpus:
        siblings = sysfs / f"cpu{cpu}" / "topology" / "thread_siblings_list"
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(f"cpu{cpu}")
    return max(1, len(cores))
