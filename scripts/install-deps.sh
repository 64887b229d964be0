#!/usr/bin/env bash
# Installs the Debian 12 packages slicekeeper needs to build, run and test, and extracts etcd's
# protos (see extract_etcd_protos) and fetches the pinned npm package that carries the xDS protos (see
# fetch_xds_protos). Idempotent: when everything is already present it does not touch
# apt at all and prints nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang-14 libclang-rt-14-dev  # scripts/test.sh's build: ASan/UBSan, lock analysis, libFuzzer
  clang-format-14  # scripts/check-format.sh
  lld  # scripts/test.sh links the test binaries with it: a third of ld.bfd's time
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  librocksdb-dev libyaml-cpp-dev libjemalloc-dev
  libmicrohttpd-dev libgnutls28-dev  # the HTTP port (server/http): HTTP/1.1 with TLS through GnuTLS
  python3 python3-grpcio python3-protobuf python3-yaml
  curl procps
  etcd-server etcd-client openssl
  nghttp2-client  # h2load: bench/query_load's HTTP/2 load generator
  docker-compose  # tests/deploy: `docker-compose config` checks docker-compose.yml (no engine needed)
  chromium  # tests/ui: the operator page in a real browser (playwright-core's executablePath)
)

# etcd's API protos as Debian ships them, for server/storage/etcd: the default of CMake's
# SK_ETCD_PROTO_ROOT. A fixed path, since the script deletes an incomplete tree there.
ETCD_PROTO_ROOT=/opt/slicekeeper/etcd-protos
ETCD_PROTO_PACKAGES=(golang-etcd-server-dev golang-github-gogo-protobuf-dev golang-github-gogo-googleapis-dev)
ETCD_PROTO_CHECK=(
  usr/share/gocode/src/go.etcd.io/etcd/etcdserver/etcdserverpb/rpc.proto
  usr/share/gocode/src/github.com/gogo/protobuf/gogoproto/gogo.proto
  usr/share/gocode/src/github.com/gogo/googleapis/google/api/annotations.proto
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  apt_update
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The three -dev packages are Go source packages: installing them would pull in the Go toolchain
# for nothing, so their .debs are downloaded and unpacked (dpkg -x) into ETCD_PROTO_ROOT instead.
# The unpacked tree is renamed into place whole, so a half-done extraction is never mistaken for a
# complete one.
extract_etcd_protos() {
  local f complete=1
  for f in "${ETCD_PROTO_CHECK[@]}"; do
    [ -f "$ETCD_PROTO_ROOT/$f" ] || complete=0
  done
  [ "$complete" -eq 1 ] && return 0

  echo "install-deps: extracting ${ETCD_PROTO_PACKAGES[*]} into $ETCD_PROTO_ROOT" >&2
  local tmp
  tmp="$(mktemp -d)"
  # apt downloads as _apt when it can write the directory, and warns about an unsandboxed
  # download when it cannot.
  if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  if ! (cd "$tmp" && apt-get download -qq "${ETCD_PROTO_PACKAGES[@]}") >"$tmp/log" 2>&1; then
    # Usually a missing or stale package index (a fresh container): refresh it once and retry.
    apt_update
    if ! (cd "$tmp" && apt-get download -qq "${ETCD_PROTO_PACKAGES[@]}") >"$tmp/log" 2>&1; then
      cat "$tmp/log" >&2
      rm -rf "$tmp"
      return 1
    fi
  fi
  local staging="$ETCD_PROTO_ROOT.tmp.$$"
  $SUDO rm -rf "$staging"
  $SUDO mkdir -p "$staging"
  for f in "$tmp"/*.deb; do
    $SUDO dpkg -x "$f" "$staging"
  done
  rm -rf "$tmp"
  $SUDO rm -rf "$ETCD_PROTO_ROOT"
  $SUDO mv "$staging" "$ETCD_PROTO_ROOT"
}
extract_etcd_protos

# The xDS protos: the npm package pinned in scripts/xds-protos.pin, fetched with `npm pack` into
# XDS_PROTOS_CACHE and checked against the pinned sha512 integrity (a mismatch deletes the download
# and fails). CMake unpacks the checked tarball into the build tree (proto/xds/CMakeLists.txt).
# Debian's nodejs ships without npm: npm (and Node for the Node xDS test client) come from
# Debian's `nodejs` and `npm` packages when no npm is on PATH.
XDS_PROTOS_CACHE=/opt/slicekeeper/npm
npm_integrity() {
  echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
}
fetch_xds_protos() {
  local pin
  pin="$(dirname "$0")/xds-protos.pin"
  # shellcheck source=xds-protos.pin
  . "$pin"
  local name="${XDS_PROTOS_NPM_PACKAGE#@}"
  local tarball="$XDS_PROTOS_CACHE/${name//\//-}-$XDS_PROTOS_NPM_VERSION.tgz"
  if [ -f "$tarball" ] && [ "$(npm_integrity "$tarball")" = "$XDS_PROTOS_NPM_INTEGRITY" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: installing nodejs npm" >&2
    apt_update
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  echo "install-deps: fetching $XDS_PROTOS_NPM_PACKAGE@$XDS_PROTOS_NPM_VERSION into $XDS_PROTOS_CACHE" >&2
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$XDS_PROTOS_NPM_PACKAGE@$XDS_PROTOS_NPM_VERSION" >/dev/null)
  local got
  got="$(npm_integrity "$tmp/$(basename "$tarball")")"
  if [ "$got" != "$XDS_PROTOS_NPM_INTEGRITY" ]; then
    echo "install-deps: $XDS_PROTOS_NPM_PACKAGE@$XDS_PROTOS_NPM_VERSION integrity mismatch:" >&2
    echo "  expected $XDS_PROTOS_NPM_INTEGRITY" >&2
    echo "  got      $got" >&2
    rm -rf "$tmp"
    return 1
  fi
  $SUDO mkdir -p "$XDS_PROTOS_CACHE"
  $SUDO mv "$tmp/$(basename "$tarball")" "$tarball.tmp.$$"
  $SUDO mv "$tarball.tmp.$$" "$tarball"
  rm -rf "$tmp"
}
fetch_xds_protos

# The npm packages of the operator page's build (ui/: esbuild) and of its browser test
# (tests/ui/browser: playwright-core), as their committed lockfiles pin them (npm ci checks every
# tarball's integrity): fetched once into npm's cache, so that CMake's `npm ci --prefer-offline`
# needs no network. A stamp per lockfile skips this when the cache already holds them.
fill_npm_cache() {
  local name="$1" dir="$2" stamp tmp want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  stamp="$XDS_PROTOS_CACHE/$name.lock.sha256"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  echo "install-deps: filling the npm cache from $dir/package-lock.json" >&2
  tmp="$(mktemp -d)"
  cp "$dir/package.json" "$dir/package-lock.json" "$tmp/"
  (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$tmp"
  $SUDO mkdir -p "$XDS_PROTOS_CACHE"
  echo "$want" | $SUDO tee "$stamp" >/dev/null
}
fill_npm_cache ui "$(dirname "$0")/../ui"
fill_npm_cache ui-browser-test "$(dirname "$0")/../tests/ui/browser"
