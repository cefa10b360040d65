"""AzuraForge's API: REST for experiments and apps, live progress over WebSocket, and `azuraforge up`."""

from azuraforge_api.app import create_app

__all__ = ["create_app"]
