/**
 * The contract between the canary deployer's state machine (components/canary-state-machine.ts),
 * the component that creates it, and the `deploy` CLI that starts, watches, approves and rejects
 * its executions. Everything both sides must agree on is here: the execution input, the state
 * names a watcher looks for, and the messages the state machine publishes.
 */

/** Name of the variant that takes the canary share of traffic while the new version bakes. */
export const CANARY_VARIANT_NAME = "canary";

/** States the CLI recognises in an execution's history. */
export const CANARY_STATES = {
  /** Waits on a task token (`sns:publish.waitForTaskToken`) for a person's approval. */
  approval: "WaitForApproval",
  /** A wait between two polls of DescribeEndpoint. */
  pollWait: "WaitBeforePoll",
  /** A wait between two looks at the canary alarms during the bake. */
  bakeWait: "BakeWait",
  /** The terminal state of a rollback: the execution fails with the reason. */
  rolledBack: "RolledBack",
  /** The terminal state of a deployment that stopped without a rollback (see CANARY_ERRORS). */
  failed: "DeploymentFailed",
  /** The terminal state of a promoted canary: the execution succeeds. */
  promoted: "Promoted",
  /** The terminal state of a first deploy (the endpoint did not exist): the execution succeeds. */
  firstDeployed: "FirstDeployed",
} as const;

/** Error name of the failed execution after a rollback (the execution's `error`). */
export const ROLLED_BACK_ERROR = "Canary.RolledBack";

/**
 * The error a rejection sends (`SendTaskFailure`'s `error`) to the approval's task token; its
 * `cause` (the approver's words) becomes part of the rollback's reason. The state machine treats
 * any other failure of the approval task as a rejection too.
 */
export const APPROVAL_REJECTED_ERROR = "Canary.Rejected";

/**
 * Every error an execution can end with (the execution's `error`); the cause says what happened
 * and what to do next.
 */
export const CANARY_ERRORS = {
  /** Rolled back to the remembered config (an alarm, a failed or stuck update, a rejection, a timeout). */
  rolledBack: ROLLED_BACK_ERROR,
  /** The endpoint was not InService when the execution looked: nothing was changed. */
  endpointBusy: "Canary.EndpointBusy",
  /** SageMaker refused the canary's UpdateEndpoint (for example an update in progress): the endpoint is unchanged. */
  updateRefused: "Canary.UpdateRefused",
  /** The endpoint's config is not one variant of the serving variant's name (a canary left behind?): nothing was changed. */
  unexpectedVariants: "Canary.UnexpectedVariants",
  /** Fewer canary alarms exist than the state machine watches: nothing was changed. */
  alarmsMissing: "Canary.AlarmsMissing",
  /** A call before any change to the endpoint failed (CreateModel, DescribeEndpoint, CreateEndpointConfig, ...). */
  setupFailed: "Canary.SetupFailed",
  /** The first deploy's endpoint did not reach InService. */
  firstDeployFailed: "Canary.FirstDeployFailed",
  /** The rollback itself did not complete: the endpoint needs a person. */
  rollbackFailed: "Canary.RollbackFailed",
  /** The endpoint serves the intended config, but autoscaling could not be applied to it. */
  autoscalingFailed: "Canary.AutoscalingFailed",
} as const;

/**
 * What `npx projen deploy` passes to an execution. The version, size and resource names come from
 * the stack file and the CLI: the state machine's definition holds the endpoint's fixed settings.
 */
export interface CanaryExecutionInput {
  /** The registry version to deploy (a model package ARN). */
  readonly modelPackageArn: string;
  /** Instance type of the serving variant after promotion (from the stack file). */
  readonly instanceType: string;
  /** Instances of the serving variant after promotion (from the stack file). */
  readonly instanceCount: number;
  /** Name of the Model the execution creates (`canaryResourceNames`). */
  readonly modelName: string;
  /** Name of the two-variant config of the canary. */
  readonly canaryConfigName: string;
  /** Name of the single-variant config after promotion (or of the first deploy). */
  readonly promotedConfigName: string;
}

/** Kinds of message the state machine publishes on the deployer's topic. */
export type CanaryMessageKind = "approval-request" | "promoted" | "first-deploy" | "rolled-back" | "failed";

/**
 * A message on the deployer's topic (JSON in the SNS message body). An approval request carries
 * the task token; the CLI finds it in the execution history, so nobody needs to copy it.
 */
export interface CanaryMessage {
  readonly kind: CanaryMessageKind;
  readonly endpointName: string;
  /** The version being deployed. */
  readonly modelPackageArn: string;
  /** The endpoint config in service before the deployment started (absent on a first deploy). */
  readonly previousConfigName?: string;
  /** Why the deployment rolled back (an alarm's name, a failed update, a rejection, a timeout), or failed. */
  readonly reason?: string;
  /** The task token of an approval request. */
  readonly taskToken?: string;
  /** The execution that published the message (`deploy` approves, rejects and watches it). */
  readonly executionArn?: string;
}

/** Longest name SageMaker takes for a Model or EndpointConfig (API model: EntityName, 63). */
const MAX_NAME_LENGTH = 63;
/** Longest deployment id (`canaryResourceNames`). */
const MAX_DEPLOYMENT_ID_LENGTH = 30;

/**
 * The part of an endpoint's name that begins every name its executions create: IAM policies grant
 * `model/<prefix>*` and `endpoint-config/<prefix>*`.
 */
export function canaryNamePrefix(endpointName: string): string {
  return endpointName.slice(0, MAX_NAME_LENGTH - MAX_DEPLOYMENT_ID_LENGTH - "--m".length);
}

/**
 * Names of what one execution creates: `<endpoint>-<deploymentId>-{m,c,p}`. The endpoint part is
 * shortened when the whole would pass 63 characters, never below `canaryNamePrefix`, so the IAM
 * patterns still match. `deploymentId` must be short, lower-case alphanumerics
 * and hyphens (the CLI uses the version and a UTC timestamp, such as `v7-20261201t173000`).
 */
export function canaryResourceNames(endpointName: string, deploymentId: string): {
  modelName: string;
  canaryConfigName: string;
  promotedConfigName: string;
} {
  if (!/^[a-z0-9](-?[a-z0-9])*$/.test(deploymentId) || deploymentId.length > MAX_DEPLOYMENT_ID_LENGTH) {
    throw new Error(`deployment id "${deploymentId}" must be 1-${MAX_DEPLOYMENT_ID_LENGTH} lower-case letters, digits and single hyphens`);
  }
  // At least canaryNamePrefix(endpointName): a deployment id of the longest length leaves exactly that.
  const prefix = endpointName.slice(0, MAX_NAME_LENGTH - deploymentId.length - "--m".length);
  return {
    modelName: `${prefix}-${deploymentId}-m`,
    canaryConfigName: `${prefix}-${deploymentId}-c`,
    promotedConfigName: `${prefix}-${deploymentId}-p`,
  };
}

/** Names of what the canary deployer component creates for one endpoint (the stage account's). */
export interface CanaryDeployerNames {
  /** The state machine (at most 80 characters: a 63-character endpoint name fits). */
  readonly stateMachine: string;
  /** The SNS topic of approval requests and outcomes. */
  readonly topic: string;
  /** The state machine's role (at most 64 characters: endpoint names stay within 48, see components/names.ts). */
  readonly role: string;
  /** The canary variant's alarms, in the order the state machine lists them. */
  readonly invocation4xxAlarm: string;
  readonly invocation5xxAlarm: string;
  readonly modelLatencyAlarm: string;
}

/** The names of an endpoint's canary deployer: fixed by the endpoint's stable name. */
export function canaryDeployerNames(endpointName: string): CanaryDeployerNames {
  return {
    stateMachine: `${endpointName}-canary-deployer`,
    topic: `${endpointName}-canary-deployer`,
    role: `${endpointName.slice(0, 48)}-canary-deployer`,
    invocation4xxAlarm: `${endpointName}-${CANARY_VARIANT_NAME}-invocation-4xx`,
    invocation5xxAlarm: `${endpointName}-${CANARY_VARIANT_NAME}-invocation-5xx`,
    modelLatencyAlarm: `${endpointName}-${CANARY_VARIANT_NAME}-model-latency`,
  };
}
