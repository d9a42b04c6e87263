#!/usr/bin/env bash
# First start of an empty TimescaleDB volume: create the analytics database and the
# Dagster storage database, each owned by its own login role, and the API's read-only
# login role.
#
# Mounted by docker-compose.yml as a single file into /docker-entrypoint-initdb.d/, after
# the image's own 000_install_timescaledb.sh (which installs the extension into
# template1) and 001_timescaledb_tune.sh. The postgres entrypoint runs it once, as the
# superuser over the local socket, before the server accepts TCP connections; it is
# sourced instead of executed if the file lost its executable bit, so it neither exits
# nor changes shell options.
#
# Inputs (set on the timescaledb service; defaults are for local use only):
#   ANALYTICS_PG_DB, ANALYTICS_PG_USER, ANALYTICS_PG_PASSWORD
#   DAGSTER_PG_DB,   DAGSTER_PG_USER,   DAGSTER_PG_PASSWORD
#   API_PG_USER, API_PG_PASSWORD
#
# The migrations (sql/migrations/005_api_role.sql) grant SELECT to the group role
# analytics_reader and create it only if it is missing, which would need CREATEROLE; the
# owner role has no such right, so the group role is created here, with the API's login
# role as its member.

create_analytics_databases() {
	local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}")

	"${psql[@]}" --dbname postgres \
		--set analytics_db="${ANALYTICS_PG_DB:-analytics}" \
		--set analytics_user="${ANALYTICS_PG_USER:-analytics}" \
		--set analytics_password="${ANALYTICS_PG_PASSWORD:-analytics}" \
		--set dagster_db="${DAGSTER_PG_DB:-dagster}" \
		--set dagster_user="${DAGSTER_PG_USER:-dagster}" \
		--set dagster_password="${DAGSTER_PG_PASSWORD:-dagster}" \
		--set api_user="${API_PG_USER:-analytics_api}" \
		--set api_password="${API_PG_PASSWORD:-analytics_api}" <<-'SQL'
		SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'analytics_user', :'analytics_password')
		WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'analytics_user')
		\gexec
		SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'dagster_user', :'dagster_password')
		WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'dagster_user')
		\gexec
		SELECT 'CREATE ROLE analytics_reader NOLOGIN'
		WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analytics_reader')
		\gexec
		SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE analytics_reader', :'api_user', :'api_password')
		WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'api_user')
		\gexec
		-- From template1, which already has the timescaledb extension.
		SELECT format('CREATE DATABASE %I OWNER %I', :'analytics_db', :'analytics_user')
		WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'analytics_db')
		\gexec
		-- Dagster's storage needs no extension: start from the pristine template.
		SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'dagster_db', :'dagster_user')
		WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dagster_db')
		\gexec
	SQL

	# Creating the extension needs a superuser, so it happens here and not in the
	# migrations, which run as the database owner (their CREATE EXTENSION IF NOT EXISTS
	# is then a no-op).
	"${psql[@]}" --dbname "${ANALYTICS_PG_DB:-analytics}" <<-'SQL'
		CREATE EXTENSION IF NOT EXISTS timescaledb;
	SQL
}

create_analytics_databases
