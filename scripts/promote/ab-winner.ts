import { isDeepStrictEqual } from "node:util";
import { isAlias, isMap, isScalar, isSeq, type Node, type Pair, stringify, visit, type YAMLMap } from "yaml";
import { ENDPOINTS_PATH, parseStackFile, type StackFile } from "./changes";
import { CliError } from "../lib/cli";
import { dropUndefined } from "../lib/stage-access";

/**
 * Ending an A/B test in a stack file (`variants promote`): the winner's `source` becomes the
 * endpoint's `source` and `abTest` goes, so the next deployment serves one variant (the endpoint's
 * own, under its own name) with the winner's version. Pure: text in, text out, no files, no AWS.
 *
 * Like promotion (scripts/promote/edit.ts), the file is never re-printed: the two edits are spliced
 * into the original text, line by line, so every byte outside them (comments, blank lines, quoting,
 * line endings) stays as it was. The winner's source is copied as written (its comments come
 * along), re-indented to the endpoint's. The result is parsed again and must differ from the
 * original in exactly the promoted source and the removed `abTest`; anything else is refused.
 */

/** The `source` mapping of a stack file, as written (aliases resolved). */
export type SourceValues = Readonly<Record<string, unknown>>;

/** One variant of an A/B test, as the stack file writes it. */
export interface AbVariant {
  /** Production variant name. */
  readonly name: string;
  /** What it serves. */
  readonly source: SourceValues;
  /** Its traffic weight. */
  readonly weight: number;
  /**
   * Its instance type, where the stack file sets one for it.
   * @default - the endpoint's
   */
  readonly instanceType?: string;
  /**
   * Its instance count, where the stack file sets one for it.
   * @default - the endpoint's
   */
  readonly instanceCount?: number;
}

/** An endpoint of a stack file with an A/B test. */
export interface AbTest {
  /** The stack file's name, for messages (`Pulumi.qa.yaml`). */
  readonly file: string;
  /** The endpoint's key under mlplatform:endpoints. */
  readonly key: string;
  /** The endpoint's own variant: its variantName, source, abTest.weight, and the endpoint's instance type and count. */
  readonly own: AbVariant;
  /** The further variants of abTest.variants, in file order. */
  readonly variants: readonly AbVariant[];
}

/** `Pulumi.qa.yaml: mlplatform:endpoints.scorer`, for messages. */
export function endpointRef(file: string, key: string): string {
  return `${file}: ${ENDPOINTS_PATH[1]}.${key}`;
}

/**
 * The A/B test of endpoint `key`, whose own variant is named `ownName` (its variantName). Refuses an
 * endpoint the file does not have and one without `abTest`, naming the file and key. The file is
 * expected to have passed the config schema; only the shape this module relies on is checked.
 */
export function abTestOf(stack: StackFile, key: string, ownName: string): AbTest {
  const endpoints = (stack.doc.toJS() as { config?: Record<string, Record<string, unknown> | undefined> }).config?.[ENDPOINTS_PATH[1]];
  const endpoint = endpoints?.[key] as Record<string, unknown> | undefined;
  const ref = endpointRef(stack.file, key);
  if (endpoint === undefined || endpoint === null || typeof endpoint !== "object") {
    throw new CliError(`${ref} not found; nothing written`);
  }
  const ab = endpoint.abTest as { weight: number; variants: Record<string, unknown>[] } | undefined;
  if (ab === undefined || ab === null) {
    throw new CliError(`${ref} has no A/B test (abTest): it already serves one variant, ${ownName}, with ${sourceSummary(endpoint.source as SourceValues)}; `
      + "nothing to promote");
  }
  return {
    file: stack.file,
    key,
    own: dropUndefined({
      name: ownName,
      source: endpoint.source as SourceValues,
      weight: ab.weight,
      instanceType: endpoint.instanceType as string | undefined,
      instanceCount: endpoint.instanceCount as number | undefined,
    }),
    variants: ab.variants.map((v) => dropUndefined({
      name: v.name as string,
      source: v.source as SourceValues,
      weight: v.weight as number,
      instanceType: v.instanceType as string | undefined,
      instanceCount: v.instanceCount as number | undefined,
    })),
  };
}

/** Every variant of the test, the endpoint's own first. */
export function allVariants(ab: AbTest): AbVariant[] {
  return [ab.own, ...ab.variants];
}

/** The variant named `name`, or undefined. */
export function variantNamed(ab: AbTest, name: string): AbVariant | undefined {
  return allVariants(ab).find((v) => v.name === name);
}

/** What ending the test with a winner does to the stack file. */
export interface AbPromotion {
  /** The stack file's name. */
  readonly file: string;
  /** The endpoint's key. */
  readonly endpoint: string;
  /** The winning variant's name. */
  readonly winner: string;
  /** The endpoint's own variant, which serves the winner's source from now on. */
  readonly ownVariant: string;
  readonly sourceBefore: SourceValues;
  readonly sourceAfter: SourceValues;
  /** Whether the endpoint's source changes (false when its own variant won, or the winner serves the same). */
  readonly sourceChanged: boolean;
  /** The variants the removed abTest named, with their weights, the endpoint's own first. */
  readonly removedVariants: readonly { readonly name: string; readonly weight: number }[];
  /**
   * Set when the winner ran on another instance type or count than the endpoint keeps: one line.
   * @default - none: the winner ran on the endpoint's own size
   */
  readonly sizeNote?: string;
  /** The stack file's new text. */
  readonly text: string;
}

/**
 * The stack file with `winner` promoted: its source replaces the endpoint's (unless it is the
 * endpoint's own variant) and abTest is removed. The endpoint keeps its own instance type and count
 * (stage values); sizeNote says when the winner's differed. Refuses (CliError naming the file and
 * key) a layout that cannot be edited in place, and any edit that would change more than that.
 */
export function promoteWinner(stack: StackFile, ab: AbTest, winner: AbVariant): AbPromotion {
  const edit = new LayoutEdit(stack, ab.key);
  const own = winner.name === ab.own.name;
  const splices = [edit.removeAbTest()];
  if (!own) splices.push(edit.replaceSource(winner));
  const text = spliceText(stack.text, splices);
  verify(stack, ab, own ? undefined : winner.source, text);
  return dropUndefined({
    file: stack.file,
    endpoint: ab.key,
    winner: winner.name,
    ownVariant: ab.own.name,
    sourceBefore: ab.own.source,
    sourceAfter: winner.source,
    sourceChanged: !isDeepStrictEqual(ab.own.source, winner.source),
    removedVariants: allVariants(ab).map((v) => ({ name: v.name, weight: v.weight })),
    sizeNote: own ? undefined : sizeNote(ab, winner),
    text,
  });
}

/** One line when the winner ran on another size than the endpoint's own variant keeps. */
function sizeNote(ab: AbTest, winner: AbVariant): string | undefined {
  const type = winner.instanceType ?? ab.own.instanceType;
  const count = winner.instanceCount ?? ab.own.instanceCount;
  if (type === ab.own.instanceType && count === ab.own.instanceCount) return undefined;
  const size = (c: number | undefined, t: string | undefined) => `${c ?? "?"} x ${t ?? "?"}`;
  return `${winner.name} ran on ${size(count, type)}; the endpoint keeps its own ${size(ab.own.instanceCount, ab.own.instanceType)} `
    + `(instanceType and instanceCount of ${endpointRef(ab.file, ab.key)}): change them by hand to adopt the winner's`;
}

// ---------------------------------------------------------------------------------------------
// The edit, in place.
// ---------------------------------------------------------------------------------------------

/** Text `[start, end)` of the original becomes `text`. */
interface Splice {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** One line of the text: offsets of its start, its end (before the line break) and the next line's start. */
interface Line {
  readonly start: number;
  readonly end: number;
  readonly next: number;
  /** Leading spaces. */
  readonly indent: number;
  readonly blank: boolean;
  /** Its first non-blank character is `#`. */
  readonly comment: boolean;
}

function linesOf(text: string): Line[] {
  const lines: Line[] = [];
  const breaks = /\r\n|\n|\r/g;
  let start = 0;
  while (start < text.length) {
    const match = breaks.exec(text);
    const end = match === null ? text.length : match.index;
    const next = match === null ? text.length : match.index + match[0].length;
    const content = text.slice(start, end);
    const indent = /^ */.exec(content)![0].length;
    const rest = content.slice(indent).trimStart();
    lines.push({ start, end, next, indent, blank: rest === "", comment: rest.startsWith("#") });
    start = next;
    if (match === null) break;
  }
  return lines;
}

/** Finds the endpoint's pairs and the lines each spans, and makes the two splices. */
class LayoutEdit {
  private readonly lines: Line[];
  private readonly endpoint: YAMLMap;
  private readonly ref: string;
  private readonly eol: string;

  constructor(private readonly stack: StackFile, key: string) {
    this.ref = endpointRef(stack.file, key);
    this.lines = linesOf(stack.text);
    this.eol = /\r\n|\n|\r/.exec(stack.text)?.[0] ?? "\n";
    const node = stack.doc.getIn([...ENDPOINTS_PATH, key], true);
    if (!isMap(node) || node.flow === true) {
      throw this.cannotEdit(`is written as ${isAlias(node) ? "a YAML alias" : "a flow map ({ ... })"}, which cannot be edited in place; `
        + "write it out as a block map (one key per line) and run again");
    }
    this.endpoint = node;
  }

  /** The lines of abTest, with the comment lines right above its key (they describe it). */
  removeAbTest(): Splice {
    const pair = this.ownPair("abTest");
    const { line, col } = this.keyLine(pair, "abTest");
    let first = line;
    while (first > 0 && this.lines[first - 1].comment && this.lines[first - 1].indent === col) first--;
    const last = this.lastValueLine(line, col);
    return { start: this.lines[first].start, end: this.lines[last].next, text: "" };
  }

  /** The endpoint's source value becomes the winner's, in the endpoint's layout (block or flow). */
  replaceSource(winner: AbVariant): Splice {
    const pair = this.ownPair("source");
    const value = pair.value as Node | null;
    const { line, col } = this.keyLine(pair, "source");
    const last = this.lastValueLine(line, col);
    if (isMap(value) && value.flow !== true && last > line) {
      const copied = this.winnerSourceLines(winner.name);
      const firstContent = this.lines.slice(line + 1, last + 1).find((l) => !l.blank && !l.comment);
      const indent = firstContent?.indent ?? col + 2;
      const body = copied === undefined ? blockLines(winner.source, indent) : reindent(this.stack.text, copied, indent);
      const endsFile = this.lines[last].next === this.lines[last].end;
      return { start: this.lines[line + 1].start, end: this.lines[last].next, text: body.join(this.eol) + (endsFile ? "" : this.eol) };
    }
    // A flow map, an alias or a plain value on the key's line: replaced by the winner's source in flow style.
    // (A parsed node has its range; a key without any value node, `? source`, was refused by keyLine.)
    const range = value!.range!;
    return { start: range[0], end: range[1], text: flowText(winner.source) };
  }

  /**
   * The lines of the winner's source value when it is a block map written in place (no alias,
   * anchor or merge key in it); undefined otherwise, and it is rendered from its values instead.
   */
  private winnerSourceLines(winner: string): { lines: Line[]; indent: number } | undefined {
    const ab = this.endpoint.items.find((p) => isScalar(p.key) && p.key.value === "abTest")?.value;
    const variants = isMap(ab) ? ab.items.find((p) => isScalar(p.key) && p.key.value === "variants")?.value : undefined;
    if (!isSeq(variants)) return undefined;
    const item = variants.items.find((i) => isMap(i) && i.items.some((p) => isScalar(p.key) && p.key.value === "name"
      && isScalar(p.value) && p.value.value === winner));
    const pair = isMap(item) ? item.items.find((p) => isScalar(p.key) && p.key.value === "source") : undefined;
    const value = pair?.value;
    if (pair === undefined || !isMap(value) || value.flow === true || !isScalar(pair.key) || !pair.key.range || sharesNodes(value)) return undefined;
    const offset = pair.key.range[0];
    const line = this.lineAt(offset);
    const col = offset - this.lines[line].start;
    const last = this.lastValueLine(line, col);
    const lines = this.lines.slice(line + 1, last + 1);
    const firstContent = lines.find((l) => !l.blank && !l.comment);
    return firstContent === undefined ? undefined : { lines, indent: firstContent.indent };
  }

  /** The endpoint's own pair `name` (not one inherited through a merge key). */
  private ownPair(name: string): Pair {
    const pair = this.endpoint.items.find((p) => isScalar(p.key) && p.key.value === name);
    if (pair === undefined) {
      throw this.cannotEdit(`has ${name} only through a YAML merge key (<<), which cannot be edited in place; write ${name} in the endpoint itself and run again`);
    }
    return pair;
  }

  /** The line of a pair's key, which must start its line (block layout), and the key's column. */
  private keyLine(pair: Pair, name: string): { line: number; col: number } {
    const range = isScalar(pair.key) ? pair.key.range : undefined;
    const line = range ? this.lineAt(range[0]) : -1;
    const col = range ? range[0] - this.lines[line].start : -1;
    if (!range || this.stack.text.slice(this.lines[line].start, range[0]).trim() !== "") {
      throw this.cannotEdit(`has its ${name} key where a line does not start with it, which cannot be edited in place; `
        + "write the endpoint one key per line and run again");
    }
    return { line, col };
  }

  /**
   * The last line of the value of the key on line `line` at column `col`: the last line indented
   * deeper than the key before the first line of content that is not. Blank lines and comments
   * between are the value's; those after it are left to what follows.
   */
  private lastValueLine(line: number, col: number): number {
    let last = line;
    for (let i = line + 1; i < this.lines.length; i++) {
      const l = this.lines[i];
      if (l.blank) continue;
      if (l.indent > col) last = i;
      else if (!l.comment) break;
    }
    return last;
  }

  private lineAt(offset: number): number {
    return this.lines.findIndex((l) => offset >= l.start && offset < l.next);
  }

  private cannotEdit(why: string): CliError {
    return new CliError(`${this.ref} ${why}; nothing written`);
  }
}

/** A node holds an anchor or an alias: copying its text would duplicate the anchor or depend on one. */
function sharesNodes(node: Node): boolean {
  let shares = false;
  visit(node, {
    Node: (_, n) => { shares ||= isAlias(n) || (n as { anchor?: string }).anchor !== undefined; },
    Pair: (_, p) => { shares ||= isScalar(p.key) && p.key.value === "<<"; },
  });
  return shares || node.anchor !== undefined;
}

/** Copied lines moved from their indentation to `indent`, relative indentation kept. */
function reindent(text: string, copied: { lines: Line[]; indent: number }, indent: number): string[] {
  return copied.lines.map((l) => {
    if (l.blank) return "";
    const content = text.slice(l.start + l.indent, l.end);
    return " ".repeat(Math.max(0, indent + l.indent - copied.indent)) + content;
  });
}

/** A source's values as block YAML lines at `indent`. */
function blockLines(source: SourceValues, indent: number): string[] {
  return stringify(source).replace(/\n$/, "").split("\n").map((l) => (l === "" ? "" : " ".repeat(indent) + l));
}

/** A source's values as one line of flow YAML: `{ version: 7 }`. */
export function flowText(source: SourceValues): string {
  return stringify(source, { collectionStyle: "flow", lineWidth: 0 }).trim();
}

/** `text` with `splices` applied; they never overlap (each lies within the lines of its own key of the endpoint). */
function spliceText(text: string, splices: readonly Splice[]): string {
  return [...splices].sort((a, b) => b.start - a.start).reduce((result, s) => result.slice(0, s.start) + s.text + result.slice(s.end), text);
}

/**
 * Parses the edited text and compares it with the original with the promotion applied: equal, or a
 * refusal. A guard against layouts the line edits do not foresee (anchors used elsewhere, say).
 */
function verify(stack: StackFile, ab: AbTest, source: SourceValues | undefined, text: string): void {
  const refusal = (why: string) => new CliError(`${endpointRef(stack.file, ab.key)}: ending the A/B test in place would ${why}; nothing written. `
    + "Edit the file by hand: remove abTest and, unless the endpoint's own variant won, replace its source with the winner's");
  let after: unknown;
  try {
    after = parseStackFile(stack.file, text).doc.toJS();
  } catch (error) {
    throw refusal(`make the file unreadable (${(error as Error).message})`);
  }
  const expected = stack.doc.toJS() as { config: Record<string, Record<string, Record<string, unknown>>> };
  const endpoint = expected.config[ENDPOINTS_PATH[1]][ab.key];
  delete endpoint.abTest;
  if (source !== undefined) endpoint.source = source;
  if (!isDeepStrictEqual(after, expected)) throw refusal("also change other values of the file");
}

// ---------------------------------------------------------------------------------------------
// Words.
// ---------------------------------------------------------------------------------------------

/** What a source serves, in words: `version 7`, `image tag t with model data k`. */
export function sourceSummary(source: SourceValues | undefined): string {
  if (source === undefined) return "no source";
  if (source.version !== undefined) return `version ${String(source.version)}`;
  const image = source.imageTag !== undefined ? `image tag ${String(source.imageTag)}`
    : source.imageDigest !== undefined ? `image ${String(source.imageDigest)}` : undefined;
  if (image === undefined) return flowText(source);
  return source.modelDataKey === undefined ? image : `${image} with model data ${String(source.modelDataKey)}`;
}
