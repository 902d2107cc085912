"""The deploy check of the service channel (app/service.py `V`): every file <root>manifest.json
lists, hashed on the board and compared with the manifest, a bounded step at a time, while the
application runs. `gridpod deploy` decides a no-op on its answer. Loaded for that request only and
forgotten again (app/service.py _drop_job)."""

import hashlib
from binascii import hexlify

from micropython import const

TYPE_CHECKING = False  # mypy reads this as True; MicroPython skips the block
if TYPE_CHECKING:
    from typing import Any

_STEP = const(1024)  # bytes hashed per step
_SCAN = const(128)  # manifest bytes scanned per step (at most: a string's end ends the step)
_TOK = const(80)  # longest manifest string kept (paths, digests)


class DeployCheck:
    """The files <root>manifest.json lists, hashed and compared with it, a bounded step at a
    time. The manifest is scanned as a stream of JSON strings (no json.load: its dict of paths
    and digests would cost the heap several KiB): a string after "id" is the deploy id, a string
    that starts with "/" a path, and the string after a path its sha256."""

    def __init__(self, root):
        self.root = root
        self.manifest = open(root + "manifest.json", "rb")
        self.buf = bytearray(_STEP)  # file bytes being hashed
        self.text = bytearray(_SCAN)  # manifest bytes being scanned
        self.n = 0
        self.pos = 0
        self.tok = bytearray(_TOK)
        self.tok_len = -1  # -1: between strings
        self.after_id = False
        self.ident = None
        self.path = None
        self.want = None
        self.hashed: Any = None  # the file being hashed
        self.sha: Any = None
        self.files = 0
        self.bad = 0
        self.first = []

    def close(self):
        self.manifest.close()
        if self.hashed is not None:
            self.hashed.close()

    def result(self):
        return {"id": self.ident, "files": self.files, "bad": self.bad, "first": self.first}

    def _mismatch(self, path):
        self.bad += 1
        if len(self.first) < 3:
            self.first.append(path)

    def step(self):
        """One bounded step; True when the whole manifest was checked."""
        if self.hashed is not None:
            n = self.hashed.readinto(self.buf)
            if n:
                self.sha.update(memoryview(self.buf)[:n])
                return False
            self.hashed.close()
            self.hashed = None
            self.files += 1
            if hexlify(self.sha.digest()) != self.want:
                self._mismatch(self.path)
            return False
        if self.pos >= self.n:
            self.n = self.manifest.readinto(self.text)
            self.pos = 0
            if not self.n:
                return True
        buf = self.text
        tok = self.tok
        while self.pos < self.n:
            c = buf[self.pos]
            self.pos += 1
            if self.tok_len < 0:
                if c == 0x22:  # opening quote
                    self.tok_len = 0
                continue
            if c != 0x22:
                if self.tok_len < _TOK:
                    tok[self.tok_len] = c
                self.tok_len += 1  # an overlong string compares with nothing
                continue
            self._string(bytes(tok[: min(self.tok_len, _TOK)]), self.tok_len <= _TOK)
            self.tok_len = -1
            if self.hashed is not None:
                return False
        return False

    def _string(self, s, whole):
        if self.after_id:
            self.after_id = False
            self.ident = s.decode()
        elif s == b"id":
            self.after_id = True
        elif self.path is not None and self.want is None:
            self.want = s
            try:
                self.hashed = open(self.root + self.path[1:], "rb")
            except OSError:
                self.files += 1
                self._mismatch(self.path)
                self.path = None
                self.want = None
                return
            self.sha = hashlib.sha256()
        elif whole and s[:1] == b"/":
            self.path = s.decode()
            self.want = None
