import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ConfigError, loadProjectConfig, PROJECT_FILE, stackFileName } from "./load";
import type { ProjectConfig } from "./schema";

/** Pulumi.yaml as read: the project name as written, and its config with project values unwrapped from `{ value }`. */
export interface ProjectFile {
  readonly name?: unknown;
  /** Keys as written (namespaced or not). */
  readonly config: Record<string, unknown>;
}

/** Reads and parses Pulumi.yaml; throws a ConfigError when it is missing, not YAML or not a map. */
export function readProjectFile(projectDir: string): ProjectFile {
  const doc = readYaml(projectDir, PROJECT_FILE, `cannot be read from ${projectDir}: is it the project directory?`);
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

function readYaml(dir: string, file: string, unreadable: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(join(dir, file), "utf8");
  } catch {
    throw new ConfigError([{ file, path: "(file)", message: unreadable }]);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw new ConfigError([{ file, path: "(file)", message: `is not valid YAML: ${(error as Error).message.split("\n")[0]}` }]);
  }
  return asMap(doc ?? {}, file, "(file)");
}

function asMap(value: unknown, file: string, path: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError([{ file, path, message: "must be a map of keys to values" }]);
  }
  return value as Record<string, unknown>;
}

/** Keys without a namespace belong to the project, as Pulumi reads them. */
function qualify(key: string, projectName: string): string {
  return key.includes(":") ? key : `${projectName}:${key}`;
}

function encode(value: unknown, file: string, key: string): string {
  if (value !== null && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
    throw new ConfigError([{ file, path: key, message: "is a secret; the offline tools cannot decrypt it and this program reads no secrets" }]);
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}
