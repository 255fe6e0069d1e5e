"""Jinja2 templates of the digest formats (a package only so that setuptools ships the *.j2 files)."""
