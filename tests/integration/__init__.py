"""End-to-end tests of the sftlens CLI (a package, so module names may repeat tests/unit ones)."""
