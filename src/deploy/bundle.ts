// One host's bundle directory on the machine: verified against its
// SHA256SUMS (and the manifest.json beside it, when it was copied along)
// before anything reads it.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export class BundleError extends Error {}

export interface VerifiedBundle {
  readonly dir: string;
  /** the SHA-256 of its SHA256SUMS: names this bundle */
  readonly id: string;
  readonly files: ReadonlyMap<string, string>;
  readonly has: (file: string) => boolean;
  readonly read: (file: string) => string;
}

const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

// far above any bundle wgpc writes (a 100,000-prefix blocklist is a few MB)
const MAX_FILE = 512 * 1024 * 1024;
const MAX_SUMS = 1024 * 1024;

/** A regular file of the bundle (no link, device or directory), hashed in pieces. */
function hashFile(file: string, name: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    throw new BundleError(`${name} is missing`);
  }
  if (!stat.isFile()) throw new BundleError(`${name} is not a regular file`);
  if (stat.size > MAX_FILE) throw new BundleError(`${name} is larger than ${MAX_FILE / 1024 / 1024} MiB`);
  const hash = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) hash.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}

// a line quoted back to the user: printable, and short
const quoted = (line: string) => JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);

export function verifyBundle(dirArg: string): VerifiedBundle {
  const dir = path.resolve(dirArg);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new BundleError("it is not a directory");
  const sumsFile = path.join(dir, "SHA256SUMS");
  if (!fs.existsSync(sumsFile)) throw new BundleError("it has no SHA256SUMS (give one host's directory of a `wgpc compile` output)");
  const sumsStat = fs.lstatSync(sumsFile);
  if (!sumsStat.isFile() || sumsStat.size > MAX_SUMS) throw new BundleError("its SHA256SUMS is not a file wgpc writes");
  const sums = fs.readFileSync(sumsFile, "utf8");
  const files = new Map<string, string>();
  for (const line of sums.split("\n").filter(Boolean)) {
    const m = line.match(/^([0-9a-f]{64}) {2}(.+)$/);
    const name = m?.[2];
    if (!m || !name || name.split("/").some((part) => part === ".." || part === "." || part === "") || path.isAbsolute(name) || name === "SHA256SUMS" || files.has(name)) {
      throw new BundleError(`SHA256SUMS has a line wgpc did not write: ${quoted(line)}`);
    }
    if (hashFile(path.join(dir, name), name) !== m[1]) throw new BundleError(`${name} differs from SHA256SUMS`);
    files.set(name, m[1]!);
  }
  if (!files.has("apply.sh")) throw new BundleError("SHA256SUMS does not list apply.sh");
  // the manifest of the whole compile, when the host's directory still sits in it
  const manifestFile = path.join(path.dirname(dir), "manifest.json");
  if (fs.existsSync(manifestFile)) {
    // (a FIFO or a device there would block the read: only a regular file is read)
    const stat = fs.lstatSync(manifestFile);
    if (!stat.isFile() || stat.size > 64 * MAX_SUMS) throw new BundleError("the manifest.json beside it is not a file wgpc writes");
    let manifest: unknown;
    try {
      manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
    } catch {
      throw new BundleError("the manifest.json beside it is not JSON");
    }
    const outputs = (manifest as { outputs?: unknown } | null)?.outputs;
    const isOutput = (o: unknown) => typeof o === "object" && o !== null && typeof (o as { path?: unknown }).path === "string" && typeof (o as { sha256?: unknown }).sha256 === "string";
    if (!Array.isArray(outputs) || !outputs.every(isOutput)) throw new BundleError("the manifest.json beside it is not one wgpc writes (no list of outputs with path and sha256)");
    for (const o of (outputs as { path: string; sha256: string }[]).filter((o) => o.path.startsWith(`${path.basename(dir)}/`))) {
      const file = o.path.slice(path.basename(dir).length + 1);
      const have = file === "SHA256SUMS" ? sha256(sums) : files.get(file);
      if (have !== o.sha256) throw new BundleError(`${file} differs from manifest.json`);
    }
  }
  return {
    dir,
    id: sha256(sums),
    files,
    has: (file) => files.has(file),
    read: (file) => fs.readFileSync(path.join(dir, file), "utf8"),
  };
}
