"""Scripted trading scenarios run against the engine in virtual time."""
