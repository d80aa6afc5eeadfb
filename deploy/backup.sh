#!/usr/bin/env bash
# A backup of InstaForge's database: `pg_dump -Fc` of DATABASE_URL into DIRECTORY, as
# instaforge-<UTC date and time>.dump with its SHA-256 next to it (instaforge-….dump.sha256).
#
#   deploy/backup.sh DIRECTORY [ENV_FILE] [--prune-days DAYS]
#
# DATABASE_URL comes from the environment, or from ENV_FILE (deploy/.env.example, filled in). The dump is
# written under a temporary name and renamed when complete, so a file named *.dump is always whole. With
# --prune-days, dumps (and their checksums) in DIRECTORY older than DAYS are deleted afterwards: a retention
# bound that erasures (Meta's deletion requests, deleted workspaces) also reach the backups within.
#
# The dump holds no key: keep TOKEN_ENCRYPTION_KEYS and SECRET_KEY apart (see the reminder printed at the
# end, and docs/operations.md, "Backups and restore"). Test a dump with deploy/restore-check.sh.
set -euo pipefail
SCRIPT_NAME=backup.sh
# shellcheck source=deploy/backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

usage() {
  echo "usage: deploy/backup.sh DIRECTORY [ENV_FILE] [--prune-days DAYS]" >&2
  exit 2
}

directory="" env_file="" prune_days=""
while (($#)); do
  case $1 in
  --prune-days)
    (($# >= 2)) || usage
    prune_days=$2
    shift 2
    ;;
  -h | --help) usage ;;
  -*) usage ;;
  *)
    if [[ -z $directory ]]; then directory=$1; elif [[ -z $env_file ]]; then env_file=$1; else usage; fi
    shift
    ;;
  esac
done
[[ -n $directory ]] || usage
[[ -z $prune_days || $prune_days =~ ^[1-9][0-9]*$ ]] || die "--prune-days takes a number of days (1 or more)"
[[ -n $env_file ]] && env_file_load "$env_file"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set (in the environment or ENV_FILE)"
command -v pg_dump >/dev/null || die "pg_dump is not installed (PostgreSQL's client tools, the server's version or newer)"
pg_target "$DATABASE_URL"

# Dumps hold every workspace's data: readable by their owner only.
umask 077
mkdir -p "$directory"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="instaforge-$stamp.dump"
[[ ! -e "$directory/$name" ]] || die "$directory/$name exists already"
partial=$(mktemp "$directory/.instaforge-$stamp.XXXXXX.partial")
trap 'rm -f "$partial"' EXIT

say "dumping database $PG_DATABASE on $PG_HOST"
pg_dump --format=custom --dbname="$PG_URI" --file="$partial" || die "pg_dump failed (above): no backup written"
mv "$partial" "$directory/$name"
(cd "$directory" && sha256sum "$name" >"$name.sha256")
size=$(du -h "$directory/$name" | cut -f1)
say "written $directory/$name ($size), checksum in $name.sha256"

if [[ -n $prune_days ]]; then
  pruned=$(find "$directory" -maxdepth 1 -type f \( -name 'instaforge-*.dump' -o -name 'instaforge-*.dump.sha256' \) \
    -mtime "+$((prune_days - 1))" ! -name "$name" ! -name "$name.sha256" -print -delete | wc -l)
  say "pruned $pruned file(s) older than $prune_days day(s)"
fi

media="MEDIA_ROOT (${MEDIA_ROOT:-the media/ directory of the installation})"
if [[ -n ${AWS_STORAGE_BUCKET_NAME:-} ]]; then
  media_note="Uploaded media is in the S3 bucket $AWS_STORAGE_BUCKET_NAME, not in this dump: the bucket's
  versioning and replication back it up (docs/operations.md, \"Backups and restore\")."
else
  media_note="Uploaded media is not in this dump: copy $media with it.
  (With S3 media, AWS_STORAGE_BUCKET_NAME, the bucket's versioning and replication back it up.)"
fi
cat <<EOF

Keep apart from this dump, in a secrets manager, never in the same place as the dumps:
  TOKEN_ENCRYPTION_KEYS  every key it lists today. A dump restored without them brings back every Instagram
                         account with a token no key reads: each one must be reconnected, and the CRM webhook
                         secrets, AI keys and Slack alert URLs entered again. After a key rotation, this dump
                         still needs the keys of today.
  SECRET_KEY             sessions, password-reset and e-mail links.
$media_note
Test it: deploy/restore-check.sh $directory/$name ENV_FILE_WITH_THE_KEYS
EOF
