# shellcheck shell=bash
# shellcheck disable=SC2034  # the PG_* variables set here are the callers'
# Shared by deploy/backup.sh and deploy/restore-check.sh (sourced, never run): messages, the environment file,
# and DATABASE_URL turned into what PostgreSQL's own tools take. Callers set SCRIPT_NAME first.

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
die() {
  printf '%s: FAILED: %s\n' "$SCRIPT_NAME" "$*" >&2
  exit 1
}

# Export every KEY=VALUE line of an environment file (deploy/.env.example's format, also systemd's
# EnvironmentFile): comments and blank lines skipped, an optional `export`, one pair of surrounding quotes
# removed. Read line by line, never sourced: a value such as `ADMINS=Ops <ops@example.com>` is not shell.
env_file_load() {
  local file=$1 line key value number=0
  [[ -r $file ]] || die "cannot read the environment file $file"
  while IFS= read -r line || [[ -n $line ]]; do
    number=$((number + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ ! $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]]; then
      die "$file, line $number: not a KEY=VALUE line"
    fi
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    export "$key=$value"
  done <"$file"
}

# pg_target DATABASE_URL [DATABASE_NAME]: sets PG_URI (a libpq URI for pg_dump, psql…: the password left out,
# so that no process list shows it), PG_DATABASE_URL (the same URL for Django, password kept) and exports
# PGPASSWORD. DATABASE_NAME, when given, takes the place of the URL's database.
pg_target() {
  local url=$1 name=${2-} authority database query userinfo="" hostport password="" user
  if [[ ! $url =~ ^(postgres|postgresql|pgsql|psql)://([^/?#]*)(/([^?#]*))?(\?[^#]*)?$ ]]; then
    die "the database URL is not a PostgreSQL one (postgres://user:password@host:5432/name)"
  fi
  authority=${BASH_REMATCH[2]}
  database=${BASH_REMATCH[4]}
  query=${BASH_REMATCH[5]}
  [[ -n $name ]] && database=$name
  hostport=$authority
  if [[ $authority == *@* ]]; then
    userinfo=${authority%@*}
    hostport=${authority##*@}
  fi
  user=${userinfo%%:*}
  if [[ $userinfo == *:* ]]; then
    password=${userinfo#*:}
    # Percent-decoded, as libpq and Django decode the URL (a literal backslash kept as it is).
    password=${password//\\/\\\\}
    printf -v PGPASSWORD '%b' "${password//%/\\x}"
    export PGPASSWORD
  fi
  PG_URI="postgresql://${user:+$user@}$hostport/$database$query"
  PG_DATABASE_URL="postgres://$authority/$database$query"
  PG_DATABASE=$database
  PG_HOST=${hostport:-local socket}
}
