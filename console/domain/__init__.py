"""Domain operations: the one place a rule about Tower's metadata lives, called by every surface and the engine.

One module per aggregate (see docs/architecture.md). Surfaces translate their request into a call here and the
result or error into their own response shape; the domain never imports a surface.
"""
