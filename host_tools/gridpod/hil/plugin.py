"""pytest plugin for bench tests (hil_tests/): options, the `bench` fixture, capability markers.

@pytest.mark.req("REQ-HB-001")          requirement this test verifies (reported in the FAT)
@pytest.mark.needs("plant", "power")    skipped with the reason on a bench that lacks them
"""

import pytest

from .bench import open_bench


def pytest_addoption(parser):
    group = parser.getgroup("gridpod bench")
    group.addoption("--bench", default="virtual", help="virtual (default) or serial:PORT")
    group.addoption("--bench-heap", default=None, help="virtual bench heap budget, e.g. 64K")


def pytest_configure(config):
    config.addinivalue_line("markers", "req(id): requirement id verified by this test")
    config.addinivalue_line("markers", "needs(*capabilities): bench capabilities the test uses")


@pytest.fixture(scope="session")
def bench(request):
    from ..units import parse_size

    heap = request.config.getoption("--bench-heap")
    b = open_bench(request.config.getoption("--bench"), parse_size(heap) if heap else None)
    yield b
    b.close()


@pytest.fixture(autouse=True)
def _bench_capabilities(request):
    marker = request.node.get_closest_marker("needs")
    if marker is None:
        return
    b = request.getfixturevalue("bench")
    missing = [cap for cap in marker.args if cap not in b.capabilities]
    if missing:
        pytest.skip(f"bench '{b.name}' lacks {', '.join(missing)}")


def pytest_collection_modifyitems(items):
    for item in items:
        for marker in item.iter_markers("req"):
            for req_id in marker.args:
                item.user_properties.append(("requirement", req_id))
