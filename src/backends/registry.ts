// Every backend, in one table. The CLI's --target word, the folder under
// src/backends/ and the golden folder under test/golden/ are the same word.
import type { Backend } from "./types.js";
import { iptablesBackend } from "./iptables/emit.js";
import { nftablesBackend } from "./nftables/emit.js";
import { tcBackend } from "./tc/emit.js";
import { xdpBackend } from "./xdp/emit.js";
import { wireguardBackend } from "./wireguard/emit.js";

export const backends: readonly Backend[] = [iptablesBackend, nftablesBackend, tcBackend, xdpBackend, wireguardBackend];

export const backendNames = (): string[] => backends.map((b) => b.name);

export const findBackend = (name: string): Backend | undefined => backends.find((b) => b.name === name);
