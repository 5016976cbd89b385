"""Helpers for tests and benches, kept out of the installed package: a fault-injecting
OpenAI-compatible server and small stand-in corpora for model and RL tests."""
