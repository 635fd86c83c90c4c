#!/bin/bash
# Update of node k8s-01 of site lab1 to site revision 2 (made against revision 1).
# Run as root on the node, from where the update was unpacked: ./apply
# Checks every file against its sha256 before installing any, installs only the files that differ
# from what the node has, restarts only the units that read them (in a safe order, each waited for
# until healthy), then records revision 2 in /var/lib/kubeseed/revision. Running it again is a no-op;
# an update older than the node's revision is refused.
# An upgrade (Kubernetes v1.37.1): it also carries the new release's downloads under payload/, each
# checked against payload.sha256 with the rest, installed as first boot installs them where they differ
# from what the node runs.
# What it replaces is kept in /var/lib/kubeseed/rollback: /usr/local/sbin/kubeseed-rollback puts it back.
set -euo pipefail

readonly NODE='k8s-01'
readonly SITE='lab1'
readonly REVISION=2
readonly BASE=1
readonly RECORD='/var/lib/kubeseed/revision'
readonly PENDING='/var/lib/kubeseed/update-pending'
readonly LIST='files.sha256'
readonly LIST_SHA256='1ecb7bca930c220620f176e941334fcc1f95bf515c8ff33defa7f5a7c4a356ce'
readonly BACKUP='/var/lib/kubeseed/rollback'
readonly REMOVED=()
readonly HEALTH_TIMEOUT=${KUBESEED_HEALTH_TIMEOUT:-600}
readonly RERUN=./apply

say() { echo "kubeseed update [$NODE]: $*"; }
now() { date +%s; }
fail() {
  echo "kubeseed update [$NODE]: $*" >&2
  exit 1
}

cd "$(dirname "$0")"
[[ $(id -u) == 0 ]] || fail "run as root (the update installs into / and restarts units)"
host=$(hostname)
[[ "$host" == "$NODE" ]] || fail "this update is for node $NODE of site $SITE; this host is $host"

# 1. Every file checked before any is installed; the list itself against the sum this script carries.
[[ "$(sha256sum <"$LIST" | cut -d' ' -f1)" == "$LIST_SHA256" ]] || fail "$LIST does not match this update's apply script; nothing was installed"
if ! (cd 'files' && sha256sum --quiet --strict -c "../$LIST"); then
  fail "a file of this update does not match its sha256 (damaged or altered); nothing was installed"
fi
[[ "$(sha256sum <'payload.sha256' | cut -d' ' -f1)" == '7cc2a7fcc3c00fcb0ad91bb9fafc0048e815b84ac51efa06713bbd65c7a721b4' ]] ||
  fail "payload.sha256 does not match this update's apply script; nothing was installed"
if ! (cd 'payload' && sha256sum --quiet --strict -c ../'payload.sha256'); then
  fail "a download of this update (the new release's binaries or images) does not match its sha256 (damaged or altered); nothing was installed"
fi

# 2. The node's revision: an older update is refused, one made against a later revision than the node's too.
current=""
if [[ -f "$RECORD" ]]; then
  current=$(cat "$RECORD")
  [[ "$current" =~ ^[0-9]+$ ]] || fail "$RECORD holds '$current', not a revision number"
fi
if [[ -n "$current" ]] && ((current > REVISION)); then
  fail "the node is at site revision $current; this update is revision $REVISION, older: refused"
fi
if [[ -n "$current" ]] && ((current < BASE)); then
  fail "this update brings revision $BASE to $REVISION; the node is at revision $current and lacks the update(s) in between: apply those first"
fi

# 3. What differs on this node: content or mode of each file, files to remove, restarts left pending.
changed=()
selected=""
while read -r sum path; do
  target="/$path"
  if [[ -f "$target" && ! -L "$target" ]] &&
    [[ "$(sha256sum <"$target" | cut -d' ' -f1)" == "$sum" ]] &&
    [[ "$(stat -c %a 'files'/"$path")" == "$(stat -c %a "$target")" ]]; then
    continue
  fi
  changed+=("$target")
  selected+="$sum  $path"$'\n'
done <"$LIST"
gone=()
for target in "${REMOVED[@]}"; do
  if [[ -e "$target" || -L "$target" ]]; then
    gone+=("$target")
  fi
done
pending=()
if [[ -s "$PENDING" ]]; then
  mapfile -t pending <"$PENDING"
fi
# The new release's downloads: each file as first boot would install it, compared with what the node has.
art_from=()
art_to=()
art_mode=()
markers=()
images=()
art_stage=$(mktemp -d)
trap 'rm -rf "$art_stage"' EXIT
# differs FROM TO MARKER [MODE]: TO is to be replaced by FROM (and MARKER's units restarted) unless it holds the same bytes (and mode).
differs() {
  if [[ -f "$2" && ! -L "$2" ]] && cmp -s "$1" "$2" && [[ -z "${4:-}" || "$(stat -c %a "$2")" == "${4#0}" ]]; then
    return 0
  fi
  art_from+=("$1")
  art_to+=("$2")
  art_mode+=("${4:-}")
  [[ " ${markers[*]} " == *" $3 "* ]] || markers+=("$3")
}
# An archive is unpacked into a stage as first boot unpacks it into DEST, and each of its files compared.
staged() {
  local marker=$1 dest=$2 f
  # The listing goes through a file, not a process substitution: no /dev/fd needed.
  find "$art_stage/$marker" -type f -print0 | sort -z >"$art_stage/$marker.files"
  while IFS= read -r -d '' f; do
    differs "$f" "$dest/${f#"$art_stage/$marker"/}" "$marker"
  done <"$art_stage/$marker.files"
}
images_present() {
  local ref have
  have=$('/usr/local/bin/ctr' -n k8s.io images ls -q 2>/dev/null || true)
  for ref in "$@"; do
    grep -qxF "$ref" <<<"$have" || return 1
  done
}
mkdir -p "$art_stage"/'payload:crictl'
tar -xzf 'payload'/'crictl-v1.37.0-linux-amd64.tar.gz' -C "$art_stage"/'payload:crictl' --no-same-owner --strip-components=0
staged 'payload:crictl' '/usr/local/bin'
if ! images_present 'registry.k8s.io/pause:3.10.2' 'k8s.gcr.io/pause:3.10.2' 'registry.k8s.io/coredns/coredns:v1.14.4' 'k8s.gcr.io/coredns/coredns:v1.14.4' 'docker.io/flannel/flannel:v0.28.4' 'docker.io/flannel/flannel-cni-plugin:v1.7.1-flannel1' 'registry.k8s.io/metrics-server/metrics-server:v0.9.0' 'registry.k8s.io/kube-apiserver:v1.37.1' 'k8s.gcr.io/kube-apiserver:v1.37.1' 'registry.k8s.io/kube-controller-manager:v1.37.1' 'k8s.gcr.io/kube-controller-manager:v1.37.1' 'registry.k8s.io/kube-scheduler:v1.37.1' 'k8s.gcr.io/kube-scheduler:v1.37.1' 'registry.k8s.io/etcd:3.6.11-0' 'k8s.gcr.io/etcd:3.6.11-0'; then
  images+=('images-amd64.oci.tar')
  markers+=('payload:images')
fi
differs 'payload'/'kube-proxy-v1.37.1-amd64' '/usr/local/bin/kube-proxy' 'payload:kube-proxy' 0755
differs 'payload'/'kubeadm-v1.37.1-amd64' '/usr/local/bin/kubeadm' 'payload:kubeadm' 0755
differs 'payload'/'kubectl-v1.37.1-amd64' '/usr/local/bin/kubectl' 'payload:kubectl' 0755
differs 'payload'/'kubelet-v1.37.1-amd64' '/usr/local/bin/kubelet' 'payload:kubelet' 0755

if ((${#changed[@]} == 0 && ${#gone[@]} == 0 && ${#pending[@]} == 0 && ${#art_to[@]} == 0 && ${#images[@]} == 0)); then
  if [[ "$current" == "$REVISION" ]]; then
    say "already at site revision $REVISION: nothing to do"
    exit 0
  fi
  mkdir -p "$(dirname "$RECORD")"
  echo "$REVISION" >"$RECORD.tmp"
  mv "$RECORD.tmp" "$RECORD"
  say "every file of revision $REVISION already in place; recorded revision $REVISION (was ${current:-not recorded})"
  exit 0
fi

# touched PATTERN: whether this run installs or removes a path PATTERN matches (a path, or a directory and *).
touched() {
  local p
  # markers: the payload's downloads an update installs (payload:<component>).
  for p in "${changed[@]}" "${gone[@]}" "${markers[@]}"; do
    # shellcheck disable=SC2053 # the right side is a pattern on purpose
    [[ "$p" == $1 ]] && return 0
  done
  return 1
}
# wanted UNIT PATTERN...: whether UNIT restarts: one of its files is touched, or an earlier run left it pending.
wanted() {
  local unit=$1 p
  shift
  for p in "${pending[@]}"; do
    [[ "$p" == "$unit" ]] && return 0
  done
  for p in "$@"; do
    touched "$p" && return 0
  done
  return 1
}
# write_pending UNIT...: the restarts not yet done, kept so that a run stopped half-way does them when run again.
write_pending() {
  if (($#)); then printf '%s\n' "$@" >"$PENDING.tmp"; else : >"$PENDING.tmp"; fi
  mv "$PENDING.tmp" "$PENDING"
}
# plan_restarts: the units to restart, in order, recorded as pending before anything changes.
plan_restarts() {
  restarts=()
  if wanted 'kubeadm-upgrade' 'payload:kubeadm'; then restarts+=('kubeadm-upgrade'); fi
  if wanted 'kubelet' 'payload:kubelet'; then restarts+=('kubelet'); fi
  if wanted 'kube-proxy' 'payload:kube-proxy'; then restarts+=('kube-proxy'); fi
  if wanted 'cluster-manifests' '/opt/kubeseed/manifests/*'; then restarts+=('cluster-manifests'); fi
  mkdir -p "$(dirname "$PENDING")"
  write_pending "${restarts[@]}"
}

# Under kubeadm the control plane runs as static pods: a restart ends the pod's running container (SIGTERM to its
# task, through containerd's own ctr in the kubelet's namespace: crictl is optional in the payload) and the kubelet
# starts a new container from the same manifest, which reads the new files.
declare -A stopped=()
# static_ids NAME: the running containers of the static pod's container NAME.
static_ids() {
  local all running id
  all=$('/usr/local/bin/ctr' -n k8s.io containers ls -q "labels.\"io.kubernetes.container.name\"==$1" 2>/dev/null) || return 0
  running=$('/usr/local/bin/ctr' -n k8s.io tasks ls 2>/dev/null | awk '$3 == "RUNNING" { print $1 }') || return 0
  for id in $all; do
    if grep -qxF "$id" <<<"$running"; then echo "$id"; fi
  done
}
restart_static_pod() {
  local id ids
  ids=$(static_ids "$1")
  stopped[$1]=$ids
  for id in $ids; do
    '/usr/local/bin/ctr' -n k8s.io tasks kill -s SIGTERM "$id" >/dev/null
  done
}
# static_running NAME: a running container of the static pod other than the one stopped.
static_running() {
  local ids
  ids=$(static_ids "$1")
  [[ -n "$ids" && "$ids" != "${stopped[$1]:-}" ]]
}
# kubeadm renews the client certificates of the kubeconfigs it wrote, signed by the cluster CA on this node.
renew_kubeadm_kubeconfigs() {
  local name
  for name in admin.conf controller-manager.conf scheduler.conf; do
    '/usr/local/bin/kubeadm' certs renew "$name" >/dev/null || fail "kubeadm certs renew $name failed; run it by hand, then $RERUN again"
  done
}
# The cluster manifests, applied as first boot applies them (kubectl apply does not delete what a manifest dropped).
apply_cluster_manifests() {
  local deadline=$(($(now) + HEALTH_TIMEOUT))
  until '/usr/local/bin/kubectl' --kubeconfig '/etc/kubernetes/admin.conf' apply --recursive -f '/opt/kubeseed/manifests' >/dev/null; do
    if (($(now) >= deadline)); then
      fail "kubectl apply of /opt/kubeseed/manifests failed for ${HEALTH_TIMEOUT} s; the files are installed: fix it, then run $RERUN again"
    fi
    sleep 5
  done
}

healthy_etcd() {
  if [[ "${via[etcd]:-}" == static-pod ]] && ! static_running etcd; then
    return 1
  fi
  if [[ -x '/usr/local/bin/etcdctl' ]]; then
    ETCDCTL_API=3 '/usr/local/bin/etcdctl' --endpoints=https://127.0.0.1:2379 --cacert='/etc/kubernetes/pki/etcd/ca.crt' \
      --cert='/etc/kubernetes/pki/etcd/healthcheck-client.crt' --key='/etc/kubernetes/pki/etcd/healthcheck-client.key' --command-timeout=5s endpoint health >/dev/null 2>&1
  else
    systemctl is-active --quiet etcd
  fi
}
healthy_apiserver() {
  if [[ "${via[kube-apiserver]:-}" == static-pod ]] && ! static_running kube-apiserver; then
    return 1
  fi
  '/usr/local/bin/kubectl' --kubeconfig '/etc/kubernetes/kubelet.conf' --server 'https://127.0.0.1:6443' \
    --request-timeout=10s get --raw /readyz >/dev/null 2>&1
}
# The kubelet's healthz is plain HTTP on the loopback (healthzPort 10248); bash's /dev/tcp needs no curl.
healthy_kubelet() {
  local reply
  reply=$( (exec 3<>/dev/tcp/127.0.0.1/10248 && printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && timeout 5 cat <&3) 2>/dev/null || true)
  [[ "$reply" == "HTTP/1."?" 200"* ]]
}
healthy_active() {
  if [[ "${via[$1]:-systemd}" == static-pod ]]; then static_running "$1"; else systemctl is-active --quiet "$1"; fi
}
healthy_none() { :; }
# A step that is not a unit (kubeadm's upgrade) is healthy when it succeeded.
healthy_done() { return 0; }

# kubeadm mode: the new kubeadm moves this node's part of the control plane (or its kubelet config) to the new release.
kubeadm_upgrade() {
  '/usr/local/bin/kubeadm' 'upgrade' 'apply' 'v1.37.1' '--config' '/etc/kubeseed/kubeadm.yaml' '--yes' '--ignore-preflight-errors=ImagePull,CoreDNSUnsupportedPlugins,CoreDNSMigration' '--certificate-renewal=false'
}

wait_healthy() {
  local unit=$1 check=$2 deadline=$(($(now) + HEALTH_TIMEOUT))
  until "healthy_$check" "$unit"; do
    if (($(now) >= deadline)); then
      local logs="journalctl -u $unit"
      [[ "${via[$unit]:-systemd}" == static-pod ]] && logs="kubectl -n kube-system logs $unit-<node>"
      fail "$unit is not healthy ${HEALTH_TIMEOUT} s after its restart; the files are installed and the restarts left are in $PENDING: fix $unit ($logs), then run $RERUN again"
    fi
    sleep 2
  done
}

# run_restarts: systemd reloaded when a unit file changed, then each unit restarted and waited for until healthy.
run_restarts() {
  local target unit
  local -a left
  declare -A check=(['kubeadm-upgrade']='done' ['kubelet']='kubelet' ['kube-proxy']='active' ['cluster-manifests']='none' )
  # Seen by the health checks this calls (bash scopes locals dynamically).
  local -A via=(['kubeadm-upgrade']=kubeadm-upgrade ['kubelet']=systemd ['kube-proxy']=systemd ['cluster-manifests']=kubectl-apply )
  for target in "${changed[@]}" "${gone[@]}"; do
    if [[ "$target" == '/etc/systemd/system'/* ]]; then
      systemctl daemon-reload
      break
    fi
  done
  left=("${restarts[@]}")
  for unit in "${restarts[@]}"; do
    say "restarting $unit"
    case "${via[$unit]:-systemd}" in
      static-pod) restart_static_pod "$unit" ;;
      kubeadm-certs) renew_kubeadm_kubeconfigs ;;
      kubectl-apply) apply_cluster_manifests ;;
      kubeadm-upgrade) kubeadm_upgrade || fail "kubeadm's upgrade failed on $NODE; the new files are installed and the steps left are in $PENDING: fix what kubeadm names, then run $RERUN again (or kubeseed-rollback)" ;;
      *) systemctl restart "$unit" ;;
    esac
    wait_healthy "$unit" "${check[$unit]:-active}"
    left=("${left[@]:1}")
    write_pending "${left[@]}"
    say "$unit is healthy"
  done
}

# record REVISION: the node's revision, replaced in one rename.
record() {
  echo "$1" >"$RECORD.tmp"
  mv "$RECORD.tmp" "$RECORD"
}
mkdir -p "$(dirname "$RECORD")"
# Recorded as pending before anything changes, so that a run stopped half-way restarts them when run again.
plan_restarts

# 4. What this update replaces is kept first, for kubeseed-rollback: each file as it was (a binary by a
# second link to it: installing renames the new one into place, so the old bytes stay), the paths it
# creates, and the revision before. A rerun of the same update keeps the copy its first run made.
keep() {
  local t=$1 kept="$BACKUP.new/root$1"
  if [[ -e "$t" || -L "$t" ]]; then
    mkdir -p "${kept%/*}"
    ln "$t" "$kept" 2>/dev/null || cp -a "$t" "$kept"
  else
    echo "$t" >>"$BACKUP.new/created"
  fi
}
if ((${#changed[@]} + ${#gone[@]} + ${#art_to[@]})) && [[ "$(cat "$BACKUP/to" 2>/dev/null || true)" != "$REVISION" ]]; then
  rm -rf "$BACKUP.new"
  mkdir -p "$BACKUP.new/root"
  chmod 0700 "$BACKUP.new"
  : >"$BACKUP.new/created"
  for t in "${changed[@]}"; do
    # node files are copied (the install below rewrites them in place)
    if [[ -e "$t" ]]; then
      mkdir -p "$BACKUP.new/root${t%/*}"
      cp -a "$t" "$BACKUP.new/root$t"
    else
      echo "$t" >>"$BACKUP.new/created"
    fi
  done
  for t in "${gone[@]}" "${art_to[@]}"; do keep "$t"; done
  # kubeadm's upgrade (a step of the restarts below) rewrites the static pod manifests and the kubelet's config, which
  # are not this update's files: those there are kept as they are now, copied (kubeadm writes the kubelet's config in place).
  if [[ " ${restarts[*]} " == *" "'kubeadm-upgrade'" "* ]]; then
    for t in '/etc/kubernetes/manifests'/*.yaml '/var/lib/kubelet/config.yaml'; do
      if [[ -f "$t" && ! -e "$BACKUP.new/root$t" ]]; then
        mkdir -p "$BACKUP.new/root${t%/*}"
        cp -a "$t" "$BACKUP.new/root$t"
      fi
    done
  fi
  printf '%s\n' "${changed[@]}" "${gone[@]}" "${markers[@]}" | sed '/^$/d' >"$BACKUP.new/touched"
  echo "${current}" >"$BACKUP.new/from"
  echo "$REVISION" >"$BACKUP.new/to"
  install -m 0755 ./'rollback' "$BACKUP.new/rollback"
  rm -rf "$BACKUP"
  mv "$BACKUP.new" "$BACKUP"
  mkdir -p '/usr/local/sbin'
  ln -sfn "$BACKUP/rollback" '/usr/local/sbin/kubeseed-rollback'
  grep -qxF '/usr/local/sbin/kubeseed-rollback' '/var/lib/kubeseed/installed' 2>/dev/null || echo '/usr/local/sbin/kubeseed-rollback' >>'/var/lib/kubeseed/installed'
  say "kept what this update replaces in $BACKUP (/usr/local/sbin/kubeseed-rollback puts it back)"
fi

# 5. Install the files that differ (with their modes: keys 0600), remove those the node no longer gets.
if ((${#changed[@]})); then
  say "installing ${#changed[@]} file(s)"
  stage=$(mktemp -d)
  list=$(mktemp)
  printf '%s' "$selected" >"$list"
  tar -cf - -C 'files' . | tar -xpf - -C "$stage" --no-same-owner
  (cd "$stage" && sha256sum --quiet --strict -c "$list")
  # The host files these replace (the hosts file, chrony's config, …) are kept as they were before the
  # first install, and the directories they create are listed, for kubeseed-reset to put the host
  # back; a later install keeps nothing more. What cloud-init wrote just before (first boot itself,
  # its unit, kubeseed-status) is the node's own, not the host's.
  if [ ! -e /var/lib/kubeseed/originals/.kept ]; then
    mkdir -p /var/lib/kubeseed/originals
    sed -n 's/^[0-9a-f]\{64\}  //p' "$list" | while IFS= read -r f; do
      case "/$f" in
        /opt/kubeseed/firstboot | /etc/systemd/system/kubeseed-firstboot.service | /usr/local/bin/kubeseed-status) ;;
        *) if [ -e "/$f" ] || [ -L "/$f" ]; then
          mkdir -p "/var/lib/kubeseed/originals/${f%/*}"
          cp -a "/$f" "/var/lib/kubeseed/originals/$f"
        fi ;;
      esac
      d=/${f%/*}
      while [ -n "$d" ] && [ ! -d "$d" ]; do
        echo "$d"
        d=${d%/*}
      done
    done | sort -u >/var/lib/kubeseed/originals/.created
    : >/var/lib/kubeseed/originals/.kept
  fi
  # One tar pipe carries every listed file with its mode: two processes instead of two per file,
  # which counts where a fork is dear (small boards, emulated hosts).
  sed -n 's/^[0-9a-f]\{64\}  //p' "$list" | tar -cf - -C "$stage" --no-recursion -T - | tar -xpf - -C / --no-same-owner
  rm -rf "$stage"
  rm -f "$list"
fi
for target in "${gone[@]}"; do
  say "removing $target"
  rm -f "$target"
done
# The new release's binaries: each linked (or copied) beside its target and renamed into place, so a running
# one keeps its old file until it restarts.
if ((${#art_to[@]})); then
  say "installing ${#art_to[@]} file(s) of the new release"
  for i in "${!art_to[@]}"; do
    t=${art_to[$i]}
    mkdir -p "${t%/*}"
    ln -f "${art_from[$i]}" "$t.kubeseed-new" 2>/dev/null || cp -p "${art_from[$i]}" "$t.kubeseed-new"
    # A binary goes in 0755 as first boot installs it; an archive's files keep the archive's modes.
    [[ -z "${art_mode[$i]}" ]] || chmod "${art_mode[$i]}" "$t.kubeseed-new"
    mv -f "$t.kubeseed-new" "$t"
  done
fi
for archive in "${images[@]}"; do
  say "importing the images of $archive"
  '/usr/local/bin/ctr' -n k8s.io images import --platform 'linux/amd64' 'payload'/"$archive"
done

# 6. Restarts in order, each waited for until healthy before the next.
run_restarts

# 7. Done: the revision recorded, nothing pending.
record "$REVISION"
rm -f "$PENDING"
say "node at site revision $REVISION (was ${current:-not recorded}): ${#changed[@]} file(s) and ${#art_to[@]} download(s) installed, ${#gone[@]} removed, ${#restarts[@]} unit(s) restarted"
