// The contract of a backend: a pure function from one host's IR to files.
import type { HostIr } from "../ir/types.js";

export interface Artifact {
  /** path relative to the host's bundle directory */
  readonly path: string;
  /**
   * The content as pieces written one after the other; a long piece may be
   * the same string in many machines' files (see shared/pieces.ts).
   */
  readonly pieces: readonly string[];
  /** the whole content in one string, joined when read: for small files and tests */
  readonly text: string;
  /** a script: written with the execute bit */
  readonly executable?: boolean;
}

export interface EmitContext {
  /** the compiler's version, for the header line */
  readonly version: string;
  /**
   * false: one rule per IR rule, no set lookups or ipsets (the naive form,
   * for the benchmark's comparison); compacted otherwise
   */
  readonly compact?: boolean;
}

export interface Backend {
  /** the --target word, the folder under src/backends/ and the golden file folder */
  readonly name: string;
  readonly description: string;
  readonly emit: (host: HostIr, context: EmitContext) => readonly Artifact[];
}
