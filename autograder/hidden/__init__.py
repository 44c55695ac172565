"""Hidden checks, one module per notebook; importing registers them."""
