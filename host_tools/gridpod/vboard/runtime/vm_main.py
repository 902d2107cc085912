"""Virtual-board runtime: the part of a real board's ROM/boot code that the unix port lacks.

Runs inside the MicroPython unix port (never on a real board), started by the supervisor as
    micropython -X heapsize=N vm_main.py HARNESS_SOCKET FLASH_IMAGE MODE
It makes the VM look like a board:
  * mounts the littlefs2 flash image at "/" and unmounts the host filesystem, hides VfsPosix and
    os.system, so firmware sees the board's flash and nothing of the host;
  * runs boot.py then main.py (MODE "boot"), or boot.py only and the raw REPL (MODE "raw", after a
    Ctrl-D in the raw REPL), like pyexec on a real port;
  * friendly REPL, raw REPL and raw-paste mode on stdin/stdout with the real CR/LF conventions;
  * exports the harness link as module `_vboard` (used only by firmware/hal/virtual.py); the
    running firmware's service channel reads and writes the console on stdin/stdout itself
    (firmware/hal/console.py), as on a board.
Ctrl-C reaches us only while user code runs (see set_intr): as the answer to a harness exchange
(the HAL raises KeyboardInterrupt), or as SIGINT for code that never exchanges.
Exit code 80 asks the supervisor for a soft reboot into main.py, 81 into the raw REPL.
"""

import builtins
import io
import json
import os
import socket
import struct
import sys

import micropython
import vfs
from micropython import const

EXIT_SOFT_REBOOT = 80
EXIT_SOFT_REBOOT_RAW = 81

# REPL control bytes, named as in MicroPython's shared/readline/readline.h (CHAR_CTRL_A ...).
_CTRL_A = const(0x01)  # enter the raw REPL; in raw-paste, the window increment
_CTRL_B = const(0x02)  # leave the raw REPL / friendly banner
_CTRL_C = const(0x03)  # interrupt; clears the line
_CTRL_D = const(0x04)  # end of input: execute (raw REPL), soft reboot (empty line)
_CTRL_E = const(0x05)  # raw-paste mode (from the raw REPL)

# Harness message types; the host's gridpod/harness/protocol.py holds the same table (a host test
# checks the three copies: there, here and firmware/hal/harness.py).
MSG_HELLO = 0x48  # 'H'
MSG_INTR = 0x4B  # 'K'
MSG_BROWN_OUT = 0x42  # 'B'
MSG_RESUME = 0x43  # 'C'
MSG_RESET = 0x5A  # 'Z'


class Link:
    """Request/response over the harness socket: [u8 type][u16 len][payload], little endian."""

    def __init__(self, path):
        self.path = path
        self.buf = bytearray(4096)
        self.mv = memoryview(self.buf)
        self.payload = self.mv[3:]
        self.busy = False
        self.sock = None
        self._connect()

    def _connect(self):
        if self.sock is not None:
            self.sock.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(b"\x01\x00" + self.path + b"\x00")
        self.sock = s

    def request(self, msg_type, payload_len):
        """Send buf[3:3+payload_len] as one message; return (type, reply length) in buf[3:]."""
        if self.busy:
            # The previous exchange was cut by KeyboardInterrupt: the stream may hold half a
            # reply. Start a fresh connection instead of guessing.
            self._connect()
            self.busy = False
            self.send_only(MSG_RESUME, 0)
            self._read_reply()
        self.busy = True
        self.send_only(msg_type, payload_len)
        r = self._read_reply()
        self.busy = False
        return r

    def send_only(self, msg_type, payload_len):
        buf = self.buf
        buf[0] = msg_type
        buf[1] = payload_len & 0xFF
        buf[2] = payload_len >> 8
        self.sock.write(buf, 3 + payload_len)

    def reset(self):
        """Hard reset requested by the firmware: the supervisor kills and restarts the VM."""
        self.send_only(MSG_RESET, 0)
        while True:
            self.sock.read(1)

    def _read_reply(self):
        buf = self.buf
        self.sock.readinto(buf, 3)
        n = buf[1] | (buf[2] << 8)
        if n:
            self.sock.readinto(self.payload, n)
        return buf[0], n


class FlashBlockDevice:
    """littlefs block device on the image file; every erase and program is one 'flash op'."""

    def __init__(self, path, link, kill_after_ops):
        self.f = open(path, "r+b")
        self.size = self.f.seek(0, 2)
        self.block_size = 4096
        self.blocks = self.size // self.block_size
        self.link = link
        self.ops = 0
        self.kill_after_ops = kill_after_ops
        self.erased = b"\xff" * self.block_size

    def _count_op(self, offset, data):
        self.ops += 1
        if self.kill_after_ops and self.ops >= self.kill_after_ops:
            # Power fails in the middle of this program: half the bytes land, then the VM dies.
            half = len(data) // 2
            self.f.seek(offset)
            self.f.write(data[:half])
            self.link.send_only(MSG_BROWN_OUT, 0)
            while True:
                self.link.sock.read(1)

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.block_size + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            self.ioctl(6, block)
            offset = 0
        pos = block * self.block_size + offset
        self._count_op(pos, buf)
        self.f.seek(pos)
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.block_size
        if op == 6:
            pos = arg * self.block_size
            self._count_op(pos, self.erased)
            self.f.seek(pos)
            self.f.write(self.erased)
            return 0
        return 0


class Proxy:
    """Module stand-in: every attribute of `real` except the hidden ones, plus overrides."""

    def __init__(self, real, hidden, overrides):
        self._real = real
        self._hidden = hidden
        self._over = overrides

    def __getattr__(self, name):
        if name in self._over:
            return self._over[name]
        if name in self._hidden:
            raise AttributeError(name)
        return getattr(self._real, name)


class CookedOut(io.IOBase):
    """Text output as on a board's USB REPL: every LF goes out as CR LF; .buffer stays raw."""

    def __init__(self, raw):
        self.buffer = raw

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.buffer.write(bytes(data).replace(b"\n", b"\r\n"))
        return len(data)

    def flush(self):
        pass


def _cpu_clock():
    """This thread's CPU time in us (None without /proc): a board's CPU is never taken away
    while it runs a tick, the VM's can be by the host, so the scheduler bounds slow tick
    measurements by it (firmware/app/scheduler.py). Allocation-free."""
    try:
        f = open("/proc/thread-self/schedstat", "rb")
    except OSError:
        return None
    buf = bytearray(32)

    def cpu_us():
        f.seek(0)
        n = f.readinto(buf)
        v = 0
        for i in range(n):
            c = buf[i]
            if c < 48:
                break
            v = v * 10 + c - 48
        return v // 1000

    return cpu_us


class Board:
    """The board's ROM side on stdin/stdout, once the flash is mounted: the boot sequence
    (boot.py, main.py), the friendly REPL, the raw REPL and raw-paste mode, and execute(), which
    runs user code with Ctrl-C armed. Every exit of the VM is a power-off or a soft reboot."""

    def __init__(self, link, hello):
        self.link = link
        self.raw_in = sys.stdin.buffer
        self.raw_out = sys.stdout.buffer
        self.out = CookedOut(self.raw_out)
        self.intr_state = False
        self.repl_globals = {"__name__": "__main__"}
        v = sys.implementation.version
        self.banner = "MicroPython v%d.%d.%d on Gridpod virtual module; unix port with %s\r\n" % (
            v[0],
            v[1],
            v[2],
            hello.get("board", "VIRTUAL"),
        )

    # ----- what user code sees (installed over builtins, sys and micropython by run()) ---------
    def set_intr(self, enabled):
        if self.intr_state == enabled and not enabled:
            return
        self.link.buf[3] = 1 if enabled else 0
        self.link.request(MSG_INTR, 1)
        self.intr_state = enabled

    def kbd_intr(self, ch):
        # mpremote's mount protocol turns Ctrl-C off while it moves binary data.
        self.set_intr(ch == _CTRL_C)

    def print_exception(self, exc, file=None):
        sys.print_exception(exc, file if file is not None else self.out)

    def print(self, *args, sep=" ", end="\n", file=None):
        (file if file is not None else self.out).write(sep.join([str(a) for a in args]) + end)

    # ----- running code --------------------------------------------------------------------------
    def execute(self, src, file_name):
        """Run user code with Ctrl-C enabled; return (soft_reset_requested, exception or None)."""
        try:
            self.set_intr(True)
            if file_name:
                with open(src) as f:
                    src = f.read()
                src = compile(src, file_name, "exec")
            exec(src, self.repl_globals)
            self.set_intr(False)
        except SystemExit:
            self.set_intr(False)
            return True, None
        except BaseException as e:  # noqa: BLE001 - the REPL reports everything, like a board
            # Always tell the supervisor that user code ended: it disarmed a Ctrl-C it delivered,
            # but not one it never saw (another exception), and it holds input until this.
            self.intr_state = True
            try:
                self.set_intr(False)
            except BaseException:  # noqa: BLE001
                pass
            return False, e
        return False, None

    def execute_and_report(self, src, file_name):
        reboot, exc = self.execute(src, file_name)
        if exc is not None:
            self.print_exception(exc)
        return reboot

    def run_file(self, name):
        try:
            os.stat(name)
        except OSError:
            return False
        return self.execute_and_report(name, name)

    def readch(self):
        c = self.raw_in.read(1)
        if not c:
            raise SystemExit  # the supervisor closed our stdin: power off
        return c[0]

    def soft_reboot(self, code):
        self.raw_out.write(b"MPY: soft reboot\r\n")
        sys.exit(code)

    # ----- raw REPL and raw paste (what mpremote speaks) -----------------------------------------
    def raw_repl(self):
        """pyexec raw REPL; returns on Ctrl-B, soft-reboots on an empty Ctrl-D."""
        raw_out = self.raw_out
        raw_out.write(b"raw REPL; CTRL-B to exit\r\n")
        while True:
            raw_out.write(b">")
            line = bytearray()
            while True:
                try:
                    c = self.readch()
                except KeyboardInterrupt:
                    c = _CTRL_C
                if c == _CTRL_A:
                    raw_out.write(b"raw REPL; CTRL-B to exit\r\n>")
                    line = bytearray()
                elif c == _CTRL_B:
                    raw_out.write(b"\r\n")
                    return
                elif c == _CTRL_C:
                    line = bytearray()
                elif c == _CTRL_D:
                    break
                elif c == _CTRL_E and not line:
                    self.raw_paste()
                    line = None
                    break
                else:
                    line.append(c)
            if line is None:
                continue
            raw_out.write(b"OK")
            if not line:
                raw_out.write(b"\r\n")
                self.soft_reboot(EXIT_SOFT_REBOOT_RAW)
            self.run_raw(bytes(line))

    def run_raw(self, src):
        """Compile and run one raw-REPL input; its output and its error each end with Ctrl-D."""
        raw_out = self.raw_out
        try:
            code = compile(src, "<stdin>", "exec")
        except BaseException as e:  # noqa: BLE001
            raw_out.write(b"\x04")
            self.print_exception(e)
            raw_out.write(b"\x04")
            return
        reboot, exc = self.execute(code, None)
        raw_out.write(b"\x04")
        if exc is not None:
            self.print_exception(exc)
        raw_out.write(b"\x04")
        if reboot:
            self.soft_reboot(EXIT_SOFT_REBOOT_RAW)

    def raw_paste(self):
        """Raw-paste mode: 'A' Ctrl-A from the host, flow control by a 512-byte window that the
        board re-opens with a Ctrl-A, the input ends with Ctrl-D (Ctrl-C aborts)."""
        raw_out = self.raw_out
        if self.readch() != 0x41 or self.readch() != _CTRL_A:  # 'A' Ctrl-A
            raw_out.write(b"R\x00")
            return
        window = 512
        raw_out.write(b"R\x01" + struct.pack("<H", window) + b"\x01")
        data = bytearray()
        while True:
            c = self.readch()
            if c == _CTRL_D:
                raw_out.write(b"\x04")
                break
            if c == _CTRL_C:
                raw_out.write(b"\x04")
                return
            data.append(c)
            if len(data) % window == 0:  # the host may send one more window
                raw_out.write(b"\x01")
        self.run_raw(bytes(data))

    # ----- friendly REPL -------------------------------------------------------------------------
    def friendly_repl(self):
        """Line-based friendly REPL; returns True when the raw REPL was requested."""
        out, raw_out = self.out, self.raw_out
        out.write(self.banner + 'Type "help()" for more information.\n')
        while True:
            prompt = ">>> "
            lines = []
            buf = bytearray()
            out.write(prompt)
            while True:
                try:
                    c = self.readch()
                except KeyboardInterrupt:
                    c = _CTRL_C
                if c == _CTRL_A:
                    raw_out.write(b"\r\n")
                    return True
                if c == _CTRL_B:
                    out.write("\n" + self.banner + 'Type "help()" for more information.\n' + prompt)
                    lines, buf = [], bytearray()
                    continue
                if c == _CTRL_C:
                    out.write("\n" + ">>> ")
                    lines, buf, prompt = [], bytearray(), ">>> "
                    continue
                if c == _CTRL_D and not buf and not lines:
                    raw_out.write(b"\r\n")
                    self.soft_reboot(EXIT_SOFT_REBOOT)
                if c in (8, 127):  # backspace, delete
                    if buf:
                        buf = buf[:-1]
                        raw_out.write(b"\x08 \x08")
                    continue
                if c == 13 or c == 10:  # CR, LF
                    raw_out.write(b"\r\n")
                    text = bytes(buf).decode()
                    buf = bytearray()
                    lines.append(text)
                    src = "\n".join(lines)
                    if text.rstrip().endswith(":") or (len(lines) > 1 and text.strip()):
                        out.write("... ")  # a block goes on until an empty line
                        continue
                    break
                if c >= 32:
                    buf.append(c)
                    raw_out.write(bytes((c,)))
            if not src.strip():
                continue
            try:
                try:
                    compile(src, "<stdin>", "eval")
                    # an expression: print its value, as the board's REPL does
                    code = compile(
                        "_ = " + src + "\nif _ is not None: print(repr(_))\n", "<stdin>", "exec"
                    )
                except SyntaxError:
                    code = compile(src + "\n", "<stdin>", "exec")
            except BaseException as e:  # noqa: BLE001
                self.print_exception(e)
                continue
            if self.execute_and_report(code, None):
                self.soft_reboot(EXIT_SOFT_REBOOT)

    # ----- power-on ------------------------------------------------------------------------------
    def run(self, mode):
        """Boot sequence of a real port: boot.py, then main.py unless the raw REPL asked for the
        reboot (mode "raw"), then the REPLs for ever."""
        if self.run_file("boot.py"):
            self.soft_reboot(EXIT_SOFT_REBOOT)
        raw = mode == "raw"
        if not raw and self.run_file("main.py"):
            self.soft_reboot(EXIT_SOFT_REBOOT)
        while True:
            if raw:
                self.raw_repl()
                raw = False
            raw = self.friendly_repl()


def run(argv):
    link = Link(argv[1].encode())
    image = argv[2]

    # Hello: the supervisor tells us the reset cause and any armed flash kill point.
    link.buf[3:5] = b"{}"
    t, n = link.request(MSG_HELLO, 2)
    hello = json.loads(bytes(link.mv[3 : 3 + n]))
    kill_after_ops = hello.get("kill_after_ops", 0)

    cpu_us = _cpu_clock()  # opened before the host root is unmounted
    romfs = None
    if hello.get("romfs"):
        with open(hello["romfs"], "rb") as f:  # the board's ROMFS partition (see supervisor.py)
            romfs = vfs.VfsRom(f.read())
    bdev = FlashBlockDevice(image, link, kill_after_ops)
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        sys.stdout.buffer.write(b"gridpod: formatting blank flash (littlefs2)\r\n")
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    vfs.umount("/")
    vfs.mount(fs, "/")
    if romfs is not None:
        vfs.mount(romfs, "/rom")
    os.chdir("/")
    sys.path.clear()
    sys.path.extend(["", ".frozen", "/rom", "/rom/lib", "/lib"])  # a ROMFS board's sys.path

    board = Board(link, hello)
    vboard = {
        "link": link,
        "hello": hello,
        "MSG_RESUME": MSG_RESUME,
        "cpu_us": cpu_us,
    }
    # What user code imports: this module keeps the real sys, os and vfs in its globals.
    builtins.print = board.print
    modules = sys.modules
    modules["sys"] = Proxy(
        sys,
        (),
        {"stdout": board.out, "stderr": board.out, "print_exception": board.print_exception},
    )
    modules["os"] = Proxy(
        os, ("system", "getenv", "putenv", "unsetenv", "VfsPosix"), {"umount": vfs.umount}
    )
    modules["vfs"] = Proxy(vfs, ("VfsPosix",), {})
    modules["micropython"] = Proxy(micropython, (), {"kbd_intr": board.kbd_intr})
    modules["_vboard"] = Proxy(vboard, (), vboard)
    modules["__main__"] = Proxy(None, (), board.repl_globals)  # the REPL's globals
    del vboard
    board.run(argv[3])


run(sys.argv)
