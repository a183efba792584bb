"""Sidecar daemon that keeps a user's OAuth access token file fresh inside their server's pod."""
