#!/usr/bin/env bash
# Installs what lispwg and its test-bed need, only where it is missing:
# Debian packages through apt-get (once) and npm packages through `npm ci` (when the lock changed).
# Safe to run again: a machine that has everything is left untouched in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# command -> Debian package that provides it
declare -A need=(
  [wireguard-go]=wireguard-go [wg]=wireguard-tools [ip]=iproute2 [nuttcp]=nuttcp
  [tshark]=tshark [ping]=iputils-ping [fping]=fping [tcpdump]=tcpdump [nft]=nftables
  [tc]=iproute2 [dockerd]=docker.io [busybox]=busybox-static [chromium]=chromium
  [etcd]=etcd-server [etcdctl]=etcd-client [curl]=curl [python3]=python3
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd || -x /bin/$cmd ]] || missing+=("${need[$cmd]}")
done
# strongSwan's charon with kernel-libipsec: the userspace IPsec baseline where the kernel has no ESP (src/ipsec/)
[[ -x /usr/lib/ipsec/charon && -x /usr/sbin/swanctl && -f /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so && -f /usr/lib/ipsec/plugins/libstrongswan-chapoly.so ]] ||
  missing+=(strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins)
if ((${#missing[@]})); then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [[ $(id -u) -ne 0 ]]; then
    say "missing Debian packages: $pkgs; run this as root (or install them) and try again"; exit 1
  fi
  say "installing Debian packages: $pkgs"
  # tshark asks whether non-root users may capture; answer it so the install is unattended
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# npm packages: `npm ci` when node_modules is absent or older than the lock file
stamp=node_modules/.package-lock.json
if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# the N-API addon (TUN, netlink, bound sockets) is built by npm's install script; rebuild it if a
# checkout lacks it or its source is newer (a pull that adds a native call would otherwise fail at run time)
addon=src/native/build/Release/lispwg_native.node
if [[ ! -f $addon || src/native/native.c -nt $addon || src/native/binding.gyp -nt $addon ]]; then
  say "building the TUN/netlink addon (node-gyp)"
  npm run -s install >&2
fi

# Docker, for the docker backend, only when asked (`bash lab/setup.sh docker`): start dockerd when
# none answers, configured never to touch the root namespace's network (no iptables rules, no
# docker0 bridge, no ip_forward): the same flags lab/backend/dockerd.ts uses when it starts one.
if [[ ${1:-} == docker ]] && ! docker version >/dev/null 2>&1; then
  mkdir -p /var/log/lispwg /run/lispwg
  say "starting dockerd (log /var/log/lispwg/dockerd.log)"
  setsid -f dockerd --pidfile=/run/lispwg/dockerd.pid --host=unix:///var/run/docker.sock \
    --iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false --userland-proxy=false \
    >>/var/log/lispwg/dockerd.log 2>&1 </dev/null
  for _ in $(seq 300); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
  docker version >/dev/null 2>&1 || { say "dockerd did not start: see /var/log/lispwg/dockerd.log"; exit 1; }
fi
