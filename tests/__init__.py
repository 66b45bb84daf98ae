"""Tests of the exchange, mirroring the modules they test."""
