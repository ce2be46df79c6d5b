"""Statement parsers, one module per format."""
