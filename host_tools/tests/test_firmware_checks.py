"""Firmware checks: mpy-cross for both arches on the real tree, and a broken file is reported.

The check functions take a root path, so the failure cases run on small temporary trees.
The type-check tests need the stub packages once from the package index (then build/stubs caches
them); without an index they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HOST_TOOLS = Path(__file__).resolve().parents[1]
if str(HOST_TOOLS) not in sys.path:  # when gridpod is not pip-installed
    sys.path.insert(0, str(HOST_TOOLS))

from gridpod.build import checks as fc  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def make_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "firmware" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("arch", fc.ARCHES)
def test_real_firmware_compiles(arch, tmp_path):
    result = fc.compile_arch(arch, ROOT, out_dir=tmp_path)
    expected = fc.firmware_files(ROOT, fc.COMPILE_EXCLUDE)
    assert result.errors == []
    assert result.files == len(expected) > 0
    for src in expected:
        mpy = (tmp_path / src.relative_to(ROOT / "firmware")).with_suffix(".mpy")
        # .mpy header: 'M', version 6, feature flags, then the small-int bits.
        assert mpy.read_bytes()[:2] == b"M\x06", mpy
    assert not any("tests" in p.parts for p in expected)


def test_arch_reaches_the_mpy_header(tmp_path):
    # A @micropython.native function makes mpy-cross emit machine code, so the arch is recorded.
    root = make_tree(
        tmp_path, {"n.py": "import micropython\n@micropython.native\ndef f(x):\n    return x + 1\n"}
    )
    headers = {}
    for arch in fc.ARCHES:
        assert fc.compile_arch(arch, root).ok
        headers[arch] = (root / "build" / "mpy" / arch / "n.mpy").read_bytes()[2]
    assert headers["xtensawin"] != headers["armv6m"]


def test_broken_file_is_reported_with_its_name_and_message(tmp_path):
    root = make_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/good.py": "X = 1\n",
            "app/bad.py": "def f(:\n    pass\n",
            "tests/also_bad_but_excluded.py": "def (\n",
        },
    )
    for arch in fc.ARCHES:
        result = fc.compile_arch(arch, root)
        assert result.files == 3
        assert len(result.errors) == 1
        assert result.errors[0].startswith("firmware/app/bad.py: ")
        assert "SyntaxError" in result.errors[0]
        assert not result.ok
        assert "1 error(s)" in result.summary()


def test_cli_compile_exit_code():
    env = dict(os.environ, PYTHONPATH=str(HOST_TOOLS))
    proc = subprocess.run(
        [sys.executable, "-m", "gridpod.build.checks", "compile"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [
        line.split(":")[0] for line in proc.stdout.splitlines() if not line.startswith(" ")
    ] == [
        "compile xtensawin",
        "compile armv6m",
    ]


@pytest.fixture(scope="module")
def stub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp root whose build/stubs reuses the repo's cache (installs once if missing)."""
    root = tmp_path_factory.mktemp("typecheck")
    for port in fc.STUB_PACKAGES:
        try:
            stubs = fc.ensure_stubs(port, ROOT)
        except fc.FirmwareCheckError as exc:
            pytest.skip(f"stubs unavailable: {exc}")
        shutil.copytree(stubs, root / "build" / "stubs" / port)
    return root


def test_typecheck_sees_one_port_at_a_time(stub_root):
    firmware = stub_root / "firmware"
    shutil.rmtree(firmware, ignore_errors=True)
    make_tree(
        stub_root,
        {
            "hal/__init__.py": "",
            "hal/pins.py": "import machine\n\ndef led() -> machine.Pin:\n    return machine.Pin(2, machine.Pin.OUT, value=0)\n",
            "hal/esp_only.py": "import esp32\n\nNVS = esp32.NVS\n",
            "hal/rp_only.py": "import rp2\n\nPIO = rp2.PIO\n",
        },
    )
    esp, rp = fc.typecheck(stub_root)
    assert (esp.target, rp.target) == ("esp32", "rp2")
    assert esp.files == rp.files == 4
    assert [e.split(":")[0] for e in esp.errors] == ["firmware/hal/rp_only.py"]
    assert [e.split(":")[0] for e in rp.errors] == ["firmware/hal/esp_only.py"]


def test_typecheck_finds_a_machine_api_misuse(stub_root):
    shutil.rmtree(stub_root / "firmware", ignore_errors=True)
    make_tree(
        stub_root,
        {
            "bad.py": "import machine\n\ndef f() -> None:\n    machine.WDT(0, 1000, 5)\n",
            "good.py": "import machine\n\ndef f() -> None:\n    machine.WDT(id=0, timeout=1000).feed()\n",
        },
    )
    for result in fc.typecheck(stub_root):
        assert result.errors, result.target
        assert all(e.startswith("firmware/bad.py:4: error:") for e in result.errors), result.errors
        assert result.summary().startswith(
            f"typecheck {result.target}: {len(result.errors)} error(s)"
        )
