// Policy files from the disk: regular files only, of a bounded size. Bytes
// that are not UTF-8 are located so the loader can report them in place.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { FileReader } from "../syntax/load.js";

/** stdlib/ of this installation: the package root holds it, above src/ or dist/src/ */
function findStdlib(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "stdlib")) || !fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve("stdlib");
    dir = parent;
  }
  return path.join(dir, "stdlib");
}
export const STDLIB_DIR = findStdlib();

// far beyond any policy; keeps a mistaken argument from filling memory
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** The text, and where the first byte that is not UTF-8 landed in it (if any). A UTF-8 byte order mark is dropped. */
function decode(raw: Buffer): { text: string; invalidAt?: number } {
  const bytes = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? raw.subarray(3) : raw;
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const again = Buffer.from(text, "utf8");
  if (again.equals(bytes)) return { text };
  let i = 0;
  while (i < bytes.length && bytes[i] === again[i]) i++;
  // back to the start of the character the first difference is in
  while (i > 0 && (bytes[i]! & 0xc0) === 0x80) i--;
  return { text, invalidAt: new TextDecoder().decode(bytes.subarray(0, i)).length };
}

/** Standard input as policy text, with the same limit and checks as a file. */
export function readStdin(): { text: string; invalidAt?: number } | { error: string } {
  const chunks: Buffer[] = [];
  let size = 0;
  const chunk = Buffer.alloc(1 << 16);
  try {
    for (;;) {
      const n = fs.readSync(0, chunk, 0, chunk.length, null);
      if (n === 0) break;
      size += n;
      if (size > MAX_FILE_BYTES) return { error: `it is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB` };
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EOF") return decode(Buffer.concat(chunks));
    return { error: code === "EISDIR" ? "it is a directory" : code === "EAGAIN" ? "it is not ready to be read" : (e as Error).message };
  }
  return decode(Buffer.concat(chunks));
}

export const diskReader: FileReader = {
  read(filePath) {
    try {
      const stat = fs.statSync(filePath);
      if (stat.isDirectory()) return { error: "it is a directory" };
      if (!stat.isFile()) return { error: "it is not a regular file" };
      if (stat.size > MAX_FILE_BYTES) return { error: `it is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB` };
      return decode(fs.readFileSync(filePath));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { error: code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (e as Error).message };
    }
  },
  exists: (filePath) => fs.existsSync(filePath) && fs.statSync(filePath).isFile(),
  canonical: (filePath) => {
    try {
      return fs.realpathSync(filePath);
    } catch {
      return path.resolve(filePath);
    }
  },
};
