import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments } from "yaml";
import { ConfigError, type FileProblem, loadProjectConfig, PROJECT_FILE, stackFileName } from "./load";
import type { ProjectConfig } from "./schema";

/** Pulumi.yaml as read: the project name as written, and its config with project values unwrapped from `{ value }`. */
export interface ProjectFile {
  readonly name: string;
  /** Keys as written (namespaced or not). */
  readonly config: Record<string, unknown>;
}

/** Reads and parses Pulumi.yaml; throws a ConfigError when it is missing, not YAML, not a map or has no name. */
export function readProjectFile(projectDir: string): ProjectFile {
  const doc = readYaml(projectDir, PROJECT_FILE, `cannot be read from ${projectDir}: is it the project directory?`);
  if (typeof doc.name !== "string" || doc.name === "") {
    throw new ConfigError([{ file: PROJECT_FILE, path: "name", message: `must be the Pulumi project name, got ${describe(doc.name)}` }]);
  }
  const config: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(asMap(doc.config, PROJECT_FILE, "config"))) config[key] = unwrapProjectValue(entry);
  return { name: doc.name, config };
}

/**
 * Reads Pulumi.yaml and Pulumi.<stage>.yaml the way the Pulumi CLI hands config to a program:
 * one map of `namespace:key` to string, objects JSON-encoded, stack values over project values.
 * Used by the offline tools and tests, so they run the program on exactly what `pulumi up` would.
 */
export function readStackConfigFiles(projectDir: string, stage: string): Record<string, string> {
  const project = readProjectFile(projectDir);
  const config = projectConfigOf(project);
  const stackFile = stackFileName(stage);
  const stackDoc = readYaml(projectDir, stackFile, "cannot be read; does the stack exist?");
  for (const [key, value] of Object.entries(asMap(stackDoc.config, stackFile, "config"))) {
    config[qualify(key, String(project.name))] = encode(value, stackFile, key);
  }
  return config;
}

/**
 * The project-level config alone (Pulumi.yaml), validated as every stack validates it: for tools
 * that act on the service as a whole (the registry CLI, promotion) rather than on one stack.
 */
export function readProjectConfig(projectDir: string): { project: ProjectConfig; region: string } {
  return loadProjectConfig(projectConfigOf(readProjectFile(projectDir)));
}

/** Pulumi.yaml's config as Pulumi hands it to a program: `namespace:key` to string. */
function projectConfigOf(project: ProjectFile): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(project.config)) {
    config[qualify(key, String(project.name))] = encode(value, PROJECT_FILE, key);
  }
  return config;
}

/** Project-level values are scalars, or objects wrapped as { value: ... }. */
function unwrapProjectValue(entry: unknown): unknown {
  return entry !== null && typeof entry === "object" && !Array.isArray(entry) && "value" in entry
    ? (entry as { value: unknown }).value : entry;
}

/**
 * Reads one Pulumi YAML file as the CLI does: UTF-8 (a leading BOM allowed), one document, merge
 * keys (`<<: *anchor`) applied, and no key written twice. An empty file is an empty map.
 */
function readYaml(dir: string, file: string, unreadable: string): Record<string, unknown> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(join(dir, file));
  } catch {
    throw new ConfigError([{ file, path: "(file)", message: unreadable }]);
  }
  const doc = parseYamlDocument(decodeUtf8(bytes, file), file);
  return asMap(doc === undefined ? undefined : toPlainValues(doc, file), file, "(file)");
}

/**
 * A stack file for editing (promotion): its text exactly as stored (a byte order mark kept, so
 * source offsets match the file) and its document, read by the same rules as the program reads it.
 * Throws a ConfigError naming the file, as readStackConfigFiles would.
 */
export function readYamlForEditing(bytes: Uint8Array, file: string): { text: string; doc: Document | undefined } {
  const text = decodeUtf8(bytes, file, { keepBom: true });
  return { text, doc: parseYamlDocument(text, file) };
}

/** The text of a file's bytes; throws a ConfigError naming the first byte that is not UTF-8. */
function decodeUtf8(bytes: Uint8Array, file: string, options: { keepBom?: boolean } = {}): string {
  try {
    // Drops a leading BOM unless asked to keep it.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: options.keepBom === true }).decode(bytes);
  } catch {
    const offset = firstInvalidByte(bytes);
    const byte = bytes[offset].toString(16).toUpperCase().padStart(2, "0");
    const line = bytes.subarray(0, offset).filter((b) => b === 0x0a).length + 1;
    throw new ConfigError([{ file, path: "(file)", message: `is not UTF-8 text: invalid byte 0x${byte} at offset ${offset} (line ${line}); save the file as UTF-8` }]);
  }
}

/**
 * Offset of the first byte that starts no valid UTF-8 sequence. The lenient decoder turns each bad
 * sequence into U+FFFD; everything before the first one decoded exactly, so its offset is exact.
 */
function firstInvalidByte(bytes: Uint8Array): number {
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  let offset = 0;
  for (const char of text) {
    const replaced = char === "\uFFFD" && !(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd);
    if (replaced) return offset;
    offset += Buffer.byteLength(char, "utf8");
  }
  return offset;
}

/** Parses a file's text into its one document; throws a ConfigError for anything Pulumi would not read as one clean document. */
function parseYamlDocument(text: string, file: string): Document | undefined {
  const lines = new LineCounter();
  // Duplicate keys are found below, so that the message can name the key.
  const docs = parseAllDocuments(text, { merge: true, uniqueKeys: false, lineCounter: lines });
  const [doc, ...rest] = Array.from(docs);
  if (doc === undefined) return undefined;
  const syntax = [doc, ...rest].flatMap((d) => d.errors)[0];
  if (syntax !== undefined) throw invalidYaml(file, syntax.message);
  const extra = rest.find((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null));
  if (extra !== undefined) {
    const message = `holds more than one YAML document (another starts at line ${lines.linePos(extra.range[0]).line}); `
      + "Pulumi reads only the first, so put every setting in one document";
    throw new ConfigError([{ file, path: "(file)", message }]);
  }
  const duplicates = duplicateKeys(doc.contents, [], { file, lines });
  if (duplicates.length > 0) throw new ConfigError(duplicates);
  return doc;
}

/** The document as plain values; alias loops and bad merges surface here. */
function toPlainValues(doc: Document, file: string): unknown {
  try {
    return doc.toJS();
  } catch (error) {
    throw invalidYaml(file, (error as Error).message);
  }
}

function invalidYaml(file: string, parserMessage: string): ConfigError {
  return new ConfigError([{ file, path: "(file)", message: `is not valid YAML: ${parserMessage.split("\n")[0]}` }]);
}

/**
 * Every key written twice in one map, at any depth, as Pulumi's YAML reader refuses them. A merge
 * key counts too: Pulumi refuses a second `<<` in one map (write `<<: [*a, *b]` instead).
 */
function duplicateKeys(node: unknown, path: readonly (string | number)[], at: { file: string; lines: LineCounter }): FileProblem[] {
  if (isSeq(node)) return node.items.flatMap((item, index) => duplicateKeys(item, [...path, index], at));
  if (!isMap(node)) return [];
  const problems: FileProblem[] = [];
  const seen = new Set<string>();
  for (const pair of node.items.filter(isPair)) {
    const key = keyName(pair.key);
    if (seen.has(key)) {
      const line = isScalar(pair.key) && pair.key.range ? at.lines.linePos(pair.key.range[0]).line : "?";
      problems.push({ file: at.file, path: keyPath([...path, key], at.file), message: `is set twice (again at line ${line}); keep one` });
    }
    seen.add(key);
    problems.push(...duplicateKeys(pair.value, [...path, key], at));
  }
  return problems;
}

/** A map key as text; the yaml library holds a merge key `<<` as a symbol. */
function keyName(key: unknown): string {
  if (!isScalar(key)) return String(key);
  return typeof key.value === "symbol" ? "<<" : String(key.value);
}

/**
 * A path in the document as the config messages print it: `mlplatform:stages[1].accountId`, without
 * the `config` map around the keys or Pulumi.yaml's `value` wrapper.
 */
function keyPath(segments: readonly (string | number)[], file: string): string {
  let keys = segments[0] === "config" && segments.length > 1 ? segments.slice(1) : segments;
  if (file === PROJECT_FILE && keys !== segments && keys[1] === "value" && keys.length > 2) keys = [keys[0], ...keys.slice(2)];
  return keys.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? key : `.${key}`)).join("");
}

function asMap(value: unknown, file: string, path: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError([{ file, path, message: `must be a map of keys to values, got ${describe(value)}` }]);
  }
  return value as Record<string, unknown>;
}

/** What a value is, for "got ..." in messages. */
function describe(value: unknown): string {
  if (value === undefined || value === null) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  return typeof value === "string" ? "a string" : `${typeof value} ${String(value)}`;
}

/** Keys without a namespace belong to the project, as Pulumi reads them. */
function qualify(key: string, projectName: string): string {
  return key.includes(":") ? key : `${projectName}:${key}`;
}

/** A config value as Pulumi hands it to the program; a secret anywhere in it is refused. */
function encode(value: unknown, file: string, key: string): string {
  const secret = secretPath(value, key);
  if (secret !== undefined) {
    throw new ConfigError([{ file, path: secret, message: "is a secret; the offline tools cannot decrypt it and this program reads no secrets" }]);
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Key path of the first `{ secure: ... }` value within a config value, if there is one. */
function secretPath(value: unknown, path: string): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  if (Array.isArray(value)) return firstDefined(value.map((item, i) => secretPath(item, `${path}[${i}]`)));
  if ("secure" in value) return path;
  return firstDefined(Object.entries(value).map(([key, item]) => secretPath(item, `${path}.${key}`)));
}

function firstDefined<T>(values: readonly (T | undefined)[]): T | undefined {
  return values.find((v) => v !== undefined);
}
