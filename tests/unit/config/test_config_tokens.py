"""The token keys: renewal per account, PIN + TOTP logins, the ``tokens`` section."""

from __future__ import annotations

import textwrap

import pytest

from copytrader.config import ConfigError, TokensConfig, parse_config

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ENV = {"ALICE_PIN": "975310", "ALICE_TOTP": SECRET, "BAD_PIN": "97x310", "SHORT": "JBSWY3DP"}


def config(leader_extra: str = "", alice_extra: str = "", top: str = "") -> str:
    return textwrap.dedent(
        f"""
        broker: {{embedded_sim: false}}
        leader: {{client_id: "1000000001", access_token: leader-secret-token{leader_extra}}}
        followers:
          - name: alice
            client_id: "1000000002"
            access_token: alice-secret-token
            sizing: {{mode: multiplier, multiplier: 2}}
            {alice_extra}
        {top}
        """
    )


def test_defaults_renew_every_account_an_hour_before_and_log_in_nowhere() -> None:
    cfg = parse_config(config(), ENV)
    assert cfg.tokens == TokensConfig(renew_before_s=3600.0, store_path=None, auth_url=None)
    assert cfg.leader.renew and cfg.followers[0].renew
    assert cfg.leader.auth is None and cfg.followers[0].auth is None


def test_renewal_off_pin_and_totp_and_the_tokens_section_are_read() -> None:
    cfg = parse_config(
        config(
            leader_extra=", renew: false",
            alice_extra='auth: {pin: "${ALICE_PIN}", totp_secret: "${ALICE_TOTP}"}',
            top="tokens: {renew_before_s: 900, store_path: /var/lib/ct/t.json, "
            "auth_url: https://auth.example}",
        ),
        ENV,
    )
    assert not cfg.leader.renew
    auth = cfg.followers[0].auth
    assert auth is not None
    assert auth.pin.reveal() == "975310" and auth.totp_secret.reveal() == SECRET
    assert "975310" not in repr(cfg) and SECRET not in repr(cfg)
    assert cfg.tokens == TokensConfig(900.0, "/var/lib/ct/t.json", "https://auth.example")
    assert cfg.followers[0].settings  # the actors' part holds no auth
    assert not hasattr(cfg.followers[0].settings, "auth")


@pytest.mark.parametrize(
    ("alice_extra", "top", "expected"),
    [
        ('auth: {pin: "${ALICE_PIN}"}', "", "followers[0].auth.totp_secret: is required"),
        (
            'auth: {pin: "${BAD_PIN}", totp_secret: "${ALICE_TOTP}"}',
            "",
            "followers[0].auth.pin: must be the account's numeric PIN",
        ),
        (
            'auth: {pin: "${ALICE_PIN}", totp_secret: "${SHORT}"}',
            "",
            "followers[0].auth.totp_secret: must be the base32 TOTP secret",
        ),
        ("renew: sometimes", "", "followers[0].renew: must be"),
        ("", "tokens: {renew_before_s: 0}", "tokens.renew_before_s: must be"),
        ("", "tokens: {auth_url: ftp://x}", "tokens.auth_url: must be"),
        ("", "tokens: {renew_after_s: 5}", "tokens.renew_after_s: unknown key"),
    ],
)
def test_bad_token_keys_are_refused_naming_the_key_never_the_secret(
    alice_extra: str, top: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(alice_extra=alice_extra, top=top), ENV)
    message = str(info.value)
    assert message.startswith(expected), message
    for secret in ("975310", "97x310", SECRET, "JBSWY3DP", "alice-secret-token"):
        assert secret not in message
