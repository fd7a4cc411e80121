"""The daily 08:30 review: the regulator station operation log (DOMAIN.md, §12 art. 6)."""
