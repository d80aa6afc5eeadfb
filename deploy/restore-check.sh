#!/usr/bin/env bash
# Does this backup restore? Restores a dump (deploy/backup.sh) into a fresh database, then proves the
# product works on it with the keys that were kept apart:
#
#   deploy/restore-check.sh [--keep] [--server URL] [--timeout SECONDS] DUMP [ENV_FILE]
#
#  1. the dump's checksum (DUMP.sha256, when present) and its table of contents;
#  2. a fresh database, instaforge_restore_<UTC date and time>_<pid>, on the server of --server (a URL whose
#     database is the one to connect to while creating it), else of DATABASE_URL (connecting to `postgres`);
#  3. pg_restore of the dump into it (no owners, no grants: the restoring role owns everything);
#  4. `manage.py migrate --check`; a dump older than this release is migrated, as a restore would be;
#  5. `manage.py tokens_check`: every stored secret decrypts with ENV_FILE's TOKEN_ENCRYPTION_KEYS;
#  6. the web app (gunicorn, deploy/gunicorn.conf.py when present) on a free local port, DEBUG off: /healthz
#     answers 200 "ok"; /readyz's database and migrations checks pass (the restored schema is complete);
#     /metrics counts, from the restored rows, as many Instagram accounts as the database holds (the web
#     process reads the restored data); the login page renders;
#  7. the web app stopped and the database dropped (kept with --keep, to look into).
#
# ENV_FILE is the production environment (deploy/.env.example, filled in); without it, the environment.
# Its values win over the environment's. Nothing leaves this machine meanwhile: REDIS_URL, SENTRY_DSN and
# PROMETHEUS_MULTIPROC_DIR are unset for the check (the cache falls back to the restored database's
# table), mail goes to the console, and no worker or dispatcher is started (nothing is sent to Instagram).
# Exits 0 when every step passed; otherwise non-zero, with the step that failed and why.
set -euo pipefail
SCRIPT_NAME=restore-check.sh
# shellcheck source=deploy/backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  echo "usage: deploy/restore-check.sh [--keep] [--server URL] [--timeout SECONDS] DUMP [ENV_FILE]" >&2
  exit 2
}

keep=false server=${RESTORE_SERVER_URL:-} timeout=60 dump="" env_file=""
while (($#)); do
  case $1 in
  --keep)
    keep=true
    shift
    ;;
  --server | --timeout)
    (($# >= 2)) || usage
    if [[ $1 == --server ]]; then server=$2; else timeout=$2; fi
    shift 2
    ;;
  -h | --help | -*) usage ;;
  *)
    if [[ -z $dump ]]; then dump=$1; elif [[ -z $env_file ]]; then env_file=$1; else usage; fi
    shift
    ;;
  esac
done
[[ -n $dump ]] || usage
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout takes a number of seconds"

step() { printf '\n==> %s\n' "$*"; }

for tool in pg_restore psql createdb dropdb curl sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed (PostgreSQL's client tools, curl, coreutils)"
done
if [[ -n ${PYTHON:-} ]]; then :
elif [[ -n ${VIRTUAL_ENV:-} && -x $VIRTUAL_ENV/bin/python ]]; then PYTHON=$VIRTUAL_ENV/bin/python
elif [[ -x $ROOT/.venv/bin/python ]]; then PYTHON=$ROOT/.venv/bin/python
else PYTHON=python3
fi

# --- 1. the dump -------------------------------------------------------------------------------------------
step "Checking the dump $dump"
[[ -r $dump ]] || die "cannot read the dump $dump"
dump="$(cd "$(dirname "$dump")" && pwd)/$(basename "$dump")" # the checks below run from the installation's directory
if [[ -f $dump.sha256 ]]; then
  expected=$(cut -d' ' -f1 <"$dump.sha256")
  actual=$(sha256sum "$dump" | cut -d' ' -f1)
  [[ $expected == "$actual" ]] || die "the dump does not match its checksum ($dump.sha256): it is damaged or incomplete"
  say "checksum matches ($dump.sha256)"
else
  say "no $dump.sha256 next to it: checksum not verified"
fi
pg_restore --list "$dump" >/dev/null || die "$dump is not a pg_dump archive in custom format (pg_dump -Fc)"

# --- the environment: the file's secrets, the check's own isolation ----------------------------------------
[[ -n $env_file ]] && env_file_load "$env_file"
for name in SECRET_KEY TOKEN_ENCRYPTION_KEYS ALLOWED_HOSTS; do
  [[ -n ${!name:-} ]] || die "$name is not set: give the environment file kept with this backup (its keys)"
done
if [[ -n $server ]]; then
  pg_target "$server"
else
  [[ -n ${DATABASE_URL:-} ]] || die "no server: set DATABASE_URL (or ENV_FILE's), or give --server URL"
  pg_target "$DATABASE_URL" postgres
fi
maintenance_uri=$PG_URI
database="instaforge_restore_$(date -u +%Y%m%d_%H%M%S)_$$"
pg_target "${server:-$DATABASE_URL}" "$database"
restored_uri=$PG_URI

export DJANGO_SETTINGS_MODULE=instaforge.settings DATABASE_URL=$PG_DATABASE_URL DEBUG=false
export EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend
unset REDIS_URL SENTRY_DSN PROMETHEUS_MULTIPROC_DIR METRICS_ALLOWED_NETWORKS
METRICS_TOKEN=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')
export METRICS_TOKEN
cd "$ROOT"

work=$(mktemp -d "${TMPDIR:-/tmp}/restore-check.XXXXXX")
created=false web_pid=""
cleanup() {
  local status=$?
  set +e
  if [[ -n $web_pid ]] && kill -0 "$web_pid" 2>/dev/null; then
    kill -TERM "$web_pid"
    for _ in $(seq 1 50); do kill -0 "$web_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$web_pid" 2>/dev/null && kill -KILL "$web_pid"
    wait "$web_pid" 2>/dev/null
  fi
  if ((status != 0)) && [[ -s $work/web.log ]]; then
    printf '\n%s: the web app'"'"'s last log lines:\n' "$SCRIPT_NAME" >&2
    tail -n 30 "$work/web.log" >&2
  fi
  if $created; then
    if $keep; then
      say "kept the database $database (DATABASE_URL=${restored_uri}); drop it with: dropdb --force --maintenance-db='$maintenance_uri' $database"
    else
      dropdb --force --if-exists --maintenance-db="$maintenance_uri" "$database" \
        && say "dropped the database $database" \
        || printf '%s: could not drop the database %s: drop it by hand\n' "$SCRIPT_NAME" "$database" >&2
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 2, 3. a fresh database, the dump restored into it -----------------------------------------------------
step "Restoring into a fresh database $database on $PG_HOST"
createdb --template=template0 --maintenance-db="$maintenance_uri" "$database" \
  || die "could not create the database $database (does the role have CREATEDB?)"
created=true
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$restored_uri" "$dump" \
  || die "pg_restore failed (above): the dump does not restore"
tables=$(psql -X -q -t -A --dbname="$restored_uri" -c \
  "select count(*) from information_schema.tables where table_schema = 'public'")
accounts=$(psql -X -q -t -A --dbname="$restored_uri" -c "select count(*) from accounts_instagramaccount" 2>/dev/null) \
  || die "the restored database has no accounts_instagramaccount table: not an InstaForge dump"
say "restored $tables tables, $accounts Instagram account(s)"

# --- 4. migrations -----------------------------------------------------------------------------------------
step "Migrations (manage.py migrate --check)"
if "$PYTHON" manage.py migrate --check --noinput >"$work/migrate.log" 2>&1; then
  say "the restored schema is this release's: no migration to apply"
elif [[ -s $work/migrate.log ]]; then # unapplied migrations alone make it exit 1 silently
  cat "$work/migrate.log" >&2
  die "manage.py could not start with this environment and the restored database (above)"
else
  say "the dump is older than this release: applying its migrations, as a restore would"
  "$PYTHON" manage.py migrate --noinput || die "manage.py migrate failed on the restored database (above)"
fi

# --- 5. the keys -------------------------------------------------------------------------------------------
step "Stored secrets against TOKEN_ENCRYPTION_KEYS (manage.py tokens_check)"
"$PYTHON" manage.py tokens_check \
  || die "stored secrets do not decrypt with the TOKEN_ENCRYPTION_KEYS given${env_file:+ in $env_file} (above): the
  wrong keys for this dump, or a key missing; restored so, the accounts listed must be reconnected and the other
  secrets entered again"

# --- 6. the web app ----------------------------------------------------------------------------------------
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
gunicorn=(-m gunicorn --bind "127.0.0.1:$port" --workers 1 --threads 2)
if [[ -f deploy/gunicorn.conf.py ]]; then
  gunicorn+=(--config deploy/gunicorn.conf.py)
fi
step "Starting the web app on 127.0.0.1:$port (gunicorn ${gunicorn[*]:2}, DEBUG off)"
GUNICORN_BIND="127.0.0.1:$port" GUNICORN_WORKERS=1 "$PYTHON" "${gunicorn[@]}" instaforge.wsgi >"$work/web.log" 2>&1 &
web_pid=$!

host=${ALLOWED_HOSTS%%,*}
host=${host//[[:space:]]/}
host=${host#.}
[[ $host == "*" || -z $host ]] && host=localhost
base="http://127.0.0.1:$port"
get() { # get PATH [curl options…]: the body on stdout, the status in $work/status
  local path=$1
  shift
  curl -sS --max-time 10 -H "Host: $host" -H "X-Forwarded-Proto: https" -o "$work/body" -w '%{http_code}' \
    "$@" "$base$path" >"$work/status" 2>"$work/curl.log" || true
  cat "$work/body" 2>/dev/null || true
}

deadline=$((SECONDS + timeout))
until [[ $(get /healthz) == ok && $(<"$work/status") == 200 ]]; do
  kill -0 "$web_pid" 2>/dev/null || die "the web app exited before it served (its log below)"
  ((SECONDS < deadline)) || die "/healthz did not answer 200 within $timeout s (its log below)"
  sleep 0.2
done
say "/healthz: 200 ok"

body=$(get "/readyz?check=database&check=migrations")
[[ $(<"$work/status") == 200 && $body == *'"status": "ok"'* ]] \
  || die "/readyz?check=database&check=migrations answered $(<"$work/status"): $body"
say "/readyz: the database answers and no migration is unapplied"

body=$(get /metrics -H "Authorization: Bearer $METRICS_TOKEN")
[[ $(<"$work/status") == 200 ]] || die "/metrics answered $(<"$work/status")"
served=$(printf '%s\n' "$body" | awk '/^instaforge_accounts\{/ { seen = 1; total += $NF } END { if (seen) print total }')
[[ -n $served ]] || die "/metrics has no instaforge_accounts series: the web app could not read the restored rows"
[[ ${served%.0} == "$accounts" ]] \
  || die "the web app counts ${served%.0} Instagram account(s), the restored database holds $accounts"
say "/metrics: the web app reads the $accounts Instagram account(s) of the restored database"

get /accounts/login/ >/dev/null
[[ $(<"$work/status") == 200 ]] || die "the login page answered $(<"$work/status")"
say "/accounts/login/: 200"

printf '\n%s: PASSED: %s restores into a working InstaForge (%s tables, %s account(s), every stored secret decrypts).\n' \
  "$SCRIPT_NAME" "$dump" "$tables" "$accounts"
