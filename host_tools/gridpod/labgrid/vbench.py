"""An exporter host for a virtual module: one command puts a virtual Gridpod module on labgrid.

    python -m gridpod.labgrid.vbench --name vbench-1 --coordinator HOST:PORT [--host ADDRESS]

starts, in the folder --dir (build/labgrid/<name>):
  1. `gridpod vboard` with the firmware installed, its console and RS-485 ptys at stable links
     (DIR/console, DIR/rs485) and its control socket (DIR/vboard.ctl);
  2. ser2net serving the two ptys as raw TCP ports (ser2net-vboard.yaml; without ser2net, or
     with --forwarder python, gridpod.labgrid.forward does the same in this process);
  3. the virtual power switch (gridpod.labgrid.power) on the control socket;
  4. labgrid-exporter with exporter-vboard.yaml, which registers the group's resources
     (console, rs485, power) with the coordinator.
When all four run it prints one JSON line (name, group, the place match, addresses) and runs
until Ctrl-C or SIGTERM, or until one of them stops; then it stops the others. Logs: DIR/*.log.

A lab admin then makes the place once:
    labgrid-client -p gridpod-1 create
    labgrid-client -p gridpod-1 add-match 'vbench-1/gridpod/*'
"""

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from string import Template

from .. import GridpodError

HERE = Path(__file__).resolve().parent
EXPORTER_FILE = HERE / "exporter-vboard.yaml"
SER2NET_FILE = HERE / "ser2net-vboard.yaml"
DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's
READY_TIMEOUT_S = 60.0


def find_ser2net() -> str | None:
    """ser2net's path (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("ser2net")
    if found:
        return found
    return "/usr/sbin/ser2net" if os.access("/usr/sbin/ser2net", os.X_OK) else None


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In a child before exec: SIGTERM when this launcher dies, even by SIGKILL."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class VirtualBenchHost:
    def __init__(self, args):
        self.args = args
        self.dir = Path(args.dir or f"build/labgrid/{args.name}").resolve()
        self.procs: dict[str, subprocess.Popen] = {}
        self.forwarders = []
        self.power = None
        self.info: dict = {}

    # ----- start -----------------------------------------------------------------------------
    def start(self) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        for link in ("console", "rs485"):  # a link left by a killed run is replaced by vboard
            path = self.dir / link
            if path.is_symlink() and not path.exists():
                path.unlink()
        self._start_vboard()
        tcp = self._start_forwarding()
        from .power import PowerSwitch

        self.power = PowerSwitch(str(self.dir / "vboard.ctl"), self.args.host, 0)
        self._start_exporter(tcp)
        match = f"{self.args.name}/{self.args.group}/*"
        self.info = {
            "name": self.args.name,
            "group": self.args.group,
            "match": match,
            "console": f"{self.args.host}:{tcp['console']}",
            "rs485": f"{self.args.host}:{tcp['rs485']}",
            "power": self.power.url,
            "forwarder": tcp["forwarder"],
            "dir": str(self.dir),
        }
        return self.info

    def _spawn(self, name: str, cmd: list[str], env=None, pipe: str = "") -> subprocess.Popen:
        """pipe "stdout": stdout to read, stderr to DIR/NAME.log; "both": both to read; "":
        both to the log."""
        log = open(self.dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE if pipe else log,
            stderr=subprocess.STDOUT if pipe != "stdout" else log,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            preexec_fn=_die_with_parent,
        )
        proc.log = log  # type: ignore[attr-defined]
        self.procs[name] = proc
        return proc

    def _start_vboard(self) -> None:
        cmd = [sys.executable, "-m", "gridpod.cli", "vboard", "--board", self.args.board]
        cmd += ["--flash", str(self.dir / "flash.img"), "--install-firmware", "--quiet"]
        cmd += ["--link-console", str(self.dir / "console")]
        cmd += ["--link-modbus", str(self.dir / "rs485")]
        cmd += ["--control", str(self.dir / "vboard.ctl")]
        proc = self._spawn("vboard", cmd, pipe="stdout")
        line = _read_line(proc, READY_TIMEOUT_S)
        if not line.startswith("{"):
            raise GridpodError(f"gridpod vboard did not start: see {self.dir / 'vboard.log'}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained

    def _start_forwarding(self) -> dict:
        host, kind = self.args.host, self.args.forwarder
        ser2net = find_ser2net()
        if kind == "ser2net" and ser2net is None:
            raise GridpodError(
                "--forwarder ser2net: ser2net is not installed (apt-get install ser2net)"
            )
        if kind == "python" or ser2net is None:
            from .forward import TcpForwarder

            ports = {"forwarder": "python"}
            for name in ("console", "rs485"):
                fwd = TcpForwarder(str(self.dir / name), host, 0)
                self.forwarders.append(fwd)
                ports[name] = fwd.port
            return ports
        ports = {"forwarder": "ser2net", "console": free_port(host), "rs485": free_port(host)}
        conf = Template(SER2NET_FILE.read_text()).substitute(
            host=host,
            console_tcp=ports["console"],
            rs485_tcp=ports["rs485"],
            console=self.dir / "console",
            rs485=self.dir / "rs485",
        )
        (self.dir / "ser2net.yaml").write_text(conf)
        self._spawn("ser2net", [ser2net, "-n", "-d", "-c", str(self.dir / "ser2net.yaml")])
        for name in ("console", "rs485"):
            _wait_listening(host, ports[name], self.procs["ser2net"], "ser2net")
        return ports

    def _start_exporter(self, tcp: dict) -> None:
        env = dict(
            os.environ,
            GRIDPOD_LG_GROUP=self.args.group,
            GRIDPOD_LG_HOST=self.args.host,
            GRIDPOD_CONSOLE_TCP=str(tcp["console"]),
            GRIDPOD_RS485_TCP=str(tcp["rs485"]),
            GRIDPOD_POWER_URL=self.power.url,
            PYTHONUNBUFFERED="1",
        )
        cmd = [sys.executable, "-m", "labgrid.remote.exporter", "-c", self.args.coordinator]
        cmd += ["--name", self.args.name, "--hostname", self.args.host, str(EXPORTER_FILE)]
        proc = self._spawn("exporter", cmd, env=env, pipe="both")
        ready = threading.Event()

        def pump() -> None:
            """The exporter's output to its log. Ready once the coordinator said hello (a name
            already connected gets no hello) and every resource is registered (it polls)."""
            seen = set()
            for line in proc.stdout:
                proc.log.write(line)
                proc.log.flush()
                seen |= {m for m in ("Exporter ready", "creating poll task") if m in line}
                if len(seen) == 2:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise GridpodError(
                    f"labgrid-exporter did not register with {self.args.coordinator}: "
                    f"see {self.dir / 'exporter.log'}"
                )

    # ----- run and stop ----------------------------------------------------------------------
    def wait(self, stop: threading.Event) -> str | None:
        """Until stop is set or a part stops by itself; the name of that part, if one did."""
        while not stop.wait(0.2):
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    return name
        return None

    def close(self) -> None:
        for name in ("exporter", "ser2net", "vboard"):  # the exporter first: it unregisters
            proc = self.procs.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.log.close()
        for fwd in self.forwarders:
            fwd.close()
        if self.power is not None:
            self.power.close()


def _read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else ""


def _wait_listening(host: str, port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise GridpodError(f"{what} does not listen on {host}:{port}")
        time.sleep(0.05)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m gridpod.labgrid.vbench", description=__doc__.splitlines()[0]
    )
    p.add_argument("--name", required=True, help="exporter name (the place matches NAME/GROUP/*)")
    p.add_argument("--group", default="gridpod", help="resource group (gridpod)")
    p.add_argument(
        "--coordinator",
        default=os.environ.get("LG_COORDINATOR", DEFAULT_COORDINATOR),
        help=f"labgrid coordinator HOST:PORT ($LG_COORDINATOR, else {DEFAULT_COORDINATOR})",
    )
    p.add_argument("--host", default="127.0.0.1", help="address clients reach this host at")
    p.add_argument("--dir", help="work folder: flash image, pty links, logs (build/labgrid/NAME)")
    p.add_argument("--board", default="VIRTUAL", help="board folder under boards/ (VIRTUAL)")
    p.add_argument(
        "--forwarder",
        choices=("auto", "ser2net", "python"),
        default="auto",
        help="what serves the ptys on TCP: ser2net, or gridpod.labgrid.forward (auto: ser2net "
        "when installed)",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    host = VirtualBenchHost(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        print(json.dumps(host.start()), flush=True)
        stopped = host.wait(stop)
    except GridpodError as e:
        print(f"gridpod vbench: error: {e}", file=sys.stderr)
        return 1
    finally:
        host.close()
    if stopped:
        print(
            f"gridpod vbench: {stopped} stopped: see {host.dir / (stopped + '.log')}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
