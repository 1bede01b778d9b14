#!/bin/bash
# Prune on a repository with 20 snapshots of a corpus: between backups ~2% of the files are
# rewritten with new random content; then forget --keep-last 10 and a timed prune (wall time and
# peak memory from GNU time). Usage: bench/prune.sh CORPUS [WORK]
set -euo pipefail
corpus=$1
work=${2:-/var/tmp/lifeboat-prune-bench}
lb="$(dirname "$0")/../bin/lifeboat.mjs"
export LIFEBOAT_PASSWORD=bench LIFEBOAT_KDF_MEMORY_KIB=1024
rm -rf "$work" && mkdir -p "$work"
cp -a "$corpus" "$work/src"
$lb init -q --repo "$work/repo"
for i in $(seq 1 20); do
  find "$work/src" -type f | shuf -n "$(($(find "$work/src" -type f | wc -l) / 50))" --random-source=<(yes $i) 2>/dev/null |
    while IFS= read -r f; do head -c "$(stat -c %s "$f")" /dev/urandom > "$f"; done
  $lb backup -q --repo "$work/repo" "$work/src"
done
$lb forget -q --repo "$work/repo" --keep-last 10
before=$(du -sb "$work/repo" | cut -f1)
/usr/bin/time -f 'prune: %e s wall, %M KiB peak RSS' $lb prune --repo "$work/repo"
after=$(du -sb "$work/repo" | cut -f1)
echo "repository: $before -> $after bytes"
$lb check -q --repo "$work/repo"
$lb stats --repo "$work/repo" | tail -4
rm -rf "$work"
