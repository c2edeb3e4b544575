// Generated lab policies for the benchmarks: H hosts, R allow rules spread
// over them (distinct sources and ports), and a blocklist of B prefixes
// denied to every host first. Deterministic, so every run measures the same.

/** The i-th blocklist prefix: /24s and /32s over 11.0.0.0–90.255.255.255, every tenth an IPv6 /64. */
export function blockPrefix(i) {
  if (i % 10 === 9) return `2001:db8:${(1 + (i >> 16)).toString(16)}:${(i & 0xffff).toString(16)}::/64`;
  const a = 11 + (i % 80), b = (i >> 7) & 255, c = (i >> 15) & 255;
  return i % 3 === 0 ? `${a}.${b}.${c}.0/24` : `${a}.${b}.${c}.${1 + (i % 250)}`;
}

/** The i-th rule's source: a distinct /32 in 172.16.0.0/12 (every eighth a /64 of 2001:db8:f::/48). */
export function ruleSource(i) {
  if (i % 8 === 7) return `2001:db8:f:${i.toString(16)}::/64`;
  return `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;
}

export const rulePort = (i) => 1000 + (i % 500);

export function hostName(h) {
  return `h${h + 1}`;
}

/** The policy as .wgp text and, for translators, its parts. */
export function generatePolicy({ hosts, rules, prefixes }) {
  const lines = [`# generated: ${hosts} hosts, ${rules} rules, ${prefixes} blocklist prefixes`];
  for (let h = 0; h < hosts; h++) lines.push(`host ${hostName(h)} 10.1.${h >> 8}.${(h & 255) + 1}, 2001:db8:1::${(h + 1).toString(16)}`);
  const block = Array.from({ length: prefixes }, (_, i) => blockPrefix(i));
  if (prefixes > 0) {
    lines.push(`group blocklist = ${[...new Set(block)].join(", ")}`);
    lines.push("deny blocklist -> any");
  }
  const ruleList = Array.from({ length: rules }, (_, i) => ({ source: ruleSource(i), host: hostName(i % hosts), port: rulePort(i) }));
  for (const r of ruleList) lines.push(`allow ${r.source} -> ${r.host}:${r.port}/tcp`);
  return { text: `${lines.join("\n")}\n`, block: [...new Set(block)], rules: ruleList };
}
