"""Errors the quantize CLI reports as a message and a nonzero exit."""
from hub.errors import HubError


class QuantizeError(HubError):
    code = "quantize_error"


class GateRefused(QuantizeError):
    """The int8 model lost too much accuracy against float: nothing is written."""

    code = "accuracy_gate"
