"""Console forms, one module per area."""
