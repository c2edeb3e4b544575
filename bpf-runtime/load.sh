#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Loads wgpc's XDP program for the interfaces listed in ./interfaces
# (lines: IFACE L3 TRIE_SIZE) and fills its maps from ./IFACE/maps.batch.
#   load.sh attach [IFACE...]   compile, load, pin, fill the maps, attach
#   load.sh update [IFACE...]   replace the maps' contents; the program stays
#   load.sh ensure              attach where nothing is pinned yet, update elsewhere (and
#                               attach the pinned program again where it was taken off),
#                               and detach interfaces this bundle no longer lists
#   load.sh detach [IFACE...]   detach and unpin
# Needs clang, bpftool and ip (iproute2). Pins live under ${WGPC_BPFFS:-/sys/fs/bpf/wgpc}/<iface>/.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PIN="${WGPC_BPFFS:-/sys/fs/bpf/wgpc}"
# bpffs holds only pins: scratch files go elsewhere
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# field IFACE N: the Nth field of the interface's line (1 name, 2 L3, 3 trie size)
field() {
  line=$(awk -v i="$1" '$1 == i' "$HERE/interfaces")
  if [ -z "$line" ]; then
    echo "no XDP program for $1 in this bundle" >&2
    exit 2
  fi
  echo "$line" | awk -v n="$2" '{ print $n }'
}

# the size the tries were created with, from the pinned map
trie_size() {
  bpftool -j map show pinned "$PIN/$1/wgpc_src4" | sed -n 's/.*"max_entries":\([0-9]*\).*/\1/p'
}

update() {
  dir="$PIN/$1"
  if [ "$(trie_size "$1")" -lt "$(field "$1" 3)" ]; then
    # the new lists do not fit the tries made for the old ones: only a reload can grow them
    echo "$1: prefix lists outgrew the loaded program; reloading it" >&2
    detach "$1"
    attach "$1"
    return
  fi
  sed "s#pinned /sys/fs/bpf/wgpc/#pinned $PIN/#" "$HERE/$1/maps.batch" > "$TMP/batch"
  bpftool batch file "$TMP/batch"
  # delete the prefixes an older policy put there and this one does not
  for map in wgpc_src4 wgpc_dst4 wgpc_src6 wgpc_dst6; do
    grep "/$map key hex " "$TMP/batch" | sed 's/.* key hex \(.*\) value hex .*/\1/' | sort > "$TMP/keep"
    bpftool -j map dump pinned "$dir/$map" | tr '{' '\n' | sed -n 's/.*"key":\[\([^]]*\)\].*/\1/p' \
      | sed 's/"0x\([0-9a-f]*\)"/\1/g; s/,/ /g' | sort > "$TMP/have"
    comm -23 "$TMP/have" "$TMP/keep" | sed "s#^#map delete pinned $dir/$map key hex #" > "$TMP/stale"
    if [ -s "$TMP/stale" ]; then bpftool batch file "$TMP/stale"; fi
  done
}

# Pins need a bpf filesystem. systemd mounts one at /sys/fs/bpf; a machine
# booted without it (a container, a minimal init) gets it mounted here.
ensure_bpffs() {
  at="$PIN"
  while [ ! -d "$at" ]; do at=$(dirname "$at"); done
  [ "$(stat -f -c %T "$at")" = bpf_fs ] && return 0
  case "$PIN" in
    /sys/fs/bpf/*) echo "mounting a bpf filesystem on /sys/fs/bpf for the pins" >&2; mount -t bpf bpf /sys/fs/bpf ;;
    *) echo "$PIN is not on a bpf filesystem: mount one (mount -t bpf bpf DIR) or set WGPC_BPFFS" >&2; exit 1 ;;
  esac
}

attach() {
  dir="$PIN/$1"
  ensure_bpffs
  mkdir -p "$dir"
  if [ -f "$HERE/$1/wgpc_xdp.o" ]; then
    # built elsewhere, with the same flags (a machine without clang)
    cp "$HERE/$1/wgpc_xdp.o" "$TMP/wgpc_xdp.o"
  else
    clang -O2 -g -target bpf -Wall -Werror -DWGPC_L3_DEVICE="$(field "$1" 2)" -DWGPC_LPM_ENTRIES="$(field "$1" 3)" \
      -I"/usr/include/$(uname -m)-linux-gnu" -c "$HERE/wgpc_xdp.c" -o "$TMP/wgpc_xdp.o"
  fi
  bpftool prog load "$TMP/wgpc_xdp.o" "$dir/prog" type xdp pinmaps "$dir"
  update "$1"
  # native where the driver has it, generic otherwise; -force replaces a program already on the
  # interface (one whose pins are gone: wgpc's XDP on this interface is this bundle's)
  ip -force link set dev "$1" xdpdrv pinned "$dir/prog" 2>/dev/null || {
    ip link set dev "$1" xdpdrv off 2>/dev/null || true
    ip -force link set dev "$1" xdpgeneric pinned "$dir/prog"
  }
}

ensure() {
  if [ -e "$PIN/$1/prog" ]; then update "$1"; reattach "$1"; else attach "$1"; fi
}

# the pinned program on its interface again, when something took it off (or put another on)
reattach() {
  pinned=$(bpftool -j prog show pinned "$PIN/$1/prog" | sed -n 's/^{"id":\([0-9]*\),.*/\1/p')
  on=$(ip -d link show dev "$1" | sed -n 's/.*prog\/xdp[a-z]* id \([0-9]*\) .*/\1/p' | head -n 1)
  [ "$on" = "$pinned" ] && return 0
  echo "$1: the pinned program was not attached (found ${on:-none}); attaching it again" >&2
  ip -force link set dev "$1" xdpdrv pinned "$PIN/$1/prog" 2>/dev/null || ip -force link set dev "$1" xdpgeneric pinned "$PIN/$1/prog"
}

# detach what an older bundle attached on interfaces this one no longer uses
prune() {
  [ -d "$PIN" ] || return 0
  for d in "$PIN"/*/; do
    [ -d "$d" ] || continue
    i=$(basename "$d")
    if ! awk -v i="$i" '$1 == i { found = 1 } END { exit !found }' "$HERE/interfaces"; then
      echo "$i: no longer in this bundle; detaching" >&2
      detach "$i"
    fi
  done
}

detach() {
  ip link set dev "$1" xdpdrv off 2>/dev/null || true
  ip link set dev "$1" xdpgeneric off 2>/dev/null || true
  rm -rf "${PIN:?}/$1"
}

action="${1:-}"
[ $# -gt 0 ] && shift
targets="$*"
[ -n "$targets" ] || targets=$(awk '{ print $1 }' "$HERE/interfaces")
case "$action" in
  attach|update|detach|ensure) for i in $targets; do field "$i" 1 >/dev/null; "$action" "$i"; done ;;
esac
case "$action" in
  ensure) prune ;;
  attach|update|detach) ;;
  *) echo "usage: $0 attach|update|detach|ensure [IFACE...]" >&2; exit 2 ;;
esac
