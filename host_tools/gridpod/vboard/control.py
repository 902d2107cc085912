"""The control socket of `gridpod vboard`: inject and clear plant faults while the board runs.

A UNIX stream socket; `gridpod vboard` prints its path in its JSON banner ("control") and
`gridpod vboard-fault --control PATH ...` talks to it (so does `socat - UNIX-CONNECT:PATH`).
One request per line, one JSON reply line per request ({"ok": true, ...} or
{"ok": false, "error": "one line"}):

    inject SPEC       SPEC as in scenario.py: leak:zone=1 now, leak:zone=1@90 at t = 90 s,
                      leak:zone=1@90-120 from 90 s to 120 s (simulated). "Now" at --speed max
                      is the end of the board's current hold window (at most 100 ms ahead:
                      the board runs on held inputs until then), so the time is exact.
    clear SPEC        every injected fault of that name (with those parameters, when given)
    clear all         every injected fault
    status            simulated time, active and scheduled faults, invariant violations
    power on|off      the board's supply, as a bench's power switch (a labgrid power port,
                      gridpod.labgrid.power): off kills the VM, on boots it (reset cause
                      power-on); `power` alone answers {"ok": true, "powered": bool}

Every plant access runs in the board's supervisor thread between two harness exchanges (the
board's own command queue), so a fault lands on an exact simulated millisecond and never races
the plant's step. A bad request gets an error reply; nothing a client sends stops the board.
"""

import json
import socket
import stat
import threading
from pathlib import Path

from .. import GridpodError
from .board_file import VirtualBoardError
from .scenario import FaultSpecError, check_name, fault_spec, format_fault, parse_fault_spec

MAX_REQUEST_BYTES = 4096
CLIENT_IDLE_S = 300.0
MAX_CLIENTS = 8


class ControlError(GridpodError):
    pass


def prepare_path(path: Path) -> None:
    """Make room for the socket at path: a stale socket (no vboard answers on it) is removed;
    a live one, or any other file, is an error (nothing here deletes a file it did not make)."""
    if not path.exists() and not path.is_symlink():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise ControlError(f"--control {path}: a file that is not a socket is in the way")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # a socket left by a board that was killed
        return
    finally:
        probe.close()
    raise ControlError(f"--control {path}: another gridpod vboard is listening there")


def register_bench_hooks(board, plant) -> None:
    """Bench faults the command line can inject (scenario.CLI_BENCH_FAULTS). The hooks run in
    the supervisor thread (a fault falls due inside the plant's step), so they set the harness
    host's state directly instead of posting to the supervisor (which would wait for itself)."""

    def brown_out(on: bool) -> None:
        if on:
            board.host.brown_out_at_ms = plant.now_ms

    plant.bench_hooks["brown_out"] = brown_out


def in_board(board, fn):
    """fn() in the board's supervisor thread; its result, or its exception raised here."""
    box: dict = {}

    def run_in_board():
        try:
            box["value"] = fn()
        except Exception as e:  # noqa: BLE001 - handed back to the caller, never to the board
            box["error"] = e

    board._call(run_in_board)
    if "error" in box:
        raise box["error"]
    return box.get("value")


class ControlServer:
    """Accepts clients on a UNIX socket, one thread each, and answers their requests."""

    def __init__(self, path: Path, board, monitored, trace=None):
        self.path = Path(path)
        self.board, self.monitored, self.trace = board, monitored, trace
        self.plant = monitored.plant
        prepare_path(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self._sock.listen(MAX_CLIENTS)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._clients = threading.BoundedSemaphore(MAX_CLIENTS)
        self._thread = threading.Thread(
            target=self._accept_loop, name="vboard-control", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
        try:
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        except OSError:
            pass

    # ----- connections ------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._clients.acquire(blocking=False):
                self._send(conn, {"ok": False, "error": "too many control clients"})
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        try:
            conn.settimeout(CLIENT_IDLE_S)
            buf = b""
            while not self._stop.is_set():
                data = conn.recv(1024)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self._send(conn, self.answer(line.decode("utf-8", "replace")))
                if len(buf) > MAX_REQUEST_BYTES:
                    self._send(conn, {"ok": False, "error": "request line too long"})
                    break
            if buf.strip() and len(buf) <= MAX_REQUEST_BYTES:  # a last line without newline
                self._send(conn, self.answer(buf.decode("utf-8", "replace")))
        except OSError:
            pass  # the client went away or idled out: its business
        finally:
            conn.close()
            self._clients.release()

    @staticmethod
    def _send(conn, reply: dict) -> None:
        try:
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass

    # ----- requests ---------------------------------------------------------------------------
    def answer(self, line: str) -> dict:
        """The reply to one request line (never raises)."""
        verb, _sp, arg = line.strip().partition(" ")
        arg = arg.strip()
        try:
            if verb == "inject" and arg:
                return self._inject(fault_spec(arg))
            if verb == "clear" and arg:
                return self._clear(arg)
            if verb == "status" and not arg:
                return in_board(self.board, self._status)
            if verb == "power" and arg in ("", "on", "off"):
                return self._power(arg)
            raise ControlError(
                f"unknown request {line.strip()[:60]!r}: use inject SPEC, clear SPEC|all, "
                "status, power [on|off]"
            )
        except (GridpodError, VirtualBoardError) as e:
            return {"ok": False, "error": str(e).splitlines()[0]}
        except Exception as e:  # noqa: BLE001 - a bug here must not take the board down
            return {"ok": False, "error": f"internal error: {e!r}"}

    def _inject(self, fault) -> dict:
        def run():
            faults, now_ms = self.plant.faults, self.plant.now_ms
            if fault.clear_at_s is not None and fault.clear_at_s * 1000 <= now_ms:
                raise FaultSpecError(
                    f"fault {fault}: clear time {fault.clear_at_s:g} s is already past "
                    f"(t = {now_ms / 1000:.3f} s)"
                )
            at_s = fault.at_s
            if at_s is None and self.board.speed is None:
                # Lockstep: the board may run on held inputs up to max_hold_ms past the plant's
                # clock; the fault lands where it sees it, so its time is exact.
                at_s = (now_ms + self.board.host.max_hold_ms) / 1000
            f = faults.schedule(fault.name, at_s, fault.clear_at_s, **fault.params)
            if f.active and self.trace is not None:
                self.trace.on_fault_change(self.plant)
            return {
                "ok": True,
                "fault": format_fault(f.name, f.params),
                "t_s": now_ms / 1000,
                "at_s": f.at_ms / 1000,
                "clear_at_s": None if f.clear_at_ms is None else f.clear_at_ms / 1000,
                "active": f.active,
            }

        return in_board(self.board, run)

    def _clear(self, arg: str) -> dict:
        if arg == "all":
            spec = None
        else:
            spec = parse_fault_spec(arg, timed=False)
            check_name(spec.name, arg)

        def run():
            faults = self.plant.faults
            targets = [
                f
                for f in faults.faults
                if spec is None
                or (
                    f.name == spec.name
                    and all(f.params.get(k) == v for k, v in spec.params.items())
                )
            ]
            if not targets and spec is not None:
                listed = " ".join(format_fault(f.name, f.params) for f in faults.faults)
                raise ControlError(f"no injected fault {arg!r} (injected: {listed or 'none'})")
            for f in targets:
                faults.clear(f)
            if targets and self.trace is not None:
                self.trace.on_fault_change(self.plant)
            return {
                "ok": True,
                "cleared": [format_fault(f.name, f.params) for f in targets],
                "t_s": self.plant.now_ms / 1000,
            }

        return in_board(self.board, run)

    def _power(self, switch: str) -> dict:
        """Switch the supply from this client's thread: the board's power_on/power_off post to
        its supervisor thread themselves (in_board would make that thread wait for itself)."""
        if switch == "on":
            self.board.power_on()
        elif switch == "off":
            self.board.power_off()
        return {"ok": True, "powered": self.board.powered, "t_s": self.plant.now_ms / 1000}

    def _status(self) -> dict:
        faults = self.plant.faults.faults
        return {
            "ok": True,
            "t_s": self.plant.now_ms / 1000,
            "faults": [format_fault(f.name, f.params) for f in faults if f.active],
            "scheduled": [
                f"{format_fault(f.name, f.params)}@{f.at_ms / 1000:g}"
                for f in faults
                if not f.active
            ],
            "violations": [str(v) for v in self.monitored.violations],
        }


def request(path: str | Path, line: str, timeout_s: float = 35.0) -> dict:
    """Send one request to a running vboard's control socket; its JSON reply."""
    path = Path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(path))
        except FileNotFoundError:
            raise ControlError(
                f"no control socket at {path}: is gridpod vboard running? (its JSON banner "
                'names the socket: "control")'
            ) from None
        except OSError as e:
            raise ControlError(
                f"cannot reach {path} ({e.strerror or e}): is gridpod vboard running?"
            ) from None
        sock.sendall(line.strip().encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        buf = b""
        while b"\n" not in buf:
            data = sock.recv(4096)
            if not data:
                break
            buf += data
    except TimeoutError:
        raise ControlError(f"{path}: no answer within {timeout_s:g} s") from None
    finally:
        sock.close()
    try:
        return json.loads(buf.split(b"\n", 1)[0])
    except ValueError:
        raise ControlError(f"{path}: not a gridpod vboard control socket") from None
