// A bundle file as pieces written one after the other. A long list that
// many machines share (a blocklist's spelling) is built once per compile and
// is the same string in every machine's file: 50 machines with a 100,000
// prefix blocklist hold one copy of its text, not 50. Joining the pieces
// into one string (Array.join, or hashing a concatenation, which V8
// flattens in place) would copy it per machine; files are hashed and
// written piece by piece instead.
import { createHash } from "node:crypto";
import type { Artifact } from "../types.js";

/** Texts at least this long are kept as their own piece. */
export const LONG_PIECE = 4096;

/**
 * Long texts stand in the lines of a file being printed as a short mark
 * (lines stay small to compare and join) and come back as pieces of their
 * own when the file is assembled. The mark's control characters are ones
 * no printed file can hold otherwise: user text with them is refused.
 */
export class SharedPieces {
  private readonly marks = new Map<string, string>();
  private readonly texts: string[] = [];

  /** `text` itself when short, else its mark (the same mark for the same text). */
  mark(text: string): string {
    if (text.length < LONG_PIECE) return text;
    let mark = this.marks.get(text);
    if (mark === undefined) this.marks.set(text, (mark = `\u0001${this.texts.push(text) - 1}\u0002`));
    return mark;
  }

  /** The file's pieces: `text` with every mark put back as its own piece. */
  splice(text: string): string[] {
    if (this.texts.length === 0) return [text];
    return text.split(/\u0001(\d+)\u0002/).map((part, i) => (i % 2 === 1 ? this.texts[Number(part)]! : part)).filter((p) => p !== "");
  }
}

/** Lines joined with newlines (and one at the end), a long line kept as its own piece. */
export function linePieces(lines: readonly string[]): string[] {
  const pieces: string[] = [];
  let run: string[] = [];
  const flush = () => {
    if (run.length > 0) pieces.push(run.join(""));
    run = [];
  };
  for (const line of lines) {
    if (line.length >= LONG_PIECE) {
      flush();
      pieces.push(line, "\n");
    } else run.push(line, "\n");
  }
  flush();
  return pieces;
}

/** A bundle file from its text or its pieces; `text` joins the pieces when read. */
export function artifact(path: string, content: string | readonly string[], options: { executable?: boolean } = {}): Artifact {
  const pieces = typeof content === "string" ? [content] : content;
  return {
    path,
    pieces,
    ...(options.executable ? { executable: true } : {}),
    get text() {
      return pieces.join("");
    },
  };
}

export const artifactLength = (a: Artifact): number => a.pieces.reduce((n, p) => n + Buffer.byteLength(p, "utf8"), 0);

// SHA256SUMS and the manifest ask for the same files' digests: computed once
const digests = new WeakMap<Artifact, string>();

/** SHA-256 of the file's bytes (UTF-8), in hex, hashed piece by piece. */
export function artifactSha256(a: Artifact): string {
  let digest = digests.get(a);
  if (digest === undefined) {
    const hash = createHash("sha256");
    for (const piece of a.pieces) hash.update(piece, "utf8");
    digests.set(a, (digest = hash.digest("hex")));
  }
  return digest;
}
