// Writes host bundles and the manifest so that a reader sees either the old
// output directory or the complete new one: everything goes to a temporary
// sibling first and is renamed into place. A directory that is not a wgpc
// output (no manifest.json, not empty) is never replaced.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { HostBundle } from "../compile.js";
import { VERSION } from "../version.js";
import type { Artifact } from "../backends/types.js";
import { artifactSha256 } from "../backends/shared/pieces.js";

export interface ManifestInput {
  readonly path: string;
  readonly text: string;
}

export interface Manifest {
  readonly compiler: { readonly name: "wgpc"; readonly version: string };
  readonly inputs: readonly { path: string; sha256: string }[];
  readonly outputs: readonly { path: string; host: string; sha256: string }[];
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

export function buildManifest(inputs: readonly ManifestInput[], bundles: readonly HostBundle[]): Manifest {
  return {
    compiler: { name: "wgpc", version: VERSION },
    inputs: inputs.map((i) => ({ path: i.path, sha256: sha256(i.text) })),
    outputs: bundles.flatMap((b) =>
      b.artifacts.map((a) => ({ path: `${b.host}/${a.path}`, host: b.host, sha256: artifactSha256(a) })),
    ),
  };
}

export class OutputDirError extends Error {}

/**
 * Why `dir` may not be replaced, or undefined when it may: it is missing or
 * empty, or it is a wgpc output and holds nothing but what its manifest
 * lists. A stray file (notes kept beside a bundle, a project that happens
 * to have a manifest.json) would be lost with the old output: refused.
 */
function notReplaceable(dir: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  if (!fs.statSync(dir).isDirectory()) return "it exists and is not a directory";
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return undefined;
  const manifestPath = path.join(dir, "manifest.json");
  let listed: Set<string>;
  try {
    const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as Partial<Manifest>;
    if (manifest.compiler?.name !== "wgpc" || !Array.isArray(manifest.outputs)) throw new Error("not a wgpc manifest");
    listed = new Set(manifest.outputs.map((o) => String(o.path)));
  } catch {
    return "it exists and is not a wgpc output directory (no wgpc manifest.json); refusing to replace it";
  }
  const stray: string[] = [];
  const walk = (relative: string) => {
    for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const name = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(name);
      else if (name !== "manifest.json" && !listed.has(name)) stray.push(name);
    }
  };
  walk("");
  if (stray.length > 0) {
    return `it holds files that wgpc did not write (${stray.slice(0, 3).join(", ")}${stray.length > 3 ? ", …" : ""}); move them away or choose another directory`;
  }
  return undefined;
}

/** A file written piece by piece: a piece shared by many machines' files is never copied into one string. */
function writePieces(file: string, artifact: Artifact): void {
  const fd = fs.openSync(file, "w", artifact.executable ? 0o755 : 0o644);
  try {
    for (const piece of artifact.pieces) {
      const bytes = Buffer.from(piece, "utf8");
      // a write may take less than it was given: go on until all is written
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the bundles under `dir`, replacing a previous wgpc output there. */
export function writeBundles(dir: string, bundles: readonly HostBundle[], manifest: Manifest): void {
  // through a symbolic link to the directory it names: the link stays a link
  const target = fs.existsSync(dir) ? fs.realpathSync(dir) : path.resolve(dir);
  const refusal = notReplaceable(target);
  if (refusal) throw new OutputDirError(refusal);
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const staging = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.new-`));
  // mkdtemp makes it private; the bundle is not secret (no private keys ever are in it)
  fs.chmodSync(staging, 0o755);
  try {
    for (const bundle of bundles) {
      for (const artifact of bundle.artifacts) {
        const file = path.join(staging, bundle.host, artifact.path);
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
        writePieces(file, artifact);
      }
    }
    fs.writeFileSync(path.join(staging, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    if (fs.existsSync(target)) {
      const old = `${staging}.old`;
      fs.renameSync(target, old);
      try {
        fs.renameSync(staging, target);
      } catch (e) {
        fs.renameSync(old, target);
        throw e;
      }
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(staging, target);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Replaces one file so that a reader sees the old or the new text, never a
 * part: a temporary sibling is written and renamed over it. The file keeps
 * its permission bits.
 */
export function writeFileAtomic(path_: string, text: string): void {
  // through a symbolic link to the file it names, so that the link stays a link
  const file = fs.existsSync(path_) ? fs.realpathSync(path_) : path_;
  // a file its owner made read-only is not rewritten behind their back
  if (fs.existsSync(file)) {
    fs.accessSync(file, fs.constants.W_OK);
    // root passes the access check: the mode still says what the owner meant
    if ((fs.statSync(file).mode & 0o222) === 0) throw Object.assign(new Error("read-only"), { code: "read-only" });
  }
  const dir = path.dirname(file);
  const mode = fs.existsSync(file) ? fs.statSync(file).mode & 0o7777 : 0o644;
  const temp = path.join(dir, `.${path.basename(file)}.wgpc-${process.pid}-${Date.now()}`);
  try {
    fs.writeFileSync(temp, text, { mode, flag: "wx" });
    fs.chmodSync(temp, mode);
    fs.renameSync(temp, file);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
