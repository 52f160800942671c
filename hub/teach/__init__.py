"""Teach the hub: a class trains a model together from examples (issue 15)."""
