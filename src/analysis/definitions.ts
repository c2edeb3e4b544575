// Definitions no statement refers to: leftovers, or a typo elsewhere.
import type { CheckedPolicy } from "../check/model.js";
import type { HostIr } from "../ir/types.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";

/** `inPolicy` tells the files being compiled from imported libraries, whose definitions may go unused. */
export function unusedDefinitions(policy: CheckedPolicy, hosts: readonly HostIr[], inPolicy: (file: number) => boolean): Diagnostic[] {
  // a machine is used when a statement names it or a rule has a place on it (`any`, its address)
  const concerned = new Set(hosts.filter((h) => h.placed.size > 0).map((h) => h.name));
  return policy.definitions
    .filter((d) => !d.used && !(d.kind === "host" && concerned.has(d.name)) && inPolicy(d.span.file))
    .map((d) =>
      diagnostic("unused-definition", { kind: d.kind, name: d.name }, d.span, {
        help: d.kind === "host" ? "no rule concerns this machine: it gets only the default rules" : `remove the ${d.kind} or use it`,
      }),
    );
}
