#!/usr/bin/env bash
# Builds Kubernetes v1.20.2 (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy, kubeadm, kubectl) and the pause binary from Debian's `kubernetes` source package
# with Debian's Go 1.19 (DESIGN.md section 7), about 8 minutes on 2 cores. The result is cached
# outside the work tree, in $KUBESEED_FIXTURES (default /var/cache/kubeseed), so fresh clones on
# the same machine reuse it; bump RECIPE when the build steps change. Needs root for apt.
#
# With an argument (e.g. v1.20.3-kubeseed.1) it builds the same source stamped with that version
# instead, into $KUBESEED_FIXTURES/kubernetes-<version>: the upgrade tests' second release, since
# only 1.20.2 builds on these machines. The version goes in through KUBE_GIT_VERSION_FILE: the
# Debian tarball is a `git archive` export, whose hack/lib/version.sh assigns the archived tag to
# KUBE_GIT_VERSION unconditionally, so a plain KUBE_GIT_VERSION in the environment is overwritten;
# only the version file is read before that (hack/lib/version.sh, kube::version::get_version_vars).
set -euo pipefail

FIXTURES="${KUBESEED_FIXTURES:-/var/cache/kubeseed}"
VERSION="${1:-v1.20.2}"
[[ "$VERSION" =~ ^v1\.20\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || { echo "build-kubernetes: $VERSION is not a 1.20 version (the source is 1.20.2)" >&2; exit 2; }
OUT="$FIXTURES/kubernetes-$VERSION"
RECIPE=kubernetes-1.20.2-debian-go1.19-r3
WORK="$FIXTURES/kubernetes-src"
if [ "$VERSION" != v1.20.2 ]; then
  RECIPE="$RECIPE-as-$VERSION"
  WORK="$FIXTURES/kubernetes-src-$VERSION"
fi
if [ -f "$OUT/.recipe" ] && [ "$(cat "$OUT/.recipe")" = "$RECIPE" ] && [ -x "$OUT/bin/kubelet" ]; then
  echo "build-kubernetes: cached at $OUT"
  exit 0
fi

SRC_LIST=/etc/apt/sources.list.d/kubeseed-deb-src.sources
if [ ! -f "$SRC_LIST" ]; then
  cat > "$SRC_LIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi
export DEBIAN_FRONTEND=noninteractive
BUILD_DEBS=(golang-1.19-go make rsync dpkg-dev gcc libc6-dev golang-github-modern-go-reflect2-dev)
# apt only when something is missing: it would otherwise queue behind whoever holds dpkg's lock.
dpkg -s "${BUILD_DEBS[@]}" >/dev/null 2>&1 ||
  apt-get install -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends "${BUILD_DEBS[@]}" >/dev/null

rm -rf "$WORK" && mkdir -p "$WORK" && chmod 755 "$WORK"
(cd "$WORK" && apt-get source -qq kubernetes >/dev/null 2>&1)
TREE="$(find "$WORK" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -1)"
[ -n "$TREE" ] || { echo "build-kubernetes: apt-get source kubernetes gave no tree" >&2; exit 1; }

# The vendored reflect2 1.0.1 crashes under Go >= 1.18 whenever json-iterator walks a map
# (kubeadm panics writing the kubelet configuration); 1.0.2, Debian's, fixes it.
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$TREE/vendor/github.com/modern-go/reflect2"
rm -rf "$TREE/vendor/github.com/modern-go/reflect2/.git" "$TREE/vendor/github.com/modern-go/reflect2/test"* 

# kubeadm 1.20's dry run cannot use pre-placed CAs (kubernetes/kubeadm#2512); the fix from 1.24
# (kubernetes/kubernetes#108410) is backported so the tests can dry-run our kubeadm configs.
patch -s -p1 -d "$TREE" <"$(dirname "$0")/patches/kubeadm-dryrun-existing-ca.patch"

VERSION_ENV=()
if [ "$VERSION" != v1.20.2 ]; then
  # Same commit as the archive, another version; MINOR gets upstream's "+" for a suffixed version.
  commit="$(sed -n "s/^ *KUBE_GIT_COMMIT='\([0-9a-f]\{40\}\)'$/\1/p" "$TREE/hack/lib/version.sh" | head -1)"
  minor="$(echo "$VERSION" | cut -d. -f2)"; [[ "$VERSION" == *-* ]] && minor="$minor+"
  printf "KUBE_GIT_COMMIT='%s'\nKUBE_GIT_TREE_STATE='archive'\nKUBE_GIT_VERSION='%s'\nKUBE_GIT_MAJOR='1'\nKUBE_GIT_MINOR='%s'\n" \
    "$commit" "$VERSION" "$minor" >"$WORK/version.env"
  VERSION_ENV=("KUBE_GIT_VERSION_FILE=$WORK/version.env")
fi

mkdir -p "$TREE/.go/src/k8s.io"
ln -sfn ../../.. "$TREE/.go/src/k8s.io/kubernetes"
(
  cd "$TREE/.go/src/k8s.io/kubernetes"
  export GOPATH="$TREE/.go" PATH="/usr/lib/go-1.19/bin:$PATH" GO111MODULE=off GOFLAGS=-mod=vendor GOCACHE="$FIXTURES/go-build"
  env "${VERSION_ENV[@]}" make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy cmd/kubeadm cmd/kubectl"
)
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/bin"
cp "$TREE"/_output/local/bin/linux/amd64/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubeadm,kubectl} "$OUT.tmp/bin/"
gcc -Os -static -DVERSION=v3.2-kubeseed -o "$OUT.tmp/bin/pause" "$TREE/build/pause/linux/pause.c"
# Every binary must carry the version, or the upgrade tests would prove nothing.
for cmd in "kube-apiserver --version" "kube-controller-manager --version" "kube-scheduler --version" \
  "kubelet --version" "kube-proxy --version" "kubeadm version -o short" "kubectl version --client --short"; do
  got="$("$OUT.tmp/bin/"$cmd 2>&1 | tail -1)"
  [[ "$got" == *"$VERSION" ]] || { echo "build-kubernetes: $cmd printed '$got', expected $VERSION" >&2; exit 1; }
done
"$OUT.tmp/bin/kubelet" --version
echo "$RECIPE" > "$OUT.tmp/.recipe"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
rm -rf "$WORK"
echo "build-kubernetes: built into $OUT"
