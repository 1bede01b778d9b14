#!/usr/bin/env bash
# npm run bench: Lifeboat beside restic (and borg) on the same corpus, with ../shared/bench/peers.sh.
# Env: CORPUS (default /var/tmp/lifeboat-bench-corpus, generated if missing; CORPUS_SCALE=0.6 gives
# about 1 GiB), TOOLS (default "restic lifeboat"), REPS, BENCH_WORK (must be a real disk).
# Needs Debian's restic, borgbackup, rsync, attr and acl (installed here when missing, as root).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
CORPUS=${CORPUS:-/var/tmp/lifeboat-bench-corpus}
export TOOLS=${TOOLS:-"restic lifeboat"}
export BENCH_WORK=${BENCH_WORK:-/var/tmp/lifeboat-bench-work}

if ! command -v restic >/dev/null || ! command -v rsync >/dev/null; then
  apt-get install -y -qq --no-install-recommends restic borgbackup rsync attr acl >/dev/null
fi
if [ ! -d "$CORPUS" ]; then CORPUS_SCALE=${CORPUS_SCALE:-0.6} bash "$SHARED/corpus-gen.sh" "$CORPUS"; fi

# peers.sh finds `lifeboat` on PATH.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
ln -s "$ROOT/bin/lifeboat.mjs" "$bindir/lifeboat"
PATH="$bindir:$PATH" bash "$SHARED/peers.sh" "$CORPUS"
