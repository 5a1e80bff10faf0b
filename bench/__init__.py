"""The benchmark suite of issue 7 (run: .venv/bin/python -m bench); not part of the tests."""
