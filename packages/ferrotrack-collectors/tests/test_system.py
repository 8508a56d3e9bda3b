"""The system collector against the real machine: a real child process tree is counted,
children that end are dropped without a warning, CPU percent stays within 0–100."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections import namedtuple
from collections.abc import Iterator

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.collectors.system import SystemCollector, cpu_percent
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins import MetricData, MetricType

# Each child holds 64 MiB of touched memory and prints "ready" once it does; the middle
# one starts a grandchild of its own, so the tree is three deep.
CHILD = (
    "import subprocess, sys\n"
    "block = bytearray(64 << 20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "kid = None\n"
    "if sys.argv[1] == 'parent':\n"
    "    kid = subprocess.Popen([sys.executable, '-c', sys.argv[2], 'leaf', ''],"
    " stdout=subprocess.PIPE)\n"
    "    kid.stdout.readline()\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)
MIB = 1 << 20


def values(batch: list[MetricData]) -> dict[str, float]:
    return {m.name: m.value for m in batch if m.type is MetricType.SYSTEM}


@pytest.fixture
def collector() -> Iterator[tuple[SystemCollector, list[list[MetricData]]]]:
    got: list[list[MetricData]] = []
    c = SystemCollector()
    c.initialize({"interval": 3600})  # samples taken by the test, not the thread
    c.bind(got.append)
    yield c, got
    c.stop()


def spawn(kind: str) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    return child


# In a fresh interpreter (one thread, no other test's leftovers): the collector's own
# process alone, then with a child and a grandchild under one child and a second child.
TREE = """
import json, subprocess, sys
from ferrotrack.collectors.system import SystemCollector
CHILD = sys.argv[1]
c = SystemCollector(); c.initialize({"interval": 3600}); got = []; c.bind(got.append)
def values():
    c.sample()
    return {m.name: m.value for m in got[-1] if m.type == "system"}
alone = values()
kids = []
for kind in ("parent", "leaf"):
    kid = subprocess.Popen([sys.executable, "-c", CHILD, kind, CHILD],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert kid.stdout.readline().strip() == b"ready"
    kids.append(kid)
tree = values()
for kid in kids:
    kid.kill(); kid.wait()
print(json.dumps([alone, tree]))
"""


def test_the_process_tree_counts_children_and_grandchildren() -> None:
    done = subprocess.run(
        [sys.executable, "-c", TREE, CHILD], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    alone, tree = json.loads(done.stdout)
    assert tree["sys/proc/count"] == alone["sys/proc/count"] + 3 == 4
    assert tree["sys/proc/rss_bytes"] >= alone["sys/proc/rss_bytes"] + 3 * 64 * MIB
    assert tree["sys/proc/threads"] >= alone["sys/proc/threads"] + 3
    assert tree["sys/proc/open_files"] > alone["sys/proc/open_files"]


# Burns CPU until its own process time reaches the argument, says how much, then waits.
BURN = (
    "import sys, time\n"
    "while time.process_time() < float(sys.argv[1]): pass\n"
    "print(time.process_time(), flush=True)\n"
    "sys.stdin.read()\n"
)


def test_a_child_born_between_two_samples_counts_its_cpu(
    collector: tuple[SystemCollector, list[list[MetricData]]],
) -> None:
    """A child started and busy within one window (a DataLoader worker of a short epoch)
    counts all its CPU time in that window, not nothing (its first reading is no baseline)."""
    c, got = collector
    began = time.monotonic()
    c.sample()
    kid = subprocess.Popen([sys.executable, "-c", BURN, "0.5"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert kid.stdout is not None
        burned = float(kid.stdout.readline())
        c.sample()
        ended = time.monotonic()
        # the window is inside [began, ended]: the child's CPU alone gives at least this
        floor = 100.0 * burned / (ended - began)
        assert values(got[-1])["sys/proc/cpu_percent"] >= floor * 0.95
    finally:
        kid.kill()
        kid.wait()


def test_children_that_end_are_dropped_quietly(
    collector: tuple[SystemCollector, list[list[MetricData]]], caplog: pytest.LogCaptureFixture
) -> None:
    c, got = collector
    kid = spawn("parent")
    c.sample()
    assert values(got[-1])["sys/proc/count"] >= 3
    grandchild = psutil.Process(kid.pid).children()[0]
    kid.kill()
    kid.wait()
    grandchild.kill()
    grandchild.wait()
    with caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"):
        for _ in range(3):
            c.sample()
    assert values(got[-1])["sys/proc/count"] == 1
    assert c.errors == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_samples_name_every_documented_metric_with_a_unit(
    collector: tuple[SystemCollector, list[list[MetricData]]],
) -> None:
    c, got = collector
    c.sample()  # baselines: no CPU percent, no rates yet; the static facts as params
    params = {m.name: m.value for m in got[0] if m.type is MetricType.PARAMETER}
    assert params["sys.cpu_count"] == psutil.cpu_count()
    assert params["sys.mem_total_bytes"] == psutil.virtual_memory().total
    assert "sys/cpu/percent" not in values(got[0])
    busy_until = time.process_time() + 0.05
    while time.process_time() < busy_until:  # some CPU time for the window to see
        pass
    c.sample()
    second = got[1]
    assert not [m for m in second if m.type is MetricType.PARAMETER]  # facts only once
    names = set(values(second))
    cores = {f"sys/cpu/{i}/percent" for i in range(psutil.cpu_count())}
    assert cores <= names
    assert {
        "sys/cpu/percent",
        "sys/mem/used_bytes",
        "sys/mem/available_bytes",
        "sys/mem/percent",
        "sys/swap/used_bytes",
        "sys/swap/percent",
        "sys/disk/read_bytes_per_s",
        "sys/disk/write_bytes_per_s",
        "sys/net/sent_bytes_per_s",
        "sys/net/recv_bytes_per_s",
        "sys/proc/cpu_percent",
    } <= names
    assert all(m.metadata["unit"] and m.source == "system" for m in second)
    assert 0 <= values(second)["sys/cpu/percent"] <= 100
    assert values(second)["sys/proc/cpu_percent"] > 0


def test_the_interval_is_configurable_and_checked() -> None:
    c = SystemCollector()
    c.initialize({"interval": 0.5, "per_core": False})
    assert c.sampling_interval == 0.5
    with pytest.raises(InvalidArgumentError, match="interval"):
        SystemCollector().initialize({"interval": 0})
    with pytest.raises(InvalidArgumentError, match="bogus"):
        SystemCollector().initialize({"bogus": 1})


Times = namedtuple("Times", "user nice system idle iowait")
seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(st.tuples(seconds, seconds, seconds, seconds, seconds), st.tuples(*[seconds] * 5))
def test_cpu_percent_is_a_share_or_nothing(
    before: tuple[float, ...], step: tuple[float, ...]
) -> None:
    a = Times(*before)
    b = Times(*(x + d for x, d in zip(before, step, strict=True)))
    share = cpu_percent(a, b)
    if sum(b) - sum(a) <= 0:
        assert share is None
    else:
        assert share is not None
        assert 0.0 <= share <= 100.0
    assert cpu_percent(None, b) is None


# Run in a child interpreter: a grandchild made non-dumpable (its /proc/<pid>/fd then
# belongs to root), and, when we are root, the sampling thread's filesystem uid set to
# nobody (which drops the capabilities that would read it anyway): the kernel itself
# refuses to list its files, so psutil raises a real AccessDenied on every sample.
UNREADABLE = """
import ctypes, json, logging, os, subprocess, sys
logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(message)s")
from ferrotrack.collectors.system import SystemCollector
kid = subprocess.Popen([sys.executable, "-c",
    "import ctypes, sys; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); print(1, flush=True);"
    " sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
kid.stdout.readline()
c = SystemCollector(); c.initialize({"interval": 3600}); got = []; c.bind(got.append)
c.sample()
libc = ctypes.CDLL(None)
if os.geteuid() == 0:
    libc.setfsuid(65534)
for _ in range(4):
    c.sample()
if os.geteuid() == 0:
    libc.setfsuid(0)
kid.kill()
last = {m.name: m.value for m in got[-1]}
print(json.dumps([c.errors, last["sys/proc/count"], c.samples]))
"""


def test_a_child_that_cannot_be_read_is_reported_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", UNREADABLE], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    errors, count, samples = json.loads(done.stdout)
    assert (errors, count, samples) == (4, 1, 5)  # the child left out, every sample taken
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, done.stderr
    assert "'system'" in warnings[0]
    assert "cannot read process" in warnings[0]


LinuxTimes = namedtuple(
    "LinuxTimes", "user nice system idle iowait irq softirq steal guest guest_nice"
)


@given(st.tuples(*[seconds] * 10), st.tuples(*[seconds] * 8), st.floats(0, 1), st.floats(0, 1))
def test_cpu_percent_counts_a_vms_time_once(
    before: tuple[float, ...], step: tuple[float, ...], guest: float, guest_nice: float
) -> None:
    """Linux's guest time is inside user (guest_nice inside nice): a host whose VMs keep
    it busy is as busy as its user time says, not more."""
    a = LinuxTimes(*before)
    # the VMs' share of this window's user and nice time
    d = LinuxTimes._make((*step, step[0] * guest, step[1] * guest_nice))
    b = LinuxTimes(*(x + y for x, y in zip(a, d, strict=True)))
    share = cpu_percent(a, b)
    total = sum(step)
    if total <= 0:
        assert share is None
        return
    assert share is not None
    busy = total - d.idle - d.iowait
    assert abs(share - 100.0 * busy / total) <= 1e-6 * 100


def test_cpu_percent_of_a_host_running_a_vm() -> None:
    zero = LinuxTimes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    vm_busy = LinuxTimes(10, 0, 0, 10, 0, 0, 0, 0, 10, 0)  # user 10 s, all of it the VM's
    assert cpu_percent(zero, vm_busy) == 50.0


def test_a_run_shorter_than_the_interval_gets_a_last_sample_at_stop(root: object) -> None:
    """With a 1 h interval only the start's sample and the stop's are taken: the stop's
    carries the CPU percentages the first one cannot have; stopping again takes none."""
    import ferrotrack.core as ft

    system = SystemCollector()
    system.initialize({"interval": 3600})
    with ft.start_run("short", experiment="tail", collectors=[system]) as run:
        run.log("loss", 1.0, step=0)
        busy_until = time.process_time() + 0.15  # CPU time, and more than the 0.1 s gap
        while time.process_time() < busy_until:
            pass
    assert system.samples == 2
    system.stop()
    assert system.samples == 2
    points = ft.metrics(experiment="tail").collect()
    count = dict(points.group_by("name").len().iter_rows())
    assert count["sys/mem/used_bytes"] == 2
    assert count["sys/cpu/percent"] == 1
    assert count["sys/proc/cpu_percent"] == 1
    assert count["loss"] == 1
    cpu = points.filter(points["name"] == "sys/proc/cpu_percent")["value"].item()
    assert cpu > 0


def test_stop_takes_no_last_sample_while_a_sample_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sample stuck past stop's timeout (a hung /proc read): stop returns, says so once,
    and takes no second sample beside it (the two would share the collector's state)."""
    import threading

    entered, release = threading.Event(), threading.Event()

    class Stuck(SystemCollector):
        def collect(self) -> list[MetricData]:
            if threading.current_thread().name.startswith("ferrotrack-collector"):
                entered.set()
                release.wait(60)
            return super().collect()

    c = Stuck()
    c.initialize({"interval": 0.01})
    c.start()  # one sample now, in this thread
    assert entered.wait(30)
    [thread] = [t for t in threading.enumerate() if t.name == "ferrotrack-collector-system"]
    with caplog.at_level(logging.WARNING, logger="ferrotrack.collectors"):
        c.stop(timeout=0.05)
    assert c.samples == 1
    assert [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    release.set()
    thread.join(30)
    assert not thread.is_alive()
    assert c.samples == 2  # the stuck one finished; the loop ended without another
