# python:3.11-slim from Debian bookworm's Python 3.11: a virtualenv first on PATH (Debian's
# Python refuses a system-wide pip install), so `pip install` and `python` behave as there.
ARG BASE
FROM ${BASE}
RUN python3 -m venv /usr/local/python && /usr/local/python/bin/pip install --no-cache-dir --quiet --upgrade pip
ENV PATH=/usr/local/python/bin:$PATH LANG=C.UTF-8
CMD ["python3"]
