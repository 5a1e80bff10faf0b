# postgres:16's interface on Debian bookworm's PostgreSQL 15: POSTGRES_USER, POSTGRES_DB,
# POSTGRES_PASSWORD[_FILE], /docker-entrypoint-initdb.d/*.sh on a new volume, data in
# /var/lib/postgresql/data, password authentication from the network.
ARG BASE
FROM ${BASE}
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
RUN mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
STOPSIGNAL SIGINT
CMD ["postgres"]
