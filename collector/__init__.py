"""Collection: one folder per protocol, one scheduler that owns time and health."""
