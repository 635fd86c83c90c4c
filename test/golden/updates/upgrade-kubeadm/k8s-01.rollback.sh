#!/bin/bash
# kubeseed-rollback for node k8s-01 of site lab1: puts back what the last update applied here replaced
# (kept by its apply in /var/lib/kubeseed/rollback): every file and binary as it was, the paths it created
# removed, the same units restarted in the same order (each waited for until healthy), and the site
# revision before it recorded. Run as root on the node. The operator's bundle still names the newer
# revision: to stay on the old release, put its version back in the blueprint and run gen bundle.
set -euo pipefail

readonly NODE='k8s-01'
readonly BACKUP='/var/lib/kubeseed/rollback'
readonly LINK='/usr/local/sbin/kubeseed-rollback'
readonly RECORD='/var/lib/kubeseed/revision'
readonly PENDING='/var/lib/kubeseed/update-pending'
readonly HEALTH_TIMEOUT=${KUBESEED_HEALTH_TIMEOUT:-600}
readonly RERUN=$LINK

say() { echo "kubeseed rollback [$NODE]: $*"; }
now() { date +%s; }
fail() {
  echo "kubeseed rollback [$NODE]: $*" >&2
  exit 1
}

[[ $(id -u) == 0 ]] || fail "run as root (the rollback installs into / and restarts units)"
[[ "$(hostname)" == "$NODE" ]] || fail "this rollback is for node $NODE; this host is $(hostname)"
[[ -f "$BACKUP/to" ]] || fail "nothing to roll back: $BACKUP holds no update"
to=$(cat "$BACKUP/to")
from=$(cat "$BACKUP/from")

changed=()
gone=()
pending=()
# The downloads' markers are among the paths touched (payload:<component>).
markers=()
mapfile -t changed <"$BACKUP/touched"

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
  if wanted 'kubelet' 'payload:kubeadm' 'payload:kubelet'; then restarts+=('kubelet'); fi
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
  declare -A check=(['kubelet']='kubelet' ['kube-proxy']='active' ['cluster-manifests']='none' )
  # Seen by the health checks this calls (bash scopes locals dynamically).
  local -A via=(['kubelet']=systemd ['kube-proxy']=systemd ['cluster-manifests']=kubectl-apply )
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

plan_restarts

# Every file back as it was, renamed into place (a running binary keeps its file until it restarts).
n=0
find "$BACKUP/root" \( -type f -o -type l \) -print0 >"$BACKUP/kept"
while IFS= read -r -d '' kept; do
  t=${kept#"$BACKUP/root"}
  mkdir -p "${t%/*}"
  mv -f "$kept" "$t"
  n=$((n + 1))
done <"$BACKUP/kept"
while IFS= read -r t; do
  [[ -n "$t" ]] && rm -f "$t"
done <"$BACKUP/created"

run_restarts

if [[ -n "$from" ]]; then
  echo "$from" >"$RECORD.tmp"
  mv "$RECORD.tmp" "$RECORD"
else
  rm -f "$RECORD"
fi
rm -f "$PENDING" "$LINK"
rm -rf "$BACKUP"
say "the update to site revision $to is undone: $n file(s) put back, ${#restarts[@]} unit(s) restarted; the node is at ${from:+site revision }${from:-what its seed installed}"
