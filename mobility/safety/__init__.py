"""Surrogate safety measures: SUMO's SSM device, collisions and emergency brakings of a run
as one ``conflicts.parquet`` table and its KPIs (see :mod:`mobility.safety.setup`)."""
