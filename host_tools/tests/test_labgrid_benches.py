"""Benches on many hosts through labgrid: a coordinator, two exporter hosts each exporting a
virtual module's console and RS-485 ports through ser2net (and its supply through the virtual
power switch), and `gridpod fat --labgrid` running the FAT on both places in parallel.

What is shown:
  - both places are acquired through the coordinator before the FAT and released after it;
  - while they are held, a third client (another labgrid user) is refused the place;
  - the FAT runs on both at once (their JUnit runs overlap in time) and passes, through labgrid:
    the deploy, the config push and every power cycle go over the exported ports and labgrid's
    power driver;
  - every process started here (coordinator, exporter hosts, and their vboard, ser2net and
    labgrid-exporter) is gone afterwards, also when the test fails.
Wall time: ~10 s to start the lab, ~25 s for the two FATs at once on 2 cores.
"""

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST_TOOLS = ROOT / "host_tools"
PLACES = ("gridpod-1", "gridpod-2")
START_TIMEOUT_S = 90.0


def _ser2net() -> str | None:
    from gridpod.labgrid.vbench import find_ser2net

    return find_ser2net()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphan if pytest dies


class Lab:
    """The processes of a local lab; close() ends them all, children of exporter hosts too."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.coordinator = f"127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            PYTHONPATH=f"{HOST_TOOLS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            LG_COORDINATOR=self.coordinator,
            LG_USERNAME="fat-station",
            PYTHONUNBUFFERED="1",
        )
        self.procs: list[subprocess.Popen] = []
        self.pids: set[int] = set()
        self.left_behind: set[int] = set()

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(
            cmd,
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=open(self.folder / f"{name}.err", "w"),  # noqa: SIM115 - closed at exit
            text=True,
            preexec_fn=_die_with_parent,
        )
        self.procs.append(proc)
        return proc

    def client(self, *args: str, user: str = "fat-station") -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "labgrid.remote.client", "-x", self.coordinator, *args]
        env = dict(self.env, LG_USERNAME=user)
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    def start(self) -> list[dict]:
        coord = self.spawn(
            "coordinator",
            [sys.executable, "-m", "labgrid.remote.coordinator", "-l", self.coordinator],
        )
        assert "listening on" in read_line(coord, START_TIMEOUT_S), "coordinator did not start"
        hosts = [
            self.spawn(
                f"vbench-{n}",
                [sys.executable, "-m", "gridpod.labgrid.vbench", "--name", f"vbench-{n}"]
                + ["--coordinator", self.coordinator, "--forwarder", "ser2net"]
                + ["--dir", str(self.folder / f"vbench-{n}")],
            )
            for n in (1, 2)
        ]
        infos = []
        for host in hosts:  # the two start at once
            line = read_line(host, START_TIMEOUT_S)
            assert line.startswith("{"), f"exporter host did not start: {line!r} {self.logs()}"
            infos.append(json.loads(line))
        errors: list[str] = []

        def make_place(place: str, match: str) -> None:  # what a lab admin does once
            for args in (["create"], ["add-match", match]):
                r = self.client("-p", place, *args)
                if r.returncode:
                    errors.append(r.stderr)

        admins = [
            threading.Thread(target=make_place, args=(place, info["match"]))
            for place, info in zip(PLACES, infos, strict=True)
        ]
        for t in admins:
            t.start()
        for t in admins:
            t.join()
        assert not errors, errors
        return infos

    def logs(self) -> str:
        return " | ".join(
            f"{p.name}: {p.read_text()[-400:]}" for p in sorted(self.folder.glob("*.err"))
        )

    def close(self) -> None:
        """SIGTERM to everything started here and to all their descendants (a FAT child of
        gridpod fat, an exporter host's vboard), then SIGKILL to whatever is left after 20 s."""
        live = [p for p in self.procs if p.poll() is None]
        family = set()  # taken now: a pid seen earlier may belong to someone else by now
        for proc in live:
            family |= children(proc.pid)
        for proc in reversed(live):  # exporter hosts before the coordinator
            proc.send_signal(signal.SIGTERM)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self.pids = family | {p.pid for p in live}
        deadline = time.monotonic() + 20
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        while alive(self.pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.left_behind = alive(self.pids)
        for pid in self.left_behind:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else ""


def children(pid: int) -> set[int]:
    """Every descendant of pid, now."""
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    for child in list(found):
        found |= children(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids still running (a zombie of ours counts as gone)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            running.add(pid)
    return running


@pytest.fixture
def lab(tmp_path):
    pytest.importorskip("labgrid", reason="labgrid is not installed: pip install labgrid")
    if _ser2net() is None:
        pytest.skip("ser2net is not installed: apt-get install ser2net (make setup does, as root)")
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()
    assert not lab.left_behind, f"still running 20 s after SIGTERM: {sorted(lab.left_behind)}"


def test_fat_on_two_labgrid_places_in_parallel(lab, tmp_path):
    lab.start()
    report = tmp_path / "reports"
    fat = lab.spawn(
        "fat",
        [sys.executable, "-m", "gridpod.cli", "fat", "--labgrid", *PLACES]
        + ["--coordinator", lab.coordinator, "--report", str(report)]
        # the identity section: console, power and Modbus through labgrid (the whole FAT is
        # test_fat_module's; here two places in parallel are the point)
        + ["-k", "test_fat_01_identity"],
    )
    out = []
    while len([ln for ln in out if ln.startswith("acquired labgrid place")]) < len(PLACES):
        line = read_line(fat, START_TIMEOUT_S)
        assert line, f"gridpod fat did not acquire the places: {out} {lab.logs()}"
        out.append(line.rstrip())
    # both held by the FAT station now: another user is refused, through the coordinator
    refused = lab.client("-p", PLACES[0], "acquire", user="intruder")
    assert refused.returncode != 0, refused.stdout
    assert f"Place {PLACES[0]} is already acquired by" in refused.stderr, refused.stderr
    assert "/fat-station" in refused.stderr, refused.stderr

    rest, _ = fat.communicate(timeout=600)
    out += rest.splitlines()
    text = "\n".join(out)
    # the plant runs on the exporter host: its steps are skipped, so the module FAT is
    # INCOMPLETE (exit 4), never a PASS
    assert fat.returncode == 4, text + lab.logs()
    assert "FAT INCOMPLETE: 0 of 2 places passed" in text, text
    runs = []
    for place in PLACES:
        summary = json.loads((report / place / "fat.json").read_text())
        assert summary["verdict"] == "INCOMPLETE", (place, summary["tests"])
        assert summary["bench"] == f"labgrid:{place}"
        counts = summary["counts"]
        # the console, power and Modbus checks ran through labgrid; plant tests need the plant,
        # which runs on the exporter host, and say so
        assert counts["passed"] >= 7 and counts["failed"] == 0, counts
        skipped = [t["message"] for t in summary["tests"] if t["outcome"] == "skipped"]
        assert all("bench 'labgrid' lacks plant" in m or "a person must" in m for m in skipped), (
            skipped
        )
        suite = ET.parse(report / place / "fat-junit.xml").getroot().find("testsuite")
        start = datetime.fromisoformat(suite.get("timestamp")).timestamp()
        runs.append((start, start + float(suite.get("time"))))
        assert f"released labgrid place {place}" in text, text
    (a0, a1), (b0, b1) = runs
    assert a0 < b1 and b0 < a1, f"the two FATs did not run at the same time: {runs}"

    # released through the coordinator: no place is acquired any more
    acquired = lab.client("places", "--acquired")
    assert acquired.returncode == 0 and acquired.stdout.strip() == "", acquired


def test_python_forwarder_serves_a_pty_like_ser2net():
    """Without ser2net the exporter host forwards in Python: bytes both ways unchanged, and a new
    client takes the port over (ser2net's kickolduser)."""
    from gridpod.labgrid.forward import TcpForwarder

    master, slave = os.openpty()
    fwd = TcpForwarder(os.ttyname(slave))
    try:
        first = socket.create_connection(("127.0.0.1", fwd.port), timeout=5)
        first.sendall(b"\x01\x03\x00\x00\xff\n")
        assert _read(master, 6) == b"\x01\x03\x00\x00\xff\n"
        second = socket.create_connection(("127.0.0.1", fwd.port), timeout=5)
        second.sendall(b"\x02")  # served once the old client let go of the device
        assert _read(master, 1) == b"\x02"
        assert first.recv(64) == b""  # the old client was closed
        os.write(master, b"gridpod: module\r\n")
        assert _read(second, 17) == b"gridpod: module\r\n"
        first.close()
        second.close()
    finally:
        fwd.close()
        os.close(master)
        os.close(slave)


def _read(source, n: int, timeout_s: float = 5.0) -> bytes:
    """n bytes from a socket or an fd, or what came before timeout_s."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([source], [], [], left)[0]:
            break
        data += source.recv(64) if isinstance(source, socket.socket) else os.read(source, 64)
    return data
