"""How many threads llama.cpp gets: one per physical core, hyperthread siblings once."""

from __future__ import annotations

from pathlib import Path

from playground.local.cpu_threads import physical_cores, usable_cpus


def _topology(root: Path, siblings: dict[int, str]) -> Path:
    for cpu, listed in siblings.items():
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "thread_siblings_list").write_text(listed + "\n")
    return root


def test_hyperthread_siblings_count_as_one_core(tmp_path):
    sysfs = _topology(tmp_path, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"})
    assert physical_cores(range(4), sysfs) == 2


def test_one_thread_per_core_counts_every_cpu(tmp_path):
    sysfs = _topology(tmp_path, {0: "0", 1: "1"})
    assert physical_cores([0, 1], sysfs) == 2


def test_only_the_cpus_the_process_may_use_count(tmp_path):
    sysfs = _topology(tmp_path, {0: "0-1", 1: "0-1", 2: "2-3", 3: "2-3"})
    assert physical_cores([0, 1], sysfs) == 1
    assert physical_cores([1, 2], sysfs) == 2


def test_a_cpu_without_readable_topology_is_a_core_of_its_own(tmp_path):
    sysfs = _topology(tmp_path, {0: "0,1", 1: "0,1"})
    assert physical_cores([0, 1, 5, 6], sysfs) == 3


def test_on_this_machine_between_one_and_the_usable_cpus():
    assert 1 <= physical_cores() <= len(usable_cpus())


def test_the_local_server_runs_its_models_on_every_physical_core(client):
    assert client.models.retrieve("smollm2-135m-instruct").model_dump()["threads"] \
        == physical_cores()
