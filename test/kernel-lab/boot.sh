#!/usr/bin/env bash
# Boots Debian's stock kernel under QEMU (software emulation: no KVM needed)
# with an initramfs made of this machine's own tools, runs GUEST_SCRIPT in it
# and prints what it wrote between the start and end markers.
#   test/kernel-lab/boot.sh GUEST_SCRIPT [FILES_DIR]
# FILES_DIR is copied into the guest as /lab. The kernel package is
# downloaded once into ${WGPC_KERNEL_CACHE:-~/.cache/wgpc-kernel} (never
# installed on this machine, never committed).
set -euo pipefail
guest_script=$1
files=${2:-}
cache=${WGPC_KERNEL_CACHE:-$HOME/.cache/wgpc-kernel}
mkdir -p "$cache"

# --- the kernel, from Debian's packages
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
deb=$(ls "$cache"/"$pkg"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  (cd "$cache" && apt-get download -qq "$pkg" 2>/dev/null)
  deb=$(ls "$cache"/"$pkg"_*.deb | head -1)
fi
root="$cache/$pkg"
if [ ! -d "$root/lib/modules" ]; then dpkg -x "$deb" "$root"; fi
kver=$(ls "$root/lib/modules")
# the package leaves the dependency list to depmod at install time
if [ ! -s "$root/lib/modules/$kver/modules.dep" ]; then depmod -b "$root" "$kver"; fi
vmlinux="$cache/$pkg.vmlinux"
if [ ! -s "$vmlinux" ]; then
  # the bzImage carries an xz stream: decompressing it here saves seconds of emulated decompression
  offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$root/boot/vmlinuz-$kver" | head -1 | cut -d: -f1 || true)
  if [ -n "$offset" ]; then tail -c +$((offset + 1)) "$root/boot/vmlinuz-$kver" | xz -dcq > "$vmlinux" 2>/dev/null || true; fi
  # an ELF kernel or, failing that, the bzImage itself
  if ! head -c 4 "$vmlinux" 2>/dev/null | grep -q ELF; then cp "$root/boot/vmlinuz-$kver" "$vmlinux"; fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
init="$work/init"
mkdir -p "$init"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,run,etc/wireguard,lab,modules,sys/fs/bpf}

# --- tools: the host's binaries and the libraries they load
copy_bin() {
  local bin
  bin=$(command -v "$1")
  cp -L "$bin" "$init/usr/sbin/$(basename "$1")"
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$init$(dirname "$lib")"
    cp -L "$lib" "$init$lib"
  done
}
for b in ip tc nft xtables-nft-multi wg ping bpftool bash sha256sum sysctl nsenter unshare mktemp stat readlink; do copy_bin "$b"; done
cp "$(command -v wg-quick)" "$init/usr/sbin/wg-quick"
for alias in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
  ln -s xtables-nft-multi "$init/usr/sbin/$alias"
done
cp /bin/busybox "$init/bin/busybox"
# busybox for the small utilities; bash as sh, so that scripts find the real tools on PATH
for applet in mount mkdir cat echo sleep insmod poweroff nc grep awk sed cp chmod ls ln rm sort comm cut tr head tail basename dirname wc tee timeout seq id; do
  ln -s busybox "$init/bin/$applet"
done
ln -s /usr/sbin/bash "$init/bin/sh"
ln -s /usr/sbin/bash "$init/bin/bash"
mkdir -p "$init/usr/lib/x86_64-linux-gnu/xtables"
cp -L /usr/lib/x86_64-linux-gnu/xtables/*.so "$init/usr/lib/x86_64-linux-gnu/xtables/" 2>/dev/null || true
echo "root:x:0:0::/:/bin/sh" > "$init/etc/passwd"
printf 'ip 0 IP\nicmp 1 ICMP\ntcp 6 TCP\nudp 17 UDP\nipv6-icmp 58 IPv6-ICMP\n' > "$init/etc/protocols"

# --- modules, in dependency order, one module per modprobe call
modules="veth bridge wireguard sch_htb sch_netem sch_fq_codel cls_u32 cls_flower act_mirred ifb nf_tables nft_ct nft_reject_inet nft_masq nft_nat nft_chain_nat nft_compat xt_conntrack xt_comment xt_multiport xt_tcpudp xt_hl xt_MASQUERADE ipt_REJECT ip6t_REJECT iptable_filter iptable_nat ip6table_filter ip6table_nat"
: > "$init/modules/order"
for m in $modules; do
  modprobe -d "$root" -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$init/modules/"
  echo "/modules/$(basename "$ko")" >> "$init/modules/order"
done

if [ -n "$files" ]; then cp -r "$files"/. "$init/lab/"; fi
cp "$guest_script" "$init/lab/guest.sh"
cat > "$init/init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ln -sf /proc/self/fd /dev/fd
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t bpf bpf /sys/fs/bpf
mkdir -p /run/netns
for ko in $(cat /modules/order); do insmod "$ko" 2>/dev/null; done
echo "@@WGPC-START@@"
/usr/sbin/bash /lab/guest.sh 2>&1
echo "@@WGPC-END@@ $?"
poweroff -f
INIT
chmod +x "$init/init"
(cd "$init" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

log="$work/serial.log"
timeout "${WGPC_BOOT_TIMEOUT:-170}" qemu-system-x86_64 -M pc -accel tcg,thread=multi -cpu max -smp 2 -m 1G \
  -nodefaults -display none -nic none -no-reboot -serial "file:$log" \
  -kernel "$vmlinux" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet mitigations=off tsc=reliable rdinit=/init" || true
if ! grep -q '@@WGPC-END@@' "$log"; then
  echo "the guest did not finish; its serial log:" >&2
  cat "$log" >&2
  exit 1
fi
sed -n '/@@WGPC-START@@/,/@@WGPC-END@@/p' "$log" | sed '1d' | tr -d '\r'
status=$(grep -o '@@WGPC-END@@ [0-9]*' "$log" | awk '{ print $2 }')
exit "$status"
