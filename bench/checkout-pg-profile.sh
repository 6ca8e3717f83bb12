#!/usr/bin/env bash
# PostgreSQL's CPU per purchase step (bench/checkout_pg.py) on a throwaway PostgreSQL restored from
# the checkout seed (var/bench/checkout-seed-2000-*.dump), pg_stat_statements loaded. RUNS="TREE:ARGS ..."
# runs it from each tree (a git worktree) in turn on the same database, for before/after (commas in
# ARGS stand for spaces); other args go to every run. E.g.
#   RUNS="/tmp/before:--stats .:--stats /tmp/before: .:" bash bench/checkout-pg-profile.sh --rounds 30
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source bin/lib.sh
TMP=$(mktemp -d /tmp/prof-p3.XXXXXX); chmod 755 "$TMP"
cleanup() { stop_services; rm -rf "$TMP"; }
trap cleanup EXIT
export PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on -c pg_stat_statements.track=all -c pg_stat_statements.track_utility=on"
start_postgres "$TMP/pg" 2>/dev/null
start_redis "$TMP/redis" 2>/dev/null
export DEBUG=0 SECRET_KEY="prof-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALLOWED_HOSTS="127.0.0.1,localhost,testserver" MEDIA_ROOT="$TMP/media" STATIC_ROOT="$TMP/static"
export CELERY_TASK_ALWAYS_EAGER=0 RATELIMIT_PLACE_ORDER="100000/m" LOG_LEVEL=ERROR
export SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SITE_URL=http://127.0.0.1:1
DUMP=$(ls -t "$ROOT"/var/bench/checkout-seed-2000-*.dump 2>/dev/null | head -1 || true)
[ -n "$DUMP" ] || { log "no checkout seed: run bin/bench-checkout once (it writes var/bench/checkout-seed-2000-*.dump)"; exit 1; }
"$(pg_bindir)/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d shop --no-owner "$DUMP"
"$(pg_bindir)/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d shop -c "CREATE EXTENSION pg_stat_statements" 
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python bench/checkout.py setup --buyers 60 --stock 100000 > "$TMP/setup.json"
variants=$(.venv/bin/python -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["variants"])))' "$TMP/setup.json")
for run in ${RUNS:-$ROOT:--stats}; do
  tree=${run%%:*}; args=${run#*:}
  echo "=== $tree $args"
  (cd "$tree" && "$ROOT/.venv/bin/python" "$ROOT/bench/checkout_pg.py" --variants "$variants" ${args//,/ } "$@")
done
