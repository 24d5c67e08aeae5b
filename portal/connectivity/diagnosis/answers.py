"""Diagnoses of a service that answered, but wrongly: TLS, HTTP status, logins, server errors."""

from __future__ import annotations

from portal.connectivity.diagnosis.base import DiagnoserBase
from portal.connectivity.diagnosis.kinds import Diagnosis, DiagnosisKind

_PROXY_MARKS = ("cloudflare", "cf-ray", "attention required", "cloudfront", "akamai")


class AnswerDiagnoses(DiagnoserBase):
    def tls_error(self) -> Diagnosis:
        detail = self.detail
        lowered = detail.lower()
        if "expired" in lowered:
            fix = f"Renew the certificate of {self.host} (certbot, Traefik's ACME resolver)."
        elif "hostname mismatch" in lowered or "doesn't match" in lowered:
            fix = f"The certificate does not name {self.host}: use the name it was issued for."
        elif "self-signed" in lowered or "self signed" in lowered or "issuer" in lowered:
            fix = (
                "Give the probe the CA that signed it (ca_file), or inside the Docker network "
                f"call the service by name over plain HTTP ({self.url('http')})."
            )
        else:
            fix = "Check the certificate and TLS settings of the server; the detail names it."
        return self.diagnosis(DiagnosisKind.TLS_ERROR, f"{detail}.", fix)

    def http_status(self) -> Diagnosis:
        status = self.outcome.http_status or 0
        target = self.spec.target
        if status == 404:
            return self.diagnosis(
                DiagnosisKind.WRONG_PATH,
                f"{self.hostport} answers, but {self.spec.path} is not there (HTTP 404).",
                self.health_path_hint(),
            )
        if status in (401, 403):
            seen = f"{self.outcome.http_server or ''} {self.outcome.body_excerpt}".lower()
            if any(mark in seen for mark in _PROXY_MARKS):
                name = "Cloudflare" if "cloudflare" in seen or "cf-ray" in seen else "A CDN"
                return self.diagnosis(
                    DiagnosisKind.BLOCKED_BY_PROXY,
                    f"{name} answered HTTP {status} for {target}: the call goes out through "
                    "the public address and the CDN blocks it.",
                    "Route internal calls inside the Docker network instead of the public URL, "
                    f"e.g. {self.internal_url()}.",
                )
            return self.diagnosis(
                DiagnosisKind.UNAUTHORIZED,
                f"{target} is reachable but refuses the request (HTTP {status}).",
                "Either the path needs credentials (LiteLLM's /health needs the master key, "
                "/health/liveliness does not) or a proxy in front (Traefik basic-auth or "
                "forward-auth, a CDN) answers instead of the service: use a health path that "
                "needs no key, or call the service by name inside the network.",
            )
        if status >= 500:
            return self.diagnosis(
                DiagnosisKind.SERVICE_FAILING,
                f"{target} is reachable but failing (HTTP {status}).",
                "See the service's logs. A 502, 503 or 504 from a proxy means the proxy cannot "
                "reach its upstream: probe the upstream directly.",
            )
        expected = ", ".join(map(str, self.spec.expected_status)) or "2xx or 3xx"
        return self.diagnosis(
            DiagnosisKind.UNEXPECTED_STATUS,
            f"{target} answered HTTP {status}, expected {expected}.",
            "Check the path and the expected status of this check.",
        )

    def auth_failed(self) -> Diagnosis:
        detail = self.detail
        if self.spec.kind.value == "redis":
            fix = (
                "Use the password of Redis's requirepass (or the ACL user) in REDIS_URL, e.g. "
                f"redis://:<password>@{self.hostport}/0; NOAUTH means none was sent."
            )
        else:
            fix = (
                f"Check the user and password for {self.hostport}: POSTGRES_PASSWORD applies "
                "only when the data volume is first created, so changing it later does not "
                f"change the password; and pg_hba.conf must admit {self.net}'s addresses."
            )
        return self.diagnosis(DiagnosisKind.AUTH_FAILED, f"{detail}.", fix)

    def server_error(self) -> Diagnosis:
        if self.spec.kind.value == "redis":
            fix = "LOADING passes once the dataset is loaded; MISCONF: Redis cannot save to disk."
        else:
            fix = (
                "The server runs and answered: act on its message (create a missing database "
                "with createdb; 'starting up' passes by itself)."
            )
        return self.diagnosis(DiagnosisKind.SERVER_ERROR, f"{self.detail}.", fix)

    # -- facts --------------------------------------------------------------------------
