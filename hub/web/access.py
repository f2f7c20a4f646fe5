"""Who may use the pages: PINs, lockout, sessions and CSRF tokens (pure: `now` passed in).

- The installer PIN (6 digits) is one-time: it is consumed by the unlock it allows, and it
  expires unused after `installer_pin_s`. A new one is made when asked for (`pingan-hub
  pin`, or both buttons held). A lockout also burns it, so a guesser never gets more than
  `max_attempts` tries at one installer PIN.
- The family PIN (8 digits) is long-lived (the family keeps it) and read-only; it is made
  on first use, kept in the data directory (mode 0600) and changed with `pin --family --new`,
  which also ends every family session.
- Wrong PINs count across both: `max_attempts` in a row lock every PIN out for
  `lockout_s` (the LAN is shared with visitors' phones; per-address limits are evaded by
  changing address).
- Sessions live in memory (a restart logs everyone out, which is the safe side); each has
  its own CSRF token, compared in constant time.

`now` is monotonic seconds.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from enum import Enum

INSTALLER_DIGITS = 6
FAMILY_DIGITS = 8
# Sessions kept at most (a phone per family member and an installer or two); the oldest
# goes first, so a flood of logins cannot grow memory.
MAX_SESSIONS = 32


class Role(Enum):
    """What a session may do."""

    INSTALLER = "installer"  # pair, test, survey; sees the family page too
    FAMILY = "family"  # read-only family page


@dataclass
class Session:
    """A logged-in phone."""

    token: str
    role: Role
    csrf: str
    expires: float
    lifetime: float
    flash: str = ""  # a message shown once on the next page (after a redirect)


@dataclass(frozen=True)
class LoginResult:
    """What a PIN attempt gave: a session, or why not (`reason`: wrong, locked, empty)."""

    session: Session | None
    reason: str = ""
    retry_after_s: int = 0
    attempts_left: int = 0


def new_pin(digits: int) -> str:
    """A random PIN (secrets, not random)."""
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Access:
    """PINs, the lockout and the sessions."""

    installer_pin_s: float
    installer_session_s: float
    family_session_s: float
    max_attempts: int
    lockout_s: float
    family_pin: str = ""
    _installer_pin: str = ""
    _installer_expires: float = 0.0
    _installer_tries: int = 0  # wrong PINs since this installer PIN was made
    _failures: int = 0
    _locked_until: float = 0.0
    sessions: dict[str, Session] = field(default_factory=dict)

    def installer_pin(self, now: float) -> tuple[str, float]:
        """The current installer PIN (a new one when none is valid) and seconds it has left."""
        if not self._installer_pin or now >= self._installer_expires:
            self._installer_pin = new_pin(INSTALLER_DIGITS)
            self._installer_expires = now + self.installer_pin_s
            self._installer_tries = 0
        return self._installer_pin, self._installer_expires - now

    def new_family_pin(self) -> str:
        """Change the family PIN; every family session ends."""
        self.family_pin = new_pin(FAMILY_DIGITS)
        for token in [t for t, s in self.sessions.items() if s.role is Role.FAMILY]:
            del self.sessions[token]
        return self.family_pin

    def locked_for(self, now: float) -> float:
        """Seconds the lockout still has to run (0: not locked)."""
        return max(0.0, self._locked_until - now)

    def login(self, pin: str, now: float) -> LoginResult:
        """Try a PIN. The installer PIN is used up by a successful unlock."""
        locked = self.locked_for(now)
        if locked > 0:
            return LoginResult(None, "locked", retry_after_s=int(locked) + 1)
        role: Role | None = None
        if self._installer_pin and now < self._installer_expires and same(pin, self._installer_pin):
            role = Role.INSTALLER
            self._installer_pin = ""  # one-time
        elif self.family_pin and same(pin, self.family_pin):
            role = Role.FAMILY
        if role is None:
            self._failures += 1
            # Not reset by a family login in between: the family PIN must not buy more
            # guesses at the installer PIN (read-only becoming installer).
            self._installer_tries += 1
            if self._installer_tries >= self.max_attempts:
                self._installer_pin = ""
            if self._failures >= self.max_attempts:
                self._failures = 0
                self._locked_until = now + self.lockout_s
                self._installer_pin = ""  # never more than max_attempts tries at one PIN
                return LoginResult(None, "locked", retry_after_s=int(self.lockout_s))
            return LoginResult(None, "wrong", attempts_left=self.max_attempts - self._failures)
        self._failures = 0
        return LoginResult(self._open(role, now))

    def _open(self, role: Role, now: float) -> Session:
        lifetime = self.installer_session_s if role is Role.INSTALLER else self.family_session_s
        session = Session(
            secrets.token_urlsafe(32), role, secrets.token_urlsafe(32), now + lifetime, lifetime
        )
        while len(self.sessions) >= MAX_SESSIONS:
            oldest = min(self.sessions.values(), key=lambda s: s.expires)
            del self.sessions[oldest.token]
        self.sessions[session.token] = session
        return session

    def session(self, token: str | None, now: float, *, touch: bool = True) -> Session | None:
        """The live session for a cookie value, or None. A request restarts its idle timer
        (`touch`); a live page's updates do not, so an abandoned open page still times out."""
        if not token:
            return None
        found = self.sessions.get(token)
        if found is None:
            return None
        if now >= found.expires:
            del self.sessions[token]
            return None
        if touch:
            found.expires = now + found.lifetime
        return found

    def logout(self, token: str | None) -> None:
        """End a session."""
        if token:
            self.sessions.pop(token, None)


class BothHeld:
    """Both buttons held for `hold_s` fires once, until both are let go (pure)."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._since: float | None = None
        self._fired = False

    def update(self, both_pressed: bool, now: float) -> bool:
        """Feed the buttons' state; True exactly once per long hold of both."""
        if not both_pressed:
            self._since, self._fired = None, False
            return False
        if self._since is None:
            self._since = now
        if not self._fired and now - self._since >= self.hold_s:
            self._fired = True
            return True
        return False


def split_host(host: str) -> tuple[str, int | None] | None:
    """A Host header as (name, port or None), the name lower-case without a trailing dot
    or IPv6 brackets; None when it is not a host at all."""
    host = host.strip().lower()
    port: str | None = None
    if host.startswith("["):  # [::1]:8080
        name, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif host.count(":") == 1:
        name, port = host.split(":")
    elif ":" in host:
        return None  # a bare IPv6 address must be in brackets
    else:
        name = host
    name = name.rstrip(".")
    if not name or any(c.isspace() or c in "/@?#\\" for c in name):
        return None
    if port is None:
        return name, None
    if not port.isascii() or not port.isdigit() or len(port) > 5:
        return None
    return name, int(port)


def allowed_host(host: str | None, *, own: set[str], port: int, names: set[str]) -> bool:
    """Whether a request's Host header names this hub: one of its own addresses (the one
    the request arrived on), `localhost`, or a configured name, on its port (or none).

    Anything else is DNS rebinding (a web page whose name now resolves to the hub) or a
    misrouted request, and is refused.
    """
    if host is None:
        return False
    parsed = split_host(host)
    if parsed is None:
        return False
    name, asked_port = parsed
    if asked_port is not None and asked_port != port:
        return False
    return name in own or name == "localhost" or name in names


__all__ = [
    "Access",
    "BothHeld",
    "LoginResult",
    "Role",
    "Session",
    "allowed_host",
    "new_pin",
    "same",
    "split_host",
]
