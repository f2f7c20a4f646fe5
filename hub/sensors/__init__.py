"""Sources of Readings: one module per kind of hardware, each over an injectable seam."""
