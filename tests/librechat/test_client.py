"""The LibreChat client against the contract simulator over a real socket."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.http import VendorHTTPError, VendorTimeout, VendorUnreachable
from integrations.librechat.client import (
    LibreChatClient,
    LibreChatTwoFactorPending,
    RefreshRejected,
    client_for,
)
from tests.simulators.librechat import LibreChatSimulator

PASSWORD = "a-generated-password-0123456789"


def client(sim: LibreChatSimulator) -> LibreChatClient:
    return LibreChatClient(base_url=sim.base_url)


def test_it_reads_health_as_text_ok(sim: LibreChatSimulator) -> None:
    assert client(sim).health() is True


def test_it_reads_the_public_config(sim: LibreChatSimulator) -> None:
    sim.configure(allow_registration=False, email_service=True)
    config = client(sim).config()
    assert config.registration_enabled is False
    assert config.email_enabled is True
    assert config.password_reset_enabled is True


def test_it_registers_then_logs_in_with_tokens_and_the_refresh_cookie(sim: LibreChatSimulator) -> None:
    c = client(sim)
    c.register(name="Ann Example", email="Ann@Example.com", password=PASSWORD)
    tokens = c.login(email="ann@example.com", password=PASSWORD)
    assert tokens.user.email == "ann@example.com"
    assert tokens.user.id == sim.users["ann@example.com"].id
    assert tokens.user.role == "ADMIN"  # the first account ever (contract "Login")
    now = dt.datetime.now(tz=dt.UTC)
    assert now + dt.timedelta(minutes=14) < tokens.access_expires_at <= now + dt.timedelta(minutes=16)
    assert tokens.refresh_expires_at > now + dt.timedelta(days=6)
    assert PASSWORD not in repr(tokens) and tokens.access_token not in repr(tokens)


def test_it_answers_register_with_the_same_success_for_an_existing_email(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", "someone-elses-password")
    client(sim).register(name="Ann Example", email="ann@example.com", password=PASSWORD)
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).login(email="ann@example.com", password=PASSWORD)
    assert caught.value.status == 404 and caught.value.vendor_message == "Incorrect password."
    assert caught.value.retryable is False


def test_it_reports_validation_failures_as_permanent_404s(sim: LibreChatSimulator) -> None:
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).register(name="A", email="ann@example.com", password=PASSWORD)
    assert caught.value.status == 404
    assert caught.value.vendor_message.startswith("name: String must contain at least 3")
    assert caught.value.retryable is False


def test_it_reports_closed_registration_as_permanent(sim: LibreChatSimulator) -> None:
    sim.configure(allow_registration=False)
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).register(name="Ann Example", email="ann@example.com", password=PASSWORD)
    assert caught.value.status == 403 and caught.value.retryable is False
    assert caught.value.vendor_message == "Registration is not allowed."


def test_it_reports_a_temporary_ban_as_worth_retrying(sim: LibreChatSimulator) -> None:
    sim.ban_ip("127.0.0.1")
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).register(name="Ann Example", email="ann@example.com", password=PASSWORD)
    assert caught.value.status == 403 and caught.value.retryable is True


def test_it_reports_the_register_rate_limit_with_its_window(sim: LibreChatSimulator) -> None:
    sim.configure(register_max=1, register_window_s=120)
    client(sim).register(name="Ann Example", email="ann@example.com", password=PASSWORD)
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).register(name="Bob Example", email="bob@example.com", password=PASSWORD)
    assert caught.value.status == 429 and caught.value.retryable is True
    assert caught.value.vendor_message == "Too many accounts created, please try again after 2 minutes"
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


def test_it_tells_2fa_pending_apart(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", PASSWORD, two_fa=True)
    with pytest.raises(LibreChatTwoFactorPending) as caught:
        client(sim).login(email="ann@example.com", password=PASSWORD)
    assert caught.value.retryable is False


def test_it_reports_unverified_email_as_422(sim: LibreChatSimulator) -> None:
    sim.configure(allow_unverified_email_login=False)
    sim.add_user("ann@example.com", PASSWORD, verified=False)
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).login(email="ann@example.com", password=PASSWORD)
    assert caught.value.status == 422 and caught.value.vendor_message == "Email not verified."


def test_it_refreshes_with_an_explicit_cookie_even_when_it_is_secure(sim: LibreChatSimulator) -> None:
    sim.configure(secure_cookies=True)
    sim.add_user("ann@example.com", PASSWORD)
    c = client(sim)
    first = c.login(email="ann@example.com", password=PASSWORD)
    sim.advance_clock(2)  # a refresh within the same second returns the same token
    second = c.refresh(refresh_token=first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.user.email == "ann@example.com"
    assert second.refresh_expires_at == first.refresh_expires_at  # absolute: never extended
    with pytest.raises(RefreshRejected) as caught:
        c.refresh(refresh_token=first.refresh_token)  # rotated away
    assert caught.value.status == 401


def test_it_treats_a_garbage_refresh_token_as_rejected(sim: LibreChatSimulator) -> None:
    with pytest.raises(RefreshRejected) as caught:
        client(sim).refresh(refresh_token="not-a-jwt")
    assert caught.value.status == 403


def test_it_never_keeps_cookies_between_people(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", PASSWORD)
    c = client(sim)
    c.login(email="ann@example.com", password=PASSWORD)
    assert len(c.http.session.cookies) == 0


def test_it_logs_out_the_one_session(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", PASSWORD)
    c = client(sim)
    kept = c.login(email="ann@example.com", password=PASSWORD)
    ended = c.login(email="ann@example.com", password=PASSWORD)
    c.logout(access_token=ended.access_token, refresh_token=ended.refresh_token)
    assert len(sim.sessions_for("ann@example.com")) == 1
    with pytest.raises(RefreshRejected):
        c.refresh(refresh_token=ended.refresh_token)
    sim.advance_clock(2)
    c.refresh(refresh_token=kept.refresh_token)


def test_it_reads_the_current_user(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", PASSWORD)
    sim.add_user("bob@example.com", PASSWORD)
    c = client(sim)
    tokens = c.login(email="bob@example.com", password=PASSWORD)
    user = c.current_user(access_token=tokens.access_token)
    assert user.email == "bob@example.com" and user.role == "USER"
    with pytest.raises(VendorHTTPError) as caught:
        c.current_user(access_token="nope")
    assert caught.value.status == 401


def test_it_resets_a_password_without_email(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", "someone-elses-password")
    c = client(sim)
    request = c.password_reset_request(email="ann@example.com")
    assert request.emailed is False and request.user_id == sim.users["ann@example.com"].id
    assert request.token not in repr(request)
    c.password_reset_complete(user_id=request.user_id, token=request.token, password=PASSWORD)
    assert sim.check_password("ann@example.com", PASSWORD)


def test_it_says_when_the_reset_link_went_by_email(sim: LibreChatSimulator) -> None:
    sim.configure(email_service=True)
    sim.add_user("ann@example.com", "someone-elses-password")
    assert client(sim).password_reset_request(email="ann@example.com").emailed is True


def test_it_reports_password_reset_not_allowed(sim: LibreChatSimulator) -> None:
    sim.configure(allow_password_reset=False)
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).password_reset_request(email="ann@example.com")
    assert caught.value.status == 403 and caught.value.vendor_message == "Password reset is not allowed."


def test_it_puts_reads_and_deletes_user_keys(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", PASSWORD)
    c = client(sim)
    token = c.login(email="ann@example.com", password=PASSWORD).access_token
    assert c.user_key_expiry(access_token=token, name="LiteLLM") is None
    c.user_key_put(access_token=token, name="LiteLLM", value='{"apiKey":"sk-1"}')
    assert c.user_key_expiry(access_token=token, name="LiteLLM") == "never"
    assert sim.user_keys("ann@example.com") == {"LiteLLM": '{"apiKey":"sk-1"}'}
    c.user_key_delete(access_token=token, name="LiteLLM")
    assert sim.user_keys("ann@example.com") == {}


def test_it_reports_5xx_as_worth_retrying(sim: LibreChatSimulator) -> None:
    sim.set_faults(status_override=502)
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).register(name="Ann Example", email="ann@example.com", password=PASSWORD)
    assert caught.value.status == 502 and caught.value.retryable is True


def test_it_times_out_on_a_hanging_librechat(sim: LibreChatSimulator) -> None:
    from integrations.http import VendorHTTP

    sim.set_faults(timeout_paths=["/api/auth/login"], hang_max_s=3)
    c = LibreChatClient(
        base_url=sim.base_url, http=VendorHTTP(vendor="LibreChat", base_url=sim.base_url, read_timeout=0.3)
    )
    with pytest.raises(VendorTimeout) as caught:
        c.login(email="ann@example.com", password=PASSWORD)
    assert caught.value.retryable is True


def test_it_reports_refused_connections(unused_tcp_port: int) -> None:
    with pytest.raises(VendorUnreachable) as caught:
        LibreChatClient(base_url=f"http://127.0.0.1:{unused_tcp_port}").health()
    assert caught.value.retryable is True


def test_it_pools_one_client_per_base_url() -> None:
    assert client_for("http://librechat-api:3080/") is client_for("http://librechat-api:3080")


def test_it_reports_a_bad_reset_token_as_permanent(sim: LibreChatSimulator) -> None:
    user = sim.add_user("ann@example.com", "someone-elses-password")
    client(sim).password_reset_request(email="ann@example.com")
    with pytest.raises(VendorHTTPError) as caught:
        client(sim).password_reset_complete(user_id=user.id, token="wrong", password=PASSWORD)
    assert caught.value.status == 400 and caught.value.retryable is False


def test_it_sends_a_key_expiry_as_an_iso_date(sim: LibreChatSimulator) -> None:
    sim.add_user("ann@example.com", PASSWORD)
    c = client(sim)
    token = c.login(email="ann@example.com", password=PASSWORD).access_token
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    c.user_key_put(access_token=token, name="LiteLLM", value='{"apiKey":"sk-2"}', expires_at=when)
    assert c.user_key_expiry(access_token=token, name="LiteLLM") == "2030-01-02T03:04:05.000Z"
