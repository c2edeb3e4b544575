// IPv4/IPv6 asymmetry: an allow that opens a dual-stack machine in one family
// only, although its sources have addresses in both. Usually the rule named
// the machine by one of its addresses, or through a group of one family.
import type { CheckedPolicy } from "../check/model.js";
import { prefixContains, type Family } from "../net/address.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import type { HostIr } from "../ir/types.js";

const familyName = (f: Family) => `IPv${f}`;

export function familyAsymmetry(policy: CheckedPolicy, hosts: readonly HostIr[]): Diagnostic[] {
  const families = new Map<number, Set<Family>>();
  for (const host of hosts) {
    for (const family of [4, 6] as const) {
      const ir = host.families[family];
      for (const chain of Object.values(ir.filter)) {
        for (const rule of chain.sections.flatMap((s) => [...s.rules, ...(s.repeats ?? [])])) {
          if (rule.origin.kind !== "policy") continue;
          families.set(rule.origin.seq, (families.get(rule.origin.seq) ?? new Set()).add(family));
        }
      }
    }
  }
  const out: Diagnostic[] = [];
  for (const rule of policy.rules) {
    if (rule.verb !== "allow" || rule.services !== null && (rule.services[4].length === 0 || rule.services[6].length === 0)) continue;
    const seen = families.get(rule.origin.seq);
    if (!seen || seen.size !== 1) continue;
    const [allowed] = [...seen] as [Family];
    const other: Family = allowed === 4 ? 6 : 4;
    const sourcesHaveOther = rule.sources.some((s) => s.kind === "any" || s.prefix.family === other);
    if (!sourcesHaveOther) continue;
    // a destination machine with addresses of the other family that the rule leaves out
    const dualStack = [...policy.machines.values()].find((m) => {
      const named = rule.dests.some(
        (d) => d.kind === "machine" ? d.name === m.name : d.kind === "prefix" && [...m.physical, ...m.overlay].some((a) => prefixContains(d.prefix, a)),
      );
      return named && [...m.physical, ...m.overlay].some((a) => a.family === other);
    });
    if (!dualStack) continue;
    out.push(
      diagnostic("family-asymmetry", { allowed: familyName(allowed), name: dualStack.name, other: familyName(other) }, rule.origin.span, {
        help: `name \`${dualStack.name}\` itself to allow both families, or add its ${familyName(other)} addresses`,
      }),
    );
  }
  return out;
}
