#!/usr/bin/env bash
# Installs the real programs the integration tests run against our output, from Debian's
# packages. Run as root (CI does, through .ci/run). Safe to run twice.
set -euo pipefail

PACKAGES=(
  openssl            # certificate checks (openssl verify, x509 -text)
  etcd-server        # a real 3-member etcd cluster on loopback with the site's certificates
  etcd-client        # etcdctl endpoint health over TLS
  cloud-init         # cloud-init schema --config-file on every user-data
  shellcheck         # every rendered shell script
  systemd            # systemd-analyze verify on every unit
  nginx              # nginx -t on the local apiserver proxy config
  libnginx-mod-stream  # the stream module that proxy config loads
  containerd         # containerd config dump on the rendered config (Debian's 1.6)
  xorriso            # ISO read-back (-find, -check_media) and the ISO benchmark's reference
  genisoimage        # isoinfo -R / -J read-back of every ISO we write
  cloud-image-utils  # cloud-localds, the reference NoCloud seed builder
  fuseiso            # mounts our ISOs through FUSE (these kernels have no iso9660 driver)
  fuse3              # fusermount for that mount
  haproxy            # haproxy -c on the VIP load balancer config
  keepalived         # keepalived -t on the VRRP config
  docker-registry    # a real registry on loopback that gen fetch mirrors from
  apache2-utils      # htpasswd -B for that registry's basic auth
  skopeo             # pushes the test images; the image-mirror benchmark's reference
  umoci              # builds the test images from busybox-static
  busybox-static     # the test images' only binary
  curl               # the download benchmark's reference
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-test-tools: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's etcd-server package starts a system etcd on 127.0.0.1:2379; the tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi
echo "setup-test-tools: ${#PACKAGES[@]} packages present"

# Debian's kubectl (kubernetes-client, 1.20) cannot be installed beside the kubectl package these
# machines ship (both own /usr/bin/kubectl), so its binary is unpacked into the fixture cache.
TOOLS="${KUBESEED_FIXTURES:-/var/cache/kubeseed}/tools"
if [ ! -x "$TOOLS/kubernetes-client/usr/bin/kubectl" ]; then
  mkdir -p "$TOOLS" && tmp="$(mktemp -d)" && chmod 755 "$tmp"
  (cd "$tmp" && apt-get download kubernetes-client >/dev/null) || { apt-get update -qq && (cd "$tmp" && apt-get download kubernetes-client >/dev/null); }
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$TOOLS/kubernetes-client"
  rm -rf "$tmp"
fi
echo "setup-test-tools: Debian kubectl at $TOOLS/kubernetes-client/usr/bin/kubectl ($("$TOOLS/kubernetes-client/usr/bin/kubectl" version --client --short 2>/dev/null || true))"

# A containerd 2.x to read the version-3 config we render for containerd 2 releases. Bookworm has
# 1.6 only; Debian unstable's containerd 2.1 needs glibc 2.34 (bookworm has 2.36), so its binary
# is unpacked into the fixture cache. apt reads sid's signed index from a private state directory,
# leaving the host's own sources untouched.
if [ ! -x "$TOOLS/containerd2/usr/bin/containerd" ]; then
  apt_dir="$(mktemp -d)" && chmod 755 "$apt_dir" && mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo 'deb http://deb.debian.org/debian sid main' > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=/nonexistent -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Acquire::Languages=none)
  apt-get -qq "${apt_opts[@]}" update
  (cd "$apt_dir" && apt-get -qq "${apt_opts[@]}" download containerd >/dev/null)
  mkdir -p "$TOOLS/containerd2" && dpkg-deb -x "$apt_dir"/containerd_*.deb "$TOOLS/containerd2"
  rm -rf "$apt_dir"
fi
echo "setup-test-tools: containerd 2.x at $TOOLS/containerd2/usr/bin/containerd ($("$TOOLS/containerd2/usr/bin/containerd" --version 2>/dev/null || true))"
