#!/bin/bash
# Prune on a repository with 20 snapshots of a corpus, Lifeboat and restic side by side (restic
# skipped with a message when missing). Between backups ~2% of the files are rewritten with new
# random content, and both tools back up the same tree; then forget --keep-last 10 and a timed
# prune for each (wall time and peak memory from GNU time; both at their default 5% max-unused).
# Usage: bench/prune.sh CORPUS [WORK]
set -euo pipefail
corpus=$1
work=${2:-/var/tmp/lifeboat-prune-bench}
lb="$(dirname "$0")/../bin/lifeboat"
export LIFEBOAT_PASSWORD=bench LIFEBOAT_KDF_MEMORY_KIB=1024 RESTIC_PASSWORD=bench
restic=$(command -v restic || true)
[ -n "$restic" ] || echo "restic not found: only Lifeboat is measured"
rs() { "$restic" -q -r "$work/restic" --cache-dir "$work/restic-cache" "$@"; }
rm -rf "$work" && mkdir -p "$work"
cp -a "$corpus" "$work/src"
$lb init -q --repo "$work/repo"
[ -z "$restic" ] || rs init
for i in $(seq 1 20); do
  find "$work/src" -type f | shuf -n "$(($(find "$work/src" -type f | wc -l) / 50))" --random-source=<(yes $i) 2>/dev/null |
    while IFS= read -r f; do head -c "$(stat -c %s "$f")" /dev/urandom > "$f"; done
  $lb backup -q --repo "$work/repo" "$work/src"
  [ -z "$restic" ] || rs backup "$work/src"
done
$lb forget -q --repo "$work/repo" --keep-last 10
[ -z "$restic" ] || rs forget --keep-last 10
measure() { # name repo-dir command...
  local name=$1 dir=$2; shift 2
  local before after
  before=$(du -sb "$dir" | cut -f1)
  /usr/bin/time -f "$name prune: %e s wall, %M KiB peak RSS, %U+%S s CPU" "$@" >/dev/null
  after=$(du -sb "$dir" | cut -f1)
  echo "$name repository: $before -> $after bytes"
}
measure lifeboat "$work/repo" $lb prune --repo "$work/repo"
[ -z "$restic" ] || measure restic "$work/restic" "$restic" -r "$work/restic" --cache-dir "$work/restic-cache" prune
$lb check -q --repo "$work/repo"
$lb stats --repo "$work/repo" | tail -4
rm -rf "$work"
