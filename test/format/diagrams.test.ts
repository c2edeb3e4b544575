// grammar/diagrams.html is generated from the parser (npm run gen:diagrams)
// and must be current.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { diagramsHtml } from "../../grammar/generate-diagrams.js";
import { ROOT } from "../support/compile.js";

describe("railroad diagrams", () => {
  it("grammar/diagrams.html is up to date (npm run gen:diagrams)", () => {
    expect(fs.readFileSync(path.join(ROOT, "grammar/diagrams.html"), "utf8")).toBe(diagramsHtml());
  });

  it("draws every statement", () => {
    const html = diagramsHtml();
    for (const rule of ["vpnDecl", "hostDecl", "ruleStmt", "shapeStmt", "dropEarlyStmt", "expectStmt"]) expect(html).toContain(`"${rule}"`);
  });
});
