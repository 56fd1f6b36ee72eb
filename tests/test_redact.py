"""Secrets from the environment never show, not even as a URL with its password masked."""

from __future__ import annotations

from monitor.core.redact import Redactor, mask_url

URL = "postgresql+psycopg://secretuser:pw-123@db.internal:5432/prod"


def test_a_secret_url_is_hidden_whole_also_when_shown_masked() -> None:
    redact = Redactor([URL])
    assert redact(f"cannot connect ({URL})") == "cannot connect (***)"
    assert redact(f"state store {mask_url(URL)}: could not open it") == "state store ***: could not open it"


def test_passwords_of_other_urls_are_masked_and_short_values_ignored() -> None:
    redact = Redactor(["abc", "s3cr3t-token"])
    text = redact("postgresql://u:hunter2@h/d abc s3cr3t-token")
    assert text == "postgresql://u:***@h/d abc ***"
