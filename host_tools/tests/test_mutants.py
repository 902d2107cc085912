"""The mutation catalogue of `make mutate` stays applicable: every mutant's original text is in
its firmware file exactly once, at least 25 mutants, one or more per safety function. (Running
the mutants is `make mutate`'s job, not make test's: it takes minutes.)"""

from gridpod.hil.mutants import MUTANTS
from gridpod.hil.mutate import check_catalogue


def test_every_mutant_still_applies():
    assert check_catalogue() == []


def test_at_least_25_mutants_with_distinct_ids_and_tests():
    ids = [m[0] for m in MUTANTS]
    assert len(ids) >= 25 and len(set(ids)) == len(ids)
    assert all(m[5] for m in MUTANTS)  # each names the tests that must kill it
