// The per-host apply script and the checksums it verifies first. Both are
// derived from the host's artifacts alone, so they are pure too.
import type { Artifact } from "../backends/types.js";
import type { HostBundle } from "../compile.js";
import { IPSET_SUFFIX as N } from "../backends/iptables/emit.js";
import { artifact, artifactSha256 } from "../backends/shared/pieces.js";

/**
 * @param natless the save/restore tools whose file has no nat table (no
 *   masquerade): the nat chains an older bundle made are taken out there
 */
function applyScript(host: string, paths: ReadonlySet<string>, isHub: boolean, ifbs: readonly string[], natless: readonly string[]): string {
  const has = (p: string) => paths.has(p);
  const lines = [
    "#!/bin/sh",
    `# Applies the wgpc bundle of ${host}, one datapath after the other:`,
    "# firewall (nft -f, or iptables-restore), then tc, then the XDP maps.",
    "#   apply.sh [--dry-run] [--firewall nftables|iptables]",
    "# --dry-run only validates the chosen firewall's files (iptables: sets it needs for the",
    "# test are made and removed again). Nothing runs if a file differs from SHA256SUMS.",
    "set -eu",
    'HERE=$(cd "$(dirname "$0")" && pwd)',
    'cd "$HERE"',
    `FIREWALL=${has("ruleset.nft") || !has("iptables.rules") ? "nftables" : "iptables"}`,
    "DRY=0",
    'while [ $# -gt 0 ]; do',
    '  case "$1" in',
    "    --dry-run) DRY=1 ;;",
    '    --firewall) shift; FIREWALL="${1:-}" ;;',
    '    *) echo "usage: $0 [--dry-run] [--firewall nftables|iptables]" >&2; exit 2 ;;',
    "  esac",
    "  shift",
    "done",
    'case "$FIREWALL" in nftables|iptables) ;; *) echo "unknown firewall: $FIREWALL" >&2; exit 2 ;; esac',
    'if ! sha256sum --quiet --strict -c SHA256SUMS; then echo "refusing to apply: files differ from SHA256SUMS" >&2; exit 3; fi',
    'if [ "$FIREWALL" = nftables ] && [ ! -f ruleset.nft ]; then echo "this bundle has no nftables script; use --firewall iptables" >&2; exit 2; fi',
    'if [ "$FIREWALL" = iptables ] && [ ! -f iptables.rules ]; then echo "this bundle has no iptables files; use --firewall nftables" >&2; exit 2; fi',
    ...(has("ipset.rules") ? IPSET_FUNCTIONS : []),
    ...NAT_CLEANUP_FUNCTION,
    'if [ "$DRY" = 1 ]; then',
    ...(has("ruleset.nft") ? ['  if [ "$FIREWALL" = nftables ]; then nft -c -f ruleset.nft; fi'] : []),
    ...(has("iptables.rules") && has("ipset.rules")
      ? [
          '  if [ "$FIREWALL" = iptables ]; then',
          "    # iptables-restore --test needs the sets to exist: sets this machine does not have yet",
          "    # are made for the test and removed after it",
          "    ipsets_load",
          '    made=""',
          "    for s in $(ipset_names); do",
          `      if ipset list -n "$s" >/dev/null 2>&1; then ipset destroy "$s${N}"; else ipset rename "$s${N}" "$s"; made="$made $s"; fi`,
          "    done",
          "    status=0",
          "    { iptables-restore --test iptables.rules && ip6tables-restore --test ip6tables.rules; } || status=$?",
          '    for s in $made; do ipset destroy "$s"; done',
          '    [ "$status" = 0 ] || exit "$status"',
          "  fi",
        ]
      : has("iptables.rules")
        ? ['  if [ "$FIREWALL" = iptables ]; then', "    iptables-restore --test iptables.rules", "    ip6tables-restore --test ip6tables.rules", "  fi"]
        : []),
    '  echo "dry run: the firewall files are valid"',
    "  exit 0",
    "fi",
    'if [ "$FIREWALL" = nftables ]; then',
    "  nft -f ruleset.nft",
    "  # one firewall per machine: what an iptables bundle loaded here before leaves (after the new rules are in)",
    "  if command -v iptables-save >/dev/null 2>&1; then",
    "    for t in iptables ip6tables; do",
    `      if "$t-save" -t filter 2>/dev/null | grep -q '^:wgpc-'; then`,
    `        printf '*filter\\n:INPUT ACCEPT [0:0]\\n:FORWARD ACCEPT [0:0]\\n:OUTPUT ACCEPT [0:0]\\nCOMMIT\\n' | "$t-restore"`,
    '        wgpc_nat_chains_out "$t"',
    '        echo "firewall: removed the rules an iptables bundle loaded ($t)"',
    "      fi",
    "    done",
    "  fi",
    "  if command -v ipset >/dev/null 2>&1; then",
    "    for s in $(ipset list -n | grep '^wgpc-'); do ipset destroy \"$s\" 2>/dev/null || true; done",
    "  fi",
    "else",
    ...(has("ipset.rules")
      ? [
          "  # the sets first, filled under temporary names and swapped in whole: a rule never sees one missing or half filled",
          "  ipsets_load",
          "  for s in $(ipset_names); do",
          `    if ipset list -n "$s" >/dev/null 2>&1; then ipset swap "$s${N}" "$s"; ipset destroy "$s${N}"; else ipset rename "$s${N}" "$s"; fi`,
          "  done",
        ]
      : []),
    "  iptables-restore iptables.rules",
    "  ip6tables-restore ip6tables.rules",
    ...(natless.length > 0
      ? [
          "  # no masquerade here: no nat table is written (it would put NAT in every packet's path);",
          "  # the chains an older bundle's masquerade made leave it, other tools' nat rules stay",
          ...natless.map((tool) => `  wgpc_nat_chains_out ${tool}`),
        ]
      : []),
    "  # one firewall per machine: the table an nftables bundle loaded here before leaves",
    "  if command -v nft >/dev/null 2>&1 && nft list table inet wgpc >/dev/null 2>&1; then",
    "    nft delete table inet wgpc",
    '    echo "firewall: removed the table inet wgpc an nftables bundle loaded"',
    "  fi",
    "  # sets an older bundle made and this one no longer uses (no rule refers to them now)",
    "  if command -v ipset >/dev/null 2>&1; then",
    "    for s in $(ipset list -n | grep '^wgpc-'); do",
    `      ${has("ipset.rules") ? 'ipset_names | grep -qx "$s" || ' : ""}ipset destroy "$s" 2>/dev/null || true`,
    "    done",
    "  fi",
    "fi",
    'echo "firewall: $FIREWALL applied"',
  ];
  if (isHub) {
    lines.push(
      "# the hub routes between the VPN and the rest",
      "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1",
    );
  }
  if (has("tc.batch")) {
    for (const ifb of ifbs) lines.push(`ip link show ${ifb} >/dev/null 2>&1 || ip link add ${ifb} type ifb`, `ip link set ${ifb} up`);
    lines.push("tc -batch tc.batch", 'echo "tc: applied"');
  }
  if (has("xdp/load.sh")) lines.push("sh xdp/load.sh ensure", 'echo "xdp: applied"');
  else {
    lines.push(
      "# no early drop in this bundle: remove what an older one attached",
      'PIN="${WGPC_BPFFS:-/sys/fs/bpf/wgpc}"',
      'for d in "$PIN"/*/; do [ -d "$d" ] || continue; i=$(basename "$d"); ip link set dev "$i" xdpdrv off 2>/dev/null || true; ip link set dev "$i" xdpgeneric off 2>/dev/null || true; rm -rf "$d"; done',
    );
  }
  return `${lines.join("\n")}\n`;
}

// shell functions for bundles with an ipset.rules file
const IPSET_FUNCTIONS = [
  `# the sets ipset.rules makes (under the name with ${N} appended)`,
  `ipset_names() { sed -n 's/^create \\(wgpc-[^ ]*\\)${N} .*/\\1/p' ipset.rules; }`,
  "ipsets_load() {",
  `  for s in $(ipset_names); do ipset destroy "$s${N}" 2>/dev/null || true; done`,
  "  ipset restore < ipset.rules",
  "}",
];

// wgpc's own chains in the nat table (listing the table does not make it)
const NAT_CLEANUP_FUNCTION = [
  "wgpc_nat_chains_out() {",
  `  for c in $("$1-save" -t nat 2>/dev/null | sed -n 's/^:\\(wgpc-[^ ]*\\) .*/\\1/p'); do`,
  '    while "$1" -t nat -D POSTROUTING -j "$c" 2>/dev/null; do :; done',
  '    "$1" -t nat -F "$c"',
  '    "$1" -t nat -X "$c"',
  "  done",
  "}",
];

/** Adds apply.sh and SHA256SUMS (over every other file of the host) to a bundle. */
export function withApplyScript(bundle: HostBundle, isHub: boolean): HostBundle {
  const paths = new Set(bundle.artifacts.map((a) => a.path));
  const tc = bundle.artifacts.find((a) => a.path === "tc.batch")?.text ?? "";
  const ifbs = [...new Set([...tc.matchAll(/ip link add (\S+) type ifb/g)].map((m) => m[1]!))];
  const natless = (["iptables", "ip6tables"] as const).filter((tool) => {
    const file = bundle.artifacts.find((a) => a.path === `${tool}.rules`);
    return file !== undefined && !file.text.includes("\n*nat\n");
  });
  const script: Artifact = artifact("apply.sh", applyScript(bundle.host, paths, isHub, ifbs, natless), { executable: true });
  const files = [...bundle.artifacts, script];
  const sums: Artifact = artifact("SHA256SUMS", files.map((a) => `${artifactSha256(a)}  ${a.path}\n`).join(""));
  return { host: bundle.host, artifacts: [...files, sums] };
}
