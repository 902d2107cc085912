"""pytest plugin for bench tests (hil_tests/): options, the `bench` fixture, capability markers,
invariant monitors and traces.

--bench NAME[:ADDRESS] picks the bench (hil/bench.py); `--bench labgrid[:PLACE]`, or no --bench
with labgrid's --lg-env FILE (or LG_ENV), takes the target "main" of that labgrid environment
(gridpod/labgrid/bench.py): a board on a place reserved through labgrid's coordinator.

@pytest.mark.req("REQ-HB-001")          requirement this test verifies (reported in the FAT)
@pytest.mark.needs("plant", "power")    skipped with the reason on a bench that lacks them
                                        (capability names: hil/bench.py CAPABILITIES)
@pytest.mark.trace_period(10.0)         trace sample period in simulated seconds (default 1 s)

On a bench with a plant, every test gets a fresh trace recorder and the invariant monitors of
hil/monitors.py; the first violation during the test fails it (call phase) with the violation
and its simulated time. The trace is written as CSV to --trace-dir/<test>.csv and its path is a
JUnit property ("trace") of the test. Faults injected by a test are cleared after it.
"""

import re
from pathlib import Path

import pytest

from .bench import DEFAULT_BENCH, BenchError, open_bench, usage_text
from .monitors import InvariantViolation
from .traces import Recorder

_STATE = {}


def pytest_addoption(parser):
    group = parser.getgroup("gridpod bench")
    group.addoption(
        "--bench",
        default=None,
        help=f"{usage_text()}; labgrid[:PLACE]: the target of --lg-env (the default with it)",
    )
    group.addoption(
        "--hil-speed", default="1", help="hil bench: simulated time per wall second (1 or max)"
    )
    group.addoption("--bench-heap", default=None, help="virtual bench heap budget, e.g. 64K")
    group.addoption(
        "--bench-firmware-dir", default=None, help="virtual bench: deploy this firmware tree"
    )
    group.addoption(
        "--bench-modbus", default=None, help="serial bench: the module's RS-485 port, if wired"
    )
    group.addoption(
        "--bench-board",
        default="VIRTUAL",
        help="the board file of the unit under test (tests generated per role read it)",
    )
    group.addoption("--trace-dir", default=None, help="write each test's trace CSV here")


def pytest_configure(config):
    config.addinivalue_line("markers", "req(id): requirement id verified by this test")
    config.addinivalue_line("markers", "needs(*capabilities): bench capabilities the test uses")
    config.addinivalue_line("markers", "trace_period(seconds): trace sample period (sim s)")


@pytest.fixture(scope="session")
def bench(request):
    """The bench of --bench. Anything that goes wrong opening it, a mistyped option included, is
    a BenchError: the firmware was never judged."""
    from .. import GridpodError
    from ..units import parse_size

    opt = request.config.getoption
    try:
        heap = opt("--bench-heap")
        spec = opt("--bench") or _default_bench(request.config)
        name, _, address = spec.partition(":")
        if name == "labgrid":
            from ..labgrid.bench import open_labgrid_bench

            b = open_labgrid_bench(request, address or None)
        else:
            b = open_bench(
                spec,
                parse_size(heap) if heap else None,
                opt("--hil-speed"),
                firmware_dir=opt("--bench-firmware-dir"),
                modbus_port=opt("--bench-modbus"),
            )
    except BenchError:
        raise
    except GridpodError as e:
        raise BenchError(f"bench not opened: {e}") from e
    yield b
    b.close()


def _default_bench(config) -> str:
    from ..labgrid.bench import labgrid_env_given

    return "labgrid" if labgrid_env_given(config) else DEFAULT_BENCH


@pytest.fixture(autouse=True)
def _bench_capabilities(request):
    marker = request.node.get_closest_marker("needs")
    if marker is None:
        return
    b = request.getfixturevalue("bench")
    try:
        missing = b.lacks(*marker.args)
    except BenchError as e:
        missing, unknown = [], f"@pytest.mark.needs: {e}"
    else:
        unknown = None
    if unknown:
        pytest.fail(unknown, pytrace=False)
    if missing:
        pytest.skip(f"bench '{b.name}' lacks {', '.join(missing)}")


@pytest.fixture(autouse=True)
def _monitor_and_trace(request):
    """Fresh monitors and a trace for every test that uses a bench with a plant."""
    if "bench" not in request.fixturenames:
        yield None
        return
    b = request.getfixturevalue("bench")
    plant = getattr(b, "plant", None)
    if plant is None or not hasattr(plant, "recorders"):
        yield None
        return
    marker = request.node.get_closest_marker("trace_period")
    period_ms = int((marker.args[0] if marker else 1.0) * 1000)
    recorder = Recorder(period_ms)
    plant.take_violations()  # what happened between tests belongs to no test
    plant.recorders.append(recorder)
    _STATE[request.node.nodeid] = plant
    yield recorder
    plant.recorders.remove(recorder)
    _STATE.pop(request.node.nodeid, None)
    if plant.plant.faults.faults:
        plant.plant.faults.clear_all()
    trace_dir = request.config.getoption("--trace-dir")
    if trace_dir and recorder.trace is not None:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        path = recorder.trace.save_csv(Path(trace_dir) / f"{name}.csv")
        request.node.user_properties.append(("trace", str(path)))


@pytest.fixture
def trace(_monitor_and_trace):
    """The running test's trace recorder (recorder.trace is the Trace so far)."""
    return _monitor_and_trace


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    plant = _STATE.get(item.nodeid)
    if plant is not None and plant.violations:
        violation = plant.violations[0]
        raise InvariantViolation(str(violation))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A BenchError (the bench broke or was set up wrong) marks the report `bench_error`: the
    FAT reports it as a BENCH ERROR, never as a firmware failure."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(BenchError):
        report.bench_error = True
    return report


def pytest_collection_modifyitems(items):
    for item in items:
        for marker in item.iter_markers("req"):
            for req_id in marker.args:
                item.user_properties.append(("requirement", req_id))
