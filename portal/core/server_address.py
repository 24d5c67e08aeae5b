"""A server's address is where its secrets go, so changing it is a permission of its own.

"Change LiteLLM server" or "change LibreChat server" lets staff rename a server or edit its
other settings; only staff holding that app's `change_server_address` permission (superusers
hold every permission) may set the address itself: they see it read-only otherwise, may not
add servers, and may not point a model's `api_base` (where LiteLLM forwards the provider key)
anywhere. The vendors' own rules for a changed address (re-enter the LiteLLM master key,
confirm a LibreChat address before people's credentials go there) live with each vendor.
The same codename guards a connectivity target's address (where its PostgreSQL or Redis
password goes) and, as LiteLLM's, the pairing's LiteLLM URL (where LibreChat sends people's keys).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

ADDRESS_PERMISSION = "change_server_address"


def may_change_address(user: Any, app_label: str) -> bool:
    return bool(user.has_perm(f"{app_label}.{ADDRESS_PERMISSION}"))


class ServerAddressAdminMixin(admin.ModelAdmin):
    """For a server's ModelAdmin: `address_fields` are editable only with the permission."""

    address_fields: tuple[str, ...] = ()

    def has_server_address_permission(self, request: HttpRequest) -> bool:
        # Also the permission of admin actions declared with permissions=("server_address",).
        return may_change_address(request.user, self.opts.app_label)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new server's address is entered by whoever adds it.
        return super().has_add_permission(request) and self.has_server_address_permission(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if not self.has_server_address_permission(request):
            fields += tuple(f for f in self.address_fields if f not in fields)
        return fields
