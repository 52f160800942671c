"""Recipes: a dataset, a convolutional model and how to train it (no GRU: TF 2.21 crashes on int8 GRU)."""
from .digits import DIGITS

RECIPES = {r.name: r for r in (DIGITS,)}
