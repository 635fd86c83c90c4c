#!/usr/bin/env bash
# The whole test suite in one command (`npm run test:all`), on a fresh Debian 12 machine as on a
# used one: installs the programs the tests run against our output, builds the fixtures that are
# missing (each is cached in /var/cache/kubeseed, so only the first run pays for it), then runs
# the linters and `npm test` (build, every unit and integration test, the two-node smoke boot).
# Needs root (apt, debootstrap, network namespaces) and `npm ci` done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step 'test tools (Debian packages, kubectl)'
bash scripts/setup-test-tools.sh
# Kubernetes 1.20.2 from Debian's source: the render tests run its kubelet, kube-proxy, kubeadm and
# kube-apiserver (18 to 25 minutes the first time).
step 'Kubernetes 1.20.2 build'
bash scripts/e2e/build-kubernetes.sh
# A Debian minbase root for the tests that run our scripts in a chroot (kickstart %post); ~2 min once.
step 'Debian chroot'
bash scripts/fixtures/build-chroot.sh
# The smoke boot: QEMU and the payload's Debian packages, and the guest disk (debootstrap, ~6 min once).
step 'QEMU and the e2e guest disk'
bash scripts/e2e/setup.sh
bash scripts/e2e/build-guest.sh

# Both run even when the linters complain, so that one report shows lint and test failures alike.
status=0
step 'npm run lint'
npm run lint || status=1
step 'npm test'
npm test || status=1
exit "$status"
