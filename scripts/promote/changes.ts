import { isMap, parseDocument, type Document } from "yaml";
import { readYamlForEditing } from "../../stacks/config/files";
import { ConfigError } from "../../stacks/config/load";
import { formatProblems } from "../../stacks/config/schema";
import { CliError } from "../lib/cli";

/**
 * What a promotion moves: the promotable values of each endpoint's `source`, matched by endpoint
 * name between two stack files. Everything else in a stack file (accounts, instance types and
 * counts, strategies, alarms, tags, an image's environment) is the stage's own and never moves.
 * Pure: works on parsed documents, no files, no AWS.
 */

/** The promotable keys of an endpoint's `source`, by source kind. */
export const PROMOTABLE_KEYS = {
  registry: ["version"],
  // The artifact moves with the image: they are one release.
  image: ["imageTag", "imageDigest", "modelDataKey"],
} as const;

export type PromotableKey = (typeof PROMOTABLE_KEYS)[keyof typeof PROMOTABLE_KEYS][number];

/** Where the endpoints live in a stack file. */
export const ENDPOINTS_PATH = ["config", "mlplatform:endpoints"] as const;

/** The YAML path of one promotable value. */
export function valuePath(endpoint: string, key: PromotableKey): string[] {
  return [...ENDPOINTS_PATH, endpoint, "source", key];
}

/** One value that changes in the target stack file. */
export interface ValueChange {
  readonly endpoint: string;
  /** The model the endpoint serves. */
  readonly model: string;
  /** The key under `source`. */
  readonly key: PromotableKey;
  readonly oldValue: PromotableValue;
  readonly newValue: PromotableValue;
}

/** A promotable value: a version number, an image tag or digest, or a key. */
export type PromotableValue = string | number;

/** What promoting from one stack file to another would do. */
export interface PromotionPlan {
  readonly changes: readonly ValueChange[];
  /** Endpoints already serving what the source serves. */
  readonly unchanged: readonly string[];
  /** Endpoints of the source stage that the target stage does not have: reported, never created. */
  readonly notInTarget: readonly string[];
}

/** A stack file, parsed for editing. */
export interface StackFile {
  /** File name, for messages (`Pulumi.qa.yaml`). */
  readonly file: string;
  readonly text: string;
  readonly doc: Document;
}

/**
 * Parses a stack file as Pulumi reads it: YAML 1.2 with `<<` merge keys, each key once per map.
 * Given the file's bytes, also checks they are UTF-8 (a byte order mark is kept in `text`).
 * Refuses, naming the file: bytes that are not UTF-8 (with the offset of the first bad byte), a key
 * written twice in one map (with the key and line), and the first other YAML error.
 */
export function parseStackFile(file: string, content: string | Uint8Array): StackFile {
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  try {
    // The program's own reader: the same UTF-8, merge-key, one-document and duplicate-key rules.
    const { text, doc } = readYamlForEditing(bytes, file);
    return { file, text, doc: doc ?? parseDocument(text) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new CliError(error.problems.map((p) => formatProblems([p], p.file)).join("; "));
  }
}

/** An endpoint of a stack file as promotion sees it: its model, its kind of source and the promotable values it sets. */
export interface StackEndpoint {
  readonly name: string;
  readonly model: string;
  readonly kind: keyof typeof PROMOTABLE_KEYS;
  readonly values: Partial<Record<PromotableKey, PromotableValue>>;
  /** A multi-model endpoint (`multiModel: true`): its image loads the models under its prefix of the stage bucket. */
  readonly multiModel: boolean;
}

/**
 * The endpoints of a stack file, in file order. Refuses (one CliError naming every problem) an
 * endpoint without a model and a version or image source, or with a promotable value of the wrong type.
 */
export function stackEndpoints(stack: StackFile): StackEndpoint[] {
  const problems: string[] = [];
  const endpoints = [...endpointsOf(stack, problems).values()];
  if (problems.length > 0) throw new CliError(problems.join("; "));
  return endpoints;
}

/** The endpoints of a stack file with their model and source values, in file order. */
function endpointsOf(stack: StackFile, problems: string[]): Map<string, StackEndpoint> {
  const node = stack.doc.getIn(ENDPOINTS_PATH, true);
  const endpoints = new Map<string, StackEndpoint>();
  if (node === undefined) return endpoints;
  if (!isMap(node)) {
    problems.push(`${stack.file}: ${ENDPOINTS_PATH.join(".")} must be a map of endpoints`);
    return endpoints;
  }
  // Through the document, so aliases resolve to what they stand for.
  const all = (stack.doc.toJS() as { config: Record<string, Record<string, unknown>> }).config[ENDPOINTS_PATH[1]];
  for (const [name, raw] of Object.entries(all)) {
    const endpoint = (raw ?? {}) as { model?: unknown; source?: Record<string, unknown>; multiModel?: unknown };
    const source = endpoint.source ?? {};
    const kind = source.version !== undefined ? "registry"
      : source.imageTag !== undefined || source.imageDigest !== undefined ? "image" : undefined;
    if (kind === undefined || typeof endpoint.model !== "string") {
      problems.push(`${stack.file}: endpoint ${name} needs a model and a source with version, or imageTag (or imageDigest) and modelDataKey`);
      continue;
    }
    const values: Partial<Record<PromotableKey, PromotableValue>> = {};
    for (const key of PROMOTABLE_KEYS[kind]) {
      const value = source[key];
      if (value === undefined) continue;
      if (key === "version" ? typeof value !== "number" : typeof value !== "string") {
        problems.push(`${stack.file}: endpoint ${name}: source.${key} must be ${key === "version" ? "a version number" : "a string"}`);
      } else {
        values[key] = value as PromotableValue;
      }
    }
    endpoints.set(name, { name, model: endpoint.model, kind, values, multiModel: endpoint.multiModel === true });
  }
  return endpoints;
}

/**
 * Matches the endpoints of `source` and `target` by name and lists the promotable values that
 * differ. With `model`, only endpoints serving that model take part. Refuses (one CliError naming
 * every problem) when an endpoint cannot be promoted as it stands: a different model or a different
 * kind of source in the two stages is a structural change for a reviewed edit, not a promotion.
 */
export function planPromotion(source: StackFile, target: StackFile, options: { model?: string } = {}): PromotionPlan {
  const problems: string[] = [];
  const from = endpointsOf(source, problems);
  const to = endpointsOf(target, problems);
  const endpoints = [...from.keys()].filter((name) => options.model === undefined || from.get(name)?.model === options.model);
  if (options.model !== undefined && endpoints.length === 0 && problems.length === 0) {
    throw new CliError(`no endpoint of ${source.file} serves model "${options.model}"; nothing to promote`);
  }
  const changes: ValueChange[] = [];
  const unchanged: string[] = [];
  const notInTarget: string[] = [];
  for (const name of endpoints) {
    const a = from.get(name)!;
    const b = to.get(name);
    if (b === undefined) {
      if (!target.doc.hasIn([...ENDPOINTS_PATH, name])) notInTarget.push(name);
      continue;
    }
    if (a.model !== b.model) {
      problems.push(`endpoint ${name} serves model ${a.model} in ${source.file} but ${b.model} in ${target.file}`);
      continue;
    }
    if (a.kind !== b.kind) {
      problems.push(`endpoint ${name} is served from ${describeKind(a.kind)} in ${source.file} but from ${describeKind(b.kind)} in ${target.file}; `
        + "changing the kind of source is a reviewed edit of the stack file, not a promotion");
      continue;
    }
    const mismatch = PROMOTABLE_KEYS[a.kind].find((key) => (a.values[key] === undefined) !== (b.values[key] === undefined));
    if (mismatch !== undefined) {
      const why = mismatch === "modelDataKey"
        ? "an image source needs source.modelDataKey (the key of its model.tar.gz in the registry's artifact bucket) in every stage"
        : "switching between imageTag and imageDigest is a reviewed edit of the stack file, not a promotion";
      problems.push(`endpoint ${name} sets source.${mismatch} in ${a.values[mismatch] === undefined ? target.file : source.file} but not in `
        + `${a.values[mismatch] === undefined ? source.file : target.file}; ${why}`);
      continue;
    }
    const before = changes.length;
    for (const key of PROMOTABLE_KEYS[a.kind]) {
      const newValue = a.values[key];
      const oldValue = b.values[key];
      if (newValue !== undefined && oldValue !== undefined && newValue !== oldValue) {
        changes.push({ endpoint: name, model: a.model, key, oldValue, newValue });
      }
    }
    if (changes.length === before) unchanged.push(name);
  }
  if (problems.length > 0) throw new CliError(problems.join("; "));
  return { changes, unchanged, notInTarget };
}

function describeKind(kind: keyof typeof PROMOTABLE_KEYS): string {
  return kind === "registry" ? "a registry model package version" : "an image and model data";
}
