"""The portal: control plane of a self-hosted AI stack (LiteLLM, LibreChat, connectivity)."""

from portal.celery import app as celery_app

__all__ = ("celery_app",)
