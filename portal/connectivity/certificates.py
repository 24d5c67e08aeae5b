"""Certificate expiry: each threshold (30, 14, 7 days left by default) alerts once per
certificate and placement. A certificate 10 days from expiry crosses 30 and 14 at once: one
alert (for 14), and 30 is recorded as told so it never fires later; 7 fires when reached."""

from __future__ import annotations

from datetime import datetime

from portal.connectivity.alerts import alert_raise
from portal.connectivity.cert_thresholds import DEFAULT_DAYS, parse_tls_alert_days
from portal.connectivity.models import Alert, CertificateWarning, TargetNetwork


def thresholds_for(placement: TargetNetwork) -> tuple[int, ...]:
    """The target's own thresholds, else its network's, else 30/14/7 (saved values are valid)."""
    for text in (placement.target.tls_alert_days, placement.network.tls_alert_days):
        if text.strip():
            return parse_tls_alert_days(text)
    return DEFAULT_DAYS


def certificate_check(
    *, placement: TargetNetwork, days_left: int | None, fingerprint: str, now: datetime
) -> Alert | None:
    """Alert when this check's certificate crossed a threshold not told yet; inside the check's
    transaction, so the unique rows and the alert commit together."""
    if days_left is None or not fingerprint:
        return None
    crossed = [t for t in thresholds_for(placement) if days_left <= t]
    if not crossed:
        return None
    # get_or_create on the unique row: a concurrent check of the same certificate loses the race
    # and sees its row as told (Django retries the get after the IntegrityError).
    told = [
        t
        for t in crossed
        if CertificateWarning.objects.get_or_create(
            placement=placement,
            threshold_days=t,
            fingerprint=fingerprint,
            defaults={"days_left": days_left, "created_at": now},
        )[1]
    ]
    if not told:
        return None
    tightest = min(told)
    when = "has expired" if days_left < 0 else f"expires in {days_left} days"
    return alert_raise(
        kind=Alert.Kind.CERT_EXPIRING,
        network=placement.network,
        target=placement.target,
        message=(
            f"The TLS certificate of {placement.target.name} ({placement.target.address}), seen from "
            f"{placement.network.name}, {when} (alert at {tightest} days left). Renew it before then."
        ),
        now=now,
    )
