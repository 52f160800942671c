"""The HTTP face of the hub: /api (classroom REST), /v2 (Open Inference Protocol), /metrics."""
