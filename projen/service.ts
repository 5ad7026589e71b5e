import type { ProjectConfigInput } from "../stacks/config/schema";

/**
 * The service definition: the one place a new ML service edits (in .projenrc.ts).
 * It is exactly the project-level config of the Pulumi program (written to Pulumi.yaml), plus
 * the region, so projen and the program check it with the same schema.
 */
export type ServiceDefinition = ProjectConfigInput & {
  /** AWS region every stage deploys into (`aws:region` in Pulumi.yaml). */
  readonly region: string;
};
