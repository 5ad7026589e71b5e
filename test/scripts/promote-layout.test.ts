import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseStackFile, type ValueChange } from "../../scripts/promote/changes";
import { applyChanges, writeWhole } from "../../scripts/promote/edit";
import type { PromotionRoute } from "../../scripts/promote/stages";

/**
 * Promotion keeps any valid YAML layout of the target file: values are spliced into the original
 * text, and everything outside them stays byte for byte. Also: no temporary file survives a killed
 * write, and stack files are parsed as Pulumi reads them.
 */

const REPO_ROOT = join(__dirname, "..", "..");
const FILE = "Pulumi.qa.yaml";
const NEXT: PromotionRoute = { from: "sandbox", to: "qa", skipped: [] };
const SKIPPING: PromotionRoute = { from: "sandbox", to: "prod", skipped: ["qa"], reason: "INC-4711 hotfix" };
const SKIP_COMMENT = "# promoted sandbox -> prod, skipping qa: INC-4711 hotfix";

const STACK = [
  "# QA stage",
  "config:",
  "  mlplatform:endpoints:",
  "    churn-scorer:",
  "      model: churn-scorer",
  "      source:",
  "        version: 6",
  "      instanceType: ml.m5.xlarge",
  "    doc-embedder:",
  "      model: doc-embedder",
  "      source:",
  "        imageTag: triton-24.09-v2",
  "        modelDataKey: doc-embedder/v2/model.tar.gz",
  "",
].join("\n");

/** One change of `endpoint`'s `source.<key>`; keys and value types are whatever valuePath and the plan use. */
function change(endpoint: string, key: string, newValue: string | number): ValueChange {
  return { endpoint, model: endpoint, key, oldValue: "(old)", newValue } as unknown as ValueChange;
}

function promote(text: string, changes: ValueChange[], route = NEXT): string {
  return applyChanges(parseStackFile(FILE, text), changes, route);
}

/** The one region where `after` differs from `before`: everything outside it is byte-identical. */
function splicedRegion(before: string, after: string): { removed: string; added: string } {
  let prefix = 0;
  while (prefix < before.length && before[prefix] === after[prefix]) prefix++;
  let suffix = 0;
  while (suffix < before.length - prefix && suffix < after.length - prefix
    && before[before.length - 1 - suffix] === after[after.length - 1 - suffix]) suffix++;
  return { removed: before.slice(prefix, before.length - suffix), added: after.slice(prefix, after.length - suffix) };
}

describe("applyChanges: any YAML layout is kept", () => {
  it("GIVEN CRLF line endings THEN only the value changes and every line still ends in CRLF", () => {
    const before = STACK.replace(/\n/g, "\r\n");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(splicedRegion(before, after)).toEqual({ removed: "6", added: "7" });
    expect(after.split("\r\n")).toHaveLength(before.split("\r\n").length);
  });

  it("GIVEN a UTF-8 byte order mark THEN it is kept and only the value changes", () => {
    const before = `\uFEFF${STACK}`;
    const after = promote(before, [change("doc-embedder", "imageTag", "triton-24.09-v3")]);
    expect(after.startsWith("\uFEFF# QA stage\n")).toBe(true);
    expect(splicedRegion(before, after)).toEqual({ removed: "2", added: "3" });
  });

  it("GIVEN a value with a two-space inline comment THEN the comment and its spacing are kept", () => {
    const before = STACK.replace("version: 6", "version: 6  # approved by risk");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(after).toContain("        version: 7  # approved by risk\n");
    expect(splicedRegion(before, after)).toEqual({ removed: "6", added: "7" });
  });

  it("GIVEN a comment after a block key THEN it is kept and only the value changes", () => {
    const before = STACK.replace("  mlplatform:endpoints:", "  mlplatform:endpoints:  # one per model");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(splicedRegion(before, after)).toEqual({ removed: "6", added: "7" });
  });

  it("GIVEN four-space indentation THEN it is kept and only the value changes", () => {
    const before = STACK.replace(/^( +)/gm, (indent) => indent.repeat(2));
    const after = promote(before, [change("doc-embedder", "modelDataKey", "doc-embedder/v3/model.tar.gz")]);
    expect(splicedRegion(before, after)).toEqual({ removed: "2", added: "3" });
  });

  it("GIVEN a flow-style source map THEN the value changes inside it and the braces and spacing stay", () => {
    const before = STACK.replace("source:\n        version: 6", "source: { version: 6 }");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(after).toContain("      source: { version: 7 }\n");
    expect(splicedRegion(before, after)).toEqual({ removed: "6", added: "7" });
  });

  it("GIVEN tabs in comments THEN they are kept", () => {
    const before = STACK.replace("version: 6", "version: 6\t#\tpinned").replace("# QA stage", "#\tQA stage");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(after).toContain("version: 7\t#\tpinned\n");
    expect(splicedRegion(before, after)).toEqual({ removed: "6", added: "7" });
  });

  it("GIVEN a file without a trailing newline THEN none is added", () => {
    const before = STACK.trimEnd();
    const after = promote(before, [change("doc-embedder", "modelDataKey", "doc-embedder/v3/model.tar.gz")]);
    expect(after.endsWith("model.tar.gz")).toBe(true);
    expect(splicedRegion(before, after)).toEqual({ removed: "2", added: "3" });
  });

  it("GIVEN single- and double-quoted values THEN each keeps its quotes", () => {
    const before = STACK.replace("imageTag: triton-24.09-v2", "imageTag: 'triton-24.09-v2'")
      .replace("modelDataKey: doc-embedder/v2/model.tar.gz", "modelDataKey: \"doc-embedder/v2/model.tar.gz\"");
    const after = promote(before, [change("doc-embedder", "imageTag", "it's-v3"), change("doc-embedder", "modelDataKey", "doc-embedder/v3/model.tar.gz")]);
    expect(after).toContain("        imageTag: 'it''s-v3'\n        modelDataKey: \"doc-embedder/v3/model.tar.gz\"\n");
  });

  it.each(["7", "true", "a: b", "x #y", "- z", "*ref", ""])("GIVEN a plain value replaced by %j, which would not read back as that string, THEN it is double-quoted", (value) => {
    const after = promote(STACK, [change("doc-embedder", "imageTag", value)]);
    expect(splicedRegion(STACK, after)).toEqual({ removed: "triton-24.09-v2", added: JSON.stringify(value) });
  });

  it("GIVEN a plain value in a flow map whose new text holds a comma THEN it is quoted so the map keeps its keys", () => {
    const before = STACK.replace("source:\n        imageTag: triton-24.09-v2", "source: { imageTag: triton-24.09-v2,")
      .replace("        modelDataKey: doc-embedder/v2/model.tar.gz\n", "        modelDataKey: doc-embedder/v2/model.tar.gz }\n");
    const after = promote(before, [change("doc-embedder", "imageTag", "v3,beta")]);
    expect(splicedRegion(before, after)).toEqual({ removed: "triton-24.09-v2", added: "\"v3,beta\"" });
  });

  it("GIVEN a number value THEN it is written as a plain number, also in place of a quoted one", () => {
    const before = STACK.replace("version: 6", "version: \"6\"");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(splicedRegion(before, after)).toEqual({ removed: "\"6\"", added: "7" });
    expect(parseStackFile(FILE, after).doc.getIn(["config", "mlplatform:endpoints", "churn-scorer", "source", "version"])).toBe(7);
  });

  it("GIVEN an anchored value no alias uses THEN the value changes and the anchor stays", () => {
    const before = STACK.replace("version: 6", "version: &fraud-version 6");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(after).toContain("version: &fraud-version 7\n");
  });

  it("GIVEN a merge key in the endpoint and the value written in the endpoint itself THEN the value changes in place", () => {
    const before = STACK.replace("# QA stage\n", "# QA stage\nx-defaults: &defaults\n  instanceType: ml.m5.large\n")
      .replace("      model: churn-scorer\n", "      <<: *defaults\n      model: churn-scorer\n");
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(splicedRegion(before, after)).toEqual({ removed: "6", added: "7" });
  });
});

describe("applyChanges: the skip-stage comment", () => {
  it("GIVEN a CRLF file with a BOM and a skipping route THEN the reason follows the value and the line still ends in CRLF", () => {
    const before = `\uFEFF${STACK.replace(/\n/g, "\r\n")}`;
    const after = promote(before, [change("churn-scorer", "version", 7)], SKIPPING);
    expect(splicedRegion(before, after)).toEqual({ removed: "6", added: `7 ${SKIP_COMMENT}` });
    expect(after).toContain(`        version: 7 ${SKIP_COMMENT}\r\n`);
    expect(after.startsWith("\uFEFF")).toBe(true);
  });

  it("GIVEN an older skip comment THEN a new skip replaces it, and a normal promotion removes it", () => {
    const before = STACK.replace("version: 6", "version: 6  # promoted dev -> qa, skipping sandbox: old reason");
    expect(promote(before, [change("churn-scorer", "version", 7)], SKIPPING)).toContain(`        version: 7  ${SKIP_COMMENT}\n`);
    const after = promote(before, [change("churn-scorer", "version", 7)]);
    expect(splicedRegion(before, after)).toEqual({ removed: "6  # promoted dev -> qa, skipping sandbox: old reason", added: "7" });
  });

  it("GIVEN a user's own comment on the value's line THEN it is kept and the skip comment follows it", () => {
    const before = STACK.replace("version: 6", "version: 6\t# pinned by risk");
    const skipped = promote(before, [change("churn-scorer", "version", 7)], SKIPPING);
    expect(skipped).toContain(`        version: 7\t# pinned by risk ${SKIP_COMMENT}\n`);
    expect(promote(skipped, [change("churn-scorer", "version", 8)])).toContain("        version: 8\t# pinned by risk\n");
  });

  it("GIVEN a value in a one-line flow map THEN the skip comment goes after the map, at the end of the line", () => {
    const before = STACK.replace("source:\n        version: 6", "source: { version: 6 }");
    const after = promote(before, [change("churn-scorer", "version", 7)], SKIPPING);
    expect(after).toContain(`      source: { version: 7 } ${SKIP_COMMENT}\n`);
  });

  it("GIVEN two changed values on one flow line THEN the line gets one skip comment", () => {
    const before = STACK.replace("source:\n        imageTag: triton-24.09-v2\n        modelDataKey: doc-embedder/v2/model.tar.gz",
      "source: { imageTag: triton-24.09-v2, modelDataKey: doc-embedder/v2/model.tar.gz }");
    const after = promote(before, [change("doc-embedder", "imageTag", "v3"), change("doc-embedder", "modelDataKey", "doc-embedder/v3/model.tar.gz")], SKIPPING);
    expect(after).toContain(`      source: { imageTag: v3, modelDataKey: doc-embedder/v3/model.tar.gz } ${SKIP_COMMENT}\n`);
  });
});

describe("applyChanges: values that cannot change in place are refused", () => {
  const VERSION = "config.mlplatform:endpoints.churn-scorer.source.version";

  it("GIVEN the value is a YAML alias THEN it is refused naming the file, key and alias", () => {
    const text = STACK.replace("# QA stage\n", "x-current: &current 6\n").replace("version: 6", "version: *current");
    expect(() => promote(text, [change("churn-scorer", "version", 7)])).toThrow(
      `${FILE}: ${VERSION} is the YAML alias *current, a value shared with &current; write the value itself in place of *current and promote again`);
  });

  it("GIVEN the path runs through an alias THEN it is refused: the value is shared with the anchor", () => {
    const text = STACK.replace("# QA stage\n", "x-source: &shared\n  version: 6\n").replace("source:\n        version: 6", "source: *shared");
    expect(() => promote(text, [change("churn-scorer", "version", 7)])).toThrow(
      `${FILE}: config.mlplatform:endpoints.churn-scorer.source is the YAML alias *shared, so ${VERSION} is shared with &shared and every use of it; `
      + "write config.mlplatform:endpoints.churn-scorer.source out in full instead of the alias and promote again");
  });

  it("GIVEN the value carries an anchor that an alias uses THEN it is refused: the other use would change too", () => {
    const text = `${STACK.replace("version: 6", "version: &v 6")}x-pinned: *v\n`;
    expect(() => promote(text, [change("churn-scorer", "version", 7)])).toThrow(
      `${FILE}: ${VERSION} is inside the YAML anchor &v, which *v uses elsewhere; promoting would change those uses too. `
      + "Write the value out where *v is used (or drop the anchor) and promote again");
  });

  it("GIVEN the value comes from a merge key THEN it is refused, saying to write it in the endpoint itself", () => {
    const text = STACK.replace("# QA stage\n", "x-defaults: &defaults\n  version: 6\n").replace("source:\n        version: 6", "source:\n        <<: *defaults");
    expect(() => promote(text, [change("churn-scorer", "version", 7)])).toThrow(
      `${FILE}: ${VERSION} is inherited through a YAML merge key (<<), so it cannot be changed in place; `
      + "write version in config.mlplatform:endpoints.churn-scorer.source itself and promote again");
  });

  it.each([
    ["folded", "imageTag: >-\n          triton-24.09-v2"],
    ["literal", "imageTag: |\n          triton-24.09-v2"],
    ["plain over two lines", "imageTag: triton-24.09\n          -v2"],
  ])("GIVEN a %s scalar THEN it is refused naming the file and key", (_, written) => {
    const text = STACK.replace("imageTag: triton-24.09-v2", written);
    expect(() => promote(text, [change("doc-embedder", "imageTag", "v3")])).toThrow(
      `${FILE}: config.mlplatform:endpoints.doc-embedder.source.imageTag is written as a multi-line or empty scalar, which a promoted value never is; `
      + "write it on one line (imageTag: <value>) and promote again");
  });

  it("GIVEN a collection where the value should be THEN it is refused", () => {
    expect(() => promote(STACK.replace("version: 6", "version: [6]"), [change("churn-scorer", "version", 7)])).toThrow(
      `${FILE}: ${VERSION} is not a single value, so it cannot be promoted; fix the file by hand`);
  });

  it("GIVEN a source that is not a map THEN it is refused", () => {
    expect(() => promote(STACK.replace("source:\n        version: 6", "source: v6"), [change("churn-scorer", "version", 7)])).toThrow(
      `${FILE}: config.mlplatform:endpoints.churn-scorer.source is not a map, so ${VERSION} cannot be promoted; fix the file by hand`);
  });

  it("GIVEN a key that is not in the file THEN it is refused", () => {
    expect(() => promote(STACK, [change("churn-scorer", "imageTag", "v3")])).toThrow(
      `${FILE}: config.mlplatform:endpoints.churn-scorer.source.imageTag not found; nothing written`);
  });

  it("GIVEN a skip comment that would land inside a multi-line flow value THEN the check of the result refuses it", () => {
    const text = STACK.replace("source:\n        version: 6", "source: { version: 6, note: \"a\n          b\" }");
    expect(() => promote(text, [change("churn-scorer", "version", 7)], SKIPPING)).toThrow(
      `${FILE}: writing ${VERSION} in place would also change other values of the file; nothing written, edit the file by hand`);
  });

  it("GIVEN a skip comment that would break a multi-line plain value THEN the check of the result refuses the unreadable file", () => {
    const text = STACK.replace("source:\n        version: 6", "source: { version: 6, note: a\n          b }");
    expect(() => promote(text, [change("churn-scorer", "version", 7)], SKIPPING)).toThrow(
      new RegExp(`^${FILE.replace(/\./g, "\\.")}: writing ${VERSION.replace(/\./g, "\\.")} in place would make the file unreadable \\(`));
  });
});

describe("parseStackFile: as Pulumi reads a stack file", () => {
  it("GIVEN a merge key THEN the merged values are part of the document", () => {
    const { doc } = parseStackFile(FILE, "x-defaults: &defaults\n  instanceCount: 2\nendpoint:\n  <<: *defaults\n  model: m\n");
    expect(doc.toJS()).toEqual({ "x-defaults": { instanceCount: 2 }, "endpoint": { instanceCount: 2, model: "m" } });
  });

  it("GIVEN a key twice in one map THEN it is refused naming the key and its line", () => {
    expect(() => parseStackFile(FILE, "config:\n  mlplatform:tags:\n    team: a\n    team: b\n")).toThrow(
      `${FILE}: mlplatform:tags.team: is set twice (again at line 4); keep one`);
  });

  it("GIVEN bytes that are not UTF-8 THEN it is refused naming the file and the byte offset", () => {
    const latin1 = Buffer.concat([Buffer.from("config:\n  x: caf"), Buffer.from([0xe9]), Buffer.from("\n")]);
    expect(() => parseStackFile(FILE, latin1)).toThrow(
      `${FILE}: (file): is not UTF-8 text: invalid byte 0xE9 at offset 16 (line 2); save the file as UTF-8`);
  });

  it("GIVEN UTF-8 bytes with a byte order mark THEN the text keeps the mark and parses", () => {
    const stack = parseStackFile(FILE, Buffer.from(`\uFEFF${STACK}`, "utf8"));
    expect(stack.text).toBe(`\uFEFF${STACK}`);
    expect(stack.doc.getIn(["config", "mlplatform:endpoints", "churn-scorer", "source", "version"])).toBe(6);
  });

  it("GIVEN a YAML error THEN it is refused naming the file", () => {
    expect(() => parseStackFile(FILE, "config:\n  mlplatform:endpoints: [\n")).toThrow(new RegExp(`^${FILE.replace(/\./g, "\\.")}: \\(file\\): is not valid YAML: `));
  });
});

describe("writeWhole: no temporary file survives", () => {
  let dir: string;
  let markers: string;
  let child: ChildProcess | undefined;
  const target = () => join(dir, FILE);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "promote-write-"));
    markers = mkdtempSync(join(tmpdir(), "promote-markers-"));
    writeFileSync(target(), "old\n");
  });
  afterEach(() => {
    if (child?.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
    rmSync(markers, { recursive: true, force: true });
  });

  /**
   * Starts a node process that calls writeWhole on the target and, once the temporary file exists,
   * reports its name in the `ready` marker and blocks until the `release` marker appears. Resolves
   * with the temporary file's path, when the child is paused exactly there.
   */
  async function startPausedWrite(): Promise<string> {
    const script = `
      require(${JSON.stringify(require.resolve("ts-node"))}).register({ transpileOnly: true, project: ${JSON.stringify(join(REPO_ROOT, "tsconfig.dev.json"))} });
      const { existsSync, writeFileSync } = require("node:fs");
      const { writeWhole } = require(${JSON.stringify(join(REPO_ROOT, "scripts", "promote", "edit.ts"))});
      const [file, ready, release] = process.argv.slice(1);
      const nap = new Int32Array(new SharedArrayBuffer(4));
      writeWhole(file, "old\\n", "new\\n", { afterTempFileWritten: (temp) => {
        writeFileSync(ready, temp);
        const deadline = Date.now() + 20000;
        while (!existsSync(release) && Date.now() < deadline) Atomics.wait(nap, 0, 0, 5);
      } });
      // Keep the event loop turning, so a signal that arrived during the write is handled.
      setTimeout(() => {}, 10000);
    `;
    const ready = join(markers, "ready");
    let stderr = "";
    child = spawn(process.execPath, ["-e", script, target(), ready, join(markers, "release")], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (chunk) => { stderr += String(chunk); });
    const deadline = Date.now() + 20000;
    while (!existsSync(ready) || readFileSync(ready, "utf8") === "") {
      if (child.exitCode !== null) throw new Error(`the writer exited before writing its temporary file: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`the writer never reported its temporary file: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return readFileSync(ready, "utf8");
  }

  const exited = (process: ChildProcess) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (process.exitCode !== null || process.signalCode !== null) resolve({ code: process.exitCode, signal: process.signalCode });
    else process.once("exit", (code, signal) => resolve({ code, signal }));
  });

  it.each(["SIGTERM", "SIGINT"] as const)("GIVEN %s while the temporary file exists THEN the write completes whole, the process ends by the signal and no temporary file is left", async (signal) => {
    const temp = await startPausedWrite();
    expect(existsSync(temp)).toBe(true);
    child!.kill(signal);
    writeFileSync(join(markers, "release"), "");
    expect(await exited(child!)).toEqual({ code: null, signal });
    expect(readdirSync(dir)).toEqual([FILE]);
    expect(readFileSync(target(), "utf8")).toBe("new\n");
  }, 30000);

  it("GIVEN SIGKILL while the temporary file exists THEN the next write removes the leftover and the target was never half-written", async () => {
    const temp = await startPausedWrite();
    child!.kill("SIGKILL");
    expect(await exited(child!)).toEqual({ code: null, signal: "SIGKILL" });
    expect(readFileSync(target(), "utf8")).toBe("old\n");
    expect(existsSync(temp)).toBe(true);

    writeWhole(target(), "old\n", "newer\n");

    expect(readdirSync(dir)).toEqual([FILE]);
    expect(readFileSync(target(), "utf8")).toBe("newer\n");
  }, 30000);

  it("GIVEN a temporary file of a live process THEN a write leaves it alone", () => {
    const live = join(dir, `.${FILE}.promote-${process.pid}-0123abcd.tmp`);
    writeFileSync(live, "in progress\n");
    writeWhole(target(), "old\n", "new\n");
    expect(readdirSync(dir).sort()).toEqual([`.${FILE}.promote-${process.pid}-0123abcd.tmp`, FILE]);
  });

  it("GIVEN the target changed since it was read THEN nothing is written, the other edit is kept and no temporary file is left", () => {
    writeFileSync(target(), "edited meanwhile\n");
    expect(() => writeWhole(target(), "old\n", "new\n")).toThrow(`${FILE} changed while promoting; nothing written, run the promotion again`);
    expect(readFileSync(target(), "utf8")).toBe("edited meanwhile\n");
    expect(readdirSync(dir)).toEqual([FILE]);
  });
});
