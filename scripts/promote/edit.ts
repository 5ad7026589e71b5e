import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { isScalar } from "yaml";
import { type StackFile, type ValueChange, valuePath } from "./changes";
import type { PromotionRoute } from "./stages";
import { readStackConfigFiles } from "../../stacks/config/files";
import { ConfigError, loadStackConfig, PROJECT_FILE, stackFileName } from "../../stacks/config/load";
import { CliError } from "../lib/cli";

/**
 * Writing a promotion into the target stack file: only the changed values move; comments, key
 * order, quoting and blank lines everywhere else stay byte for byte. The result is validated as a
 * whole stack before anything is written, and written whole or not at all.
 */

/** Comments promote writes beside a value that skipped stages; replaced when the value moves again. */
const SKIP_COMMENT = /^\s*promoted \S+ -> \S+, skipping /;

/** The comment beside each value promoted past stages: where from, what was skipped and why. */
function skipComment(route: PromotionRoute): string | undefined {
  if (route.skipped.length === 0 || route.reason === undefined) return undefined;
  return ` promoted ${route.from} -> ${route.to}, skipping ${route.skipped.join(", ")}: ${route.reason.replace(/[\u0000-\u001f\u007f]/g, " ")}`;
}

/**
 * The target file's text with `changes` applied through the yaml Document API: each value is set
 * in place (its node keeps its quoting and its own comment), and a skip reason, if any, becomes
 * the value's line comment. Refuses when printing the document back would change any other line.
 */
export function applyChanges(target: StackFile, changes: readonly ValueChange[], route: PromotionRoute): string {
  const doc = target.doc.clone();
  const comment = skipComment(route);
  const changedLines = new Set<number>();
  for (const change of changes) {
    const path = valuePath(change.endpoint, change.key);
    const node = doc.getIn(path, true);
    if (!isScalar(node) || node.range === undefined || node.range === null) {
      throw new CliError(`${target.file}: ${path.join(".")} is not a plain value; edit it by hand`);
    }
    for (let line = lineOf(target.text, node.range[0]); line <= lineOf(target.text, node.range[1]); line++) changedLines.add(line);
    doc.setIn(path, change.newValue);
    const updated = doc.getIn(path, true);
    if (isScalar(updated)) {
      if (comment !== undefined) updated.comment = comment;
      else if (updated.comment !== undefined && updated.comment !== null && SKIP_COMMENT.test(updated.comment)) updated.comment = undefined;
    }
  }
  // lineWidth 0: never fold long values onto new lines.
  const text = doc.toString({ lineWidth: 0 });
  checkOnlyChangedLines(target, text, changedLines);
  return text;
}

/** Zero-based line of a character offset. */
function lineOf(text: string, offset: number): number {
  let line = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/**
 * The yaml printer normalises some layouts (indentation other than two spaces, flow collections,
 * folded strings). When it would touch a line the promotion does not change, refuse rather than
 * rewrite the reviewer's file: the change must show only the promoted values.
 */
function checkOnlyChangedLines(target: StackFile, text: string, changedLines: ReadonlySet<number>): void {
  const before = target.text.split("\n");
  const after = text.split("\n");
  const differing = before.findIndex((line, i) => !changedLines.has(i) && line !== after[i]);
  if (before.length !== after.length || differing >= 0) {
    const at = differing >= 0 ? differing + 1 : Math.min(before.length, after.length);
    throw new CliError(`cannot edit ${target.file} without reformatting line ${at}, which the promotion does not change; `
      + "keep the stack file in the layout the yaml printer writes (two-space indents, block style) and try again");
  }
}

/** A copy of the project with the proposed target file, for validation and the plan diff. */
export interface Proposal {
  /** Temporary directory holding Pulumi.yaml and the proposed Pulumi.<stage>.yaml. */
  readonly dir: string;
}

/**
 * Validates the proposed stack file as `pulumi up` would read it (readStackConfigFiles and
 * loadStackConfig on a temporary copy of the project), hands the copy to `use`, then removes it.
 * A config problem becomes one refusal naming every problem.
 */
export async function withValidatedProposal<T>(projectDir: string, stage: string, text: string, use: (proposal: Proposal) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "mlplatform-promote-"));
  try {
    copyFileSync(join(projectDir, PROJECT_FILE), join(dir, PROJECT_FILE));
    writeFileSync(join(dir, stackFileName(stage)), text);
    try {
      loadStackConfig(stage, readStackConfigFiles(dir, stage));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const problems = error.problems.map((p) => `${p.file}: ${p.path}: ${p.message}`).join("; ");
      throw new CliError(`refusing to promote: the promoted ${stackFileName(stage)} would be invalid, nothing written: ${problems}`);
    }
    return await use({ dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Replaces `file` with `text` whole or not at all: a temporary file in the same directory (same
 * file system, so the rename is atomic), then rename over the target. Refuses if the file changed
 * since it was read, so a concurrent edit is never lost.
 */
export function writeWhole(file: string, expected: string, text: string): void {
  const temp = join(dirname(file), `.${basename(file)}.promote-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  try {
    // Keep the file's permission bits (the low 9 bits of the mode).
    writeFileSync(temp, text, { mode: statSync(file).mode % 0o1000, flag: "wx" });
    if (readFileSync(file, "utf8") !== expected) {
      throw new CliError(`${basename(file)} changed while promoting; nothing written, run the promotion again`);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    if (error instanceof CliError) throw error;
    const { code, message } = error as NodeJS.ErrnoException;
    throw new CliError(`cannot write ${file} (${code ?? message}); it is unchanged`);
  }
}

