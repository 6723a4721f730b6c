import json
import os
import select
import signal
import subprocess
import sys

import pytest

# Claims CPUs, reports them and what the kernel now lets it run on, then holds
# its claim until told to exit (a line on stdin) or killed.
CLAIM = """
import json, os, sys
from mnist_dropout.cpus import claim_cpus
cpus = claim_cpus({count}, lock_dir={lock_dir!r}).get("cpus")
print(json.dumps([cpus, sorted(os.sched_getaffinity(0))]), flush=True)
sys.stdin.readline()
"""

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2+ CPUs to pin jobs"
)


def start_claim(lock_dir, count=1):
    code = CLAIM.format(count=count, lock_dir=str(lock_dir))
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    claimed, affinity = json.loads(process.stdout.readline())
    return process, claimed, affinity


def release(process):
    process.communicate("\n", timeout=30)
    assert process.returncode == 0


def test_jobs_side_by_side_are_pinned_to_different_cpus(tmp_path):
    first, first_cpus, first_affinity = start_claim(tmp_path)
    second, second_cpus, second_affinity = start_claim(tmp_path)
    assert len(first_cpus) == len(second_cpus) == 1
    assert first_cpus == first_affinity and second_cpus == second_affinity
    assert first_cpus != second_cpus
    release(first)
    release(second)


def test_a_job_beyond_the_cpus_waits_for_one_to_come_free(tmp_path):
    cpu_count = len(os.sched_getaffinity(0))
    holders = [start_claim(tmp_path) for _ in range(cpu_count)]
    code = CLAIM.format(count=1, lock_dir=str(tmp_path))
    extra = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert extra.stdout.readline().startswith(f"Waiting for 1 of CPUs {sorted(os.sched_getaffinity(0))}: ")
    # Still waiting while every CPU is held...
    assert select.select([extra.stdout], [], [], 1.0)[0] == []
    # ...and given the first CPU that comes free, alone.
    first, first_cpus, _ = holders.pop(0)
    release(first)
    extra_cpus, extra_affinity = json.loads(extra.stdout.readline())
    assert extra_cpus == extra_affinity == first_cpus
    for process in [*(holder for holder, _, _ in holders), extra]:
        release(process)


def test_a_killed_job_releases_its_cpu(tmp_path):
    cpu_count = len(os.sched_getaffinity(0))
    holders = [start_claim(tmp_path) for _ in range(cpu_count)]
    victim, victim_cpus, _ = holders.pop(0)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    successor, successor_cpus, _ = start_claim(tmp_path)
    assert successor_cpus == victim_cpus
    for process in [*(holder for holder, _, _ in holders), successor]:
        release(process)


def test_a_job_given_every_cpu_holds_them_all(tmp_path):
    everything = sorted(os.sched_getaffinity(0))
    process, cpus, affinity = start_claim(tmp_path, count=len(everything) + 1)
    assert cpus == affinity == everything
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"cpu{cpu}.lock" for cpu in everything)
    release(process)


def test_lock_directory_is_created_private(tmp_path):
    lock_dir = tmp_path / "locks"
    process, _, _ = start_claim(lock_dir)
    release(process)
    assert lock_dir.stat().st_mode & 0o777 == 0o700


def test_an_existing_lock_directory_of_ours_is_made_private(tmp_path):
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o777)
    lock_dir.chmod(0o777)
    process, _, _ = start_claim(lock_dir)
    release(process)
    assert lock_dir.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("prepared", ["symlink", "other_owner"])
def test_lock_directory_prepared_by_someone_else_is_refused(tmp_path, prepared):
    lock_dir, elsewhere = tmp_path / "locks", tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if prepared == "symlink":
        lock_dir.symlink_to(elsewhere)
    else:
        if os.getuid() != 0:
            pytest.skip("needs root to give a directory to another user")
        lock_dir.mkdir(mode=0o700)
        os.chown(lock_dir, 65534, 65534)
    code = CLAIM.format(count=1, lock_dir=str(lock_dir))
    result = subprocess.run([sys.executable, "-c", code], input="\n", capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "the CPU lock directory is a symlink, not a directory or not yours" in result.stderr
    assert not any(elsewhere.iterdir()) and (prepared == "symlink" or not any(lock_dir.iterdir()))
