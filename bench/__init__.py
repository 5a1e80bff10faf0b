"""The benchmark suite (run: .venv/bin/python -m bench); not part of the tests."""
