"""The pure JAX core: the signal model and its plan search, user-equilibrium routing, and
the shuttle dispatcher's matching.

Every module here imports only jax, numpy and optax (and :mod:`mobility.errors` for the
errors a user can cause), does no file I/O and never reaches SUMO or Ray, so the core runs
alone on a GPU machine that has only JAX. Builders that read nets and route files, and
everything that talks to SUMO, live outside it (``network/``, ``signals/``, ``shuttles/``).

Pytree convention: a frozen dataclass registered with ``jax.tree_util.register_dataclass``,
whose fields are arrays (``jax.Array``), each with a ``# [E]``-style shape comment; change one
with ``dataclasses.replace``.
"""
