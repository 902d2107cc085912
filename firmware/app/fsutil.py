"""Small flash-file helpers: existence test and atomic replace (write tmp, flush, close, rename).

littlefs2 (ESP32/RP2040 default) and the unix port's POSIX rename replace an existing target
atomically. FAT and some older ports refuse with EEXIST; then the old file is removed first and
the loaders recover from `<path>.tmp` if power is lost between the remove and the rename.
"""

import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def replace(tmp_path, path, rename=None):
    rename = rename if rename is not None else os.rename
    try:
        rename(tmp_path, path)
    except OSError:
        remove_quietly(path)
        rename(tmp_path, path)


def write_atomic(path, data, rename=None):
    """Make `path` hold either its old or its new content, never a mix. data: str, or a
    callable(write) that streams str pieces (no big contiguous buffer needed)."""
    tmp_path = path + ".tmp"
    with open(tmp_path, "w") as f:
        if isinstance(data, str):
            f.write(data)
        else:
            data(f.write)
        f.flush()
    replace(tmp_path, path, rename)
