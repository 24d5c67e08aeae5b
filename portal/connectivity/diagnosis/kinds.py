"""What a diagnosis says: its class, one sentence, and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DiagnosisKind(StrEnum):
    OK = "ok"
    ISOLATED = "isolated"  # not reachable, and must not be
    NOT_ISOLATED = "not_isolated"
    LOOPBACK_IN_CONTAINER = "loopback_in_container"
    HOST_GATEWAY_UNRESOLVED = "host_gateway_unresolved"
    NAME_NOT_ON_NETWORK = "name_not_on_network"
    NAME_UNRESOLVED = "name_unresolved"
    DNS_TIMEOUT = "dns_timeout"
    HOST_SERVICE_LOOPBACK_ONLY = "host_service_loopback_only"
    SERVICE_DOWN_OR_WRONG_PORT = "service_down_or_wrong_port"
    HOST_PORT_CLOSED = "host_port_closed"
    REFUSED = "refused"
    ADDRESS_NOT_IN_USE = "address_not_in_use"
    OTHER_NETWORK_ADDRESS = "other_network_address"  # an address on a network this one is not on
    DEAD_NAME = "dead_name"  # a name that resolves to an address nobody holds
    HOST_FIREWALL = "host_firewall"
    LAN_ADDRESS_FROM_CONTAINER = "lan_address_from_container"
    CONNECT_TIMEOUT = "connect_timeout"
    NO_ROUTE = "no_route"
    TLS_NOT_ANSWERED = "tls_not_answered"
    NO_ANSWER = "no_answer"
    TLS_TO_PLAIN = "tls_to_plain"
    PLAIN_TO_TLS = "plain_to_tls"
    TLS_ERROR = "tls_error"
    WRONG_PATH = "wrong_path"
    BLOCKED_BY_PROXY = "blocked_by_proxy"
    UNAUTHORIZED = "unauthorized"
    SERVICE_FAILING = "service_failing"
    UNEXPECTED_STATUS = "unexpected_status"
    KEYWORD_MISSING = "keyword_missing"
    DB_NOT_CONNECTED = "db_not_connected"
    AUTH_FAILED = "auth_failed"
    SERVER_ERROR = "server_error"
    PROTOCOL_ERROR = "protocol_error"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Diagnosis:
    kind: DiagnosisKind
    summary: str
    fix: str
    healthy: bool = False
