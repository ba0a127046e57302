"""Settings the API refuses: wildcard CORS with credentials, a weak first-admin password."""

import secrets

import pytest

from aiops_api.settings import ApiSettings


def test_cors_wildcard_is_refused() -> None:
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        ApiSettings(cors_origins=["*"])


@pytest.mark.parametrize("password", ["short", "change-me-please-now", "aaaaaaaaaaaaaaaa", "Password1234567",
                                      "root-admin-2024!"])
def test_weak_or_placeholder_first_admin_password_is_refused(password) -> None:
    with pytest.raises(ValueError, match="FIRST_ADMIN_PASSWORD"):
        ApiSettings(first_admin_username="root", first_admin_password=password)


def test_first_admin_needs_username_and_password_together() -> None:
    with pytest.raises(ValueError, match="together"):
        ApiSettings(first_admin_username="root")


async def test_cors_allows_only_the_configured_origins(client) -> None:
    allowed = await client.options("/api/v1/alerts", headers={"Origin": "http://localhost:3000",
                                                               "Access-Control-Request-Method": "GET"})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = await client.options("/api/v1/alerts", headers={"Origin": "https://evil.example",
                                                              "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in refused.headers


def test_cors_origins_derive_from_the_frontend_url() -> None:
    settings = ApiSettings(frontend_url="https://dash.example.com:8443/app/", cors_origins=["https://sdk.example.com"],
                           jwt_secret=secrets.token_urlsafe(48))
    assert settings.allowed_origins == ["https://dash.example.com:8443", "https://sdk.example.com"]
    with pytest.raises(ValueError, match="FRONTEND_URL must be an http"):
        ApiSettings(frontend_url="dash.example.com")
    with pytest.raises(ValueError, match="PUBLIC_URL must be an http"):
        ApiSettings(public_url="ftp://aiops")


async def test_cors_allows_the_frontend_origin(client, api_settings) -> None:
    origin = api_settings.allowed_origins[0]
    assert origin == "http://127.0.0.1:3000"  # FRONTEND_URL's default
    allowed = await client.options("/api/v1/overview", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert allowed.headers["access-control-allow-origin"] == origin


def test_sentry_hook_signatures_are_remembered_at_least_the_timestamps_window() -> None:
    """A delivery's timestamp is taken up to SENTRY_HOOK_MAX_AGE_S either side of now: a signature forgotten
    sooner could be replayed as captured, its own timestamp still taken. (Once forgotten, a fresh timestamp
    replays it at any time: the timestamp is not signed, which is why SENTRY_HOOK_SEEN_S is days.)"""
    with pytest.raises(ValueError, match="SENTRY_HOOK_SEEN_S .* replayed as captured"):
        ApiSettings(sentry_hook_max_age_s=300, sentry_hook_seen_s=599)
    assert ApiSettings(sentry_hook_max_age_s=300, sentry_hook_seen_s=600).sentry_hook_seen_s == 600
