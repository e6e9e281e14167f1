"""Settings: environment with the RAPPORT_ prefix, .env file, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rapport.crm.errors import ConfigurationError
from rapport.crm.settings import SmtpSecurity, load_settings


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("RAPPORT_DATABASE_URL", "RAPPORT_TELEGRAM_TOKEN", "RAPPORT_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///rapport.db"
    assert settings.telegram_token is None
    assert settings.inbound_smtp_port == 2525


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RAPPORT_SMTP_HOST=mail.example.com\nRAPPORT_SMTP_TLS=tls\n")
    monkeypatch.setenv("RAPPORT_SMTP_HOST", "env-wins.example.com")
    monkeypatch.setenv("RAPPORT_TELEGRAM_TOKEN", "123:abc")
    settings = load_settings()
    assert settings.smtp_host == "env-wins.example.com"
    assert settings.smtp_tls is SmtpSecurity.TLS
    assert settings.telegram_token is not None
    assert "123:abc" not in repr(settings)  # secrets never print


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("RAPPORT_SMTP_PORT", "smtp", "RAPPORT_SMTP_PORT"),
        ("RAPPORT_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("RAPPORT_SMTP_TLS", "maybe", "RAPPORT_SMTP_TLS"),
        ("RAPPORT_DATABASE_URL", "mysql://x", "only sqlite"),
        ("RAPPORT_INBOUND_SMTP_PORT", "70000", "RAPPORT_INBOUND_SMTP_PORT"),
    ],
)
def test_bad_values_are_named_in_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings()
