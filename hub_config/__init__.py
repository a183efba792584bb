"""JupyterHub configuration for the bundle: OIDC login, proactive token refresh, spawner wiring."""
