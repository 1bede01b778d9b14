#!/usr/bin/env bash
# npm run bench: installs the peers (Debian's restic and borgbackup) and GNU time when missing
# (as root), then runs bench/bench.ts on the pinned Node. Env: see bench/bench.ts.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "bench: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  fi
fi
exec "$HERE/../node_modules/.bin/node" "$HERE/bench.ts"
