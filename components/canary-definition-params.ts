import { CANARY_VARIANT_NAME } from "./canary-contract";
import { autoscalingProblems, type RuleProblem } from "./endpoint-rules";
import type { AutoscalingSpec } from "./endpoint-spec";
import { SAGEMAKER_NAME_PATTERN } from "./names";

/**
 * What the canary deployer's state machine is built from (components/canary-state-machine.ts): its
 * parameters, their defaults and the rules on them. Pure, and free of Pulumi, so the config schema
 * takes the stack file's defaults from here.
 */

/** The defaults of the optional parameters (StepFunctionsCanarySpec documents the same). */
export const CANARY_DEFINITION_DEFAULTS = {
  canaryWeightPercent: 20,
  canaryInstanceCount: 1,
  bakeSeconds: 1200,
  alarmCheckSeconds: 60,
  pollSeconds: 30,
  maxPolls: 60,
  partition: "aws",
} as const;

/** Everything the definition is built from: the endpoint's fixed settings (the version comes with each execution). */
export interface CanaryDefinitionParams {
  /** The endpoint's stable name: the only endpoint the state machine changes. */
  readonly endpointName: string;
  /** The serving variant, by the name it keeps in every config (autoscaling's resource id holds it). */
  readonly variantName: string;
  /** Role the created Models run as (CreateModel passes it: the state machine's role needs iam:PassRole on it). */
  readonly executionRoleArn: string;
  /**
   * KMS key of the instances' ML storage volumes in every config the execution creates. Leave it
   * out for instance types with local NVMe storage: SageMaker refuses a volume key there.
   * @default - SageMaker encrypts the volumes with a key of its own
   */
  readonly kmsKeyArn?: string;
  /**
   * Share of requests the canary variant takes while it bakes, in percent (1-99).
   * @default 20 (seed 003's 8:2)
   */
  readonly canaryWeightPercent?: number;
  /**
   * Instances of the canary variant.
   * @default 1
   */
  readonly canaryInstanceCount?: number;
  /**
   * How long the canary bakes while its alarms are watched, in seconds.
   * @default 1200 (seed 003: about 20 minutes)
   */
  readonly bakeSeconds?: number;
  /**
   * Seconds between two looks at the canary alarms during the bake (at most bakeSeconds).
   * @default 60 (CloudWatch evaluates one-minute periods)
   */
  readonly alarmCheckSeconds?: number;
  /**
   * Seconds between two looks at the endpoint's status while it updates.
   * @default 30
   */
  readonly pollSeconds?: number;
  /**
   * Most looks at the endpoint's status per update: an update still in progress after them
   * counts as failed (and rolls back).
   * @default 60
   */
  readonly maxPolls?: number;
  /**
   * Wait for a person's approval after a healthy bake; no answer within timeoutSeconds rolls back.
   * @default - no approval: a healthy canary is promoted at once
   */
  readonly approval?: { readonly timeoutSeconds: number };
  /**
   * Autoscaling of the serving variant, applied after a first deploy and a promotion (policy
   * SCALING_POLICY_NAME), and re-applied after a rollback that had deregistered it.
   * @default - the state machine leaves Application Auto Scaling alone
   */
  readonly autoscaling?: AutoscalingSpec;
  /** The SNS topic of approval requests and outcomes (CanaryMessage JSON). */
  readonly topicArn: string;
  /** The alarms on the canary variant (4XX, 5XX, model latency): any in ALARM during the bake rolls back. */
  readonly canaryAlarmNames: readonly string[];
  /**
   * The AWS partition of the Step Functions integration ARNs.
   * @default "aws"
   */
  readonly partition?: string;
}

const SOURCES = {
  name: "SageMaker API model: EndpointName, VariantName (max 63, ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}); the canary variant's name is the deployer's",
  arn: "IAM, KMS and SNS ARN formats (the state machine passes them to CreateModel, CreateEndpointConfig and Publish)",
  alarms: "CloudWatch API model: DescribeAlarms.AlarmNames (at most 100, each 1-255 characters)",
  ranges: "SageMaker API model: InitialVariantWeight, InitialInstanceCount (min 1); Step Functions: Wait Seconds and Task TimeoutSeconds "
    + "(whole seconds, a standard execution lasts at most a year); both variants keep a share of the traffic during the bake",
  partition: "Step Functions integration ARNs: partitions aws, aws-cn, aws-us-gov",
} as const;

const YEAR_SECONDS = 365 * 24 * 3600;
const MAX_ALARM_NAMES = 100;
const MAX_ALARM_NAME_LENGTH = 255;
const PARTITIONS = ["aws", "aws-cn", "aws-us-gov"];

/**
 * Everything wrong with the parameters (fields as in CanaryDefinitionParams). These are the hard
 * limits of the services and the flow; the template's narrower ranges for a stack file are
 * CANARY_DEPLOYER_RANGES (components/guardrails.ts).
 */
export function canaryDefinitionProblems(params: CanaryDefinitionParams): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const add = (field: string, check: RuleProblem["check"], source: keyof typeof SOURCES, message: string) =>
    problems.push({ field, check, message, source: SOURCES[source] });
  const p = withDefaults(params);
  for (const field of ["endpointName", "variantName"] as const) {
    if (!SAGEMAKER_NAME_PATTERN.test(p[field])) add(field, "name", "name", `must be 1-63 letters, digits and hyphens, starting with a letter or digit, got "${p[field]}"`);
  }
  if (p.variantName === CANARY_VARIANT_NAME) add("variantName", "name", "name", `must differ from the canary variant's name "${CANARY_VARIANT_NAME}"`);
  const arns: [string, string | undefined, RegExp][] = [
    ["executionRoleArn", p.executionRoleArn, /^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/],
    ["kmsKeyArn", params.kmsKeyArn, /^arn:[\w-]+:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[\w/-]{1,256}$/],
    ["topicArn", p.topicArn, /^arn:[\w-]+:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$/],
  ];
  for (const [field, value, pattern] of arns) {
    if (value !== undefined && !pattern.test(value)) add(field, "name", "arn", `must be an ARN like ${pattern.source}, got "${value}"`);
  }
  const alarms = p.canaryAlarmNames;
  if (alarms.length < 1 || alarms.length > MAX_ALARM_NAMES) add("canaryAlarmNames", "guardrail-range", "alarms", `must list 1-${MAX_ALARM_NAMES} alarms, got ${alarms.length}`);
  alarms.forEach((name, i) => {
    if (name.trim() === "" || name.length > MAX_ALARM_NAME_LENGTH) add(`canaryAlarmNames[${i}]`, "name", "alarms", `must be 1-${MAX_ALARM_NAME_LENGTH} characters, not only spaces`);
    else if (alarms.indexOf(name) !== i) add(`canaryAlarmNames[${i}]`, "name", "alarms", `"${name}" is listed twice`);
  });
  const whole = (field: string, value: number, min: number, max: number, unit: string) => {
    if (!Number.isInteger(value) || value < min || value > max) add(field, "guardrail-range", "ranges", `must be a whole number of ${unit} from ${min} to ${max}, got ${value}`);
  };
  whole("canaryWeightPercent", p.canaryWeightPercent, 1, 99, "percent");
  whole("canaryInstanceCount", p.canaryInstanceCount, 1, Number.MAX_SAFE_INTEGER, "instances");
  whole("bakeSeconds", p.bakeSeconds, 1, YEAR_SECONDS, "seconds");
  whole("alarmCheckSeconds", p.alarmCheckSeconds, 1, Math.max(1, p.bakeSeconds), "seconds (at most bakeSeconds)");
  whole("pollSeconds", p.pollSeconds, 1, YEAR_SECONDS, "seconds");
  whole("maxPolls", p.maxPolls, 1, Number.MAX_SAFE_INTEGER, "polls");
  if (p.approval !== undefined) whole("approval.timeoutSeconds", p.approval.timeoutSeconds, 1, YEAR_SECONDS, "seconds");
  // The execution brings the instance count: only the autoscaling settings' own rules apply here.
  if (p.autoscaling !== undefined) problems.push(...autoscalingProblems(p.autoscaling, p.autoscaling.minCapacity).filter((x) => x.field.startsWith("autoscaling.")));
  if (!PARTITIONS.includes(p.partition)) add("partition", "name", "partition", `must be one of ${PARTITIONS.join(", ")}, got "${p.partition}"`);
  return problems;
}

export type Resolved = Omit<Required<CanaryDefinitionParams>, "kmsKeyArn" | "approval" | "autoscaling">
  & Pick<CanaryDefinitionParams, "kmsKeyArn" | "approval" | "autoscaling">;

export function withDefaults(params: CanaryDefinitionParams): Resolved {
  const d = CANARY_DEFINITION_DEFAULTS;
  return {
    ...params,
    canaryWeightPercent: params.canaryWeightPercent ?? d.canaryWeightPercent,
    canaryInstanceCount: params.canaryInstanceCount ?? d.canaryInstanceCount,
    bakeSeconds: params.bakeSeconds ?? d.bakeSeconds,
    alarmCheckSeconds: params.alarmCheckSeconds ?? d.alarmCheckSeconds,
    pollSeconds: params.pollSeconds ?? d.pollSeconds,
    maxPolls: params.maxPolls ?? d.maxPolls,
    partition: params.partition ?? d.partition,
  };
}

/** Looks at the canary alarms during a bake: one after each alarmCheckSeconds, the last at or after bakeSeconds. */
export function bakeLooks(params: CanaryDefinitionParams): number {
  const p = withDefaults(params);
  return Math.ceil(p.bakeSeconds / p.alarmCheckSeconds);
}
