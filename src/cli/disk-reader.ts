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

/** The text, and where the first byte that is not UTF-8 landed in it (if any). */
function decode(bytes: Buffer): { text: string; invalidAt?: number } {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const again = Buffer.from(text, "utf8");
  if (again.equals(bytes)) return { text };
  let i = 0;
  while (i < bytes.length && bytes[i] === again[i]) i++;
  // back to the start of the character the first difference is in
  while (i > 0 && (bytes[i]! & 0xc0) === 0x80) i--;
  return { text, invalidAt: new TextDecoder().decode(bytes.subarray(0, i)).length };
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
