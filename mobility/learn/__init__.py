"""Reinforcement learning of signal controllers: train a policy in the JAX twin
(:mod:`mobility.core.learning_env`) with PPO, save it, and deploy it in SUMO as the
``policy`` phase controller."""
