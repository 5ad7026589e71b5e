import { z } from "zod";
import { RETRAIN_WORKFLOW_FILE, retrainPublisher } from "./retrain-publisher";
import {
  checkRegion, formatProblems, parseProjectConfig, type Problem, type ProjectConfig, type ProjectConfigInput, toResult,
} from "../stacks/config/schema";

/**
 * The service definition: the one place a new ML service edits (in .projenrc.ts).
 * It is the project-level config of the Pulumi program (written to Pulumi.yaml), plus the region,
 * so projen and the program check it with the same schema; and the keys that only projen uses
 * (`retraining`), which stay out of Pulumi.yaml (pulumiProjectDefinition).
 */
export type ServiceDefinition = ProjectConfigInput & {
  /** AWS region every stage deploys into (`aws:region` in Pulumi.yaml). */
  readonly region: string;
  /**
   * When the retraining loop runs, generated as .github/workflows/retrain.yml (GitHub OIDC CI only).
   * @default - no scheduled retraining: no retrain.yml
   */
  readonly retraining?: RetrainingDefinition;
};

/**
 * How often the retraining loop runs: a named cadence (RETRAINING_CADENCES), or a cron line of
 * GitHub's schedule syntax (five fields, UTC: minute, hour, day of month, month, day of week).
 */
export type RetrainingCadence = keyof typeof RETRAINING_CADENCES | { readonly cron: string };

/** The `retraining` key of the service definition. */
export interface RetrainingDefinition {
  /** When the loop runs (seed 001 retrains monthly or quarterly). */
  readonly cadence: RetrainingCadence;
  /**
   * The models the loop retrains, each one of the service's `models`.
   * @default - every model of the service
   */
  readonly models?: readonly string[];
}

/**
 * The cron line of each named cadence, in UTC. 03:17 rather than on the hour: GitHub delays and
 * may drop scheduled runs queued at the top of the hour, when its load is highest.
 */
export const RETRAINING_CADENCES = {
  /** 03:17 UTC on the 1st of every month. */
  monthly: "17 3 1 * *",
  /** 03:17 UTC on the 1st of January, April, July and October. */
  quarterly: "17 3 1 1,4,7,10 *",
} as const;

/** The retraining schedule, validated and with its defaults resolved. */
export interface RetrainingSchedule {
  /** The cron line retrain.yml runs on (UTC). */
  readonly cron: string;
  /** How the definition wrote it: a named cadence, or "cron". */
  readonly cadence: keyof typeof RETRAINING_CADENCES | "cron";
  /** The models to retrain, in the order of the service's `models`. */
  readonly models: readonly string[];
}

/** A service definition, validated: the project config as the program reads it, the region, and the retraining schedule. */
export interface ParsedService {
  readonly project: ProjectConfig;
  readonly region: string;
  /** @default - no scheduled retraining */
  readonly retraining?: RetrainingSchedule;
}

/** Validates a service definition; throws naming .projenrc.ts and every key that is wrong. */
export function parseServiceDefinition(def: ServiceDefinition): ParsedService {
  const { region, retraining, ...shared } = def;
  // The region also enters the project config (mlplatform:region), so a stack file cannot move a stack to another region.
  const parsed = parseProjectConfig({ ...shared, region });
  const problems = parsed.ok ? [] : [...parsed.problems];
  const regionProblem = checkRegion(region);
  if (regionProblem !== undefined && !problems.some((p) => p.path === "region")) problems.push({ path: "region", message: regionProblem });
  const schedule = retraining === undefined ? undefined : parseRetraining(retraining, shared.models, parsed.ok ? parsed.value : undefined, problems);
  if (!parsed.ok || problems.length > 0) {
    throw new Error(`.projenrc.ts: the service definition is invalid:\n${formatProblems(problems, ".projenrc.ts")}`);
  }
  return { project: parsed.value, region, ...(schedule !== undefined ? { retraining: schedule } : {}) };
}

/**
 * The definition as Pulumi.yaml holds it: without the keys only projen uses (`retraining`: the
 * Pulumi program does not read it, and its config schema refuses keys it does not know).
 */
export function pulumiProjectDefinition(def: ServiceDefinition): ServiceDefinition {
  const { retraining: _projenOnly, ...pulumi } = def;
  return pulumi;
}

const cadenceSchema = z.union([
  z.enum(Object.keys(RETRAINING_CADENCES) as [keyof typeof RETRAINING_CADENCES]),
  z.strictObject({ cron: z.string({ error: "must be a cron line in quotes" }) }),
], { error: `must be ${Object.keys(RETRAINING_CADENCES).map((c) => `"${c}"`).join(", ")} or { cron: "<minute> <hour> <day of month> <month> <day of week>" }` });

const retrainingSchema = z.strictObject({
  cadence: cadenceSchema,
  models: z.array(z.string()).min(1, { error: "must list at least one model (leave it out to retrain every model)" }).optional(),
});

/**
 * The retraining schedule of a definition, or undefined after adding its problems (paths under
 * `retraining`) to `problems`. `project` is the parsed project config when it is valid: then the
 * publishers must admit retrain.yml.
 */
function parseRetraining(
  input: RetrainingDefinition, models: unknown, project: ProjectConfig | undefined, problems: Problem[],
): RetrainingSchedule | undefined {
  const parsed = toResult(retrainingSchema, input, "retraining");
  if (!parsed.ok) {
    problems.push(...parsed.problems);
    return undefined;
  }
  const before = problems.length;
  const { cadence } = parsed.value;
  const cron = typeof cadence === "string" ? RETRAINING_CADENCES[cadence] : cadence.cron.trim().replace(/\s+/g, " ");
  if (typeof cadence !== "string") {
    const problem = retrainingCronProblem(cadence.cron);
    if (problem !== undefined) problems.push({ path: "retraining.cadence.cron", message: problem });
  }
  const serviceModels = Array.isArray(models) ? models.filter((m): m is string => typeof m === "string") : [];
  const chosen = parsed.value.models ?? serviceModels;
  chosen.forEach((model, i) => {
    if (!serviceModels.includes(model)) {
      problems.push({ path: `retraining.models[${i}]`, message: `must be one of the service's models (${serviceModels.join(", ")}), got "${model}"` });
    } else if (chosen.indexOf(model) !== i) {
      problems.push({ path: `retraining.models[${i}]`, message: `"${model}" is listed twice` });
    }
  });
  if (project !== undefined && project.ciPrincipal.type === "github-oidc" && retrainPublisher(project) === undefined) {
    problems.push({
      path: "retraining",
      message: `${RETRAIN_WORKFLOW_FILE} runs the loop as the registry's publisher role, but no principal in publishers admits it; `
        + `add { github: { environment: "registry-publish", workflow: "${RETRAIN_WORKFLOW_FILE}" } } to publishers (a GitHub principal of `
        + `${project.ciPrincipal.repository} with an environment or a branch, and no other workflow)`,
    });
  }
  if (problems.length > before) return undefined;
  return {
    cron,
    cadence: typeof cadence === "string" ? cadence : "cron",
    models: serviceModels.filter((m) => chosen.includes(m)),
  };
}

/** The fields of a cron line, with their ranges (GitHub's schedule syntax: numbers, `*`, `,`, `-` and `/`). */
const CRON_FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 6 },
] as const;

/** One item of a cron field: `*`, `N` or `N-M`, optionally with `/STEP`. */
const CRON_ITEM = /^(?:\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/;

/**
 * What is wrong with a retraining cron line, or undefined: five fields of numbers, `*`, `,`, `-`
 * and `/` within each field's range; and the minute and hour each one number, since a retraining
 * loop (hours of tuning jobs) runs at most once a day.
 */
export function retrainingCronProblem(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/).filter((f) => f !== "");
  if (fields.length !== 5) {
    return `must have five fields (minute hour day-of-month month day-of-week, UTC), got ${fields.length} in "${cron}"`;
  }
  for (const [i, field] of fields.entries()) {
    const { name, min, max } = CRON_FIELDS[i];
    for (const item of field.split(",")) {
      const m = CRON_ITEM.exec(item);
      const [from, to, step] = [m?.[1], m?.[2], m?.[3]].map((n) => (n === undefined ? undefined : Number(n)));
      const outOfRange = [from, to].some((n) => n !== undefined && (n < min || n > max));
      if (m === null || outOfRange || (from !== undefined && to !== undefined && to < from) || step === 0) {
        return `the ${name} field "${field}" must be *, a number from ${min} to ${max}, a range N-M, a list with commas, or any of these with /STEP (in "${cron}")`;
      }
    }
  }
  const [minute, hour] = fields;
  if (!/^\d+$/.test(minute) || !/^\d+$/.test(hour)) {
    return `the minute and hour must each be one number: the loop runs at most once a day, got "${minute} ${hour}" in "${cron}"`;
  }
  return undefined;
}
