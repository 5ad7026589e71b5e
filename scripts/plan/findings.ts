import { type DeploymentConfigInput, PROVIDER_WAIT_MINUTES, WARN_ABOVE_MINUTES } from "./estimates";
import type { EndpointEstimate, Finding, PlannedResource, Severity } from "./types";
import { endpointNames, SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN } from "../../components/names";
import type { FileProblem } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { hourlyPrice, PRICE_TABLE } from "../lib/prices";

/**
 * The checks of the offline plan. Errors are what AWS or the provider would reject; warnings are
 * hazards. The program's own config validation (stacks/config) runs first and its problems become
 * findings too, each of the check its rule names (components/endpoint-rules.ts), so a stack file
 * that the schema already refuses still reports the class of the mistake and the key to fix.
 */
export const CHECKS: Readonly<Record<string, { readonly severity: Severity; readonly description: string }>> = {
  "config": { severity: "error", description: "the stack or project file fails the program's config validation" },
  "name": { severity: "error", description: "a physical name breaks its type's pattern or length (SageMaker, S3, IAM, CloudWatch, KMS alias, ECR)" },
  "tags": { severity: "error", description: "a tag AWS rejects: reserved aws: prefix, length, characters, or more than 50 per resource" },
  "environment": { severity: "error", description: "a model container environment variable SageMaker rejects" },
  "guardrail-range": { severity: "error", description: "a deployment guardrail setting outside SageMaker's range" },
  "instance-type": { severity: "error", description: "an instance type that is not a SageMaker hosting (production variant) type" },
  "rollout-timeout": { severity: "error", description: "the estimated rollout exceeds the provider's 60-minute wait for InService" },
  "rollback-alarm-account": { severity: "error", description: "a rollback alarm outside the endpoint's own account and region" },
  "program": { severity: "error", description: "the program stopped for another reason than a rule of the stack file (the message says why)" },
  "model-source": { severity: "error", description: "a model source SageMaker rejects (the model data URL's form or length)" },
  "capacity": { severity: "error", description: "an instance count or volume size SageMaker rejects" },
  "rollout-near-limit": { severity: "warning", description: "the estimated rollout is within 25% of the provider's 60-minute wait" },
  "execution-timeout": { severity: "warning", description: "the maximum execution timeout is shorter than the estimated rollout" },
  "rollback-alarm-window": { severity: "warning", description: "the baking period is too short for the rollback alarms to fire" },
  "rollback-alarm-external": { severity: "warning", description: "a rollback alarm this stack does not create, so the plan cannot check it" },
  "serverless-cold-start": {
    severity: "warning",
    description: "a serverless endpoint without provisioned concurrency: the first invocations after an idle period wait for a cold start",
  },
  "canary-bake-window": {
    severity: "warning",
    description: "(canary deployer) the bake is shorter than the canary alarms need to fire: a bad version can be promoted",
  },
  "canary-poll-bound": {
    severity: "warning",
    description: "(canary deployer) pollSeconds x maxPolls is shorter than the estimated provisioning: updates would count as failed and roll back",
  },
  "canary-deployer-owned": {
    severity: "warning",
    description: "(canary deployer) Pulumi leaves the endpoint's version, size and config to the state machine: "
      + "a changed version or size reaches the endpoint only through `npx projen deploy`",
  },
  "price-unknown": { severity: "warning", description: "an instance type without a price in the price table" },
  "single-instance-traffic-shift": {
    severity: "warning", description: "a canary or linear rollout on one instance: the first step already moves all traffic",
  },
  "replacement": {
    severity: "error",
    description: "(plan diff) a change deletes or replaces an Endpoint, a bucket or a KMS key and does not say it is intended "
      + "(--allow-delete, --allow-deletions, or the pull-request label)",
  },
  "autoscaling-instance-type": {
    severity: "error",
    description: "(plan diff) a change of instance type on an autoscaled endpoint, which UpdateEndpoint refuses: deploy it in two steps",
  },
  "admin-change": {
    severity: "warning",
    description: "(plan diff) a change the stack's deployer may not make (a role created, deleted or replaced, a KMS key created, "
      + "a trust policy, a boundary, or the policy of a role without the boundary): an administrator must apply it",
  },
  "replacement-hazard": {
    severity: "warning",
    description: "(plan diff) a delete-first replacement, an intended deletion or replacement of an endpoint, bucket or key, "
      + "or (between two stacks) a difference that would replace one",
  },
};

/** Builds findings that all name one stack. */
export class FindingSink {
  public readonly findings: Finding[] = [];
  constructor(private readonly stack: string) {}

  add(check: string, at: { urn: string; name: string }, configKey: string | null, message: string, severity?: Severity): void {
    const known = CHECKS[check];
    this.findings.push({ severity: severity ?? known?.severity ?? "error", check, stack: this.stack, urn: at.urn, resource: at.name, configKey, message });
  }
}

/** The URN of the stack itself, for problems no resource could be registered for. */
export function stackUrn(stage: string, project: string): string {
  return `urn:pulumi:${stage}::${project}::pulumi:pulumi:Stack::${project}-${stage}`;
}

/** The check a config-validation problem belongs to: the one its rule names, else `config`. */
export function checkOfConfigProblem(problem: FileProblem): string {
  return problem.check ?? "config";
}

/** Maps each resource to the stack-file endpoint whose component (or descendant) it is. */
export function endpointKeyResolver(resources: readonly PlannedResource[], config: Pick<StackConfig, "endpoints" | "project">) {
  const keyByComponent = new Map<string, string>();
  for (const key of Object.keys(config.endpoints)) keyByComponent.set(endpointNames(config.project.serviceName, key).endpoint, key);
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  return (resource: PlannedResource): string | null => {
    for (let r: PlannedResource | undefined = resource; r; r = r.parent ? byUrn.get(r.parent) : undefined) {
      if (r.type === "mlplatform:sagemaker:BlueGreenEndpoint") return keyByComponent.get(r.name) ?? null;
    }
    return null;
  };
}

/** What the checks need to know about the stack. */
export interface CheckContext {
  readonly resources: readonly PlannedResource[];
  /** The stack-file endpoint key a resource belongs to (`fraud-scorer`), or null. */
  readonly endpointKeyOf: (resource: PlannedResource) => string | null;
}

const at = (r: PlannedResource) => ({ urn: r.urn, name: r.name });

/** Every resource-level check. */
export function checkResources(sink: FindingSink, ctx: CheckContext): void {
  const alarmsByName = new Map<string, PlannedResource>();
  for (const r of ctx.resources) {
    if (r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" && r.physicalName) alarmsByName.set(r.physicalName, r);
  }
  for (const r of ctx.resources) {
    if (!r.custom) continue;
    checkName(sink, ctx, r);
    checkTags(sink, ctx, r);
    if (r.type === "aws:sagemaker/endpointConfiguration:EndpointConfiguration") {
      checkPrices(sink, ctx, r);
      checkColdStarts(sink, ctx, r);
    }
    if (r.type === "aws:sagemaker/endpoint:Endpoint") checkRollbackAlarms(sink, ctx, r, alarmsByName);
  }
}

function endpointKey(ctx: CheckContext, r: PlannedResource, ...rest: string[]): string | null {
  const key = ctx.endpointKeyOf(r);
  return key === null ? null : ["mlplatform:endpoints." + key, ...rest].join(".");
}

// ---- names ---------------------------------------------------------------------------------------

interface NameRule {
  readonly what: string;
  readonly min: number;
  readonly max: number;
  readonly pattern: RegExp;
  readonly expected: string;
  readonly extra?: (name: string) => string | undefined;
}

const SAGEMAKER_NAME: NameRule = {
  what: "SageMaker name",
  min: 1,
  max: SAGEMAKER_NAME_MAX,
  pattern: SAGEMAKER_NAME_PATTERN,
  expected: "letters, digits and hyphens, starting and ending with a letter or digit (DESIGN §5.3)",
};

/**
 * Name rules per type. Sources: SageMaker API reference (EndpointName, ModelName,
 * EndpointConfigName: `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`); S3 general purpose bucket naming rules
 * (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html); IAM quotas (role names
 * 64, inline policy names 128, `[\w+=,.@-]+`); CloudWatch PutMetricAlarm AlarmName 1-255;
 * KMS CreateAlias (`alias/` + `[a-zA-Z0-9/_-]`, up to 256, not `alias/aws/`); ECR CreateRepository
 * repositoryName (2-256, lowercase path components).
 */
const NAME_RULES: Readonly<Record<string, NameRule>> = {
  "aws:sagemaker/model:Model": SAGEMAKER_NAME,
  "aws:sagemaker/endpointConfiguration:EndpointConfiguration": SAGEMAKER_NAME,
  "aws:sagemaker/endpoint:Endpoint": SAGEMAKER_NAME,
  "aws:sagemaker/modelPackageGroup:ModelPackageGroup": SAGEMAKER_NAME,
  "aws:s3/bucket:Bucket": {
    what: "S3 bucket name",
    min: 3,
    max: 63,
    pattern: /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/,
    expected: "lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
    extra: (name) => {
      if (name.includes("..")) return "must not contain two adjacent dots";
      if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return "must not look like an IP address";
      if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return "must not start with a reserved prefix (xn--, sthree-, amzn-s3-demo-)";
      if (/(-s3alias|--ol-s3|--x-s3|\.mrap)$/.test(name)) return "must not end with a reserved suffix (-s3alias, --ol-s3, --x-s3, .mrap)";
      return undefined;
    },
  },
  "aws:iam/role:Role": { what: "IAM role name", min: 1, max: 64, pattern: /^[\w+=,.@-]+$/, expected: "letters, digits and +=,.@_-" },
  "aws:iam/policy:Policy": { what: "IAM managed policy name", min: 1, max: 128, pattern: /^[\w+=,.@-]+$/, expected: "letters, digits and +=,.@_-" },
  "aws:iam/rolePolicy:RolePolicy": { what: "IAM inline policy name", min: 1, max: 128, pattern: /^[\w+=,.@-]+$/, expected: "letters, digits and +=,.@_-" },
  "aws:sns/topic:Topic": { what: "SNS topic name", min: 1, max: 256, pattern: /^[\w-]+$/, expected: "letters, digits, _ and - (SNS CreateTopic)" },
  "aws:sfn/stateMachine:StateMachine": {
    what: "Step Functions state machine name", min: 1, max: 80, pattern: /^[\w-]+$/, expected: "letters, digits, _ and - (Step Functions API model: Name, 1-80)",
  },
  "aws:appautoscaling/policy:Policy": {
    what: "scaling policy name", min: 1, max: 256, pattern: /^[\x20-\x7e]+$/, expected: "printable characters (Application Auto Scaling API model: PolicyName, 1-256)",
  },
  "aws:cloudwatch/metricAlarm:MetricAlarm": {
    what: "CloudWatch alarm name",
    min: 1,
    max: 255,
    pattern: /^[^\p{Cc}]+$/u,
    expected: "printable characters (no control characters)",
  },
  "aws:kms/alias:Alias": {
    what: "KMS alias",
    min: 7,
    max: 256,
    pattern: /^alias\/[a-zA-Z0-9/_-]+$/,
    expected: "alias/ followed by letters, digits, /, _ and -",
    extra: (name) => (name.startsWith("alias/aws/") ? "must not start with alias/aws/ (reserved for AWS managed keys)" : undefined),
  },
  "aws:ecr/repository:Repository": {
    what: "ECR repository name",
    min: 2,
    max: 256,
    pattern: /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
    expected: "lowercase path components of letters and digits separated by . _ -",
  },
};

function checkName(sink: FindingSink, ctx: CheckContext, r: PlannedResource): void {
  const rule = NAME_RULES[r.type];
  if (!rule || r.physicalName === null) return;
  const name = r.physicalName;
  const problems: string[] = [];
  if (name.length < rule.min || name.length > rule.max) {
    problems.push(`is ${name.length} characters, outside the ${rule.min}-${rule.max} allowed`
      + (r.autoNamed ? ` (auto-naming added ${name.length - r.name.length} to the logical name "${r.name}", and never truncates)` : ""));
  }
  if (!rule.pattern.test(name)) problems.push(`must be ${rule.expected}`);
  const extra = rule.extra?.(name);
  if (extra) problems.push(extra);
  if (problems.length === 0) return;
  const configKey = endpointKey(ctx, r) ?? "mlplatform:serviceName";
  sink.add("name", at(r), configKey, `${rule.what} "${name}" ${problems.join("; ")}`);
}

// ---- tags ----------------------------------------------------------------------------------------

/** AWS tag rules (docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html, "Tag naming limits and requirements"). */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const MAX_TAGS = 50;

/** A map input; provider inputs arrive JSON-encoded. */
function objectOf(value: unknown): Record<string, unknown> {
  const parsed = typeof value === "string" ? safeJson(value) : value;
  return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? parsed as Record<string, unknown> : {};
}

function tagsOf(value: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(objectOf(value)).map(([k, v]) => [k, String(v)]));
}

function checkTags(sink: FindingSink, ctx: CheckContext, r: PlannedResource): void {
  const isProvider = r.type === "pulumi:providers:aws";
  // Default tags live on the provider (config key mlplatform:tags); the resources' own tags come from the components.
  const own = tagsOf(isProvider ? objectOf(r.inputs.defaultTags).tags : r.inputs.tags);
  for (const [key, value] of Object.entries(own)) {
    const problems: string[] = [];
    if (/^aws:/i.test(key)) problems.push("the aws: prefix is reserved for AWS");
    if (key.length < 1 || key.length > 128) problems.push(`the key must be 1-128 characters, got ${key.length}`);
    if (value.length > 256) problems.push(`the value must be at most 256 characters, got ${value.length}`);
    if (!TAG_CHARS.test(key) || !TAG_CHARS.test(value)) problems.push("keys and values take letters, digits, spaces and _ . : / = + - @ only");
    if (problems.length > 0) {
      sink.add("tags", at(r), isProvider ? `mlplatform:tags.${key}` : endpointKey(ctx, r), `tag "${key}": ${problems.join("; ")}`);
    }
  }
  if (Object.keys(own).length > MAX_TAGS) {
    sink.add("tags", at(r), isProvider ? "mlplatform:tags" : null, `${Object.keys(own).length} tags; AWS allows at most ${MAX_TAGS} per resource`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---- prices --------------------------------------------------------------------------------------

/** Instance types the price table lacks: the monthly estimate leaves them out. */
function checkPrices(sink: FindingSink, ctx: CheckContext, r: PlannedResource): void {
  const variants = (r.inputs.productionVariants ?? []) as { instanceType?: string }[];
  for (const { instanceType: type } of variants) {
    if (type !== undefined && hourlyPrice(type) === undefined) {
      sink.add("price-unknown", at(r), endpointKey(ctx, r, "instanceType"), `no price for ${type} in the price table (${PRICE_TABLE.region}, `
        + `${PRICE_TABLE.date}); the monthly estimate leaves it out: add it to scripts/lib/prices.ts`);
    }
  }
}

/** Serverless variants without provisioned concurrency start cold after an idle period. */
function checkColdStarts(sink: FindingSink, ctx: CheckContext, r: PlannedResource): void {
  const variants = (r.inputs.productionVariants ?? []) as { serverlessConfig?: { provisionedConcurrency?: number; memorySizeInMb?: number } }[];
  for (const { serverlessConfig } of variants) {
    if (serverlessConfig === undefined || serverlessConfig.provisionedConcurrency !== undefined) continue;
    sink.add("serverless-cold-start", at(r), endpointKey(ctx, r, "serverless", "provisionedConcurrency"), "serverless without provisioned "
      + "concurrency: after an idle period the first invocations wait for a container to start and the model to load (seconds, more for large "
      + "models); set serverless.provisionedConcurrency to keep that many warm (billed by the hour), or accept the latency");
  }
}

// ---- rollback alarms -----------------------------------------------------------------------------

const ALARM_ARN = /^arn:[a-z-]+:cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.+)$/;

function checkRollbackAlarms(
  sink: FindingSink, ctx: CheckContext, endpoint: PlannedResource, alarmsByName: ReadonlyMap<string, PlannedResource>,
): void {
  const config = (endpoint.inputs.deploymentConfig ?? {}) as DeploymentConfigInput;
  const names = (config.autoRollbackConfiguration?.alarms ?? []).map((a) => String(a.alarmName ?? ""));
  const key = endpointKey(ctx, endpoint, "alarms", "additionalRollbackAlarmNames");
  const bakeSeconds = Number(config.blueGreenUpdatePolicy?.trafficRoutingConfiguration?.waitIntervalInSeconds
    ?? config.rollingUpdatePolicy?.waitIntervalInSeconds ?? 0);
  let longestWindow: { seconds: number; alarm: string } | undefined;
  for (const name of names) {
    const arn = ALARM_ARN.exec(name);
    if (arn) {
      const [, region, account] = arn;
      const where = account === endpoint.accountId && region === endpoint.region
        ? "is an ARN; SageMaker takes the alarm's name"
        : `is in account ${account} (${region}), not the endpoint's account ${endpoint.accountId} (${endpoint.region})`;
      sink.add("rollback-alarm-account", at(endpoint), key, `rollback alarm "${name}" ${where}: SageMaker looks rollback alarms up by name `
        + "in the endpoint's own account and region; create the alarm there (a MetricAlarm in this stack) and list its name");
      continue;
    }
    const alarm = alarmsByName.get(name);
    if (!alarm) {
      sink.add("rollback-alarm-external", at(endpoint), key, `rollback alarm "${name}" is not created by this stack: it must exist in account `
        + `${endpoint.accountId} (${endpoint.region}) before every deployment, and the plan cannot check that it does`);
      continue;
    }
    if (alarm.accountId !== endpoint.accountId || alarm.region !== endpoint.region) {
      sink.add("rollback-alarm-account", at(endpoint), key, `rollback alarm "${name}" is created in account ${alarm.accountId} (${alarm.region}), `
        + `not the endpoint's account ${endpoint.accountId} (${endpoint.region})`);
    }
    const window = Number(alarm.inputs.period ?? 60) * Number(alarm.inputs.evaluationPeriods ?? 1);
    if (!longestWindow || window > longestWindow.seconds) longestWindow = { seconds: window, alarm: name };
  }
  if (names.length === 0) return;
  const waitKey = endpointKey(ctx, endpoint, "deployment", "waitSeconds");
  if (bakeSeconds === 0) {
    sink.add("rollback-alarm-window", at(endpoint), waitKey, "no baking period (waitSeconds 0): SageMaker watches the rollback alarms during "
      + "the baking period, so this endpoint never rolls back automatically; set waitSeconds to at least the alarms' evaluation window");
  } else if (longestWindow && bakeSeconds < longestWindow.seconds) {
    sink.add("rollback-alarm-window", at(endpoint), waitKey, `the baking period (${bakeSeconds} s) is shorter than alarm "${longestWindow.alarm}" `
      + `needs to fire (${longestWindow.seconds} s = period x evaluation periods): a bad version can finish deploying before it rolls back`);
  }
}

// ---- rollout time --------------------------------------------------------------------------------

/** Errors and warnings from the rollout estimates. */
export function checkRollouts(sink: FindingSink, estimates: readonly EndpointEstimate[]): void {
  for (const e of estimates) {
    // The state machine waits for the canary deployer's rollouts, not the provider (checkCanaryDeployers).
    if (e.strategy === "step-functions-canary") continue;
    const where = { urn: e.urn, name: e.urn.split("::").pop() ?? e.endpointName };
    const configKey = e.endpointKey === null ? null : `mlplatform:endpoints.${e.endpointKey}.deployment`;
    const how = `${e.provisioningRounds} x ${e.provisioningMinutes} min provisioning (assumed) + ${e.waitMinutes} min of waits`;
    if (e.rolloutMinutes > PROVIDER_WAIT_MINUTES) {
      sink.add("rollout-timeout", where, configKey, `estimated rollout ${e.rolloutMinutes} min (${how}) exceeds the provider's `
        + `${PROVIDER_WAIT_MINUTES}-minute wait for InService: pulumi up would fail while SageMaker carries on; shorten the waits or use larger steps`);
    } else if (e.rolloutMinutes > WARN_ABOVE_MINUTES) {
      sink.add("rollout-near-limit", where, configKey, `estimated rollout ${e.rolloutMinutes} min (${how}) is within 25% of the provider's `
        + `${PROVIDER_WAIT_MINUTES}-minute wait for InService; a slow provisioning would fail pulumi up`);
    }
    if ((e.strategy === "canary" || e.strategy === "linear") && e.instanceCount === 1) {
      // SageMaker turns traffic on in whole instances of the green fleet, and documents the canary
      // and linear step as at most 50% of the variant's instances (TrafficRoutingConfig).
      sink.add("single-instance-traffic-shift", where, configKey === null ? null : `${configKey}.strategy`,
        `${e.strategy} on 1 instance: traffic moves in whole instances, so the first step already sends all traffic to the new model and `
        + "nothing is tested on part of it; SageMaker documents the step as at most 50% of the instances. "
        + "Use instanceCount 2 or more, or all-at-once with a baking period");
    }
    if (e.maximumExecutionTimeoutMinutes !== null && e.maximumExecutionTimeoutMinutes < e.rolloutMinutes) {
      sink.add("execution-timeout", where, configKey === null ? null : `${configKey}.maximumExecutionTimeoutSeconds`,
        `maximum execution timeout ${e.maximumExecutionTimeoutMinutes} min is shorter than the estimated rollout ${e.rolloutMinutes} min (${how}): `
        + "the deployment would likely time out and roll back");
    }
  }
}

// ---- the canary deployer -------------------------------------------------------------------------

/**
 * The canary deployer's hazards, from its settings in the stack file and the rollout estimate: a
 * bake its alarms cannot fire within, a polling bound shorter than provisioning, and the inputs
 * Pulumi leaves to the state machine (where the stack file and the endpoint can drift apart).
 */
export function checkCanaryDeployers(sink: FindingSink, estimates: readonly EndpointEstimate[], config: Pick<StackConfig, "endpoints">): void {
  for (const e of estimates) {
    const endpoint = e.endpointKey === null ? undefined : config.endpoints[e.endpointKey];
    if (endpoint === undefined || endpoint.deployment.strategy !== "step-functions-canary") continue;
    const { bakeSeconds, pollSeconds, maxPolls } = endpoint.deployment;
    const where = { urn: e.urn, name: e.urn.split("::").pop() ?? e.endpointName };
    const key = `mlplatform:endpoints.${e.endpointKey ?? ""}`;
    // The canary alarms are one-minute alarms with the endpoint's evaluation periods (components/canary-deployer.ts).
    const window = 60 * endpoint.alarms.evaluationPeriods;
    if (bakeSeconds < window) {
      sink.add("canary-bake-window", where, `${key}.deployment.bakeSeconds`, `the bake (${bakeSeconds} s) is shorter than the canary alarms need `
        + `to fire (${window} s = 60 s x ${endpoint.alarms.evaluationPeriods} evaluation periods): a bad version can be promoted before an alarm `
        + "rolls it back; bake longer or lower alarms.evaluationPeriods");
    }
    const bound = pollSeconds * maxPolls;
    if (bound < e.provisioningMinutes * 60) {
      sink.add("canary-poll-bound", where, `${key}.deployment.maxPolls`, `each update may take ${bound} s (pollSeconds ${pollSeconds} x maxPolls `
        + `${maxPolls}), less than the ${e.provisioningMinutes} min the plan assumes to provision ${e.instanceType}: updates would count as failed `
        + `and roll back; raise maxPolls to at least ${Math.ceil((e.provisioningMinutes * 60) / pollSeconds)}`);
    }
    sink.add("canary-deployer-owned", where, `${key}.source`, "Pulumi creates this endpoint's Model, config and Endpoint once and then ignores "
      + "the Model's container, the config's variants and the Endpoint's config name: a new source.version, instanceType or instanceCount "
      + `reaches the endpoint only through \`npx projen deploy --stage <stage> --endpoint ${e.endpointKey ?? e.endpointName}\` (the deploy workflow `
      + "runs it after pulumi up); what serves is what the last execution promoted");
  }
}
