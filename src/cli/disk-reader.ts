// Policy files from the disk. Bytes that are not UTF-8 become U+FFFD, which
// the lexer then reports at its position instead of crashing.
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

export const diskReader: FileReader = {
  read(filePath) {
    try {
      if (fs.statSync(filePath).isDirectory()) return { error: "it is a directory" };
      return { text: new TextDecoder("utf-8", { fatal: false }).decode(fs.readFileSync(filePath)) };
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
