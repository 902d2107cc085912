"""The virtual board's flash: a file-backed littlefs2 image, also readable from the host.

The VM mounts the image itself (runtime/vm_main.py, block size 4096, like ESP32 and RP2040 ports)
and formats a blank one on first boot, as a real board does. The host side uses littlefs-python
to install files before power-on and to inspect the image after a brown-out.
"""

import os
from pathlib import Path

from littlefs import LittleFS, UserContext

from .. import GridpodError

BLOCK_SIZE = 4096
DEFAULT_SIZE = 2 * 1024 * 1024


class FlashImageError(GridpodError):
    """The virtual board's flash image cannot be made or read (gridpod.flash's FlashError is about
    writing a real chip)."""


def create_blank(path: Path, size_bytes: int = DEFAULT_SIZE) -> None:
    """An erased flash chip: every byte 0xFF. The VM formats it at first boot."""
    if size_bytes % BLOCK_SIZE or size_bytes < 16 * BLOCK_SIZE:
        raise FlashImageError(
            f"flash size {size_bytes} B: use a multiple of {BLOCK_SIZE} B, at least 64 KiB"
        )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\xff" * size_bytes)


class FlashImage:
    """Host-side view of an image. Use only while the VM is off (no concurrent writers)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FlashImageError(
                f"no flash image at {self.path}: start the board once or create one"
            )
        data = self.path.read_bytes()
        if len(data) % BLOCK_SIZE:
            raise FlashImageError(
                f"{self.path}: size {len(data)} is not a multiple of {BLOCK_SIZE}"
            )
        self.context = UserContext(len(data))
        self.context.buffer[:] = data
        self.fs = LittleFS(
            context=self.context,
            block_size=BLOCK_SIZE,
            block_count=len(data) // BLOCK_SIZE,
            mount=False,
        )
        try:
            self.fs.mount()
        except Exception:
            self.fs.format()
            self.fs.mount()

    def read(self, name: str) -> bytes:
        with self.fs.open(name, "rb") as f:
            return f.read()

    def exists(self, name: str) -> bool:
        try:
            self.fs.stat(name)
            return True
        except Exception:
            return False

    def listdir(self, name: str = "/") -> list[str]:
        return sorted(self.fs.listdir(name))

    def write(self, name: str, data: bytes) -> None:
        parent = os.path.dirname(name.rstrip("/"))
        if parent and parent != "/":
            self.makedirs(parent)
        with self.fs.open(name, "wb") as f:
            f.write(data)

    def makedirs(self, name: str) -> None:
        path = ""
        for part in name.strip("/").split("/"):
            path += "/" + part
            if not self.exists(path):
                self.fs.mkdir(path)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(bytes(self.context.buffer))
        os.replace(tmp, self.path)


def install_tree(image_path: Path, files: dict[str, bytes]) -> None:
    """Write files (flash path -> content) into the image in one go."""
    img = FlashImage(image_path)
    for name, data in files.items():
        img.write(name, data)
    img.save()
