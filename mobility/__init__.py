"""mobility: smart-city mobility experiments on SUMO, JAX and Ray."""

__version__ = "0.1.0"
