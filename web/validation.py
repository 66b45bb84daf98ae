"""Field rules of the registration and profile contract, collected into 422 field errors."""

from __future__ import annotations

import re
from datetime import date

from web.errors import FieldError, field_error

USERNAME = re.compile(r"[A-Za-z0-9_]{6,30}")
PASSWORD_SPECIALS = "!@#$%^&*()-_=+"  # noqa: S105 - a rule, not a secret
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}"
)
PHONE_SEPARATORS = re.compile(r"[\s().+-]")
MARKUP = re.compile(r"[<>]")
MAX_DESCRIPTION = 255


class Rules:
    """Collects field errors for one request body."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str, kind: str = "value_error") -> None:
        """Record a failure of one field."""
        self.errors.append(field_error(["body", name], message, kind))

    def no_markup(self, name: str, value: str | None) -> bool:
        """Reject anything that looks like markup or script."""
        if value is not None and MARKUP.search(value):
            self.fail(name, "Must not contain markup characters '<' or '>'", "markup")
            return False
        return True

    def description(self, value: str | None, name: str = "description") -> str | None:
        """Free text of at most 255 characters, trimmed, without markup; blank is none."""
        if value is None or not self.no_markup(name, value):
            return None
        text = value.strip()
        if len(text) > MAX_DESCRIPTION:
            self.fail(name, f"Must be at most {MAX_DESCRIPTION} characters", "string_too_long")
        return text or None

    def identity(
        self, username: str, email: str, password: str, first_name: str, last_name: str
    ) -> tuple[str, str, str, str, str]:
        """The fields every new account has, checked: registration and teacher accounts."""
        return (
            self.username(username),
            self.email(email),
            self.password(password),
            self.person_name("first_name", first_name),
            self.person_name("last_name", last_name),
        )

    def username(self, value: str, name: str = "username") -> str:
        """6-30 of letters, digits and underscore; lower-cased."""
        if self.no_markup(name, value) and not USERNAME.fullmatch(value):
            self.fail(name, "Username must be 6-30 characters of letters, digits and underscore")
        return value.lower()

    def password(self, value: str, name: str = "password") -> str:
        """12-20 characters with upper, lower, digit and a special character."""
        if not self.no_markup(name, value):
            return value
        problems = []
        if not 12 <= len(value) <= 20:
            problems.append("be 12-20 characters long")
        if not any(c.isupper() for c in value):
            problems.append("contain an uppercase letter")
        if not any(c.islower() for c in value):
            problems.append("contain a lowercase letter")
        if not any(c.isdigit() for c in value):
            problems.append("contain a digit")
        if not any(c in PASSWORD_SPECIALS for c in value):
            problems.append(f"contain one of {PASSWORD_SPECIALS}")
        if problems:
            self.fail(name, "Password must " + ", ".join(problems))
        return value

    def email(self, value: str, name: str = "email") -> str:
        """A plausible address of at most 254 characters; lower-cased."""
        value = value.strip()
        if self.no_markup(name, value) and (len(value) > 254 or not EMAIL.fullmatch(value)):
            self.fail(name, "Invalid email address")
        return value.lower()

    def person_name(self, name: str, value: str) -> str:
        """1-50 characters of letters, spaces, apostrophes and hyphens; not blank."""
        text = value.strip()
        if not self.no_markup(name, value):
            return text
        if not text:
            self.fail(name, "Must not be empty or blank")
        elif len(text) > 50:
            self.fail(name, "Must be at most 50 characters")
        elif not all(c.isalpha() or c in " '-" for c in text):
            self.fail(name, "May contain only letters, spaces, apostrophes and hyphens")
        return text

    def phone(self, value: str | None, name: str = "phone") -> str | None:
        """10-15 digits once separators are removed; stored as digits."""
        if value is None or not self.no_markup(name, value):
            return value
        digits = PHONE_SEPARATORS.sub("", value)
        if not digits.isascii() or not digits.isdigit() or not 10 <= len(digits) <= 15:
            self.fail(name, "Phone must have 10-15 digits")
        return digits

    def date_of_birth(
        self, value: str | None, today: date, name: str = "date_of_birth"
    ) -> str | None:
        """YYYY-MM-DD, not in the future, age 13 to 120."""
        if value is None or not self.no_markup(name, value):
            return value
        try:
            born = date.fromisoformat(value)
        except ValueError:
            self.fail(name, "Date of birth must be a date in YYYY-MM-DD format")
            return value
        if len(value) != 10:
            self.fail(name, "Date of birth must be a date in YYYY-MM-DD format")
        elif born > today:
            self.fail(name, "Date of birth must not be in the future")
        else:
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            if not 13 <= age <= 120:
                self.fail(name, "Age must be between 13 and 120")
        return value
