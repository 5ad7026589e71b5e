import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ConfigError, type FileProblem, PROJECT_FILE, stackFileName } from "./load";
import { CONFIG_NAMESPACE, type ProjectConfig, projectConfigSchema, REGION_PATTERN, toResult } from "./schema";

/**
 * Reads Pulumi.yaml and Pulumi.<stage>.yaml the way the Pulumi CLI hands config to a program:
 * one map of `namespace:key` to string, objects JSON-encoded, stack values over project values.
 * Used by the offline tools and tests, so they run the program on exactly what `pulumi up` would.
 */
export function readStackConfigFiles(projectDir: string, stage: string): Record<string, string> {
  const projectDoc = readYaml(projectDir, PROJECT_FILE);
  const stackDoc = readYaml(projectDir, stackFileName(stage));
  const config: Record<string, string> = {};
  for (const [key, entry] of Object.entries(asMap(projectDoc.config, PROJECT_FILE, "config"))) {
    config[qualify(key, String(projectDoc.name))] = encode(unwrapProjectValue(entry), PROJECT_FILE, key);
  }
  for (const [key, value] of Object.entries(asMap(stackDoc.config, stackFileName(stage), "config"))) {
    config[qualify(key, String(projectDoc.name))] = encode(value, stackFileName(stage), key);
  }
  return config;
}

/** Project-level values are scalars, or objects wrapped as { value: ... }. */
function unwrapProjectValue(entry: unknown): unknown {
  return entry !== null && typeof entry === "object" && !Array.isArray(entry) && "value" in entry
    ? (entry as { value: unknown }).value : entry;
}

function readYaml(dir: string, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(join(dir, file), "utf8");
  } catch {
    throw new ConfigError([{ file, path: "(file)", message: "cannot be read; does the stack exist?" }]);
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

/**
 * The project-level config alone (Pulumi.yaml), validated: for tools that act on the service as
 * a whole (the registry CLI, promotion) rather than on one stack.
 */
export function readProjectConfig(projectDir: string): { project: ProjectConfig; region: string } {
  const doc = readYaml(projectDir, PROJECT_FILE);
  const raw: Record<string, unknown> = {};
  let region: unknown;
  for (const [key, entry] of Object.entries(asMap(doc.config, PROJECT_FILE, "config"))) {
    const value = unwrapProjectValue(entry);
    if (key === "aws:region") region = value;
    if (key.startsWith(`${CONFIG_NAMESPACE}:`)) raw[key.slice(CONFIG_NAMESPACE.length + 1)] = value;
  }
  const problems: FileProblem[] = [];
  if (typeof region !== "string" || !REGION_PATTERN.test(region)) {
    problems.push({ file: PROJECT_FILE, path: "aws:region", message: `must be an AWS region such as eu-west-1, got ${JSON.stringify(region)}` });
  }
  const parsed = toResult(projectConfigSchema, raw, `${CONFIG_NAMESPACE}:`);
  if (!parsed.ok) problems.push(...parsed.problems.map((p) => ({ ...p, file: PROJECT_FILE })));
  if (problems.length > 0 || !parsed.ok) throw new ConfigError(problems);
  return { project: parsed.value, region: region as string };
}
