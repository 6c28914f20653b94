"""Autonomous shuttle fleets: fixed lines and on-demand dispatch (JAX matching)."""
