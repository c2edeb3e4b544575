// The lockout check: would the new policy still let the admin's SSH session
// open a new connection to this machine? Asked of the reference semantics
// (the host's input chain and early drops, from the bundle's ir.json), for
// the session's own source and the address and port it came in on.
import { parseAddress, type Family } from "../net/address.js";
import { evaluateChain } from "../ir/evaluate.js";
import { earlyVerdict, IP_PROTOCOL } from "../ir/early.js";
import type { InputIr } from "../ir/serialize.js";

export interface SshSession {
  readonly client: string;
  readonly server: string;
  readonly port: number;
}

/** `SSH_CONNECTION` is "client_ip client_port server_ip server_port". */
export function parseSshConnection(value: string | undefined): SshSession | undefined {
  const parts = value?.trim().split(/\s+/);
  if (!parts || parts.length !== 4) return undefined;
  const unmapped = (a: string) => a.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  // ports as sshd writes them: decimal digits (not 22.0, 0x16 or 1e1)
  if (!/^\d{1,5}$/.test(parts[1]!) || !/^\d{1,5}$/.test(parts[3]!)) return undefined;
  const port = Number(parts[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { client: unmapped(parts[0]!), server: unmapped(parts[2]!), port };
}

export interface LockoutVerdict {
  readonly cut: boolean;
  readonly decided: string;
  /** the deciding rule's label (`policy.wgp:29`), when a rule decided */
  readonly label?: string;
}

function address(text: string): { family: Family; bits: bigint } | undefined {
  const p = parseAddress(text.replace(/%.*$/, ""));
  return p.ok && !p.hadLength ? { family: p.family, bits: p.bits } : undefined;
}

/**
 * The verdict on a new TCP connection of the session, arriving on `iface`
 * (the interface that holds the server address), with the rule that decided.
 */
export function checkLockout(ir: InputIr, session: SshSession, iface: string | undefined): LockoutVerdict | { readonly error: string } {
  const client = address(session.client);
  const server = address(session.server);
  if (!client || !server || client.family !== server.family) return { error: `cannot read the session's addresses ${session.client} and ${session.server}` };
  const family = client.family;
  for (const program of ir.early) {
    if (program.iface !== iface) continue;
    const early = earlyVerdict(program, { family, saddr: client.bits, daddr: server.bits, proto: IP_PROTOCOL.tcp, l4: true, dport: session.port });
    const label = program.rules[early.rule!]?.label;
    if (early.verdict === "drop") return { cut: true, decided: `would be dropped early (XDP on ${iface}) by ${label}`, label };
  }
  const decision = evaluateChain(ir.input[family], { family, iif: iface, saddr: client.bits, daddr: server.bits, proto: "tcp", dport: session.port, ct: "new" });
  const by = decision.rule ? `${decision.rule.origin.label}${decision.rule.origin.kind === "default" ? " (the default)" : ""}` : "the default policy (no rule allows it)";
  const label = decision.rule?.origin.label;
  if (decision.verdict === "accept") return { cut: false, decided: `is accepted by ${by}`, label };
  return { cut: true, decided: `would be ${decision.verdict === "reject" ? "rejected" : "dropped"} by ${by}`, label };
}
