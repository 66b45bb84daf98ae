"""Benchmarks: load drivers run by hand against an already started local server."""
