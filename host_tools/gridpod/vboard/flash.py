"""The virtual board's flash: a file-backed littlefs2 image, also readable from the host.

The VM mounts the image itself (runtime/vm_main.py, block size 4096, like ESP32 and RP2040 ports)
and formats a blank one on first boot, as a real board does. The host side uses littlefs-python
to install files before power-on and to inspect the image after a brown-out.

The image is a file the user names (`gridpod vboard --flash PATH`), so nothing here formats a file
that is not ours: only a new path (created here as an erased chip, all 0xFF) or an erased image is
formatted; an existing file must already be a littlefs2 image, anything else is refused
(check_flash_path). No folder is created either.
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


def _mounts(data: bytes) -> bool:
    """Does littlefs-python mount these bytes as a littlefs2 image of BLOCK_SIZE blocks?"""
    context = UserContext(len(data))
    context.buffer[:] = data
    fs = LittleFS(
        context=context, block_size=BLOCK_SIZE, block_count=len(data) // BLOCK_SIZE, mount=False
    )
    try:
        fs.mount()
    except Exception:  # noqa: BLE001 - littlefs-python raises LittleFSError or OSError
        return False
    return True


def image_kind(path: Path) -> str:
    """ "missing", "blank" (an erased chip: every byte 0xFF), "littlefs", or "other"."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return "missing"
    if not path.is_file():
        return "other"
    data = path.read_bytes()
    if not data or len(data) % BLOCK_SIZE:
        return "other"
    if data.count(0xFF) == len(data):
        return "blank"
    return "littlefs" if _mounts(data) else "other"


def check_flash_path(path: Path) -> str:
    """The image_kind() of a flash image path a user gave, when a virtual board may use it:
    a new file in an existing folder, an erased image or a littlefs2 image. FlashImageError
    otherwise, so that no file of the user's is reformatted and no folder is made."""
    path = Path(path)
    kind = image_kind(path)
    if kind == "missing" and not path.parent.is_dir():
        raise FlashImageError(
            f"--flash {path}: folder {path.parent} does not exist: create it first or choose "
            "another path (a new image is made only in an existing folder)"
        )
    if kind == "other":
        what = "a folder" if path.is_dir() else f"a file of {path.stat().st_size} bytes"
        raise FlashImageError(
            f"--flash {path} is {what}, not a littlefs2 flash image: refusing to format it; "
            "name a new file (it is created) or an image a virtual board made"
        )
    return kind


def check_flash_size(size_bytes: int) -> None:
    if size_bytes % BLOCK_SIZE or size_bytes < 16 * BLOCK_SIZE:
        raise FlashImageError(
            f"flash size {size_bytes} B: use a multiple of {BLOCK_SIZE} B, at least 64 KiB"
        )


def create_blank(path: Path, size_bytes: int = DEFAULT_SIZE) -> None:
    """An erased flash chip: every byte 0xFF. The VM formats it at first boot. Replaces only an
    earlier flash image (blank or littlefs2), never another file, and makes no folder."""
    check_flash_size(size_bytes)
    check_flash_path(path)
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
        except Exception:  # noqa: BLE001 - littlefs-python raises LittleFSError or OSError
            if data.count(0xFF) != len(data):
                raise FlashImageError(
                    f"{self.path} is not a littlefs2 flash image: refusing to format it"
                ) from None
            self.fs.format()  # an erased chip, as create_blank() makes: format it, as a board does
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
