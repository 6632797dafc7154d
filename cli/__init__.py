"""The `redwhistle` command line."""
