import { checkRegion, formatProblems, parseProjectConfig, type ProjectConfig, type ProjectConfigInput } from "../stacks/config/schema";

/**
 * The service definition: the one place a new ML service edits (in .projenrc.ts).
 * It is exactly the project-level config of the Pulumi program (written to Pulumi.yaml), plus
 * the region, so projen and the program check it with the same schema.
 */
export type ServiceDefinition = ProjectConfigInput & {
  /** AWS region every stage deploys into (`aws:region` in Pulumi.yaml). */
  readonly region: string;
};

/** A service definition, validated: the project config as the program reads it, and the region. */
export interface ParsedService {
  readonly project: ProjectConfig;
  readonly region: string;
}

/** Validates a service definition; throws naming .projenrc.ts and every key that is wrong. */
export function parseServiceDefinition(def: ServiceDefinition): ParsedService {
  const { region, ...shared } = def;
  // The region also enters the project config (mlplatform:region), so a stack file cannot move a stack to another region.
  const parsed = parseProjectConfig({ ...shared, region });
  const problems = parsed.ok ? [] : [...parsed.problems];
  const regionProblem = checkRegion(region);
  if (regionProblem !== undefined && !problems.some((p) => p.path === "region")) problems.push({ path: "region", message: regionProblem });
  if (!parsed.ok || problems.length > 0) {
    throw new Error(`.projenrc.ts: the service definition is invalid:\n${formatProblems(problems, ".projenrc.ts")}`);
  }
  return { project: parsed.value, region };
}
