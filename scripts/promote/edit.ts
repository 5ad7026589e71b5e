import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { isAlias, isMap, isScalar, type Node, type Pair, Parser, type Range, Scalar, visit } from "yaml";
import { parseStackFile, type StackFile, type ValueChange, valuePath } from "./changes";
import type { PromotionRoute } from "./stages";
import { readStackConfigFiles } from "../../stacks/config/files";
import { ConfigError, loadStackConfig, PROJECT_FILE, stackFileName } from "../../stacks/config/load";
import { CliError } from "../lib/cli";

/**
 * Writing a promotion into the target stack file. The file is never re-printed: each changed value
 * is spliced into the original text at the exact source range the yaml parser reports, in the
 * quoting style it had, so every byte outside the changed values (line endings, a byte order mark,
 * indentation, comments, flow maps, blank lines) stays as it was, whatever the layout. The result is
 * parsed again and must differ from the original in exactly the promoted values; it is validated as
 * a whole stack before anything is written, and written whole or not at all.
 */

/** A promoted value's comment (text after `#`) from an earlier promotion that skipped stages. */
const SKIP_COMMENT = /#\s*promoted \S+ -> \S+, skipping /;

/** The comment beside each value promoted past stages: where from, what was skipped and why. */
function skipComment(route: PromotionRoute): string | undefined {
  if (route.skipped.length === 0 || route.reason === undefined) return undefined;
  return ` promoted ${route.from} -> ${route.to}, skipping ${route.skipped.join(", ")}: ${route.reason.replace(/[\u0000-\u001f\u007f]/g, " ")}`;
}

/** A promoted value found in the target file: its node, and whether it sits inside a flow collection. */
interface LocatedValue {
  readonly path: readonly string[];
  readonly node: Scalar & { readonly range: Range };
  readonly value: string | number;
  readonly inFlow: boolean;
}

/** Text `[start, end)` of the original becomes `text`. */
interface Splice {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/**
 * The target file's text with `changes` applied: each value is replaced in place in its own
 * quoting style, and a skip reason, if any, becomes the comment at the end of the value's line
 * (an older skip comment there is replaced; other comments are kept). Refuses, naming the file and
 * key, values that cannot change in place (aliases, shared anchors, merge-key inheritance, multi-line
 * scalars), and any result that would change more than the promoted values.
 */
export function applyChanges(target: StackFile, changes: readonly ValueChange[], route: PromotionRoute): string {
  const located = changes.map((change) => locateValue(target, valuePath(change.endpoint, change.key), change.newValue));
  const text = spliceText(target.text, [
    ...located.map((v) => ({ start: v.node.range[0], end: v.node.range[1], text: renderScalar(target, v) })),
    ...commentSplices(target.text, located.map((v) => v.node.range[1]), skipComment(route)),
  ]);
  verifyOnlyPromotedValuesChange(target, text, located);
  return text;
}

/**
 * Walks `path` from the document root to the scalar it names. Refuses what cannot change in place:
 * a path through an alias or a value that is one (the value is shared with the anchor), a value
 * anchored and used elsewhere, a key inherited through a merge key, a multi-line scalar.
 */
function locateValue(target: StackFile, path: readonly string[], value: string | number): LocatedValue {
  const { doc, file } = target;
  const name = path.join(".");
  let node: unknown = doc.contents;
  let inFlow = false;
  for (const [i, key] of path.entries()) {
    const at = path.slice(0, i + 1).join(".");
    if (!isMap(node)) throw new CliError(`${file}: ${path.slice(0, i).join(".")} is not a map, so ${name} cannot be promoted; fix the file by hand`);
    inFlow ||= node.flow === true;
    checkNotShared(target, node, name);
    const pair = node.items.find((item) => isScalar(item.key) && item.key.value === key);
    if (pair === undefined) {
      if (node.items.some(isMergePair)) {
        throw new CliError(`${file}: ${at} is inherited through a YAML merge key (<<), so it cannot be changed in place; `
          + `write ${key} in ${path.slice(0, i).join(".")} itself and promote again`);
      }
      throw new CliError(`${file}: ${name} not found; nothing written`);
    }
    if (isAlias(pair.value)) {
      const alias = pair.value.source;
      throw new CliError(at === name
        ? `${file}: ${name} is the YAML alias *${alias}, a value shared with &${alias}; write the value itself in place of *${alias} and promote again`
        : `${file}: ${at} is the YAML alias *${alias}, so ${name} is shared with &${alias} and every use of it; write ${at} out in full instead of the alias and promote again`);
    }
    node = pair.value;
  }
  if (!isScalar(node) || !node.range) throw new CliError(`${file}: ${name} is not a single value, so it cannot be promoted; fix the file by hand`);
  checkNotShared(target, node, name);
  const source = target.text.slice(node.range[0], node.range[1]);
  if (node.type === Scalar.BLOCK_FOLDED || node.type === Scalar.BLOCK_LITERAL || /[\r\n]/.test(source) || source === "") {
    throw new CliError(`${file}: ${name} is written as a multi-line or empty scalar, which a promoted value never is; `
      + `write it on one line (${name.split(".").pop()}: <value>) and promote again`);
  }
  return { path, node: node as LocatedValue["node"], value, inFlow };
}

/** A node carrying an anchor that some alias uses: changing it would change every use. */
function checkNotShared(target: StackFile, node: Node, name: string): void {
  const anchor = node.anchor;
  if (anchor === undefined) return;
  let used = false;
  visit(target.doc, { Alias: (_, alias) => { used ||= alias.source === anchor; } });
  if (used) {
    throw new CliError(`${target.file}: ${name} is inside the YAML anchor &${anchor}, which *${anchor} uses elsewhere; promoting would change those uses too. `
      + `Write the value out where *${anchor} is used (or drop the anchor) and promote again`);
  }
}

/** A `<<: *defaults` pair of a map. */
function isMergePair(pair: Pair): boolean {
  const key = pair.key;
  return isScalar(key) && (key.value === "<<" || (typeof key.value === "symbol" && key.value.description === "<<"));
}

/**
 * The new value's source text in the old value's style. Numbers stay plain numbers; a string keeps
 * single or double quotes, and stays plain only when it still reads back as that same string in
 * its place (not a number, boolean, comment or map), else it is double-quoted.
 */
function renderScalar(target: StackFile, located: LocatedValue): string {
  const { node, value, inFlow } = located;
  if (typeof value === "number") return String(value);
  const doubleQuoted = JSON.stringify(value);
  if (node.type === Scalar.QUOTE_DOUBLE) return doubleQuoted;
  if (node.type === Scalar.QUOTE_SINGLE) return /[\u0000-\u001f\u007f]/.test(value) ? doubleQuoted : `'${value.replace(/'/g, "''")}'`;
  return readsBackAsPlain(target, value, inFlow) ? value : doubleQuoted;
}

/** Whether `value` written plain, as a map value in block or flow context, reads back as that string. */
function readsBackAsPlain(target: StackFile, value: string, inFlow: boolean): boolean {
  if (/[\r\n]/.test(value)) return false;
  try {
    const probe = parseStackFile(target.file, inFlow ? `{k: ${value}}` : `k: ${value}`).doc;
    const node = probe.get("k", true);
    return isScalar(node) && node.type === Scalar.PLAIN && node.value === value;
  } catch {
    return false;
  }
}

/**
 * Edits of the line comments of the lines holding a changed value (`valueEnds`): with a skip
 * `comment`, it replaces an older skip comment or is added after the line's content (after a user's
 * own comment, which stays); without one, an older skip comment is removed with the blanks before
 * it, since it described the old value. Line breaks are never touched.
 */
function commentSplices(text: string, valueEnds: readonly number[], comment: string | undefined): Splice[] {
  const comments = commentTokens(text);
  const lineEnds = new Map<number, number>();
  for (const end of valueEnds) {
    const lineEnd = lineEndOf(text, end);
    lineEnds.set(lineEnd, Math.max(end, lineEnds.get(lineEnd) ?? 0));
  }
  const splices: Splice[] = [];
  for (const [lineEnd, valueEnd] of lineEnds) {
    const existing = comments.find((c) => c.offset >= valueEnd && c.offset < lineEnd);
    const skipAt = existing === undefined ? -1 : existing.source.search(SKIP_COMMENT);
    const commentEnd = existing === undefined ? lineEnd : existing.offset + existing.source.length;
    if (existing !== undefined && skipAt >= 0) {
      const start = existing.offset + skipAt;
      if (comment !== undefined) splices.push({ start, end: commentEnd, text: `#${comment}` });
      else splices.push({ start: start - /[ \t]*$/.exec(text.slice(valueEnd, start))![0].length, end: commentEnd, text: "" });
    } else if (comment !== undefined) {
      const contentEnd = existing !== undefined ? commentEnd : valueEnd + text.slice(valueEnd, lineEnd).trimEnd().length;
      splices.push({ start: contentEnd, end: contentEnd, text: ` #${comment}` });
    }
  }
  return splices;
}

/** Every comment of the file with its offset, from the yaml library's concrete syntax tree. */
function commentTokens(text: string): { offset: number; source: string }[] {
  const found: { offset: number; source: string }[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {value.forEach(walk);} else if (typeof value === "object" && value !== null) {
      const token = value as { type?: unknown; offset?: unknown; source?: unknown };
      if (token.type === "comment" && typeof token.offset === "number" && typeof token.source === "string") {
        found.push({ offset: token.offset, source: token.source });
      } else {
        Object.values(value).forEach(walk);
      }
    }
  };
  for (const token of new Parser().parse(text)) walk(token);
  return found;
}

/** Offset of the line break (`\n`, `\r\n` or `\r`) ending the line that holds `offset`, or the text's length. */
function lineEndOf(text: string, offset: number): number {
  const match = /[\r\n]/.exec(text.slice(offset));
  return match === null ? text.length : offset + match.index;
}

/** `text` with non-overlapping `splices` applied. */
function spliceText(text: string, splices: readonly Splice[]): string {
  const ordered = [...splices].sort((a, b) => b.start - a.start || b.end - a.end);
  let result = text;
  let limit = text.length;
  for (const s of ordered) {
    if (s.end > limit) throw new Error(`overlapping edits at offset ${s.start}`);
    result = result.slice(0, s.start) + s.text + result.slice(s.end);
    limit = s.start;
  }
  return result;
}

/**
 * Parses the edited text and compares it with the original, with the promoted values set: they
 * must be equal, so the edit changed exactly the promoted values (with their types) and nothing
 * else. A guard against layouts the splicing does not foresee.
 */
function verifyOnlyPromotedValuesChange(target: StackFile, text: string, located: readonly LocatedValue[]): void {
  const names = located.map((v) => v.path.join(".")).join(", ");
  const refusal = (why: string) => new CliError(`${target.file}: writing ${names} in place would ${why}; nothing written, edit the file by hand`);
  let after: unknown;
  try {
    after = parseStackFile(target.file, text).doc.toJS();
  } catch (error) {
    throw refusal(`make the file unreadable (${(error as Error).message})`);
  }
  const expected = target.doc.toJS() as Record<string, unknown>;
  for (const { path, value } of located) {
    const parent = path.slice(0, -1).reduce<Record<string, unknown>>((obj, key) => obj[key] as Record<string, unknown>, expected);
    parent[path[path.length - 1]] = value;
  }
  if (!isDeepStrictEqual(after, expected)) throw refusal("also change other values of the file");
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

/** Test hooks of writeWhole. */
export interface WriteWholeHooks {
  /** Called once the temporary file is complete, before the target is checked and replaced. */
  readonly afterTempFileWritten?: (tempFile: string) => void;
}

/**
 * Replaces `file` with `text` whole or not at all: a temporary file in the same directory (same
 * file system, so the rename is atomic), then rename over the target. Refuses if the file changed
 * since it was read, so a concurrent edit is never lost.
 *
 * No temporary file outlives the process that wrote it:
 * - Normal errors remove it (the `catch` below).
 * - SIGINT and SIGTERM: this function is synchronous and, once it has run, the process listens for
 *   both signals, so Node runs their handling on the event loop only after this function returns,
 *   when the temporary file is already renamed or removed; the listener then ends the process by
 *   the same signal, as if it had not listened (see `deferTerminationSignals`).
 * - SIGKILL, a crash or a power cut cannot be intercepted: every run first removes the temporary
 *   files of processes that no longer exist (see `removeStaleTempFiles`).
 */
export function writeWhole(file: string, expected: string, text: string, hooks: WriteWholeHooks = {}): void {
  const dir = dirname(file);
  removeStaleTempFiles(dir);
  deferTerminationSignals();
  const temp = join(dir, `.${basename(file)}.promote-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  try {
    // Keep the file's permission bits (the low 9 bits of the mode).
    writeFileSync(temp, text, { mode: statSync(file).mode % 0o1000, flag: "wx" });
    hooks.afterTempFileWritten?.(temp);
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

/** writeWhole's temporary files: `.Pulumi.<stage>.yaml.promote-<pid>-<8 hex>.tmp`. */
const TEMP_FILE = /^\.Pulumi\..+\.yaml\.promote-(\d+)-[0-9a-f]{8}\.tmp$/;

/**
 * Removes the temporary files in `dir` whose writer process no longer exists (killed by SIGKILL
 * mid-write). Safe: a live writer's file is kept, and only a process that certainly does not exist
 * (ESRCH) loses its file. If that was a live writer in another PID namespace sharing the
 * directory, its rename fails and it reports the file unchanged, so nothing is lost. Best effort:
 * a directory or file that cannot be read or removed is left for the next run.
 */
function removeStaleTempFiles(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(TEMP_FILE.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || processExists(pid)) continue;
    try {
      rmSync(join(dir, name), { force: true });
    } catch {
      // Left for the next run.
    }
  }
}

/** Whether process `pid` may exist: signal 0 checks without sending anything. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

const TERMINATION_SIGNALS = ["SIGINT", "SIGTERM"] as const;
let terminationDeferred = false;

/**
 * Listens for SIGINT and SIGTERM for the rest of the process, so that they are handled on the
 * event loop (after a synchronous write has finished) instead of killing the process mid-write.
 * The listener stays: removed while a signal is pending, Node would drop that signal. On a signal
 * it stops listening and, when no other listener handles the signal, sends it again, so the
 * process ends by it exactly as without the listener.
 */
function deferTerminationSignals(): void {
  if (terminationDeferred) return;
  terminationDeferred = true;
  for (const signal of TERMINATION_SIGNALS) {
    const onSignal = (): void => {
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
