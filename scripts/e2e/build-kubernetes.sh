#!/usr/bin/env bash
# Builds Kubernetes v1.20.2 (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy, kubeadm, kubectl) and the pause binary from Debian's `kubernetes` source package
# with Debian's Go 1.19 (DESIGN.md section 7), about 8 minutes on 2 cores. The result is cached
# outside the work tree, in $KUBESEED_FIXTURES (default /var/cache/kubeseed), so fresh clones on
# the same machine reuse it; bump RECIPE when the build steps change. Needs root for apt.
set -euo pipefail

FIXTURES="${KUBESEED_FIXTURES:-/var/cache/kubeseed}"
OUT="$FIXTURES/kubernetes-v1.20.2"
RECIPE=kubernetes-1.20.2-debian-go1.19-r3
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
apt-get install -y -qq --no-install-recommends golang-1.19-go make rsync dpkg-dev gcc libc6-dev golang-github-modern-go-reflect2-dev >/dev/null

WORK="$FIXTURES/kubernetes-src"
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

mkdir -p "$TREE/.go/src/k8s.io"
ln -sfn ../../.. "$TREE/.go/src/k8s.io/kubernetes"
(
  cd "$TREE/.go/src/k8s.io/kubernetes"
  export GOPATH="$TREE/.go" PATH="/usr/lib/go-1.19/bin:$PATH" GO111MODULE=off GOFLAGS=-mod=vendor GOCACHE="$FIXTURES/go-build"
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy cmd/kubeadm cmd/kubectl"
)
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/bin"
cp "$TREE"/_output/local/bin/linux/amd64/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubeadm,kubectl} "$OUT.tmp/bin/"
gcc -Os -static -DVERSION=v3.2-kubeseed -o "$OUT.tmp/bin/pause" "$TREE/build/pause/linux/pause.c"
"$OUT.tmp/bin/kubelet" --version
echo "$RECIPE" > "$OUT.tmp/.recipe"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
rm -rf "$WORK"
echo "build-kubernetes: built into $OUT"
