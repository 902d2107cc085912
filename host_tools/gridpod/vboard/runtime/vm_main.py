"""Virtual-board runtime: the part of a real board's ROM/boot code that the unix port lacks.

Runs inside the MicroPython unix port (never on a real board), started by the supervisor as
    micropython -X heapsize=N vm_main.py HARNESS_SOCKET FLASH_IMAGE MODE
after vboard/vm_rom.py (the C side, in the same process) has made the text console cooked (LF out
as CR LF, no heap used), Ctrl-C safe (KeyboardInterrupt at the VM's next safe point) and the
library's module tables writable. It makes the VM look like a board:
  * mounts the littlefs2 flash image at "/" and unmounts the host filesystem; asks vm_rom once
    for a board's module tables: the real `sys`, `os`, `vfs`, `micropython` modules changed in
    place (sys.platform "vboard", no VfsPosix, os.system, environment, sys.executable, atexit,
    termios), `__main__` the REPL's globals, `sys.argv` empty;
  * runs boot.py then main.py (MODE "boot"), or boot.py only and the raw REPL (MODE "raw", after a
    Ctrl-D in the raw REPL), like pyexec on a real port;
  * friendly REPL (continuation lines, paste mode), raw REPL and raw-paste mode on stdin/stdout
    with pyexec's CR/LF conventions and the GC unlocked at every prompt;
  * exports the harness link as module `_vboard` (used only by firmware/hal/virtual.py); the
    running firmware's service channel reads and writes the console on stdin/stdout itself
    (firmware/hal/console.py), as on a board.
User code runs (and is compiled) in native functions: a native frame adds no traceback entry, so
a traceback starts at the user's code as on a board.
Ctrl-C reaches us only while user code runs (see set_intr): as the answer to a harness exchange
(the HAL raises KeyboardInterrupt), or as vm_rom's signal for code that never exchanges.
Exit code 80 asks the supervisor for a soft reboot into main.py, 81 into the raw REPL.
"""

import json
import os
import socket
import sys

import micropython
import vfs
from micropython import const

EXIT_SOFT_REBOOT = 80
EXIT_SOFT_REBOOT_RAW = 81
CONTROL_FD = 99  # vboard/vm_rom.py CONTROL_FD: a text stream here carries the table request
PLATFORM = "vboard"  # sys.platform: a board's port name, not the host's "linux"

# REPL control bytes, named as in MicroPython's shared/readline/readline.h (CHAR_CTRL_A ...).
_CTRL_A = const(0x01)  # enter the raw REPL; in raw-paste, the window increment
_CTRL_B = const(0x02)  # leave the raw REPL / friendly banner
_CTRL_C = const(0x03)  # interrupt; clears the line
_CTRL_D = const(0x04)  # end of input: execute (raw REPL), soft reboot (empty line)
_CTRL_E = const(0x05)  # raw-paste mode (from the raw REPL), paste mode (friendly REPL)
_ESC = const(0x1B)
_CR = const(0x0D)
_LF = const(0x0A)
_RAW_PASTE_WINDOW = const(512)

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


@micropython.native
def run_user(code, globals_dict):
    """exec() user code; its exception or None. Native: no traceback entry of ours."""
    try:
        exec(code, globals_dict)
    except BaseException as e:  # noqa: BLE001 - the REPL reports everything, like a board
        return e
    return None


@micropython.native
def compile_user(src, file_name, mode):
    """(code, None) or (None, the SyntaxError); native for the same reason as run_user."""
    try:
        return compile(src, file_name, mode), None
    except BaseException as e:  # noqa: BLE001
        return None, e


def unlock_heap():
    """pyexec at every prompt: "If the GC is locked at this point there is no way out except a
    reset, so force the GC to be unlocked". heap_unlock() returns the depth left; allocates
    nothing, so it works while locked."""
    micropython.heap_lock()
    depth = micropython.heap_unlock()
    while depth > 0:
        depth = micropython.heap_unlock()


_COMPOUND = (b"if", b"while", b"for", b"try", b"with", b"def", b"class", b"async")


def continue_with_input(line):
    """py/repl.c mp_repl_continue_with_input: does the friendly REPL ask for another line?"""
    if not line:
        return False
    line = bytes(line)
    compound = line[0] == 0x40  # '@'
    for word in _COMPOUND:
        n = len(word)
        if line[:n] == word and (len(line) == n or not _is_ident(line[n])):
            compound = True
    opened = [0, 0, 0]  # ( [ {
    quote = b""
    i, n = 0, len(line)
    while i < n:
        c = line[i : i + 1]
        if c in b"'\"":
            if (not quote or quote == c * 3) and line[i : i + 3] == c * 3:
                quote = b"" if quote else c * 3
                i += 2
            elif not quote or quote == c:
                quote = b"" if quote else c
        elif c == b"\\" and line[i + 1 : i + 2] in (b"'", b'"', b"\\"):
            if quote:
                i += 1
        elif not quote:
            k = b"([{".find(c)
            if k >= 0:
                opened[k] += 1
            k = b")]}".find(c)
            if k >= 0:
                opened[k] -= 1
        i += 1
    if len(quote) == 3 or (not quote and max(opened) > 0):
        return True
    if line[-1] == 0x5C:  # a backslash: line continuation
        return True
    return compound and line[-1] != _LF


def _is_ident(c):
    return c == 95 or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c >= 128


class VBoardModule:
    """What `import _vboard` gives firmware/hal/virtual.py (a board has no such module)."""

    def __init__(self, link, hello, cpu_us):
        self.link = link
        self.hello = hello
        self.cpu_us = cpu_us
        self.MSG_RESUME = MSG_RESUME


class Board:
    """The board's ROM side on stdin/stdout, once the flash is mounted: the boot sequence
    (boot.py, main.py), the friendly REPL, the raw REPL and raw-paste mode, and execute(), which
    runs user code with Ctrl-C armed. Every exit of the VM is a power-off or a soft reboot."""

    def __init__(self, link, hello):
        self.link = link
        self.raw_in = sys.stdin.buffer
        self.raw_out = sys.stdout.buffer
        self.intr_state = False
        self.repl_globals = {"__name__": "__main__"}
        self.kbd_intr_method = self.kbd_intr  # micropython.kbd_intr: vm_rom points at this object
        self.last_nl = 0  # readline's CR/LF pairing: "\r\n" is one newline
        self.one = bytearray(1)
        v = sys.implementation.version
        self.machine = "Gridpod virtual module %s with unix port" % hello.get("board", "VIRTUAL")
        self.banner = "MicroPython v%d.%d.%d%s on %s; %s\r\n" % (
            v[0],
            v[1],
            v[2],
            "-" + v[3] if len(v) > 3 and v[3] else "",
            sys.version.split(" on ")[-1],
            self.machine,
        )

    # ----- what user code sees -------------------------------------------------------------------
    def set_intr(self, enabled):
        if self.intr_state == enabled and not enabled:
            return
        self.link.buf[3] = 1 if enabled else 0
        self.link.request(MSG_INTR, 1)
        self.intr_state = enabled

    def kbd_intr(self, ch):
        # mpremote's mount protocol turns Ctrl-C off while it moves binary data.
        self.set_intr(ch == _CTRL_C)

    # ----- running code --------------------------------------------------------------------------
    def execute(self, code):
        """Run compiled user code with Ctrl-C armed; its exception or None."""
        try:
            self.set_intr(True)
        except KeyboardInterrupt as e:  # a Ctrl-C that came with the arming
            exc = e
        else:
            exc = run_user(code, self.repl_globals)
        self.back_at_repl()
        return exc

    def back_at_repl(self):
        """User code ended: the heap unlocked, the supervisor told (always: it holds input until
        this). A Ctrl-C that raced the end of the code is dropped here, as a board's REPL drops
        one that comes between two lines."""
        while True:
            try:
                unlock_heap()
                self.intr_state = True
                self.set_intr(False)
                return
            except KeyboardInterrupt:
                pass

    def report(self, exc):
        """The exception as pyexec prints it; True when it asks for a soft reboot."""
        if exc is None:
            return False
        if isinstance(exc, SystemExit):
            return True
        sys.print_exception(exc)
        return False

    def run_file(self, name):
        """pyexec_file_if_exists: True when the file asked for a soft reboot."""
        try:
            with open(name) as f:
                src = f.read()
        except OSError:
            return False
        code, exc = compile_user(src, name, "exec")
        del src
        if exc is None:
            exc = self.execute(code)
        return self.report(exc)

    def readch(self):
        try:
            c = self.raw_in.read(1)
        except KeyboardInterrupt:
            return _CTRL_C
        if not c:
            raise SystemExit  # the supervisor closed our stdin: power off
        return c[0]

    def echo(self, c):
        self.one[0] = c
        self.raw_out.write(self.one)

    def soft_reboot(self, code):
        self.raw_out.write(b"MPY: soft reboot\r\n")
        sys.exit(code)

    # ----- raw REPL and raw paste (what mpremote speaks) -----------------------------------------
    def raw_repl(self):
        """pyexec raw REPL; returns on Ctrl-B, soft-reboots on an empty Ctrl-D."""
        raw_out = self.raw_out
        raw_out.write(b"raw REPL; CTRL-B to exit\r\n")
        while True:
            unlock_heap()
            raw_out.write(b">")
            line = bytearray()
            while True:
                c = self.readch()
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
        code, exc = compile_user(src, "<stdin>", "exec")
        del src
        if exc is None:
            exc = self.execute(code)
            del code
        raw_out.write(b"\x04")
        reboot = self.report(exc)
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
        raw_out.write(b"R\x01\x00\x02\x01")  # supported, window 512 (u16 LE), first window open
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
            if len(data) % _RAW_PASTE_WINDOW == 0:  # the host may send one more window
                raw_out.write(b"\x01")
        self.run_raw(bytes(data))

    # ----- friendly REPL -------------------------------------------------------------------------
    def readline(self, line, prompt):
        """shared/readline: the prompt, then the typed line appended to `line` and echoed; 0 at
        its end (CR or LF; a CR LF pair is one), or a control byte: Ctrl-C at any point, Ctrl-A
        to Ctrl-E on an empty line. Backspace edits; escape sequences (arrow keys) are skipped:
        no history, no cursor movement, no auto-indent."""
        out = self.raw_out
        out.write(prompt)
        start = len(line)
        esc = 0
        while True:
            c = self.readch()
            if esc:  # ESC [ parameters final-byte, or ESC O x: skipped
                if esc == 1:
                    esc = 2 if c == 0x5B else (3 if c == 0x4F else 0)
                elif esc == 3 or 0x40 <= c <= 0x7E:
                    esc = 0
                continue
            if c == _CTRL_C or (_CTRL_A <= c <= _CTRL_E and len(line) == start):
                return c
            if c == _CR or c == _LF:
                if self.last_nl == 0 or self.last_nl == c:
                    self.last_nl = c
                    out.write(b"\r\n")
                    return 0
                self.last_nl = 0
                continue
            self.last_nl = 0
            if c == _ESC:
                esc = 1
            elif c == 8 or c == 127:  # backspace, delete
                if len(line) > start:
                    line[len(line) - 1 :] = b""
                    out.write(b"\x08 \x08")
            elif c == 9:  # tab: four spaces (no completion)
                line.extend(b"    ")
                out.write(b"    ")
            elif c >= 32:
                line.append(c)
                self.echo(c)

    def paste_mode(self):
        """pyexec's paste mode (Ctrl-E): every byte taken as typed until Ctrl-D (run it as a
        file) or Ctrl-C (cancel); None when cancelled."""
        out = self.raw_out
        out.write(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
        text = bytearray()
        while True:
            c = self.readch()
            if c == _CTRL_C:
                out.write(b"\r\n")
                return None
            if c == _CTRL_D:
                out.write(b"\r\n")
                return text
            text.append(c)
            if c == _CR:
                out.write(b"\r\n=== ")
            else:
                self.echo(c)

    def read_input(self):
        """One friendly-REPL input: (control byte or 0, source, compile mode)."""
        line = bytearray()
        c = self.readline(line, b">>> ")
        if c == _CTRL_E:
            text = self.paste_mode()
            return (_CTRL_C, None, None) if text is None else (0, bytes(text), "exec")
        if c:
            return c, None, None
        while continue_with_input(line):
            line.append(_LF)
            c = self.readline(line, b"... ")
            if c == _CTRL_C:
                return c, None, None
            if c == _CTRL_D:  # stop entering the compound statement
                break
        return 0, bytes(line), "single"

    def friendly_repl(self):
        """pyexec's friendly REPL; returns True when the raw REPL was requested."""
        out = self.raw_out
        out.write(self.banner + 'Type "help()" for more information.\r\n')
        while True:
            unlock_heap()
            c, src, mode = self.read_input()
            if c == _CTRL_A:
                out.write(b"\r\n")
                return True
            if c == _CTRL_B:
                out.write("\r\n" + self.banner + 'Type "help()" for more information.\r\n')
                continue
            if c == _CTRL_C:
                out.write(b"\r\n")
                continue
            if c == _CTRL_D:
                out.write(b"\r\n")
                self.soft_reboot(EXIT_SOFT_REBOOT)
            if not src:
                continue
            code, exc = compile_user(src, "<stdin>", mode)
            del src
            if exc is None:
                exc = self.execute(code)
                del code
            if self.report(exc):
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


def board_tables(board):
    """The request for vm_rom: a board's module tables, changed in place (see its docstring)."""
    import __main__

    return {
        "modules": [
            {"id": id(sys), "hide": ["executable", "atexit"], "text": {"platform": PLATFORM}},
            {"id": id(os), "hide": ["system", "getenv", "putenv", "unsetenv", "VfsPosix"]},
            {"id": id(vfs), "hide": ["VfsPosix"]},
            {"id": id(micropython), "set": {"kbd_intr": id(board.kbd_intr_method)}},
        ],
        "builtins_hide": ["termios"],
        "implementation": {"id": id(sys.implementation), "text": {"_machine": board.machine}},
        "main": {"id": id(__main__), "globals": id(board.repl_globals)},
    }


def run(argv):
    link = Link(argv[1].encode())
    image, mode = argv[2], argv[3]

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
    board = Board(link, hello)
    with open(CONTROL_FD, "w") as control:  # once per power-on, before any user code
        control.write(json.dumps(board_tables(board)))
    bdev = FlashBlockDevice(image, link, kill_after_ops)
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        board.raw_out.write(b"gridpod: formatting blank flash (littlefs2)\r\n")
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    vfs.umount("/")
    vfs.mount(fs, "/")
    if romfs is not None:
        vfs.mount(romfs, "/rom")
    os.chdir("/")
    sys.path.clear()
    sys.path.extend(["", ".frozen", "/rom", "/rom/lib", "/lib"])  # a ROMFS board's sys.path
    sys.argv.clear()  # a board's argv: no host paths
    sys.modules["_vboard"] = VBoardModule(link, hello, cpu_us)
    board.run(mode)


run(sys.argv)
