# Shared helpers for bin/run, bin/test and bin/bench. Source, don't execute.
# They install what is missing (apt-get as root), then start throwaway services.

PY_VERSION_WANTED=3.11
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT_DIR/.venv"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

apt_install() {
  # apt_install PACKAGE... : install Debian packages when we may (root), quietly.
  if [ "$(id -u)" != 0 ]; then
    log "missing $*; please install them (apt-get install $*)"; return 1
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; _APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
  for candidate in "python$PY_VERSION_WANTED" python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      command -v "$candidate"; return 0
    fi
  done
  if [ -x "$HOME/.pyenv/versions/$(ls "$HOME/.pyenv/versions" 2>/dev/null | grep '^3\.11' | tail -1)/bin/python" ] 2>/dev/null; then
    echo "$HOME/.pyenv/versions/$(ls "$HOME/.pyenv/versions" | grep '^3\.11' | tail -1)/bin/python"; return 0
  fi
  command -v python3
}

ensure_venv() {
  # Create .venv and install the locked requirements; skipped when the lock is unchanged.
  local stamp="$VENV/.lock-sha"
  local want; want=$(sha256sum "$ROOT_DIR/requirements.lock" | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    local py; py=$(find_python)
    log "creating virtual environment with $py"
    "$py" -m venv "$VENV" || { apt_install python3-venv && "$py" -m venv "$VENV"; }
  fi
  log "installing locked requirements (requirements.lock)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT_DIR/requirements.lock" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$stamp"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  return 1
}

start_postgres() {
  # start_postgres DIR : initdb and start a throwaway cluster; sets PG_PORT and DATABASE_URL.
  local dir=$1 bindir
  bindir=$(pg_bindir) || { apt_install postgresql postgresql-contrib && bindir=$(pg_bindir); }
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root: run it as the unprivileged 'postgres' user.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runas=(runuser -u postgres --)
    mkdir -p "$dir"; chown postgres "$dir"; chmod 700 "$dir"
  fi
  PG_PORT=$(free_port)
  "${runas[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  "${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB ${PG_EXTRA_OPTS:-}" >/dev/null
  PG_STOP=("${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop)
  "${runas[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres shop
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/shop"
  log "PostgreSQL on 127.0.0.1:$PG_PORT (data in $dir)"
}

start_redis() {
  # start_redis DIR : a throwaway Redis; sets REDIS_PORT and the broker and cache URLs.
  local dir=$1
  command -v redis-server >/dev/null || apt_install redis-server
  REDIS_PORT=$(free_port)
  mkdir -p "$dir"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_PORT
  export CELERY_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
  export CACHE_URL="redis://127.0.0.1:$REDIS_PORT/1"
  log "Redis on 127.0.0.1:$REDIS_PORT"
}

stop_services() {
  [ -n "${REDIS_PORT:-}" ] && redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  [ -n "${PG_STOP:-}" ] && "${PG_STOP[@]}" >/dev/null 2>&1 || true
}

ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium fonts-noto-cjk
}

start_s3() {
  # start_s3 DIR : an S3-compatible stand-in for media, moto's server on a free loopback port, with
  # an empty bucket whose public folders anyone may read and nothing else (no listing:
  # shop/core/storage.py). It keeps objects in memory: they are gone once it stops. Exports S3_URL,
  # S3_PORT, S3_PID (also in DIR/moto.pid) and the variables shop/settings.py reads to put media on
  # it: AWS_STORAGE_BUCKET_NAME (default shop-media), AWS_S3_ENDPOINT_URL, AWS_S3_REGION_NAME and
  # random AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Start the shop's processes after it; stop_s3
  # stops it. Used by bin/s3-local and bin/cluster.
  local dir=$1
  mkdir -p "$dir"
  S3_PORT=$(free_port)
  # In a session of its own (setsid: same PID, no fork from a background job), so a signal to the
  # starter's process group (a drill, Ctrl-C in a terminal) cannot take the media store down with it.
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$dir/moto.log" 2>&1 </dev/null &
  S3_PID=$!
  echo "$S3_PID" >"$dir/moto.pid"
  export S3_PORT S3_PID S3_URL="http://127.0.0.1:$S3_PORT"
  export AWS_STORAGE_BUCKET_NAME="${AWS_STORAGE_BUCKET_NAME:-shop-media}" AWS_S3_REGION_NAME=us-east-1
  export AWS_S3_ENDPOINT_URL="$S3_URL"
  AWS_ACCESS_KEY_ID="local$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  AWS_SECRET_ACCESS_KEY="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  PYTHONPATH="$ROOT_DIR" "$VENV/bin/python" - <<'PY' || { log "the S3 stand-in did not start (see $dir/moto.log)"; return 1; }
import json, os, time

import boto3
from botocore.exceptions import EndpointConnectionError

from shop.core.storage import media_bucket_policy

bucket = os.environ["AWS_STORAGE_BUCKET_NAME"]
s3 = boto3.client("s3", endpoint_url=os.environ["S3_URL"], region_name=os.environ["AWS_S3_REGION_NAME"])
for _ in range(100):  # up to 10 s for the server to listen
    try:
        s3.create_bucket(Bucket=bucket)
        break
    except EndpointConnectionError:
        time.sleep(0.1)
else:
    raise SystemExit("no answer")
s3.put_public_access_block(
    Bucket=bucket,
    PublicAccessBlockConfiguration={  # ACLs can never make an object public; the policy may
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False,
    },
)
s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(media_bucket_policy(bucket)))
PY
  log "S3 stand-in (moto) on $S3_URL, bucket $AWS_STORAGE_BUCKET_NAME"
}

stop_s3() {
  [ -n "${S3_PID:-}" ] && kill "$S3_PID" >/dev/null 2>&1 || true
}
