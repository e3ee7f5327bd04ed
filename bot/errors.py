"""One error tree for the core; each error carries a message key of the catalogue.

    LeerlusError                 anything the core raises on purpose
    ├── UserError                the user can fix it; shown as a friendly text
    │   ├── NotFound             an unknown person, incident, lesson, invite, organisation
    │   ├── NotAllowed           a coordinator-only action, or a lesson not yours
    │   ├── LimitReached         11th kudos of the day, text too long
    │   └── InvalidInput         a missing argument, a value that is not one of the options
    └── ServiceUnavailable       a dependency (database, index) failed; "try again shortly"

Adapters catch `LeerlusError` in one place and render `key` with `params` in the member's
language; anything else is logged and answered with the generic `error.internal` text.
"""

from __future__ import annotations

from typing import Any


class LeerlusError(Exception):
    """Base of every deliberate error of the core."""

    key = "error.internal"

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or self.key
        self.params = params
        super().__init__(self.key)


class UserError(LeerlusError):
    key = "error.invalid"


class NotFound(UserError):
    key = "error.not_found"


class NotAllowed(UserError):
    key = "error.not_allowed"


class LimitReached(UserError):
    key = "error.limit"


class InvalidInput(UserError):
    key = "error.invalid"


class ServiceUnavailable(LeerlusError):
    key = "error.unavailable"
