"""The ``sovang`` command line and the embedded runner: the composition root of the project."""
