"""Recipes: a dataset, a convolutional model and how to train it (no GRU: TF 2.21 crashes on int8 GRU)."""
from .base import Dataset, HeldOut, Recipe
from .digits import DIGITS
from .spoken_digits import SPOKEN_DIGITS

RECIPES = {r.name: r for r in (DIGITS, SPOKEN_DIGITS)}

__all__ = ["RECIPES", "Dataset", "HeldOut", "Recipe"]
