# redis:7 from Debian bookworm's redis-server (7.0): data in /data, run as the redis user.
ARG BASE
FROM ${BASE}
RUN mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
CMD ["redis-server", "--protected-mode", "no"]
