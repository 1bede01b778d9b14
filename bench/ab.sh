#!/usr/bin/env bash
# Interleaved pairs of one Lifeboat command run by two checkouts, printed pair by pair with the
# time ratio B/A, then the medians. This is how a change is measured on a noisy machine: the two
# runs of a pair are seconds apart, and their order alternates. Series read sorted, not pair by
# pair, misled in stop 16: this VM's speed moved by 30% within minutes (docs/performance.md).
#
#   bench/ab.sh N DIR_A DIR_B full|small|restore|check [SOURCE]
#
# DIR_A and DIR_B are checkouts with node_modules and the addon built (a `git worktree` can link
# both from the main checkout). full: a full backup of SOURCE (the bench corpus by default) into a
# fresh repository. restore, check: of one repository made first from SOURCE by DIR_A's code;
# restores go to $AB_TARGET (/dev/shm when there is one) and are deleted after each run.
# small: the benchmark's small-change re-backup. A copy of SOURCE is backed up twice by DIR_A's
# code; each run takes a copy of that repository (and its folder cache), catches it up with the
# copy's current state untimed (by the run's own code), makes the benchmark's change (bench/mutate.ts, seeded by pair and
# side; the log's 8 MiB append and the new folder of the run before are undone first), then
# times the re-backup.
set -euo pipefail
if [ $# -lt 4 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]] || ! [[ $4 =~ ^(full|small|restore|check)$ ]]; then
  echo "usage: bench/ab.sh N DIR_A DIR_B full|small|restore|check [SOURCE]" >&2
  exit 2
fi
n=$1 a=$2 b=$3 what=$4
source_dir=${5:-/var/tmp/lifeboat-bench-corpus}
work=${AB_WORK:-/var/tmp/lifeboat-ab}/$(date +%s)
target=${AB_TARGET:-$( [ -d /dev/shm ] && echo /dev/shm/lifeboat-ab || echo "$work/restore")}
# The compile cache apart from the folder cache, which small's runs copy: each checkout's modules
# are compiled once, not in every run.
export LIFEBOAT_PASSWORD=ab XDG_CACHE_HOME=$work/cache NODE_COMPILE_CACHE=$work/compile-cache
mkdir -p "$work"
trap 'rm -rf "$work" "$target"' EXIT

lifeboat() { "$1/node_modules/.bin/node" "$1/bin/lifeboat.mjs" "${@:2}"; }
for dir in "$a" "$b"; do lifeboat "$dir" --version >/dev/null; done # each fills its compile cache once
if [ "$what" = small ]; then
  cp -a "$source_dir" "$work/src"
  source_dir=$work/src
fi
if [ "$what" != full ]; then
  lifeboat "$a" init -q --repo "$work/repo" >/dev/null
  lifeboat "$a" backup -q --repo "$work/repo" "$source_dir"
fi
if [ "$what" = small ]; then
  lifeboat "$a" backup -q --repo "$work/repo" "$source_dir"
fi

mutate() { # mutate SEED: undoes the last change's append and new folder, then makes the change
  "$a/node_modules/.bin/node" --input-type=module -e '
    import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
    const [mutateTs, root, seed, state] = process.argv.slice(1);
    const { mutate } = await import(mutateTs);
    rmSync(root + "/added-batch", { recursive: true, force: true });
    if (existsSync(state)) {
      const last = JSON.parse(readFileSync(state, "utf8"));
      truncateSync(Buffer.from(last.log, "hex"), last.size);
    }
    const done = mutate(root, seed);
    writeFileSync(state, JSON.stringify({ log: done.appended.toString("hex"), size: done.appendedAt }));
  ' "$(dirname "$(realpath "$0")")/mutate.ts" "$source_dir" "$1" "$work/mutated.json"
}

run() { # run PAIR SIDE DIR: prints "PAIR SIDE seconds user-seconds peak-KiB"
  local repo=$work/repo
  case $what in
    full)
      repo=$work/repo-$1$2
      lifeboat "$3" init -q --repo "$repo" >/dev/null
      sync; sleep 1
      /usr/bin/time -f "$1 $2 %e %U %M" "$3/node_modules/.bin/node" "$3/bin/lifeboat.mjs" backup -q --repo "$repo" "$source_dir" 2>&1 | tail -1
      rm -rf "$repo" ;;
    small)
      rm -rf "$work/run"; mkdir -p "$work/run"
      cp -a "$work/repo" "$work/run/repo"; cp -a "$work/cache" "$work/run/cache"
      XDG_CACHE_HOME=$work/run/cache lifeboat "$3" backup -q --repo "$work/run/repo" "$source_dir"
      mutate "pair-$1-$2"
      sync; sleep 1
      XDG_CACHE_HOME=$work/run/cache /usr/bin/time -f "$1 $2 %e %U %M" "$3/node_modules/.bin/node" "$3/bin/lifeboat.mjs" backup -q --repo "$work/run/repo" "$source_dir" 2>&1 | tail -1 ;;
    restore)
      rm -rf "$target"; mkdir -p "$target"; sleep 1
      /usr/bin/time -f "$1 $2 %e %U %M" "$3/node_modules/.bin/node" "$3/bin/lifeboat.mjs" restore -q --repo "$repo" latest --target "$target" 2>&1 | tail -1 ;;
    check)
      sleep 1
      /usr/bin/time -f "$1 $2 %e %U %M" "$3/node_modules/.bin/node" "$3/bin/lifeboat.mjs" check -q --read-data --repo "$repo" 2>&1 >/dev/null | tail -1 ;;
  esac
}

for i in $(seq 1 "$n"); do
  if [ $((i % 2)) = 1 ]; then run "$i" A "$a"; run "$i" B "$b"; else run "$i" B "$b"; run "$i" A "$a"; fi
done | sort -k1,1n -k2,2 | awk '
  { t[$1, $2] = $3; u[$1, $2] = $4; m[$1, $2] = $5; if ($1 > n) n = $1 }
  function median(v, k,   i, j, x) { for (i = 2; i <= k; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x } return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
  END {
    for (i = 1; i <= n; i++) {
      r[i] = t[i, "B"] / t[i, "A"]; ma[i] = m[i, "A"] / 1024; mb[i] = m[i, "B"] / 1024
      printf "pair %d  A %.2f s %.2f user %d MiB  B %.2f s %.2f user %d MiB  B/A %.3f\n", i, t[i, "A"], u[i, "A"], ma[i], t[i, "B"], u[i, "B"], mb[i], r[i]
    }
    printf "median B/A %.3f over %d pairs; peak RSS medians A %d MiB, B %d MiB\n", median(r, n), n, median(ma, n), median(mb, n)
  }'
