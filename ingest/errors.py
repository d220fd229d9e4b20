"""One exception root, split by what the caller should do about it.

The worker loop applies a policy per class rather than per library error: library errors are
wrapped at the boundary with ``raise ... from err`` so the cause stays in the traceback.
"""


class IntakeError(Exception):
    """Root of every error this service raises on purpose."""


class ConfigError(IntakeError):
    """The configuration is wrong: report the key and exit with status 2 at start."""


class TransientError(IntakeError):
    """Server down, timeout, temporary refusal: retry on the next cycle."""


class CredentialError(IntakeError):
    """Login refused: back off and alert a person, retrying will not help soon."""


class MessageError(IntakeError):
    """One message cannot be handled: record it on that message and go on with the rest."""


class PermanentDeliveryError(IntakeError):
    """The receiving server refused for good (e.g. SMTP 5xx); the message carries its words."""


class ShutdownRequested(BaseException):
    """Stop after the message in hand; a BaseException so `except Exception` cannot swallow it."""
