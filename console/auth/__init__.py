"""Console sign-in: local passwords (throttled), OIDC, and BinLake-style ticket SSO."""
