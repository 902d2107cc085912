"""The firmware's shape: no import cycle, small modules, layers pointing one way, no test double
in the deployed image.

Imports are read from the sources (module level and inside functions; `if TYPE_CHECKING:` blocks
excluded, MicroPython never runs them): a cycle through a function-level import is still a
cycle for a reader and for the boot order.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
MAX_LINES = 400
# Modules allowed above MAX_LINES, each with its reason.
LONG_MODULES = {
    "control/contactors.py": "one state machine (close sequence, opening order, weld and aux "
    "checks) whose phases share their timers; split, each part would reach into the others",
    "hal/mcu.py": "the one HAL of the real chips (GPIO, ADC, PWM, counters, UART, I2C expanders)",
    "hal/harness.py": "the one HAL of the virtual board and HIL mode over one protocol (channels, "
    "the RS-485 line at its baud with DE, watchdog, clock); split, each module costs the board's "
    "heap a module object and the channel classes share the protocol's constants",
}
PACKAGES = ("app", "comms", "control", "drivers", "hal")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(FIRMWARE.rglob("*.py")):
        rel = p.relative_to(FIRMWARE)
        if rel.parts[0] not in PACKAGES:
            continue
        name = ".".join(rel.with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in MODULES}


def _graph() -> dict[str, set[str]]:
    return {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)
    return cycles


def test_no_import_cycle_in_firmware():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_firmware_module_over_400_lines():
    long = {
        p.relative_to(FIRMWARE).as_posix(): len(p.read_text().splitlines())
        for p in MODULES.values()
        if len(p.read_text().splitlines()) > MAX_LINES
    }
    unexplained = {f: n for f, n in long.items() if f not in LONG_MODULES}
    assert not unexplained, f"modules over {MAX_LINES} lines: {unexplained} (split them)"
    stale = set(LONG_MODULES) - set(long)
    assert not stale, f"no longer long, drop the exception: {stale}"


def test_layers_point_down():
    """control/ is pure (imports only control/); drivers/ import no app/ or hal/; nothing but
    app/ imports app/."""
    graph = _graph()
    for name, deps in graph.items():
        top = name.split(".")[0]
        tops = {d.split(".")[0] for d in deps}
        if top == "control":
            assert tops <= {"control"}, f"{name} imports {deps}"
        if top == "drivers":
            assert tops <= {"drivers", "control"}, f"{name} imports {deps}"
            assert all(d.startswith(("drivers.", "control.ticks")) for d in deps), name
        if top != "app":
            assert "app" not in tops, f"{name} imports app/: {deps}"


def test_no_test_double_in_the_deployed_image():
    from gridpod.build.tree import firmware_files

    files = firmware_files("VIRTUAL", compiled=False)
    assert "/hal/virtual.py" in files and "/app/subsystems/cooling.py" in files
    assert not [f for f in files if f.startswith("/hal/fake") or "/tests/" in f], sorted(files)
