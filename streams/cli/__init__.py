"""The ``interests`` command line."""
