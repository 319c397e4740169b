"""Source connectors: one module per publisher, plus the shared HTTP layer (http.py)."""
