"""docs/register-map.md is generated from the one register map; it must not drift."""

from gridpod.modbus import register_docs
from gridpod.modbus.register_map import REGISTERS


def test_doc_file_matches_the_table():
    assert register_docs.DOC_PATH.read_text() == register_docs.render(), (
        "docs/register-map.md is stale: run python -m gridpod.modbus.register_docs"
    )


def test_every_register_has_exactly_one_description():
    assert set(register_docs.DESCRIPTIONS) == set(REGISTERS)
