// The analysis stage: lint findings over the checked policy and its IR.
// Nothing here changes what is compiled; it only reports.
import type { CheckedPolicy } from "../check/model.js";
import type { Diagnostic } from "../diagnostics/diagnostic.js";
import type { HostIr } from "../ir/types.js";
import { unusedDefinitions } from "./definitions.js";
import { essentialTraffic } from "./essentials.js";
import { familyAsymmetry } from "./families.js";
import { analyseRules } from "./rules.js";

export interface AnalysisContext {
  /** whether a file is one of the policy's own (not an imported library) */
  readonly inPolicy: (file: number) => boolean;
}

export function analyse(policy: CheckedPolicy, hosts: readonly HostIr[], context: AnalysisContext): Diagnostic[] {
  return [
    ...essentialTraffic(policy, hosts),
    ...analyseRules(policy, hosts),
    ...familyAsymmetry(policy, hosts),
    ...unusedDefinitions(policy, hosts, context.inPolicy),
  ];
}
