/**
 * The rules on an endpoint's arguments, in one place. Each returns structured problems (field,
 * check, message, source); the config schema, the endpoint component and the offline plan all call
 * these functions, and no caller reads another's message text. Where AWS's published API model
 * (aws/api-models-aws) and the Pulumi AWS provider (terraform-provider-aws) disagree, the stricter
 * rule holds. Pure: no Pulumi, no AWS calls.
 */
import type { AsyncSpec, AutoscalingSpec, DeploymentSpec, RealtimeEndpointSpec, ServerlessSpec, StepFunctionsCanarySpec } from "./endpoint-spec";
import {
  CANARY_DEPLOYER_RANGES, GUARDRAIL_RANGES, guardrailWaitSeconds, MAX_GUARDRAIL_WAIT_SECONDS, MAX_ROLLBACK_ALARMS, rollbackAlarmList, usesGuardrails,
} from "./guardrails";
import { hasLocalInstanceStorage, ignoresDeploymentGuardrails } from "./instance-types";
import { abVariantNames, AUTO_NAME_SUFFIX_LENGTH, endpointChildNames, longestEndpointName, SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN } from "./names";
import { PRODUCTION_VARIANT_INSTANCE_TYPES } from "./production-variant-instance-types";

const HOSTING_INSTANCE_TYPES: ReadonlySet<string> = new Set(PRODUCTION_VARIANT_INSTANCE_TYPES);

/** The plan's finding class a problem belongs to (scripts/plan/findings.ts CHECKS). */
export type RuleCheck = "name" | "instance-type" | "guardrail-range" | "rollout-timeout" | "environment" | "model-source" | "capacity";

/** One broken rule. */
export interface RuleProblem {
  /** The argument, relative to the endpoint (`deployment.canarySizePercent`); "" for the endpoint itself. */
  readonly field: string;
  readonly check: RuleCheck;
  readonly message: string;
  /** Where the rule comes from: the API model shape, the provider's validation, or DESIGN. */
  readonly source: string;
}

/** Sources of the rules, cited by every problem. */
export const RULE_SOURCES = {
  sagemakerName: "SageMaker API model: EndpointName, ModelName, EndpointConfigName, VariantName (max 63, ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}); DESIGN §5.3",
  instanceType: "SageMaker API model: ProductionVariantInstanceType",
  instanceCount: "SageMaker API model: ProductionVariant.InitialInstanceCount (InitialTaskCount, min 1)",
  volumeSize: "SageMaker API model: ProductionVariant.VolumeSizeInGB (ProductionVariantVolumeSizeInGB, 1-512); "
    + "CreateEndpointConfig refuses it on instance types with local NVMe storage",
  modelDataUrl: "SageMaker API model: ContainerDefinition.ModelDataUrl (Url, max 1024, ^(https|s3)://([^/]+)/?(.*)$)",
  environment: "SageMaker API model: EnvironmentMap (max 100 entries; key ^[a-zA-Z_][a-zA-Z0-9_]*$ max 1024; value max 1024)",
  guardrailRanges: "SageMaker API model: TrafficRoutingConfig, BlueGreenUpdatePolicy, RollingUpdatePolicy; terraform-provider-aws "
    + "caps maximum_execution_timeout_in_seconds at 14400 (the API model allows 28800): the stricter holds; DESIGN §5.5",
  rollbackAlarms: "SageMaker API model: AutoRollbackConfig.Alarms (1-10); CloudWatch API model: AlarmName (1-255, not only whitespace)",
  rolling: "SageMaker API model: RollingUpdatePolicy (a batch is at least one instance and at most 50% of the fleet)",
  guardrailFallback: "SageMaker developer guide, deployment guardrails: endpoint types that fall back to all-at-once (DESIGN §5.10)",
  providerWait: "Pulumi AWS provider: waits at most 60 minutes for InService (DESIGN §5.5)",
  serverless: "SageMaker API model: ProductionVariantServerlessConfig (MemorySizeInMB 1024-6144, MaxConcurrency 1-200, "
    + "ProvisionedConcurrency 1-200); developer guide, serverless inference: memory in 1 GB steps, provisioned concurrency at most "
    + "max concurrency; deployment guardrails exclusions: no rolling deployments for serverless endpoints",
  async: "SageMaker API model: AsyncInferenceClientConfig.MaxConcurrentInvocationsPerInstance (1-1000); developer guide, asynchronous "
    + "inference autoscaling: scale to zero with minimum capacity 0 on ApproximateBacklogSizePerInstance and a step policy on "
    + "HasBacklogWithoutCapacity; serverless variants take no async config",
  multiModel: "SageMaker developer guide, multi-model endpoints: a MultiModel container on instances (not serverless), with an "
    + "S3 prefix as model data; model packages are single-model",
  timeouts: "SageMaker API model: ProductionVariantContainerStartupHealthCheckTimeoutInSeconds and "
    + "ProductionVariantModelDataDownloadTimeoutInSeconds (60-3600)",
  variantForm: "SageMaker API model: ProductionVariant takes instances (InstanceType, InitialInstanceCount) or ServerlessConfig",
  canaryDeployer: "SageMaker API model: ProductionVariant.InitialInstanceCount (min 1), ContainerDefinition.ModelPackageName; Step "
    + "Functions developer guide: Wait and task timeouts up to a standard execution's year; within these, the template's ranges "
    + "(components/guardrails.ts CANARY_DEPLOYER_RANGES, DESIGN §9); the deployer runs one real-time instance variant beside a canary",
  abTest: "SageMaker API model: ProductionVariantList (1-10 variants), VariantWeight (>= 0), VariantName; developer guide, "
    + "deployment guardrails exclusions: no rolling deployments for multi-variant endpoints",
  autoscaling: "Application Auto Scaling API model: MinCapacity, MaxCapacity (integers), TargetValue (double > 0), ScaleInCooldown and "
    + "ScaleOutCooldown (integer seconds); SageMaker: instance variants scale from at least 1, and every endpoint config change resets "
    + "the count to the initial count (DESIGN §5.6)",
} as const;

const MAX_VOLUME_GIB = 512;
const MAX_URL_LENGTH = 1024;
const MAX_ENVIRONMENT_ENTRIES = 100;
const MAX_ENVIRONMENT_LENGTH = 1024;
const ENVIRONMENT_KEY = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MODEL_DATA_URL = /^(https|s3):\/\/([^/]+)\/?(.*)$/;
const MAX_ALARM_NAME = 255;

function problem(field: string, check: RuleCheck, source: keyof typeof RULE_SOURCES, message: string): RuleProblem {
  return { field, check, message, source: RULE_SOURCES[source] };
}

const isWhole = (value: number, min: number, max = Number.MAX_SAFE_INTEGER) => Number.isInteger(value) && value >= min && value <= max;

/**
 * Everything wrong with a real-time, single-variant endpoint: the rules of its kind (instance-based
 * or serverless, by which fields are set) and the rules every endpoint shares.
 */
export function realtimeEndpointProblems(spec: RealtimeEndpointSpec): RuleProblem[] {
  const problems: RuleProblem[] = [...nameProblems(spec.name)];
  if (!SAGEMAKER_NAME_PATTERN.test(spec.variantName)) {
    problems.push(problem("variantName", "name", "sagemakerName", `must be letters, digits and hyphens (at most 63), got "${spec.variantName}"`));
  }
  // A multi-model endpoint's model data is the stage bucket prefix the component derives, not a URL of the stack file.
  problems.push(...(spec.multiModel === true ? multiModelProblems(spec) : modelSourceProblems(spec.model)));
  problems.push(...rollbackAlarmProblems(spec.name, spec.alarms));
  problems.push(...(spec.serverless === undefined ? instanceVariantProblems(spec) : serverlessVariantProblems(spec, spec.serverless)));
  problems.push(...canaryDeployerProblems(spec));
  problems.push(...abTestProblems(spec));
  return problems;
}

/** An instance-based variant: type, count, volume, autoscaling, and the strategy for that fleet. */
export function instanceVariantProblems(spec: RealtimeEndpointSpec): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const { instanceType, instanceCount } = spec;
  if (instanceType === undefined || instanceCount === undefined) {
    const missing = [instanceType === undefined ? "instanceType" : undefined, instanceCount === undefined ? "instanceCount" : undefined].filter((f) => f !== undefined);
    return missing.map((field) => problem(field, "capacity", "variantForm", "is required: set instanceType and instanceCount, or serverless instead"));
  }
  if (!HOSTING_INSTANCE_TYPES.has(instanceType)) {
    problems.push(problem("instanceType", "instance-type", "instanceType",
      `must be a SageMaker production-variant instance type such as ml.m5.large, got "${instanceType}"`));
  }
  if (!isWhole(instanceCount, 1)) {
    problems.push(problem("instanceCount", "capacity", "instanceCount", `must be a whole number of at least 1, got ${instanceCount}`));
  }
  const volume = spec.volumeSizeGiB;
  if (volume !== undefined && hasLocalInstanceStorage(instanceType)) {
    problems.push(problem("volumeSizeGiB", "capacity", "volumeSize",
      `${instanceType} has local NVMe instance storage of a fixed size and takes no volume size; remove volumeSizeGiB`));
  } else if (volume !== undefined && !isWhole(volume, 1, MAX_VOLUME_GIB)) {
    problems.push(problem("volumeSizeGiB", "capacity", "volumeSize", `must be a whole number of GiB from 1 to ${MAX_VOLUME_GIB}, got ${volume}`));
  }
  if (spec.autoscaling !== undefined) problems.push(...autoscalingProblems(spec.autoscaling, instanceCount));
  if (spec.async !== undefined) problems.push(...asyncProblems(spec.async, spec.autoscaling !== undefined));
  for (const field of ["containerStartupHealthCheckTimeoutSeconds", "modelDataDownloadTimeoutSeconds"] as const) {
    const value = spec[field];
    if (value !== undefined && !isWhole(value, 60, 3600)) problems.push(problem(field, "capacity", "timeouts", `must be a whole number of seconds from 60 to 3600, got ${value}`));
  }
  problems.push(...deploymentProblems(spec.deployment, instanceType, instanceCount));
  return problems;
}

const SERVERLESS_MEMORY_MIB = { min: 1024, max: 6144, step: 1024 };
const SERVERLESS_CONCURRENCY_MAX = 200;

/** A serverless variant: memory and concurrency, and no instance settings, autoscaling or rolling deployment. */
export function serverlessVariantProblems(spec: RealtimeEndpointSpec, serverless: ServerlessSpec): RuleProblem[] {
  const problems: RuleProblem[] = [];
  for (const field of ["instanceType", "instanceCount", "volumeSizeGiB", "autoscaling", "async", "multiModel",
    "containerStartupHealthCheckTimeoutSeconds", "modelDataDownloadTimeoutSeconds"] as const) {
    if (spec[field] !== undefined && spec[field] !== false) {
      problems.push(problem(field, "capacity", "variantForm", "does not apply to a serverless variant: remove it, or remove serverless for instances"));
    }
  }
  const { min, max, step } = SERVERLESS_MEMORY_MIB;
  if (!isWhole(serverless.memorySizeMiB, min, max) || serverless.memorySizeMiB % step !== 0) {
    problems.push(problem("serverless.memorySizeMiB", "capacity", "serverless", `must be ${min}-${max} MiB in steps of ${step}, got ${serverless.memorySizeMiB}`));
  }
  if (!isWhole(serverless.maxConcurrency, 1, SERVERLESS_CONCURRENCY_MAX)) {
    problems.push(problem("serverless.maxConcurrency", "capacity", "serverless", `must be a whole number from 1 to ${SERVERLESS_CONCURRENCY_MAX}, got ${serverless.maxConcurrency}`));
  }
  const provisioned = serverless.provisionedConcurrency;
  if (provisioned !== undefined && !isWhole(provisioned, 1, SERVERLESS_CONCURRENCY_MAX)) {
    problems.push(problem("serverless.provisionedConcurrency", "capacity", "serverless", `must be a whole number from 1 to ${SERVERLESS_CONCURRENCY_MAX}, got ${provisioned}`));
  } else if (provisioned !== undefined && provisioned > serverless.maxConcurrency) {
    problems.push(problem("serverless.provisionedConcurrency", "capacity", "serverless", `must be at most maxConcurrency ${serverless.maxConcurrency}, got ${provisioned}`));
  }
  if (spec.deployment.strategy === "step-functions-canary") {
    problems.push(...deploymentRangeProblems(spec.deployment));
  } else if (spec.deployment.strategy === "rolling") {
    problems.push(problem("deployment.strategy", "guardrail-range", "serverless",
      "rolling deployments are not available for serverless endpoints; use all-at-once, canary or linear"));
    problems.push(...deploymentRangeProblems(spec.deployment));
  } else {
    // A serverless variant counts as one unit of capacity for the traffic steps.
    problems.push(...deploymentProblems(spec.deployment, "serverless", 1));
  }
  return problems;
}

/** An endpoint config takes at most 10 production variants (API model: ProductionVariantList). */
const MAX_VARIANTS = 10;

/**
 * An A/B test: what kind of endpoint takes one, the further variants' names, weights, sizes and
 * sources. Autoscaling, if any, applies to the endpoint's own variant only.
 */
export function abTestProblems(spec: RealtimeEndpointSpec): RuleProblem[] {
  const ab = spec.abTest;
  if (ab === undefined) return [];
  const problems: RuleProblem[] = [];
  const kind = spec.serverless !== undefined ? "a serverless endpoint" : spec.async !== undefined ? "an asynchronous endpoint"
    : spec.multiModel === true ? "a multi-model endpoint" : spec.deployment.strategy === "step-functions-canary"
      ? "an endpoint of the canary deployer (its state machine runs one variant beside its canary)"
      : spec.deployment.strategy === "rolling" ? "an endpoint with rolling deployments (SageMaker rolls only single-variant endpoints)" : undefined;
  if (kind !== undefined) {
    problems.push(problem("abTest", "capacity", "abTest", `${kind} takes no A/B test: remove abTest, or serve it from a real-time instance endpoint `
      + "with strategy all-at-once, canary or linear"));
  }
  if (ab.variants.length < 1 || ab.variants.length > MAX_VARIANTS - 1) {
    problems.push(problem("abTest.variants", "capacity", "abTest",
      `must list 1-${MAX_VARIANTS - 1} further variants (an endpoint config takes at most ${MAX_VARIANTS}), got ${ab.variants.length}`));
  }
  const weights = [ab.weight, ...ab.variants.map((v) => v.weight)];
  if (!Number.isFinite(ab.weight) || ab.weight < 0) problems.push(problem("abTest.weight", "capacity", "abTest", `must be a number >= 0, got ${ab.weight}`));
  else if (weights.every((w) => w === 0)) problems.push(problem("abTest.weight", "capacity", "abTest", "every variant has weight 0: no variant would take requests"));
  const seen = new Set([spec.variantName]);
  ab.variants.forEach((variant, i) => {
    const at = (field: string) => `abTest.variants.${i}${field === "" ? "" : `.${field}`}`;
    if (!SAGEMAKER_NAME_PATTERN.test(variant.name)) {
      problems.push(problem(at("name"), "name", "sagemakerName", `must be letters, digits and hyphens (at most 63), got "${variant.name}"`));
    } else if (seen.has(variant.name)) {
      problems.push(problem(at("name"), "name", "abTest", `"${variant.name}" is already a variant of this endpoint: each variant needs its own name`));
    } else {
      const modelName = abVariantNames(spec.name, variant.name).modelLogical.length + AUTO_NAME_SUFFIX_LENGTH;
      if (modelName > SAGEMAKER_NAME_MAX) {
        problems.push(problem(at("name"), "name", "sagemakerName", `"${variant.name}" is too long: its Model's auto-name would reach ${modelName} `
          + `characters (limit ${SAGEMAKER_NAME_MAX}); shorten it by ${modelName - SAGEMAKER_NAME_MAX}`));
      }
    }
    seen.add(variant.name);
    if (!Number.isFinite(variant.weight) || variant.weight < 0) problems.push(problem(at("weight"), "capacity", "abTest", `must be a number >= 0, got ${variant.weight}`));
    if (variant.instanceType !== undefined && !HOSTING_INSTANCE_TYPES.has(variant.instanceType)) {
      problems.push(problem(at("instanceType"), "instance-type", "instanceType",
        `must be a SageMaker production-variant instance type such as ml.m5.large, got "${variant.instanceType}"`));
    }
    if (variant.instanceCount !== undefined && !isWhole(variant.instanceCount, 1)) {
      problems.push(problem(at("instanceCount"), "capacity", "instanceCount", `must be a whole number of at least 1, got ${variant.instanceCount}`));
    }
    problems.push(...modelSourceProblems(variant.model).map((p) => ({ ...p, field: at(p.field) })));
  });
  return problems;
}

/** The endpoint's own name, and the names its auto-named children reach. */
export function nameProblems(name: string): RuleProblem[] {
  if (!SAGEMAKER_NAME_PATTERN.test(name)) {
    return [problem("", "name", "sagemakerName", `must be letters, digits and hyphens, starting and ending with a letter or digit, got "${name}"`)];
  }
  const longest = longestEndpointName(name);
  if (longest <= SAGEMAKER_NAME_MAX) return [];
  return [problem("", "name", "sagemakerName", `"${name}" is too long: its auto-named children would reach ${longest} characters `
    + `(limit ${SAGEMAKER_NAME_MAX}); shorten it by ${longest - SAGEMAKER_NAME_MAX}`)];
}

/** An image source's model data URL and container environment. */
export function modelSourceProblems(model: RealtimeEndpointSpec["model"]): RuleProblem[] {
  if ("modelPackageArn" in model) return [];
  const problems: RuleProblem[] = [];
  if (model.modelDataUrl.length > MAX_URL_LENGTH || !MODEL_DATA_URL.test(model.modelDataUrl)) {
    problems.push(problem("source.modelDataKey", "model-source", "modelDataUrl",
      `makes a model data URL of ${model.modelDataUrl.length} characters; SageMaker takes an s3:// or https:// URL of at most ${MAX_URL_LENGTH}`));
  }
  return [...problems, ...environmentProblems(model.environment)];
}

/** A container's environment variables. */
export function environmentProblems(environment: Readonly<Record<string, string>>): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const entries = Object.entries(environment);
  if (entries.length > MAX_ENVIRONMENT_ENTRIES) {
    problems.push(problem("source.environment", "environment", "environment",
      `${entries.length} environment variables; SageMaker takes at most ${MAX_ENVIRONMENT_ENTRIES}`));
  }
  for (const [key, value] of entries) {
    if (!ENVIRONMENT_KEY.test(key)) {
      problems.push(problem(`source.environment.${key}`, "environment", "environment", "names take letters, digits and _ and must not start with a digit"));
    }
    if (key.length > MAX_ENVIRONMENT_LENGTH || value.length > MAX_ENVIRONMENT_LENGTH) {
      problems.push(problem(`source.environment.${key}`, "environment", "environment", `names and values take at most ${MAX_ENVIRONMENT_LENGTH} characters`));
    }
  }
  return problems;
}

/** The rollback alarm list: the component's two alarms and the additional names. */
export function rollbackAlarmProblems(endpointName: string, alarms: RealtimeEndpointSpec["alarms"]): RuleProblem[] {
  const field = "alarms.additionalRollbackAlarmNames";
  const problems: RuleProblem[] = [];
  const additional = alarms.additionalRollbackAlarmNames;
  const all = rollbackAlarmList(endpointChildNames(endpointName), additional);
  if (all.length > MAX_ROLLBACK_ALARMS) {
    problems.push(problem(field, "guardrail-range", "rollbackAlarms", `allows at most ${MAX_ROLLBACK_ALARMS - 2} names: SageMaker takes at most `
      + `${MAX_ROLLBACK_ALARMS} rollback alarms and the component creates 2, got ${additional.length}`));
  }
  const bad = additional.filter((a) => a.trim() === "" || a.length > MAX_ALARM_NAME);
  if (bad.length > 0) {
    problems.push(problem(field, "guardrail-range", "rollbackAlarms",
      `alarm names take 1-${MAX_ALARM_NAME} characters, not only whitespace, got ${bad.map((a) => JSON.stringify(a)).join(", ")}`));
  }
  const repeated = all.filter((a, i) => all.indexOf(a) !== i);
  if (repeated.length > 0) {
    problems.push(problem(field, "guardrail-range", "rollbackAlarms",
      `must be distinct from each other and from the component's own alarms, got ${repeated.map((a) => `"${a}"`).join(", ")}`));
  }
  const thresholds: [keyof typeof alarms, number, number][] = [
    ["invocation5xxErrorsPerMinute", 1, Number.MAX_SAFE_INTEGER], ["modelLatencyP99Milliseconds", 1, 600_000], ["evaluationPeriods", 1, 30],
  ];
  for (const [key, min, max] of thresholds) {
    const value = alarms[key] as number;
    if (!isWhole(value, min, max)) {
      problems.push(problem(`alarms.${key}`, "guardrail-range", "rollbackAlarms", `must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}, got ${value}`));
    }
  }
  return problems;
}

/** A multi-model endpoint: an image source (its environment still checked), never a registry version. */
export function multiModelProblems(spec: RealtimeEndpointSpec): RuleProblem[] {
  if ("modelPackageArn" in spec.model) {
    return [problem("source.version", "model-source", "multiModel", "a multi-model endpoint serves an image (imageTag or imageDigest), not a registry version")];
  }
  // Its model data is the stage bucket prefix the component derives: only the environment is the stack file's.
  return environmentProblems(spec.model.environment);
}

/** An asynchronous endpoint's concurrency and scale-to-zero settings. */
export function asyncProblems(async: AsyncSpec, autoscaled: boolean): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const perInstance = async.maxConcurrentInvocationsPerInstance;
  if (perInstance !== undefined && !isWhole(perInstance, 1, 1000)) {
    problems.push(problem("async.maxConcurrentInvocationsPerInstance", "capacity", "async", `must be a whole number from 1 to 1000, got ${perInstance}`));
  }
  const zero = async.scaleToZero;
  if (zero !== undefined) {
    if (!isWhole(zero.maxCapacity, 1)) {
      problems.push(problem("async.scaleToZero.maxCapacity", "capacity", "async", `must be a whole number of at least 1 instance, got ${zero.maxCapacity}`));
    }
    if (!(zero.targetBacklogPerInstance > 0) || !Number.isFinite(zero.targetBacklogPerInstance)) {
      problems.push(problem("async.scaleToZero.targetBacklogPerInstance", "capacity", "async", `must be a number above 0, got ${zero.targetBacklogPerInstance}`));
    }
    if (autoscaled) {
      problems.push(problem("async.scaleToZero", "capacity", "async",
        "scales the variant already: remove autoscaling (invocations per instance) or scaleToZero (backlog per instance), one of the two"));
    }
  }
  return problems;
}

/** Autoscaling bounds, target and cooldowns, and the initial count they must fit. */
export function autoscalingProblems(scaling: AutoscalingSpec, instanceCount: number): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const at = (field: keyof AutoscalingSpec) => `autoscaling.${field}`;
  const { minCapacity, maxCapacity } = scaling;
  if (!isWhole(minCapacity, 1)) problems.push(problem(at("minCapacity"), "capacity", "autoscaling", `must be a whole number of at least 1 instance, got ${minCapacity}`));
  if (!isWhole(maxCapacity, 1)) {
    problems.push(problem(at("maxCapacity"), "capacity", "autoscaling", `must be a whole number of at least 1 instance, got ${maxCapacity}`));
  } else if (maxCapacity < minCapacity) {
    problems.push(problem(at("maxCapacity"), "capacity", "autoscaling", `must be at least minCapacity ${minCapacity}, got ${maxCapacity}`));
  }
  if (!(scaling.targetInvocationsPerInstance > 0) || !Number.isFinite(scaling.targetInvocationsPerInstance)) {
    problems.push(problem(at("targetInvocationsPerInstance"), "capacity", "autoscaling", `must be a number above 0, got ${scaling.targetInvocationsPerInstance}`));
  }
  for (const field of ["scaleInCooldownSeconds", "scaleOutCooldownSeconds"] as const) {
    if (!isWhole(scaling[field], 0)) problems.push(problem(at(field), "capacity", "autoscaling", `must be a whole number of seconds, 0 or more, got ${scaling[field]}`));
  }
  if (isWhole(minCapacity, 1) && isWhole(instanceCount, 1) && instanceCount < minCapacity) {
    problems.push(problem("instanceCount", "capacity", "autoscaling", `must be at least autoscaling.minCapacity ${minCapacity}, got ${instanceCount}: `
      + "every deployment resets the variant to instanceCount, so a lower count scales it in under load until the policy catches up"));
  }
  if (isWhole(maxCapacity, 1) && isWhole(instanceCount, 1) && instanceCount > maxCapacity) {
    problems.push(problem("instanceCount", "capacity", "autoscaling", `must be at most autoscaling.maxCapacity ${maxCapacity}, got ${instanceCount}`));
  }
  return problems;
}

/** The ranges of a strategy's settings, each as SageMaker (and the provider) take it. */
export function deploymentRangeProblems(deployment: DeploymentSpec): RuleProblem[] {
  if (!usesGuardrails(deployment)) return canaryDeployerRangeProblems(deployment);
  const problems: RuleProblem[] = [];
  const range = (field: keyof typeof GUARDRAIL_RANGES, value: number | undefined) => {
    const { min, max, unit } = GUARDRAIL_RANGES[field];
    if (value !== undefined && !isWhole(value, min, max)) {
      problems.push(problem(`deployment.${field}`, "guardrail-range", "guardrailRanges", `must be a whole number of ${unit} from ${min} to ${max}, got ${value}`));
    }
  };
  range("waitSeconds", deployment.waitSeconds);
  range("maximumExecutionTimeoutSeconds", deployment.maximumExecutionTimeoutSeconds);
  if (deployment.strategy === "rolling") {
    range("batchSizePercent", deployment.batchSizePercent);
    range("rollbackBatchSizePercent", deployment.rollbackBatchSizePercent);
  } else {
    range("terminationWaitSeconds", deployment.terminationWaitSeconds);
    if (deployment.strategy === "canary") range("canarySizePercent", deployment.canarySizePercent);
    if (deployment.strategy === "linear") range("stepSizePercent", deployment.stepSizePercent);
  }
  return problems;
}

/** The canary deployer's settings (CANARY_DEPLOYER_RANGES). */
function canaryDeployerRangeProblems(deployment: StepFunctionsCanarySpec): RuleProblem[] {
  const values: Record<keyof typeof CANARY_DEPLOYER_RANGES, number | undefined> = {
    "canaryWeightPercent": deployment.canaryWeightPercent,
    "canaryInstanceCount": deployment.canaryInstanceCount,
    "bakeSeconds": deployment.bakeSeconds,
    "pollSeconds": deployment.pollSeconds,
    "maxPolls": deployment.maxPolls,
    "approval.timeoutSeconds": deployment.approval?.timeoutSeconds,
  };
  const problems: RuleProblem[] = [];
  for (const [field, value] of Object.entries(values)) {
    const { min, max, unit } = CANARY_DEPLOYER_RANGES[field as keyof typeof CANARY_DEPLOYER_RANGES];
    if (value !== undefined && !isWhole(value, min, max)) {
      problems.push(problem(`deployment.${field}`, "guardrail-range", "canaryDeployer", `must be a whole number of ${unit} from ${min} to ${max}, got ${value}`));
    }
  }
  return problems;
}

/**
 * What the canary deployer needs of an endpoint: a registry version (the state machine creates the
 * Model from the version's ARN), and a real-time, single-model, instance-based variant.
 */
export function canaryDeployerProblems(spec: RealtimeEndpointSpec): RuleProblem[] {
  if (spec.deployment.strategy !== "step-functions-canary") return [];
  const refuse = (field: string, check: RuleCheck, what: string) => problem(field, check, "canaryDeployer",
    `${what} cannot use strategy step-functions-canary: use all-at-once, canary or linear`);
  const problems: RuleProblem[] = [];
  if (!("modelPackageArn" in spec.model)) problems.push(refuse("source", "model-source", "an image source (the deployer deploys registry versions)"));
  if (spec.serverless !== undefined) problems.push(refuse("deployment.strategy", "guardrail-range", "a serverless variant"));
  if (spec.async !== undefined) problems.push(refuse("deployment.strategy", "guardrail-range", "an asynchronous endpoint"));
  if (spec.multiModel === true) problems.push(refuse("deployment.strategy", "guardrail-range", "a multi-model endpoint"));
  return problems;
}

/** Everything wrong with a strategy for an endpoint of `instanceCount` instances of `instanceType`. */
export function deploymentProblems(deployment: DeploymentSpec, instanceType: string, instanceCount: number): RuleProblem[] {
  const problems = deploymentRangeProblems(deployment);
  // The state machine uses none of SageMaker's guardrails: their rules below do not apply.
  if (!usesGuardrails(deployment)) return problems;
  if (deployment.strategy === "rolling" && instanceCount < 2) {
    problems.push(problem("deployment.strategy", "guardrail-range", "rolling",
      `rolling needs at least 2 instances (a batch is at least one instance and at most 50% of the fleet), got instanceCount ${instanceCount}; `
      + "use all-at-once, canary or linear for a single instance"));
  }
  if (deployment.strategy !== "all-at-once" && ignoresDeploymentGuardrails(instanceType)) {
    problems.push(problem("deployment.strategy", "guardrail-range", "guardrailFallback",
      `${instanceType} endpoints ignore deployment guardrails (SageMaker falls back to all-at-once without baking); `
      + `use strategy all-at-once or another instance type, got ${deployment.strategy}`));
  }
  const waitSeconds = guardrailWaitSeconds(deployment, instanceCount);
  if (waitSeconds > MAX_GUARDRAIL_WAIT_SECONDS) {
    problems.push(problem("deployment", "rollout-timeout", "providerWait",
      `baking and termination waits add up to ${waitSeconds} s; the provider stops waiting for InService after 60 minutes, `
      + `so keep them at or below ${MAX_GUARDRAIL_WAIT_SECONDS} s (shorter waits or larger steps)`));
  }
  const timeout = deployment.maximumExecutionTimeoutSeconds;
  if (timeout !== undefined && timeout <= waitSeconds) {
    problems.push(problem("deployment.maximumExecutionTimeoutSeconds", "guardrail-range", "guardrailRanges",
      `${timeout} s does not cover the ${waitSeconds} s of baking and termination waits: every deployment would time out and roll back`));
  }
  return problems;
}

/** Problems as lines (`field: message`), for an error message. */
export function formatRuleProblems(problems: readonly RuleProblem[]): string {
  return problems.map((p) => `  ${p.field === "" ? "name" : p.field}: ${p.message}`).join("\n");
}
