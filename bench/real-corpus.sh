#!/usr/bin/env bash
# real-corpus.sh OUTDIR: a corpus of this machine's installed programs and libraries, copied with
# their metadata (GNU cp -a keeps modes, times, links, holes and xattrs): mostly compressible
# binaries and text, as a server's / and /usr are. What the generated corpus (corpus-gen.sh) does
# not show: how the compression level and chunking fare on real executables and libraries.
#   bench/real-corpus.sh /var/tmp/lifeboat-real-corpus && CORPUS=/var/tmp/lifeboat-real-corpus npm run bench
# REAL_DIRS chooses other folders (default: /usr/lib/x86_64-linux-gnu /usr/bin /usr/share/locale,
# about 1.4 GB in 8,600 entries on this machine).
set -euo pipefail
out=${1:?usage: bench/real-corpus.sh OUTDIR}
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "real-corpus: $out exists and is not empty" >&2
  exit 2
fi
mkdir -p "$out"
for dir in ${REAL_DIRS:-/usr/lib/x86_64-linux-gnu /usr/bin /usr/share/locale}; do
  [ -d "$dir" ] || { echo "real-corpus: no $dir, skipped" >&2; continue; }
  mkdir -p "$out$(dirname "$dir")"
  cp -a "$dir" "$out$dir"
done
echo "real-corpus: $(find "$out" | wc -l) entries, $(du -sh "$out" | cut -f1) in $out" >&2
