"""Daily digests: the three report formats, full-text method analyses, validated and cached."""
