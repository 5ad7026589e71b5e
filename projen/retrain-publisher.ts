import { type ProjectConfig, registryPrincipals, type ResolvedPrincipal } from "../stacks/config/schema";

/**
 * Which publisher retrain.yml runs as: the service definition checks that one admits it
 * (projen/service.ts), the workflow runs in its context (projen/retrain-workflows.ts).
 */

/** The retrain workflow's file. Publishers may bind the publisher role to it (`workflow: "retrain.yml"`). */
export const RETRAIN_WORKFLOW_FILE = "retrain.yml";

/** The GitHub context retrain.yml's job runs in, so that the publisher role's trust policy admits it. */
export interface RetrainJobContext {
  /** The job's GitHub environment. @default - none: the principal is bound to a branch */
  readonly environment?: string;
  /** The only branch the job may run on. @default - any */
  readonly branch?: string;
}

/**
 * The context of retrain.yml's job: that of a GitHub principal of the publishers (defaults
 * resolved) in the CI repository, bound to no workflow or to retrain.yml, one with an environment
 * first. Undefined when no publisher admits retrain.yml (parseServiceDefinition refuses that).
 */
export function retrainPublisher(project: ProjectConfig): RetrainJobContext | undefined {
  const ci = project.ciPrincipal;
  if (ci.type !== "github-oidc") return undefined;
  const admitting = registryPrincipals(project, "publishers").filter((p): p is Extract<ResolvedPrincipal, { type: "github" }> =>
    p.type === "github" && p.repository === ci.repository && (p.workflow === undefined || p.workflow === RETRAIN_WORKFLOW_FILE));
  const chosen = admitting.find((p) => p.environment !== undefined) ?? admitting[0];
  return chosen === undefined ? undefined : { environment: chosen.environment, branch: chosen.branch };
}

