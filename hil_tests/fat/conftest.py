"""The module FAT's fixtures. The session starts as a FAT engineer's does: the unit's production
config is pushed with the product's tool (`gridpod config push`), then the unit's identity is read
from the unit (gridpod.fat.identity). Each test file is one section of the certificate (SECTION).

  unit      gridpod.fat.unit.Unit: the module under test (Modbus with the operator PIN, the
            bench's power and plant)
  ready     the unit healthy, nothing latched, coolant flow proven, battery open (power-cycled
            first when a trip of an earlier step is latched)
  measure   gridpod.fat.measure.Measurements: a value against its band, and figures
  guide     gridpod.fat.guided.Guide: steps a person does on a physical module; the plant model
            does them on the virtual one; skipped (INCOMPLETE) when nobody can
"""

import pytest
from gridpod import GridpodError
from gridpod.fat.guided import Guide, PlantOperator
from gridpod.fat.identity import read_unit_identity
from gridpod.fat.measure import Measurements
from gridpod.fat.production import DEFAULT_PIN, full_module_values, write_values
from gridpod.fat.run import FatSession
from gridpod.fat.unit import Unit, UnitError
from gridpod.hil.bench import BenchError


def pytest_collection_modifyitems(items):
    for item in items:
        section = getattr(item.module, "SECTION", None) or item.module.__name__.split(".")[-1]
        item.user_properties.append(("section", section))


@pytest.fixture(scope="session")
def fat(request) -> FatSession:
    """The run's FatSession (gridpod fat registers one); a plain pytest run gets a default."""
    for plugin in request.config.pluginmanager.get_plugins():
        if isinstance(plugin, FatSession):
            return plugin
    return FatSession()


def _push_production(unit: Unit, fat: FatSession, folder) -> None:
    from gridpod.device.config import push

    path = write_values(unit.values, folder / "production-config.json")
    try:
        result = push(unit.bench.console.port, path, yes=True, log=lambda _line: None)
    except GridpodError as e:
        if "cannot open" in str(e):
            raise BenchError(f"production config push: {e}") from e
        raise UnitError(f"the production config could not be pushed: {e}") from e
    unit.push_result = result
    fat.push = {"file": str(path), "crc": result["crc"], "changes": len(result.get("changes", []))}


@pytest.fixture(scope="session")
def unit(bench, fat, tmp_path_factory):
    values = fat.production or full_module_values()
    u = Unit(bench, values, fat.pin or DEFAULT_PIN, log=lambda _line: None)
    if bench.plant is not None:  # the grid_limit monitor judges the unit's own limit
        bench.plant.plant.grid_limit_kw = values["grid_import_limit_kw"]
    if bench.console is not None:
        _push_production(u, fat, fat.report_dir or tmp_path_factory.mktemp("production"))
    if bench.console is not None or bench.modbus is not None:
        console = bench.console.port if bench.console is not None else None
        u.identity = read_unit_identity(console, u.modbus)
        fat.identity = u.identity
    yield u
    u.close()


@pytest.fixture
def ready(unit):
    if unit.bench.modbus is None:
        pytest.skip(f"bench '{unit.bench.name}' lacks modbus")
    unit.fresh()
    return unit


@pytest.fixture
def measure(request):
    section = getattr(request.module, "SECTION", request.module.__name__)
    return Measurements(request.node, section)


@pytest.fixture
def guide(request, unit, fat):
    operator = fat.operator
    if operator is None and unit.plant is not None:
        operator = PlantOperator(unit)
    if operator is None:
        pytest.skip(
            "a person must do this step on the module: run gridpod fat with --guided "
            "(or --answers FILE)"
        )
    import json

    return Guide(operator, lambda a: request.node.user_properties.append(("guided", json.dumps(a))))
