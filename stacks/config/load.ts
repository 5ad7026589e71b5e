import {
  accountOfStack,
  checkRegion,
  CONFIG_NAMESPACE,
  deploymentStacks,
  formatProblems,
  type Problem,
  type ProjectConfig,
  projectConfigSchema,
  type StackConfig,
  stageConfigSchema,
  toResult,
} from "./schema";

/** The project file, whose config every stack shares. */
export const PROJECT_FILE = "Pulumi.yaml";

/** The stack file of a stage. */
export function stackFileName(stage: string): string {
  return `Pulumi.${stage}.yaml`;
}

/** Keys (without namespace) that belong in Pulumi.yaml; every other `mlplatform:` key is a stage key. */
const PROJECT_KEYS = Object.keys(projectConfigSchema.shape);
const STAGE_KEYS = ["endpoints", "tags", "noncurrentVersionExpirationDays"];
/** Namespaces a stack may also set: the AWS provider's and the engine's own. */
const OTHER_NAMESPACES = ["aws", "pulumi"];

/** A problem found in a config file. */
export interface FileProblem extends Problem {
  readonly file: string;
}

/** A config that failed validation: every problem, each naming its file and key path. */
export class ConfigError extends Error {
  constructor(public readonly problems: readonly FileProblem[]) {
    super(`invalid stack configuration:\n${problems.map((p) => formatProblems([p], p.file)).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Pulumi passes each config value as a string; objects and lists come JSON-encoded, as
 * `pulumi.Config.getObject` reads them. Scalars stay strings (so "012345678901" keeps its zero),
 * except booleans.
 */
export function decodeConfigValue(raw: string): unknown {
  const trimmed = raw.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return raw;
    }
  }
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  return raw;
}

/**
 * Validates the whole config of one stack: Pulumi's merged config map (`namespace:key` to raw
 * string, as `pulumi.runtime.allConfig()` returns it) and the stack (stage) name. Throws a
 * ConfigError listing every problem before any resource exists.
 */
export function loadStackConfig(stage: string, rawConfig: Readonly<Record<string, string>>): StackConfig {
  const stackFile = stackFileName(stage);
  const { project: projectConfig, region, stageValues, problems } = parseProjectLevel(rawConfig, stackFile);
  if (projectConfig === undefined) throw new ConfigError(problems);
  const accountId = accountOfStack(projectConfig, stage);
  if (accountId === undefined) {
    problems.push({
      file: PROJECT_FILE,
      path: `${CONFIG_NAMESPACE}:stages`,
      message: `has no stack "${stage}" (the stack name); the stacks are the registry and the stages: ${deploymentStacks(projectConfig).map((s) => s.name).join(", ")}`,
    });
    throw new ConfigError(problems);
  }
  checkAllowedAccounts(rawConfig["aws:allowedAccountIds"], accountId, stackFile, problems);
  if (projectConfig.region !== undefined && region !== undefined && region !== projectConfig.region) {
    problems.push({
      file: stackFile,
      path: "aws:region",
      message: `is ${region}, but the service deploys every stack into ${projectConfig.region} (region in .projenrc.ts, `
        + `${CONFIG_NAMESPACE}:region in ${PROJECT_FILE}); remove aws:region from ${stackFile}`,
    });
  }

  const context = { project: projectConfig, stage, region: region ?? "" };
  const parsedStage = toResult(stageConfigSchema(context), stageValues, CONFIG_NAMESPACE + ":");
  if (!parsedStage.ok) {
    problems.push(...parsedStage.problems.map((p) => ({ ...p, file: stackFile })));
  }
  if (problems.length > 0 || !parsedStage.ok) throw new ConfigError(problems);
  return { ...context, ...parsedStage.value, accountId };
}

/**
 * Validates the project-level config alone (the shared half of every stack's config), from
 * Pulumi's config map of Pulumi.yaml (`namespace:key` to raw string). Keys are checked as a stack
 * checks them; stage keys are stage defaults, so they are not the project's concern. Throws a
 * ConfigError listing every problem.
 */
export function loadProjectConfig(rawConfig: Readonly<Record<string, string>>): { project: ProjectConfig; region: string } {
  const { project, region, problems } = parseProjectLevel(rawConfig, PROJECT_FILE);
  if (project === undefined || region === undefined || problems.length > 0) throw new ConfigError(problems);
  return { project, region };
}

/**
 * Sorts Pulumi's config map into project and stage values and validates the project level
 * (`mlplatform:<project key>` and `aws:region`, which live in Pulumi.yaml). Unknown keys and
 * namespaces are reported against `keysFile`. `project` is undefined when the project config is
 * invalid; `region` when the region is.
 */
function parseProjectLevel(rawConfig: Readonly<Record<string, string>>, keysFile: string): {
  project: ProjectConfig | undefined;
  region: string | undefined;
  stageValues: Record<string, unknown>;
  problems: FileProblem[];
} {
  const problems: FileProblem[] = [];
  const project: Record<string, unknown> = {};
  const stageValues: Record<string, unknown> = {};

  for (const [fullKey, raw] of Object.entries(rawConfig)) {
    const [namespace, key] = splitKey(fullKey);
    const value = decodeConfigValue(raw);
    if (namespace === CONFIG_NAMESPACE && PROJECT_KEYS.includes(key)) {
      project[key] = value;
    } else if (namespace === CONFIG_NAMESPACE && STAGE_KEYS.includes(key)) {
      stageValues[key] = value;
    } else if (namespace === CONFIG_NAMESPACE) {
      const hint = suggest(key, [...PROJECT_KEYS, ...STAGE_KEYS]);
      problems.push({ file: keysFile, path: fullKey, message: `unknown key${hint ? `; did you mean ${CONFIG_NAMESPACE}:${hint}?` : ""}` });
    } else if (!OTHER_NAMESPACES.includes(namespace)) {
      problems.push({
        file: keysFile,
        path: fullKey,
        message: `unknown namespace "${namespace}": this program reads ${CONFIG_NAMESPACE}:<key> (and aws:, pulumi: settings)`,
      });
    }
  }

  const region = rawConfig["aws:region"];
  const regionProblem = checkRegion(region);
  if (regionProblem !== undefined) problems.push({ file: PROJECT_FILE, path: "aws:region", message: regionProblem });
  const parsedProject = toResult(projectConfigSchema, project, CONFIG_NAMESPACE + ":");
  if (!parsedProject.ok) problems.push(...parsedProject.problems.map((p) => ({ ...p, file: PROJECT_FILE })));
  return {
    project: parsedProject.ok ? parsedProject.value : undefined,
    region: regionProblem === undefined ? region : undefined,
    stageValues,
    problems,
  };
}

/** The stack must name exactly its stage's account in `aws:allowedAccountIds`. */
function checkAllowedAccounts(raw: string | undefined, accountId: string, file: string, problems: FileProblem[]): void {
  const expected = `["${accountId}"]`;
  const value = raw === undefined ? undefined : decodeConfigValue(raw);
  if (!Array.isArray(value) || value.length !== 1 || String(value[0]) !== accountId) {
    problems.push({
      file,
      path: "aws:allowedAccountIds",
      message: `must be ${expected}: the stack's account from Pulumi.yaml, so the provider refuses any other account; got ${raw === undefined ? "nothing" : raw}`,
    });
  }
}

function splitKey(fullKey: string): [string, string] {
  const i = fullKey.indexOf(":");
  return i < 0 ? ["", fullKey] : [fullKey.slice(0, i), fullKey.slice(i + 1)];
}

/** The closest known key within two edits, for "did you mean" hints. */
function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
