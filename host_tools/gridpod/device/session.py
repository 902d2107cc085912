"""Device: a MicroPython board on a serial port, driven through mpremote's SerialTransport.

Used by doctor, deploy, config, monitor and the event log read. Two ways in:
  * the service channel (device/service.py): while the application runs, it answers read-only
    requests from its scan loop. probe() asks it for its status; read_file(), implementation()
    and read_json() use it whenever an application answered. Nothing stops.
  * the raw REPL: entering it interrupts the running application with Ctrl-C, as mpremote does
    (outputs safe, contactors open, the maintenance window starts). Only when no application
    answers (blank board, application stopped, firmware older than the channel) or after
    stop_app(), which a command calls only once it said so and was allowed to.
A Device opened read_only=True refuses the raw REPL while an application answers: a command that
only reads can never stop a live module, whatever path its code takes.
`restart_app()` soft-resets into boot.py and main.py and waits for the application's boot banner:
    gridpod: module <id> board <BOARD> boot #<n> reset cause <c>; <config note>
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from .. import GridpodError
from .service import PROBE_S, ServiceChannel, ServiceError

# The whole line, up to its end: a USB or network port can deliver it in pieces, and a banner
# matched before its note arrived would read as an empty note (labgrid bench, ser2net).
BANNER = re.compile(
    rb"gridpod: module (\S+) board (\S+) boot #(\d+) reset cause (\d+); ([^\r\n]*)[\r\n]"
)
SMALL_CHUNK_BYTES = 256  # a write's fallback chunk after a MemoryError at 1024 bytes
# sys.implementation._mpy = version | sub-version << 8 | arch << 10 (MicroPython docs, .mpy files)
MPY_ARCHS = [
    None,
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
]

_SUM_FN = """
import hashlib, binascii
def _gp_sum(paths):
    buf = bytearray(1024)
    mv = memoryview(buf)
    t = hashlib.sha256()
    for p in paths:
        try:
            f = open(p, 'rb')
        except OSError:
            t.update(b'-')
            continue
        h = hashlib.sha256()
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
        f.close()
        t.update(h.digest())
    print(binascii.hexlify(t.digest()).decode())
"""

_HASH_FN = """
import hashlib, binascii
def _gp_hash(paths):
    buf = bytearray(1024)
    mv = memoryview(buf)
    for p in paths:
        try:
            f = open(p, 'rb')
        except OSError:
            print(p, '-')
            continue
        h = hashlib.sha256()
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
        f.close()
        print(p, binascii.hexlify(h.digest()).decode())
"""

_MKDIRS_FN = """
import os
def _gp_mkdirs(path):
    i = path.find('/', 1)
    while i > 0:
        try:
            os.mkdir(path[:i])
        except OSError:
            pass
        i = path.find('/', i + 1)
"""


class DeviceError(GridpodError):
    """The board did not answer or answered with an error."""


class Device:
    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        log: Callable[[str], None] = print,
        read_only: bool = False,
    ):
        from mpremote.transport_serial import SerialTransport

        self.port = port
        self.log = log
        self.read_only = read_only
        try:
            self.transport = SerialTransport(port, baudrate=baudrate)
        except Exception as exc:  # mpremote raises TransportError / serial errors
            raise DeviceError(
                f"{port}: cannot open ({exc}); check the cable and `gridpod doctor` (permissions)"
            ) from exc
        self.in_raw = False
        self.bytes_sent = 0
        self.files_sent: list[str] = []
        self._helpers: set[str] = set()
        self.service = ServiceChannel(self.transport.serial, port)
        self.app: dict[str, Any] | None = None  # the running application's status
        self.probed = False

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.in_raw:
                self.transport.exit_raw_repl()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self.transport.close()

    # ----- the running application ---------------------------------------------------------------
    def probe(self, timeout_s: float = PROBE_S) -> dict[str, Any] | None:
        """The running application's status over the service channel (never stops it); None
        when none answers: no application, a stopped one, or firmware older than the channel."""
        self.probed = True
        self.app = None
        if self.in_raw:
            return None  # we stopped it ourselves
        try:
            self.app = self.service.status(timeout_s)
        except (TimeoutError, ServiceError, ValueError):
            self.app = None
        return self.app

    @property
    def live(self) -> bool:
        """An application answered the last probe (and nothing here stopped it since)."""
        return self.app is not None

    def stop_app(self) -> None:
        """Stop the running application: Ctrl-C into the raw REPL (outputs safe, contactors
        open, the board's maintenance window opens). Only for a command that must, once it said
        so and was allowed to; restart_app() brings the application back."""
        self.app = None
        self.probed = True
        self.raw()

    # ----- raw REPL ------------------------------------------------------------------------------
    def raw(self, soft_reset: bool = False) -> None:
        if self.in_raw and not soft_reset:
            return
        if self.read_only:
            if not self.probed:
                self.probe()
            if self.live:
                raise DeviceError(
                    f"{self.port}: the application is running and this command only reads: "
                    "it does not stop it (the raw REPL would)"
                )
        try:
            self.transport.enter_raw_repl(soft_reset=soft_reset)
        except Exception as exc:
            raise DeviceError(
                f"{self.port}: no MicroPython raw REPL ({exc}); is MicroPython flashed "
                "(`gridpod flash`) and the port right?"
            ) from exc
        self.in_raw = True
        self._helpers.clear()

    def exec(self, code: str, timeout_s: float = 10.0) -> str:
        self.raw()
        try:
            out, err = self.transport.exec_raw(code, timeout=timeout_s)
        except Exception as exc:
            raise DeviceError(f"{self.port}: link lost while running code ({exc})") from exc
        if err:
            last = err.decode(errors="replace").strip().splitlines()[-1:]
            raise DeviceError(f"{self.port}: device error: {' '.join(last)}")
        return out.decode(errors="replace")

    def exec_json(self, code: str) -> Any:
        """Run code whose last printed line is JSON; return it parsed."""
        lines = self.exec(code).strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError) as exc:
            raise DeviceError(f"{self.port}: unexpected answer {lines[-1:]!r}") from exc

    def _helper(self, name: str, source: str) -> None:
        if name not in self._helpers:
            self.exec(source)
            self._helpers.add(name)

    # ----- facts --------------------------------------------------------------------------------
    def implementation(self) -> dict[str, Any]:
        """MicroPython version, mpy version/sub-version/arch and platform of the device."""
        if self.live:
            app = self.app or {}
            mpy = app.get("mpy", 0)
            arch_index = mpy >> 10
            return {
                "name": "micropython",
                "version": app.get("micropython"),
                "mpy_version": mpy & 0xFF,
                "mpy_sub_version": (mpy >> 8) & 3,
                "mpy_arch": MPY_ARCHS[arch_index] if arch_index < len(MPY_ARCHS) else None,
                "platform": app.get("platform"),
                "machine": "",
            }
        info = self.exec_json(
            "import sys, json\n"
            "i = sys.implementation\n"
            "print(json.dumps([i.name, list(i.version[:3]), getattr(i, '_mpy', 0), "
            "sys.platform, getattr(i, '_machine', '')]))"
        )
        name, version, mpy, platform, machine = info
        arch_index = mpy >> 10
        return {
            "name": name,
            "version": ".".join(str(v) for v in version),
            "mpy_version": mpy & 0xFF,
            "mpy_sub_version": (mpy >> 8) & 3,
            "mpy_arch": MPY_ARCHS[arch_index] if arch_index < len(MPY_ARCHS) else None,
            "platform": platform,
            "machine": machine,
        }

    def read_file(self, path: str) -> bytes | None:
        if self.live:
            return self.service.read_file(path)
        self.raw()
        try:
            return self.transport.fs_readfile(path)
        except Exception:  # noqa: BLE001 - mpremote maps ENOENT to its own error types
            return None

    def read_json(self, path: str) -> Any:
        data = self.read_file(path)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def hashes(self, paths: list[str]) -> dict[str, str | None]:
        """sha256 hex of each file on the device, None when it does not exist (one round trip)."""
        if not paths:
            return {}
        self._helper("hash", _HASH_FN)
        out = self.exec(f"_gp_hash({paths!r})", timeout_s=60)
        result: dict[str, str | None] = {}
        for line in out.splitlines():
            if " " in line:
                path, digest = line.rsplit(" ", 1)
                result[path] = None if digest == "-" else digest
        missing = [p for p in paths if p not in result]
        if missing:
            raise DeviceError(f"{self.port}: no hash answer for {missing[:3]}")
        return result

    def combined_hash(self, paths: list[str]) -> str:
        """sha256 over the sha256 of each file in order (b"-" for a missing one): one short
        answer instead of a line per file, for the no-op check on a slow console."""
        self._helper("sum", _SUM_FN)
        return self.exec(f"_gp_sum({paths!r})", timeout_s=60).strip()

    def exists(self, path: str) -> bool:
        out = self.exec(
            f"import os\ntry:\n os.stat({path!r}); print(1)\nexcept OSError:\n print(0)"
        )
        return out.strip() == "1"

    # ----- writes -------------------------------------------------------------------------------
    def write_file(self, path: str, data: bytes) -> None:
        """Write one file (parents created); counted in files_sent / bytes_sent."""
        self._helper("mkdirs", _MKDIRS_FN)
        self.exec(f"_gp_mkdirs({path!r})")
        try:
            self.transport.fs_writefile(path, data, chunk_size=1024)
        except Exception as exc:
            if "MemoryError" not in str(exc):
                raise DeviceError(f"{self.port}: writing {path} failed ({exc})") from exc
            # a heap the stopped application left fragmented: collect, then smaller chunks
            # (the file is opened "wb" again, so nothing of the failed try is kept)
            try:
                self.exec("import gc\ngc.collect()")
                self.transport.fs_writefile(path, data, chunk_size=SMALL_CHUNK_BYTES)
            except Exception as exc2:
                raise DeviceError(f"{self.port}: writing {path} failed ({exc2})") from exc2
        self.files_sent.append(path)
        self.bytes_sent += len(data)

    def rename(self, src: str, dst: str) -> None:
        # littlefs2 replaces the target atomically; FAT needs the target removed first
        self.exec(
            "import os\n"
            f"try:\n    os.rename({src!r}, {dst!r})\n"
            f"except OSError:\n    os.remove({dst!r})\n    os.rename({src!r}, {dst!r})"
        )

    # ----- reset --------------------------------------------------------------------------------
    def soft_restart(self) -> None:
        """Soft-reset into boot.py + main.py and return at once (the caller watches what starts:
        restart_app() the banner, a config push the outcome of its trial)."""
        self.raw()
        self.transport.exit_raw_repl()
        self.in_raw = False
        self.app = None
        self.probed = False  # what runs now is the new boot's application
        self.service.repl_echo = False
        serial = self.transport.serial
        serial.reset_input_buffer()
        serial.write(b"\x04")  # Ctrl-D at the friendly REPL: soft reset, runs boot.py and main.py

    def restart_app(self, timeout_s: float = 30.0, settle_s: float = 0.25) -> dict[str, Any]:
        """Soft-reset into boot.py + main.py; return the parsed boot banner (healthy app).

        Raises DeviceError on a traceback before the banner or when none comes in time."""
        self.soft_restart()
        serial = self.transport.serial
        serial.timeout = 0.05
        seen = bytearray()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            chunk = serial.read(serial.in_waiting or 1)
            seen += chunk
            m = BANNER.search(seen)
            if m:
                # the app must keep running: no traceback within settle_s after the banner
                settle_end = time.monotonic() + settle_s
                while time.monotonic() < settle_end and b"Traceback" not in seen[m.end() :]:
                    seen += serial.read(serial.in_waiting or 1)
                text = bytes(seen).decode(errors="replace")
                crash = text.find("Traceback", m.end())
                if crash >= 0:
                    end_by = time.monotonic() + 2
                    while b">>> " not in seen[m.end() :] and time.monotonic() < end_by:
                        seen += serial.read(serial.in_waiting or 1)
                    lines = bytes(seen).decode(errors="replace")[crash:].splitlines()[1:]
                    error = next((x for x in lines if x and not x[0].isspace()), "?")
                    where = [x.strip() for x in lines if x.strip().startswith("File ")][-1:]
                    raise DeviceError(
                        f"{self.port}: the application crashed after boot: {error} "
                        f"({' '.join(where)}); see the console with mpremote"
                    )
                return {
                    "module": m.group(1).decode(),
                    "board": m.group(2).decode(),
                    "boot": int(m.group(3)),
                    "note": m.group(5).decode(errors="replace"),
                    "maintenance": "MAINTENANCE MODE" in text,
                    "console": text,
                }
            if b"Traceback" in seen and seen.endswith(b">>> "):
                break
        tail = bytes(seen[-400:]).decode(errors="replace").strip().splitlines()[-3:]
        raise DeviceError(
            f"{self.port}: the application did not report healthy (no boot banner); console "
            f"ends with: {' | '.join(tail) or '(nothing)'}"
        )
