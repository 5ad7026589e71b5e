import {
  APPROVAL_REJECTED_ERROR, CANARY_ERRORS, CANARY_STATES, CANARY_VARIANT_NAME, type CanaryMessageKind, ROLLED_BACK_ERROR,
} from "./canary-contract";
import {
  bakeLooks, type CanaryDefinitionParams, canaryDefinitionProblems, type Resolved, withDefaults,
} from "./canary-definition-params";
import type { AutoscalingSpec } from "./endpoint-spec";
import { INVOCATIONS_PER_INSTANCE_METRIC, SCALING_POLICY_NAME, VARIANT_SCALABLE_DIMENSION, variantResourceId } from "./variant-autoscaling";

export {
  bakeLooks, CANARY_DEFINITION_DEFAULTS, type CanaryDefinitionParams, canaryDefinitionProblems,
} from "./canary-definition-params";

/**
 * The canary deployer's state machine (issue 11, seed 003) as an Amazon States Language definition:
 * a plain, JSON-serialisable object built from plain parameters (their rules and defaults are in
 * components/canary-definition-params.ts, re-exported here), and the AWS actions the definition calls (the component builds its role from them). Pure: no Pulumi,
 * no AWS calls.
 *
 * The flow: create the Model; a missing endpoint is a first deploy (single-variant config, create,
 * wait, autoscaling, notify). Otherwise remember the config in service, check that it is the single
 * serving variant and that the canary alarms exist, update to a two-variant config (serving variant
 * unchanged at 100-w, `canary` at w), wait for InService, bake while looking at the alarms, ask for
 * approval if configured, promote with a single-variant config (deregistering the variant's scalable
 * target first when the instance type changes), re-apply autoscaling and notify. Anything that goes
 * wrong after the first change rolls back: wait until the endpoint settles, update it to the
 * remembered config unless SageMaker already reverted it, wait, re-register a deregistered target,
 * notify, and fail with ROLLED_BACK_ERROR.
 *
 * What it relies on, checked against aws-local-stepfunctions 3.0 (JSONPath only: no JSONata, no
 * variables) and the Step Functions documentation: the intrinsics States.Format, States.Array,
 * States.ArrayLength, States.JsonMerge (shallow) and States.MathAdd; Choice rules with And, Or,
 * IsPresent (only `true`), IsString, StringMatches and StringEqualsPath; Fail states with ErrorPath
 * and CausePath. A path that matches nothing is a States.Runtime error no Catch sees, so optional
 * fields (FailureReason, a rejection's cause) are tested with IsPresent before they are read.
 * Every loop is bounded (polls, bake looks, approval timeout), so the definition sets no execution
 * timeout: a timed-out execution would stop mid-rollback.
 */

/** One state of a definition (JSON). */
export interface AslState {
  readonly Type: "Task" | "Pass" | "Choice" | "Wait" | "Succeed" | "Fail";
  readonly [field: string]: unknown;
}

/** An Amazon States Language definition (JSON). */
export interface StateMachineDefinition {
  readonly Comment: string;
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
}


/**
 * Names of the states, as properties so that a typo is a compile error. The names the CLI looks for
 * are CANARY_STATES (components/canary-contract.ts), used as they are.
 */
function stateNames<const T extends string>(...names: T[]): { readonly [K in T]: K } {
  return Object.fromEntries(names.map((n) => [n, n])) as { readonly [K in T]: K };
}

const S = {
  ...stateNames(
    "CreateModel", "DescribeEndpoint", "IsFirstDeploy", "CheckEndpointStatus", "CheckCanaryAlarms", "AreCanaryAlarmsPresent",
    "DescribeCurrentConfig", "CheckCurrentVariants", "PrepareCanaryVariants", "CreateCanaryConfig", "UpdateToCanary", "StartPollCanary",
    "CountPoll", "PollEndpoint", "CheckPoll", "PollSucceeded", "PollTimedOut", "DescribePollFailure", "PollFailureWithReason",
    "PollFailureWithoutReason", "PollErrored", "PollFailed", "StartBake", "LookAtAlarms", "CountBake", "CheckBake", "AlarmFired",
    "AlarmLookFailed", "ApprovalRejected", "RejectedWithCause", "RejectedWithoutCause", "ApprovalTimedOut", "ApprovalFailed",
    "CreatePromotedConfig", "CheckInstanceTypeChange", "DescribeScalableTarget", "IsVariantScaled", "DeregisterScalableTarget",
    "MarkDeregistered", "UpdateToPromoted", "StartPollPromote", "PromoteError", "UpdateFailed", "CanaryUpdateError",
    "RegisterScalableTarget", "PutScalingPolicy", "AfterAutoscaling", "AutoscalingFailed", "CreateFirstConfig", "CreateEndpoint",
    "StartPollFirstDeploy", "FirstDeployFailed", "StartRollback", "UpdateToRemembered", "StartPollRollback", "RolledBackInService",
    "RollbackRefused", "RollbackFailed", "SetupFailed", "EndpointBusy", "AlarmsMissing", "UnexpectedVariants", "UpdateRefused",
    "BuildFirstDeployMessage", "BuildPromotedMessage", "BuildRolledBackMessage", "BuildFailedMessage", "Notify", "AfterNotify",
  ),
  ...CANARY_STATES,
};

/** What SageMaker's SDK integration throws: unmodelled errors (validation, refusals) and the modelled quota error (DESIGN §9). */
const SAGEMAKER_ERRORS = ["SageMaker.AmazonSageMakerException", "SageMaker.ResourceLimitExceededException"];
/** Endpoint statuses that change by themselves: wait and look again. */
const TRANSITIONAL = ["Creating", "Updating", "SystemUpdating", "RollingBack"];
/** Phases of the shared DescribeEndpoint loop; each decides where a settled endpoint goes next. */
type Phase = "first-deploy" | "canary" | "promote" | "settle" | "rollback";

/** A JSONPath inside a `fmt` template. */
interface JsonPath {
  readonly path: string;
}
const at = (path: string): JsonPath => ({ path });

/** A text field's value: literal text, or an intrinsic expression evaluated at run time. */
type Text = { readonly literal: string } | { readonly expression: string };

/**
 * Text from a template: `at(...)` parts become JSONPaths of a `States.Format`, other parts literal
 * text, escaped as intrinsic strings need (\\, ', { and }).
 */
function fmt(literals: TemplateStringsArray, ...values: (JsonPath | string | number)[]): Text {
  const escape = (text: string) => text.replace(/[\\'{}]/g, (c) => `\\${c}`);
  const paths: string[] = [];
  let template = escape(literals[0]);
  let plain = literals[0];
  values.forEach((value, i) => {
    if (typeof value === "object") {
      template += "{}";
      paths.push(value.path);
    } else {
      template += escape(String(value));
      plain += String(value);
    }
    template += escape(literals[i + 1]);
    plain += literals[i + 1];
  });
  return paths.length === 0 ? { literal: plain } : { expression: `States.Format('${template}', ${paths.join(", ")})` };
}

/** A payload field holding `text`: `name` for literal text, `name.$` for an expression. */
function textField(name: string, text: Text): Record<string, string> {
  return "literal" in text ? { [name]: text.literal } : { [`${name}.$`]: text.expression };
}

type Fields = Record<string, unknown>;

/** A Task calling `resource`; its result is dropped unless `more` sets a ResultPath. */
function task(resource: string, parameters: Fields, next: string, more: Fields = {}): AslState {
  return { Type: "Task", Resource: resource, Parameters: parameters, ResultPath: null, ...more, Next: next };
}

function pass(parameters: Fields, resultPath: string, next: string): AslState {
  return { Type: "Pass", Parameters: parameters, ResultPath: resultPath, Next: next };
}

function choice(choices: Fields[], otherwise: string): AslState {
  return { Type: "Choice", Choices: choices, Default: otherwise };
}

const when = (rule: Fields, next: string) => ({ ...rule, Next: next });
const caught = (errors: string[], next: string) => ({ ErrorEquals: errors, ResultPath: "$.error", Next: next });
const catchAll = (next: string) => ({ Catch: [caught(["States.ALL"], next)] });
const retry = (errors: string[], intervalSeconds: number, maxAttempts: number) =>
  [{ ErrorEquals: errors, IntervalSeconds: intervalSeconds, MaxAttempts: maxAttempts, BackoffRate: 2 }];
const status = (value: string) => ({ Variable: "$.endpoint.EndpointStatus", StringEquals: value });
const phaseIs = (phase: Phase) => ({ Variable: "$.poll.phase", StringEquals: phase });

/** What every part of the definition builds from. */
interface Build {
  readonly p: Resolved;
  /** The Step Functions ARN of an AWS SDK integration. */
  readonly sdk: (service: string, action: string) => string;
  /** CreateEndpointConfig's volume key, if any. */
  readonly kms: Fields;
  /** Sets the reason of a rollback and starts it. */
  readonly rollBack: (reason: Text) => AslState;
  /** Sets the error and reason of a failure without rollback, and notifies it. */
  readonly failure: (error: string, reason: Text) => AslState;
}

/**
 * The Amazon States Language definition of one endpoint's canary deployer. Throws when
 * canaryDefinitionProblems finds anything wrong with the parameters.
 */
export function canaryStateMachineDefinition(params: CanaryDefinitionParams): StateMachineDefinition {
  const problems = canaryDefinitionProblems(params);
  if (problems.length > 0) {
    throw new Error(`canary state machine of ${params.endpointName}: ${problems.map((x) => `${x.field}: ${x.message}`).join("; ")}`);
  }
  const p = withDefaults(params);
  const outcome = (next: string, reason: Text, error?: string) =>
    pass({ ...error === undefined ? {} : { error }, ...textField("reason", reason) }, "$.outcome", next);
  const build: Build = {
    p,
    sdk: (service, action) => `arn:${p.partition}:states:::aws-sdk:${service}:${action}`,
    kms: p.kmsKeyArn === undefined ? {} : { KmsKeyId: p.kmsKeyArn },
    rollBack: (reason) => outcome(S.StartRollback, reason),
    failure: (error, reason) => outcome(S.BuildFailedMessage, reason, error),
  };
  return {
    Comment: `Canary deployer of SageMaker endpoint ${p.endpointName}: canary variant at ${p.canaryWeightPercent}%, `
      + `${p.bakeSeconds} s bake, ${p.approval === undefined ? "no approval" : "approval"}, promote or roll back`,
    StartAt: S.CreateModel,
    States: {
      ...setupStates(build),
      ...firstDeployStates(build),
      ...canaryStates(build),
      ...pollStates(build),
      ...bakeStates(build),
      ...p.approval === undefined ? {} : approvalStates(build, p.approval.timeoutSeconds),
      ...promotionStates(build),
      ...p.autoscaling === undefined ? {} : autoscalingStates(build, p.autoscaling),
      ...rollbackStates(build),
      ...notifyStates(build),
    },
  };
}

/** 1-2. The Model of the new version; a missing endpoint is a first deploy; otherwise the checks before any change. */
function setupStates({ p, sdk, failure }: Build): Record<string, AslState> {
  const endpoint = p.endpointName;
  return {
    [S.CreateModel]: task(sdk("sagemaker", "createModel"), {
      "ModelName.$": "$.modelName",
      "ExecutionRoleArn": p.executionRoleArn,
      "PrimaryContainer": { "ModelPackageName.$": "$.modelPackageArn" },
    }, S.DescribeEndpoint, catchAll(S.SetupFailed)),
    [S.DescribeEndpoint]: task(sdk("sagemaker", "describeEndpoint"), { EndpointName: endpoint }, S.CheckEndpointStatus, {
      ResultSelector: { "EndpointConfigName.$": "$.EndpointConfigName", "EndpointStatus.$": "$.EndpointStatus" },
      ResultPath: "$.current",
      Catch: [caught(["SageMaker.AmazonSageMakerException"], S.IsFirstDeploy), caught(["States.ALL"], S.SetupFailed)],
    }),
    // DescribeEndpoint of a missing endpoint fails with a ValidationException: Could not find endpoint "<arn>".
    [S.IsFirstDeploy]: choice([when({ Variable: "$.error.Cause", StringMatches: "*Could not find endpoint*" }, S.CreateFirstConfig)], S.SetupFailed),
    [S.CheckEndpointStatus]: choice([when({ Variable: "$.current.EndpointStatus", StringEquals: "InService" }, S.CheckCanaryAlarms)], S.EndpointBusy),
    // Alarms that do not exist would never fire: count them before changing anything.
    [S.CheckCanaryAlarms]: task(sdk("cloudwatch", "describeAlarms"), { AlarmNames: [...p.canaryAlarmNames] }, S.AreCanaryAlarmsPresent, {
      ResultSelector: { "found.$": "States.ArrayLength($.MetricAlarms)" },
      ResultPath: "$.alarmCheck",
      ...catchAll(S.SetupFailed),
    }),
    [S.AreCanaryAlarmsPresent]: choice([when({ Variable: "$.alarmCheck.found", NumericEquals: p.canaryAlarmNames.length }, S.DescribeCurrentConfig)], S.AlarmsMissing),
    // Remember the config in service: the canary keeps its variant, the rollback returns to it.
    [S.DescribeCurrentConfig]: task(sdk("sagemaker", "describeEndpointConfig"), { "EndpointConfigName.$": "$.current.EndpointConfigName" }, S.CheckCurrentVariants, {
      ResultSelector: {
        "variants.$": "$.ProductionVariants",
        "count.$": "States.ArrayLength($.ProductionVariants)",
        "servingWeight": { InitialVariantWeight: 100 - p.canaryWeightPercent },
      },
      ResultPath: "$.currentConfig",
      ...catchAll(S.SetupFailed),
    }),
    [S.CheckCurrentVariants]: choice([when({
      And: [
        { Variable: "$.currentConfig.count", NumericEquals: 1 },
        { Variable: "$.currentConfig.variants[0].VariantName", StringEquals: p.variantName },
        { Variable: "$.currentConfig.variants[0].InstanceType", IsPresent: true },
      ],
    }, S.PrepareCanaryVariants)], S.UnexpectedVariants),
    [S.SetupFailed]: failure(CANARY_ERRORS.setupFailed, fmt`stopped before changing endpoint ${endpoint}: ${at("$.error.Error")}: ${at("$.error.Cause")}`),
    [S.EndpointBusy]: failure(CANARY_ERRORS.endpointBusy,
      fmt`endpoint ${endpoint} is ${at("$.current.EndpointStatus")}, not InService: deploy again once its update has ended`),
    [S.AlarmsMissing]: failure(CANARY_ERRORS.alarmsMissing,
      fmt`found ${at("$.alarmCheck.found")} of the ${p.canaryAlarmNames.length} canary alarms of endpoint ${endpoint}: deploy the stack that creates them first`),
    [S.UnexpectedVariants]: failure(CANARY_ERRORS.unexpectedVariants,
      fmt`config ${at("$.current.EndpointConfigName")} of endpoint ${endpoint} has ${at("$.currentConfig.count")} variants, and the deployer needs exactly one instance variant named ${p.variantName}: roll back or finish the deployment that left it, then deploy again`),
  };
}

/** The single-variant config of the new version: the first deploy's, and the promotion's (never a weight of 0 beside an old variant). */
function singleVariantConfig({ p, kms }: Build): Fields {
  return {
    "EndpointConfigName.$": "$.promotedConfigName",
    "ProductionVariants": [{
      "VariantName": p.variantName,
      "ModelName.$": "$.modelName",
      "InstanceType.$": "$.instanceType",
      "InitialInstanceCount.$": "$.instanceCount",
      "InitialVariantWeight": 1,
    }],
    ...kms,
  };
}

/** 1. First deploy: the endpoint on a single-variant config. */
function firstDeployStates(build: Build): Record<string, AslState> {
  const { p, sdk, failure } = build;
  return {
    [S.CreateFirstConfig]: task(sdk("sagemaker", "createEndpointConfig"), singleVariantConfig(build), S.CreateEndpoint, catchAll(S.SetupFailed)),
    [S.CreateEndpoint]: task(sdk("sagemaker", "createEndpoint"), { "EndpointName": p.endpointName, "EndpointConfigName.$": "$.promotedConfigName" },
      S.StartPollFirstDeploy, catchAll(S.SetupFailed)),
    [S.StartPollFirstDeploy]: pollStart("first-deploy", "$.promotedConfigName"),
    [S.FirstDeployFailed]: failure(CANARY_ERRORS.firstDeployFailed,
      fmt`creating endpoint ${p.endpointName} with ${at("$.poll.target")} failed: ${at("$.pollFailure.detail")}`),
  };
}

/** 3. The canary: the serving variant as it is (its weight lowered) beside the new version, then UpdateEndpoint. */
function canaryStates({ p, sdk, kms, failure, rollBack }: Build): Record<string, AslState> {
  return {
    [S.PrepareCanaryVariants]: pass({
      "serving.$": "States.JsonMerge($.currentConfig.variants[0], $.currentConfig.servingWeight, false)",
      "canary": {
        "VariantName": CANARY_VARIANT_NAME,
        "ModelName.$": "$.modelName",
        "InstanceType.$": "$.instanceType",
        "InitialInstanceCount": p.canaryInstanceCount,
        "InitialVariantWeight": p.canaryWeightPercent,
      },
    }, "$.canaryVariants", S.CreateCanaryConfig),
    [S.CreateCanaryConfig]: task(sdk("sagemaker", "createEndpointConfig"), {
      "EndpointConfigName.$": "$.canaryConfigName",
      "ProductionVariants.$": "States.Array($.canaryVariants.serving, $.canaryVariants.canary)",
      ...kms,
    }, S.UpdateToCanary, catchAll(S.SetupFailed)),
    // A refusal (an update in progress, a quota) leaves the endpoint unchanged: fail clearly. Any other error may hide a started update: roll back.
    [S.UpdateToCanary]: task(sdk("sagemaker", "updateEndpoint"), { "EndpointName": p.endpointName, "EndpointConfigName.$": "$.canaryConfigName" },
      S.StartPollCanary, { Catch: [caught(SAGEMAKER_ERRORS, S.UpdateRefused), caught(["States.ALL"], S.CanaryUpdateError)] }),
    [S.StartPollCanary]: pollStart("canary", "$.canaryConfigName"),
    [S.UpdateRefused]: failure(CANARY_ERRORS.updateRefused,
      fmt`SageMaker refused to update endpoint ${p.endpointName} to the canary config, which left it unchanged: ${at("$.error.Cause")}`),
    [S.CanaryUpdateError]: rollBack(fmt`UpdateEndpoint to the canary config failed: ${at("$.error.Error")}: ${at("$.error.Cause")}`),
  };
}

/** Starts the DescribeEndpoint loop of a phase, towards the config at `targetPath`. */
function pollStart(phase: Phase, targetPath: string): AslState {
  return pass({ "phase": phase, "target.$": targetPath, "n": 0 }, "$.poll", S.pollWait);
}

/**
 * The DescribeEndpoint loop every phase shares (one CANARY_STATES.pollWait for the CLI): at most
 * maxPolls looks, pollSeconds apart. The endpoint succeeds when InService on the phase's target
 * config, fails when it settles otherwise, and times out when still changing after the last look.
 */
function pollStates({ p, sdk, rollBack }: Build): Record<string, AslState> {
  const transitional = { Or: TRANSITIONAL.map(status) };
  const scaled = p.autoscaling !== undefined;
  const detail = (text: Text, more: Fields = {}) => pass({ ...textField("detail", text), ...more }, "$.pollFailure", S.PollFailed);
  return {
    [S.pollWait]: { Type: "Wait", Seconds: p.pollSeconds, Next: S.CountPoll },
    [S.CountPoll]: pass({ "phase.$": "$.poll.phase", "target.$": "$.poll.target", "n.$": "States.MathAdd($.poll.n, 1)" }, "$.poll", S.PollEndpoint),
    [S.PollEndpoint]: task(sdk("sagemaker", "describeEndpoint"), { EndpointName: p.endpointName }, S.CheckPoll, {
      ResultPath: "$.endpoint",
      Retry: retry(["SageMaker.AmazonSageMakerException"], 5, 3),
      ...catchAll(S.PollErrored),
    }),
    [S.CheckPoll]: choice([
      when({ And: [transitional, { Variable: "$.poll.n", NumericLessThan: p.maxPolls }] }, S.pollWait),
      when(transitional, S.PollTimedOut),
      when({ And: [status("InService"), { Variable: "$.endpoint.EndpointConfigName", StringEqualsPath: "$.poll.target" }] }, S.PollSucceeded),
    ], S.DescribePollFailure),
    [S.PollSucceeded]: choice([
      when(phaseIs("first-deploy"), scaled ? S.RegisterScalableTarget : S.BuildFirstDeployMessage),
      when(phaseIs("canary"), S.StartBake),
      when(phaseIs("promote"), scaled ? S.RegisterScalableTarget : S.BuildPromotedMessage),
    ], scaled ? S.RolledBackInService : S.BuildRolledBackMessage),
    [S.PollTimedOut]: detail(fmt`the endpoint was still ${at("$.endpoint.EndpointStatus")} after ${at("$.poll.n")} looks ${p.pollSeconds} s apart`,
      { timedOut: true }),
    // FailureReason is there only when SageMaker gives one.
    [S.DescribePollFailure]: choice([when({ Variable: "$.endpoint.FailureReason", IsPresent: true }, S.PollFailureWithReason)], S.PollFailureWithoutReason),
    [S.PollFailureWithReason]: detail(
      fmt`the endpoint is ${at("$.endpoint.EndpointStatus")} on config ${at("$.endpoint.EndpointConfigName")}: ${at("$.endpoint.FailureReason")}`),
    [S.PollFailureWithoutReason]: detail(fmt`the endpoint is ${at("$.endpoint.EndpointStatus")} on config ${at("$.endpoint.EndpointConfigName")}`),
    [S.PollErrored]: detail(fmt`DescribeEndpoint failed: ${at("$.error.Cause")}`),
    [S.PollFailed]: choice([
      when({ And: [phaseIs("settle"), { Variable: "$.pollFailure.timedOut", IsPresent: true }] }, S.RollbackFailed),
      when(phaseIs("settle"), S.UpdateToRemembered),
      when(phaseIs("rollback"), S.RollbackFailed),
      when(phaseIs("first-deploy"), S.FirstDeployFailed),
    ], S.UpdateFailed),
    [S.UpdateFailed]: rollBack(fmt`the update to ${at("$.poll.target")} failed: ${at("$.pollFailure.detail")}`),
  };
}

/** 4. Bake: look at the canary alarms every alarmCheckSeconds until bakeSeconds have passed; any in ALARM rolls back. */
function bakeStates({ p, sdk, rollBack }: Build): Record<string, AslState> {
  return {
    [S.StartBake]: { Type: "Pass", Result: { n: 0 }, ResultPath: "$.bake", Next: S.bakeWait },
    [S.bakeWait]: { Type: "Wait", Seconds: p.alarmCheckSeconds, Next: S.LookAtAlarms },
    [S.LookAtAlarms]: task(sdk("cloudwatch", "describeAlarms"), { AlarmNames: [...p.canaryAlarmNames], StateValue: "ALARM" }, S.CountBake, {
      ResultSelector: { "firing.$": "$.MetricAlarms" },
      ResultPath: "$.alarms",
      Retry: retry(["States.TaskFailed"], 5, 3),
      ...catchAll(S.AlarmLookFailed),
    }),
    [S.CountBake]: pass({ "n.$": "States.MathAdd($.bake.n, 1)" }, "$.bake", S.CheckBake),
    [S.CheckBake]: choice([
      when({ Variable: "$.alarms.firing[0]", IsPresent: true }, S.AlarmFired),
      when({ Variable: "$.bake.n", NumericGreaterThanEquals: bakeLooks(p) }, p.approval === undefined ? S.CreatePromotedConfig : S.approval),
    ], S.bakeWait),
    [S.AlarmFired]: rollBack(fmt`canary alarm ${at("$.alarms.firing[0].AlarmName")} is in ALARM`),
    [S.AlarmLookFailed]: rollBack(fmt`the canary alarms could not be read: ${at("$.error.Cause")}`),
  };
}

/** 5. Approval: a task token published on the topic; a rejection, a failure or no answer in time rolls back. */
function approvalStates({ p, rollBack }: Build, timeoutSeconds: number): Record<string, AslState> {
  return {
    [S.approval]: task(`arn:${p.partition}:states:::sns:publish.waitForTaskToken`, {
      TopicArn: p.topicArn,
      Subject: `Approve the canary of ${p.endpointName}?`,
      Message: {
        "kind": "approval-request",
        "endpointName": p.endpointName,
        "modelPackageArn.$": "$.modelPackageArn",
        "previousConfigName.$": "$.current.EndpointConfigName",
        "taskToken.$": "$$.Task.Token",
        "executionArn.$": "$$.Execution.Id",
      },
      MessageAttributes: { kind: { DataType: "String", StringValue: "approval-request" } },
    }, S.CreatePromotedConfig, {
      TimeoutSeconds: timeoutSeconds,
      ResultPath: "$.approval",
      Catch: [caught([APPROVAL_REJECTED_ERROR], S.ApprovalRejected), caught(["States.Timeout"], S.ApprovalTimedOut), caught(["States.ALL"], S.ApprovalFailed)],
    }),
    // A rejection may come without a cause: read it only if it is there.
    [S.ApprovalRejected]: choice([when({ And: [{ Variable: "$.error.Cause", IsPresent: true }, { Variable: "$.error.Cause", IsString: true }] }, S.RejectedWithCause)],
      S.RejectedWithoutCause),
    [S.RejectedWithCause]: rollBack(fmt`the canary was rejected: ${at("$.error.Cause")}`),
    [S.RejectedWithoutCause]: rollBack(fmt`the canary was rejected`),
    [S.ApprovalTimedOut]: rollBack(fmt`no approval within ${timeoutSeconds} s`),
    [S.ApprovalFailed]: rollBack(fmt`the approval request failed: ${at("$.error.Error")}`),
  };
}

/** 6. Promote: a single-variant config of the new version, then UpdateEndpoint (retried: an autoscaling activity may hold the endpoint). */
function promotionStates(build: Build): Record<string, AslState> {
  const { p, sdk, rollBack } = build;
  return {
    [S.CreatePromotedConfig]: task(sdk("sagemaker", "createEndpointConfig"), singleVariantConfig(build),
      p.autoscaling === undefined ? S.UpdateToPromoted : S.CheckInstanceTypeChange, catchAll(S.PromoteError)),
    [S.UpdateToPromoted]: task(sdk("sagemaker", "updateEndpoint"), { "EndpointName": p.endpointName, "EndpointConfigName.$": "$.promotedConfigName" },
      S.StartPollPromote, { Retry: retry(["SageMaker.AmazonSageMakerException"], p.pollSeconds, 3), ...catchAll(S.PromoteError) }),
    [S.StartPollPromote]: pollStart("promote", "$.promotedConfigName"),
    [S.PromoteError]: rollBack(fmt`the promotion failed: ${at("$.error.Error")}: ${at("$.error.Cause")}`),
  };
}

/**
 * 6. Autoscaling: deregister the serving variant before an update that changes its instance type
 * (SageMaker refuses it while the variant is registered); register it and put the named policy after
 * a first deploy, a promotion, or a rollback of an execution that had deregistered it.
 */
function autoscalingStates({ p, sdk, failure }: Build, scaling: AutoscalingSpec): Record<string, AslState> {
  const target = { ServiceNamespace: "sagemaker", ResourceId: variantResourceId(p.endpointName, p.variantName), ScalableDimension: VARIANT_SCALABLE_DIMENSION };
  const aas = (action: string) => sdk("applicationautoscaling", action);
  const retried = { Retry: retry(["States.TaskFailed"], 5, 3) };
  return {
    [S.CheckInstanceTypeChange]: choice([when({ Variable: "$.instanceType", StringEqualsPath: "$.currentConfig.variants[0].InstanceType" }, S.UpdateToPromoted)], S.DescribeScalableTarget),
    [S.DescribeScalableTarget]: task(aas("describeScalableTargets"), {
      ServiceNamespace: target.ServiceNamespace,
      ResourceIds: [target.ResourceId],
      ScalableDimension: target.ScalableDimension,
    }, S.IsVariantScaled, { ResultSelector: { "count.$": "States.ArrayLength($.ScalableTargets)" }, ResultPath: "$.scaling", ...retried, ...catchAll(S.PromoteError) }),
    [S.IsVariantScaled]: choice([when({ Variable: "$.scaling.count", NumericGreaterThan: 0 }, S.DeregisterScalableTarget)], S.UpdateToPromoted),
    [S.DeregisterScalableTarget]: task(aas("deregisterScalableTarget"), target, S.MarkDeregistered, catchAll(S.PromoteError)),
    [S.MarkDeregistered]: { Type: "Pass", Result: true, ResultPath: "$.deregistered", Next: S.UpdateToPromoted },
    [S.RegisterScalableTarget]: task(aas("registerScalableTarget"), { ...target, MinCapacity: scaling.minCapacity, MaxCapacity: scaling.maxCapacity }, S.PutScalingPolicy,
      { ...retried, ...catchAll(S.AutoscalingFailed) }),
    [S.PutScalingPolicy]: task(aas("putScalingPolicy"), {
      ...target,
      PolicyName: SCALING_POLICY_NAME,
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: scaling.targetInvocationsPerInstance,
        PredefinedMetricSpecification: { PredefinedMetricType: INVOCATIONS_PER_INSTANCE_METRIC },
        ScaleInCooldown: scaling.scaleInCooldownSeconds,
        ScaleOutCooldown: scaling.scaleOutCooldownSeconds,
      },
    }, S.AfterAutoscaling, { ...retried, ...catchAll(S.AutoscalingFailed) }),
    [S.AfterAutoscaling]: choice([when(phaseIs("first-deploy"), S.BuildFirstDeployMessage), when(phaseIs("promote"), S.BuildPromotedMessage)], S.BuildRolledBackMessage),
    // Register the variant again only if this execution deregistered it.
    [S.RolledBackInService]: choice([when({ Variable: "$.deregistered", IsPresent: true }, S.RegisterScalableTarget)], S.BuildRolledBackMessage),
    [S.AutoscalingFailed]: failure(CANARY_ERRORS.autoscalingFailed,
      fmt`endpoint serves config ${at("$.endpoint.EndpointConfigName")}, but its autoscaling could not be applied: ${at("$.error.Cause")}`),
  };
}

/**
 * 8. Roll back: wait until no update is in progress (SageMaker refuses UpdateEndpoint meanwhile),
 * update to the remembered config unless the endpoint serves it already, and wait for it.
 */
function rollbackStates({ p, sdk, failure }: Build): Record<string, AslState> {
  const remembered = "$.current.EndpointConfigName";
  const byHand = `update endpoint ${p.endpointName} to that config by hand. It was rolling back because`;
  return {
    [S.StartRollback]: pollStart("settle", remembered),
    [S.UpdateToRemembered]: task(sdk("sagemaker", "updateEndpoint"), { "EndpointName": p.endpointName, "EndpointConfigName.$": remembered },
      S.StartPollRollback, { Retry: retry(["SageMaker.AmazonSageMakerException"], p.pollSeconds, 5), ...catchAll(S.RollbackRefused) }),
    [S.StartPollRollback]: pollStart("rollback", remembered),
    [S.RollbackRefused]: failure(CANARY_ERRORS.rollbackFailed,
      fmt`UpdateEndpoint back to ${at(remembered)} was refused (${at("$.error.Cause")}): ${byHand} ${at("$.outcome.reason")}`),
    [S.RollbackFailed]: failure(CANARY_ERRORS.rollbackFailed,
      fmt`rolling back to ${at(remembered)} did not complete (${at("$.pollFailure.detail")}): ${byHand} ${at("$.outcome.reason")}`),
  };
}

/** 7. Notify the outcome (CanaryMessage JSON, its kind also as a message attribute for subscription filters), then end. */
function notifyStates({ p }: Build): Record<string, AslState> {
  const message = (kind: CanaryMessageKind, subject: string, extra: Fields = {}) => pass({
    subject,
    message: { "kind": kind, "endpointName": p.endpointName, "modelPackageArn.$": "$.modelPackageArn", "executionArn.$": "$$.Execution.Id", ...extra },
  }, "$.notification", S.Notify);
  const kindIs = (kind: CanaryMessageKind) => ({ Variable: "$.notification.message.kind", StringEquals: kind });
  return {
    [S.BuildFirstDeployMessage]: message("first-deploy", `Deployed ${p.endpointName} (first deploy)`),
    [S.BuildPromotedMessage]: message("promoted", `Promoted the canary of ${p.endpointName}`, { "previousConfigName.$": "$.current.EndpointConfigName" }),
    [S.BuildRolledBackMessage]: message("rolled-back", `Rolled back ${p.endpointName}`, {
      "previousConfigName.$": "$.current.EndpointConfigName",
      "reason.$": "$.outcome.reason",
    }),
    [S.BuildFailedMessage]: message("failed", `Deployment of ${p.endpointName} failed`, { "reason.$": "$.outcome.reason" }),
    // Step Functions serialises a JSON Message to text. A notification that fails does not change the outcome.
    [S.Notify]: task(`arn:${p.partition}:states:::sns:publish`, {
      "TopicArn": p.topicArn,
      "Subject.$": "$.notification.subject",
      "Message.$": "$.notification.message",
      "MessageAttributes": { kind: { "DataType": "String", "StringValue.$": "$.notification.message.kind" } },
    }, S.AfterNotify, {
      Retry: retry(["States.TaskFailed"], 5, 2),
      Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.notifyError", Next: S.AfterNotify }],
    }),
    [S.AfterNotify]: choice([
      when(kindIs("first-deploy"), S.firstDeployed),
      when(kindIs("promoted"), S.promoted),
      when(kindIs("rolled-back"), S.rolledBack),
    ], S.failed),
    [S.firstDeployed]: { Type: "Succeed", OutputPath: "$.notification.message" },
    [S.promoted]: { Type: "Succeed", OutputPath: "$.notification.message" },
    [S.rolledBack]: { Type: "Fail", Error: ROLLED_BACK_ERROR, CausePath: "$.outcome.reason" },
    [S.failed]: { Type: "Fail", ErrorPath: "$.outcome.error", CausePath: "$.outcome.reason" },
  };
}

/** IAM service prefixes that differ from the SDK integration's service name. */
const IAM_PREFIX: Readonly<Record<string, string>> = { applicationautoscaling: "application-autoscaling" };

/**
 * The IAM actions (`service:Action`) a definition's Task states call, sorted and without repeats:
 * the component's role grants exactly these. CreateModel also passes the execution role
 * (iam:PassRole), which the role's policy adds with the resources.
 */
export function definitionActions(definition: StateMachineDefinition): string[] {
  const actions = Object.entries(definition.States).filter(([, state]) => state.Type === "Task").map(([name, state]) => {
    const resource = String(state.Resource);
    const sdkCall = /^arn:[\w-]+:states:::aws-sdk:([a-z0-9]+):([a-zA-Z0-9]+)$/.exec(resource);
    if (sdkCall !== null) return `${IAM_PREFIX[sdkCall[1]] ?? sdkCall[1]}:${sdkCall[2][0].toUpperCase()}${sdkCall[2].slice(1)}`;
    if (/^arn:[\w-]+:states:::sns:publish(\.waitForTaskToken)?$/.test(resource)) return "sns:Publish";
    throw new Error(`state ${name}: no IAM action known for resource ${resource}`);
  });
  return [...new Set(actions)].sort();
}

/** The IAM actions of the definition built from `params` (definitionActions of canaryStateMachineDefinition). */
export function canaryStateMachineActions(params: CanaryDefinitionParams): string[] {
  return definitionActions(canaryStateMachineDefinition(params));
}
