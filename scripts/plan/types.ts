import type { StackConfig } from "../../stacks/config/schema";

/** The shapes the plan engine passes between its modules and prints with --json. */

export type Severity = "error" | "warning";

/** Something AWS or the provider would reject (error), or a hazard worth a look (warning). */
export interface Finding {
  readonly severity: Severity;
  /** Which check found it (see CHECKS in findings.ts). */
  readonly check: string;
  readonly stack: string;
  /** The resource: its URN, or the stack's URN for a problem no resource could be registered for. */
  readonly urn: string;
  /** Logical name of that resource. */
  readonly resource: string;
  /** The config key to change (`mlplatform:endpoints.fraud-scorer.deployment.waitSeconds`), when one applies. */
  readonly configKey: string | null;
  readonly message: string;
}

/** One resource as the plan sees it: what the program registered plus the provider's naming. */
export interface PlannedResource {
  readonly urn: string;
  readonly type: string;
  /** Logical name. */
  readonly name: string;
  readonly parent: string | null;
  /** False for components. */
  readonly custom: boolean;
  /** The future physical name; null for components, providers and resources without a name. */
  readonly physicalName: string | null;
  readonly autoNamed: boolean;
  /** The id the provider would report; null for components. */
  readonly id: string | null;
  /** Account and region the resource is created in. */
  readonly accountId: string;
  readonly region: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  /**
   * Inputs Pulumi leaves as they are once the resource exists (the program's `ignoreChanges`): a
   * change to them is no change (the canary deployer's endpoints).
   * @default - none
   */
  readonly ignoreChanges?: readonly string[];
}

/** Rollout time and cost of one endpoint. */
export interface EndpointEstimate {
  readonly endpointName: string;
  readonly urn: string;
  /** The stack-file endpoint key (`fraud-scorer`), when known. */
  readonly endpointKey: string | null;
  readonly instanceType: string;
  readonly instanceCount: number;
  readonly strategy: string;
  /** Assumed minutes to bring up new instances, per provisioning round. */
  readonly provisioningMinutes: number;
  /** Fleets (blue/green: 1) or batches (rolling) provisioned one after another. */
  readonly provisioningRounds: number;
  /** Baking and termination waits, in minutes. */
  readonly waitMinutes: number;
  readonly rolloutMinutes: number;
  readonly maximumExecutionTimeoutMinutes: number | null;
  /** On-demand price per instance-hour; null when the price table has none. */
  readonly hourlyUsd: number | null;
  /** Extra cost of one deployment: the second fleet (or rolling batch) for the rollout's duration. */
  readonly deployCostUsd: number | null;
  readonly monthlyCostUsd: number | null;
}

export interface StackEstimates {
  /** On-demand cost of all endpoint instances for a month (730 h), for instance types with a price. */
  readonly monthlyCostUsd: number;
  readonly endpoints: EndpointEstimate[];
  readonly assumptions: {
    readonly provisioningMinutes: Readonly<Record<string, number>>;
    readonly providerWaitMinutes: number;
    readonly warnAboveMinutes: number;
    readonly prices: { readonly source: string; readonly date: string; readonly region: string; readonly hoursPerMonth: number };
  };
}

/** The plan of one stack. */
export interface StackPlan {
  readonly stack: string;
  /** The stack file the plan read. */
  readonly file: string;
  readonly account: string;
  readonly region: string;
  readonly resources: PlannedResource[];
  readonly findings: Finding[];
  readonly estimates: StackEstimates;
  /** The validated config, when it was valid (for diffs; not printed). */
  readonly config?: StackConfig;
}

export type Operation = "create" | "delete" | "update" | "replace";

/** `aws:sagemaker/endpoint:Endpoint` -> `sagemaker:Endpoint`. */
export function shortType(type: string): string {
  const m = /^([^:]+):([^/:]+)(?:\/[^:]*)?:(.+)$/.exec(type);
  if (!m) return type;
  return m[1] === "pulumi" && m[2] === "providers" ? `provider:${m[3]}` : `${m[2]}:${m[3]}`;
}
