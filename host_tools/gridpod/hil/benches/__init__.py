"""Bench kinds, one file each, found by name (`--bench NAME[:ADDRESS]`, see hil/bench.py).

A bench file has a docstring, USAGE ("NAME", or "NAME:ADDRESS" when it needs one) and
open_bench(address, options) -> Bench, which sets the capability objects the bench has."""
