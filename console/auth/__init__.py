"""Console sign-in: local passwords (locked out by django-axes), OIDC, and BinLake-style ticket SSO."""
