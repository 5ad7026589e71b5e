import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ConfigError, PROJECT_FILE, stackFileName } from "./load";

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
    // Project-level values are scalars, or objects wrapped as { value: ... }.
    const value = entry !== null && typeof entry === "object" && !Array.isArray(entry) && "value" in entry
      ? (entry as { value: unknown }).value : entry;
    config[qualify(key, String(projectDoc.name))] = encode(value, PROJECT_FILE, key);
  }
  for (const [key, value] of Object.entries(asMap(stackDoc.config, stackFileName(stage), "config"))) {
    config[qualify(key, String(projectDoc.name))] = encode(value, stackFileName(stage), key);
  }
  return config;
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
