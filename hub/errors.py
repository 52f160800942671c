"""One small exception hierarchy; only the CLI and the HTTP layer turn these into exits or JSON."""
from __future__ import annotations

MESSAGE_MAX = 1000  # characters: the hub's own messages are under 400


class HubError(Exception):
    """Base of every error the hub raises on purpose. `status` is the HTTP status it maps to."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, **details: object) -> None:
        if len(message) > MESSAGE_MAX:  # one that repeats what a client sent: its size must not be the client's
            message = message[:MESSAGE_MAX - 1] + "…"
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict:
        body = {"error": self.message, "code": self.code}
        body.update({k: v for k, v in self.details.items() if v is not None})
        return body


class ConfigError(HubError):
    """The configuration is invalid; the message names the key and the fix."""

    code = "config_error"


class ModelError(HubError):
    """A model file or manifest cannot be used (bad hash, bad flatbuffer, allocation failed)."""

    code = "model_error"


class ModelNotFound(HubError):
    status = 404
    code = "model_not_found"


class NotFound(HubError):
    """Something named in the address is not on the hub (a teaching project, ...)."""

    status = 404
    code = "not_found"


class BadInput(HubError):
    """The caller sent something we cannot use (shape, dtype, image bytes)."""

    status = 400
    code = "bad_input"


class NotSeen(BadInput):
    """The picture does not show what the model needs (a whole person for a pose)."""

    code = "not_seen"


class UnsupportedMediaType(BadInput):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(BadInput):
    status = 413
    code = "payload_too_large"


class Unauthorized(HubError):
    """No teacher login, or a wrong PIN."""

    status = 401
    code = "unauthorized"


class CrossOrigin(HubError):
    """A teacher control sent by a page of another site, or a browser form with no Origin: refused."""

    status = 403
    code = "cross_origin"


class RetryLater(HubError):
    """Refused for now: `retry_after_s` (and the Retry-After header) says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class TooManyAttempts(RetryLater):
    """Too many wrong PINs from one address, or from new devices hub-wide: wait, then try again."""

    status = 429
    code = "too_many_attempts"


class TooManyConnections(HubError):
    """One device holds as many live connections as it may ([server] websockets_per_address)."""

    status = 429
    code = "too_many_connections"


class RateLimited(RetryLater):
    """Answers or joins faster than any person sends them: wait, then go on."""

    status = 429
    code = "too_fast"


class ClassStateError(HubError):
    """The request does not fit the class as it is (no class running, already running, paused)."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class LimitReached(ClassStateError):
    """A limit on what one class or pupil may give was reached; `limit` says which."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message, "limit_reached")
        self.details["limit"] = limit


class BackendUnavailable(HubError):
    """The model exists but cannot run here now (failed, loading, or needs a missing TPU)."""

    status = 503
    code = "model_unavailable"


class Overloaded(RetryLater):
    """The model's queue is full: answer 503 with Retry-After instead of growing."""

    status = 503
    code = "overloaded"


class InferenceTimeout(HubError):
    status = 504
    code = "timeout"


class InferenceFailed(HubError):
    """Every backend the model has failed on this request."""

    code = "inference_failed"
