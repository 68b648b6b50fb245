"""Voice ID errors as the sandbox raises them, and their wire form.

``VoiceIdError`` carries an error code from the model (``ValidationException``,
``ConflictException`` ...), a message and the modelled extra members (``ConflictType``,
``ResourceType``). ``to_wire`` renders it as awsJson1_0 does: the HTTP status from
``model.error_status`` and the body ``{"__type": code, "message": ..., <extra members>}``.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.model import error_members, error_status


class VoiceIdError(Exception):
    """A Voice ID error response."""

    def __init__(self, code: str, message: str, **members: str) -> None:
        super().__init__(f"{code}: {message}")
        allowed = error_members(code)
        unknown = set(members) - set(allowed)
        if unknown:
            raise ValueError(f"{code} has no members {sorted(unknown)}")
        self.code = code
        self.message = message
        self.members = members

    @property
    def status(self) -> int:
        """The HTTP status of this error."""
        return error_status(self.code)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"__type": self.code, "message": self.message, **self.members}


def validation(message: str) -> VoiceIdError:
    """A ValidationException."""
    return VoiceIdError("ValidationException", message)


def not_found(resource_type: str, message: str) -> VoiceIdError:
    """A ResourceNotFoundException naming the missing resource type."""
    return VoiceIdError("ResourceNotFoundException", message, ResourceType=resource_type)


def conflict(conflict_type: str, message: str) -> VoiceIdError:
    """A ConflictException with its ConflictType."""
    return VoiceIdError("ConflictException", message, ConflictType=conflict_type)


def quota(message: str) -> VoiceIdError:
    """A ServiceQuotaExceededException."""
    return VoiceIdError("ServiceQuotaExceededException", message)


def access_denied(message: str) -> VoiceIdError:
    """An AccessDeniedException."""
    return VoiceIdError("AccessDeniedException", message)


def throttled(message: str = "Rate exceeded") -> VoiceIdError:
    """A ThrottlingException."""
    return VoiceIdError("ThrottlingException", message)


def internal(message: str = "An internal error occurred. Try again.") -> VoiceIdError:
    """An InternalServerException."""
    return VoiceIdError("InternalServerException", message)
