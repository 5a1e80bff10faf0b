#!/bin/sh
# Each service its own PostgreSQL role, owning its own schema and able to create nothing else
# (README, "Deployment"). Run once by the PostgreSQL image when its data volume is new
# (/docker-entrypoint-initdb.d); by hand elsewhere, as a superuser:
#   POSTGRES_USER=postgres POSTGRES_DB=sovang SOVANG_SECRETS=deploy/secrets sh deploy/postgres-init.sh
# The passwords are read from $SOVANG_SECRETS/{intake,council,book}_db_password (the container's
# /run/secrets); SOVANG_ROLE_PREFIX puts a prefix before each role's name (default none).
set -eu
secrets="${SOVANG_SECRETS:-/run/secrets}"
db="${POSTGRES_DB:-sovang}"
for service in intake council book; do
  password="$(cat "$secrets/${service}_db_password")"
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "$db" \
    -v role="${SOVANG_ROLE_PREFIX:-}$service" -v schema="$service" -v password="$password" -v db="$db" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE SCHEMA :"schema" AUTHORIZATION :"role";
GRANT CONNECT ON DATABASE :"db" TO :"role";
SQL
done
# Nobody else connects, and nobody creates in public (PostgreSQL 15 already refuses the latter).
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "$db" -v db="$db" <<'SQL'
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
-- What the migrations use that only a superuser may install (intake's search by words).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
