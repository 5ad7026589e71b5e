import {
  DescribeEndpointCommand, DescribeEndpointConfigCommand, DescribeModelCommand, DescribeModelPackageCommand, ModelApprovalStatus,
  type SageMakerClient,
} from "@aws-sdk/client-sagemaker";
import {
  DescribeExecutionCommand, type DescribeExecutionCommandOutput, ExecutionStatus, type HistoryEvent, paginateGetExecutionHistory,
  paginateListExecutions, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { RetryOptions } from "./aws";
import { retryingClient } from "./aws";
import { CliError, isError, UsageError } from "./cli";
import { deployHint, dropUndefined, endpointOf, formatDuration, type Stage, type StageConnection, type StageEndpoint } from "./stage-access";
import {
  APPROVAL_REJECTED_ERROR, canaryDeployerNames, CANARY_STATES, type CanaryExecutionInput, canaryResourceNames, ROLLED_BACK_ERROR,
} from "../../components/canary-contract";
import type { StepFunctionsCanarySpec } from "../../components/endpoint-spec";
import { type AccountRef, modelPackageGroupName, modelPackageVersionArn, stateMachineArn as arnOfStateMachine } from "../../components/names";
import { stackFileName } from "../../stacks/config/load";
import { checkModelPackageArn, registryAccountRef } from "../../stacks/config/schema";

/**
 * The canary deployer's side in the stage's account: which endpoints it deploys, the execution
 * input of one deployment (components/canary-contract.ts), starting and watching an execution of the
 * endpoint's state machine, the progress lines of its history, and the task token of a pending
 * approval. The CLI (scripts/deploy.ts) only parses arguments and prints.
 */

// ---------------------------------------------------------------------------------------------
// The endpoints of the stage that deploy with the state machine.
// ---------------------------------------------------------------------------------------------

/** The deployment strategy (`deployment.strategy` in the stack file) whose executions this tool starts. */
export const CANARY_STRATEGY = "step-functions-canary";

/** What the progress lines show of an endpoint's canary settings, as far as its stack file has them. */
export interface CanarySettings {
  /**
   * DescribeEndpoint polls before the state machine gives up waiting for InService ("poll 3 of 40").
   * @default - the count alone
   */
  readonly maxPolls?: number;
  /**
   * How long the canary bakes ("5m00s of 20m00s").
   * @default - the elapsed time alone
   */
  readonly bakeSeconds?: number;
  /**
   * Whether the state machine stops for a person's approval, and for how long.
   * @default - no approval
   */
  readonly approval?: { readonly timeoutSeconds?: number };
}

/** An endpoint of the stage that deploys with the canary state machine. */
export interface CanaryEndpoint extends StageEndpoint {
  /** The stack file that defines it (`Pulumi.<stage>.yaml`). */
  readonly stackFile: string;
  /** Its state machine (canaryStateMachineArn). */
  readonly stateMachineArn: string;
  readonly settings: CanarySettings;
}

/**
 * The ARN of an endpoint's canary state machine in the stage's account and region, named as the
 * component names it (components/canary-contract.ts canaryDeployerNames).
 */
export function canaryStateMachineArn(account: AccountRef, endpointName: string): string {
  return arnOfStateMachine(account, canaryDeployerNames(endpointName).stateMachine);
}

/** The deployment settings of an endpoint that deploys with the state machine, or undefined. */
function canarySpec(endpoint: StageEndpoint): StepFunctionsCanarySpec | undefined {
  const deployment = endpoint.config.deployment;
  return deployment.strategy === CANARY_STRATEGY ? deployment : undefined;
}

function toCanaryEndpoint(stage: Stage, endpoint: StageEndpoint, spec: StepFunctionsCanarySpec): CanaryEndpoint {
  return {
    ...endpoint,
    stackFile: stackFileName(stage.config.stage),
    stateMachineArn: canaryStateMachineArn(stage.account, endpoint.name),
    settings: dropUndefined({ maxPolls: spec.maxPolls, bakeSeconds: spec.bakeSeconds, approval: spec.approval }),
  };
}

/** Every endpoint of the stage with strategy step-functions-canary, in the stack file's order. */
export function canaryEndpoints(stage: Stage): CanaryEndpoint[] {
  return Object.keys(stage.config.endpoints).flatMap((key) => {
    const endpoint = endpointOf(stage, key);
    const spec = canarySpec(endpoint);
    return spec === undefined ? [] : [toCanaryEndpoint(stage, endpoint, spec)];
  });
}

/**
 * The endpoint `key` of the stage, which must deploy with strategy step-functions-canary: an unknown
 * key, or another strategy, is bad usage naming the stack file and the key.
 */
export function canaryEndpoint(stage: Stage, key: string): CanaryEndpoint {
  const endpoint = endpointOf(stage, key);
  const spec = canarySpec(endpoint);
  if (spec === undefined) {
    const file = stackFileName(stage.config.stage);
    const others = canaryEndpoints(stage).map((e) => e.key);
    throw new UsageError(`${file}: mlplatform:endpoints.${key}.deployment.strategy is ${endpoint.config.deployment.strategy}, not ${CANARY_STRATEGY}: `
      + "`pulumi up` deploys that endpoint itself; "
      + (others.length > 0 ? `the endpoints of ${file} that deploy with the state machine are ${others.join(", ")}`
        : `set deployment.strategy: ${CANARY_STRATEGY} there to deploy it with the state machine`));
  }
  return toCanaryEndpoint(stage, endpoint, spec);
}

// ---------------------------------------------------------------------------------------------
// The version and the execution input.
// ---------------------------------------------------------------------------------------------

/** A registry version: its model package ARN and its number. */
export interface DeployVersion {
  readonly arn: string;
  readonly number: number;
}

/** The number at the end of a versioned model package ARN. */
function versionNumberOf(arn: string): number {
  return Number(/\/(\d+)$/.exec(arn)?.[1] ?? "0");
}

/**
 * The version to deploy: `option` (--version: a model package ARN of the endpoint's model group in
 * the registry, or just its number), else the stack file's `source.version` of the endpoint.
 */
export function deployVersion(stage: Stage, endpoint: CanaryEndpoint, option?: string): DeployVersion {
  const { project, region } = stage.config;
  const registry = registryAccountRef(project, region);
  const group = modelPackageGroupName(project.serviceName, endpoint.config.model);
  if (option === undefined) {
    const source = endpoint.config.source;
    if (!("modelPackageArn" in source)) {
      throw new UsageError(`${endpoint.stackFile}: mlplatform:endpoints.${endpoint.key}.source is an image, not a registry version: `
        + "the canary deployer deploys registry versions; write source.version: <n> there, or pass --version");
    }
    return { arn: source.modelPackageArn, number: versionNumberOf(source.modelPackageArn) };
  }
  if (/^\d+$/.test(option)) {
    const number = Number(option);
    if (number < 1 || !Number.isSafeInteger(number)) throw new UsageError(`--version must be a version number of 1 or more, got ${option}`);
    return { arn: modelPackageVersionArn(registry, group, number), number };
  }
  const problem = checkModelPackageArn(option, { region, registryAccountId: registry.accountId, group });
  if (problem !== undefined) throw new UsageError(`--version ${problem}`);
  return { arn: option, number: versionNumberOf(option) };
}

/** `20261201t173000`: the UTC time to the second, lower case (deployment ids are). */
function utcStamp(at: Date): string {
  return at.toISOString().replace(/\.\d+Z$/, "").replace(/[-:]/g, "").toLowerCase();
}

/**
 * The id of one deployment, `v<version>-<UTC time>` (`v7-20261201t173000`): the execution's name
 * and the middle of the names of what it creates (canaryResourceNames).
 */
export function deploymentId(version: number, at: Date): string {
  return `v${version}-${utcStamp(at)}`;
}

/** The execution input of one deployment (canary-contract.ts): the version, the serving size from the stack file, the names. */
export function executionInput(endpoint: CanaryEndpoint, modelPackageArn: string, id: string): CanaryExecutionInput {
  const { instanceType, instanceCount } = endpoint.config;
  if (instanceType === undefined || instanceCount === undefined) {
    throw new CliError(`${endpoint.stackFile}: mlplatform:endpoints.${endpoint.key} has no instanceType and instanceCount: `
      + "the canary deployer serves a new version on instances; a serverless endpoint deploys with `pulumi up`");
  }
  return { modelPackageArn, instanceType, instanceCount, ...canaryResourceNames(endpoint.name, id) };
}

// ---------------------------------------------------------------------------------------------
// AWS calls.
// ---------------------------------------------------------------------------------------------

/**
 * A Step Functions client acting as the same role as the stage connection's clients (its
 * credentials, in the stage's region). StageConnection has no Step Functions client of its own.
 */
export function stageSfnClient(connection: StageConnection, region: string): SFNClient {
  // The scripts' single retry layer is retryingClient (scripts/lib/aws.ts).
  return new SFNClient({ region, credentials: connection.sagemaker.config.credentials, maxAttempts: 1 });
}

/** Errors of SageMaker for a model package that does not exist. */
const NO_SUCH_PACKAGE = /does not exist|could not find|not found/i;

/** Refuses a version the registry has not approved (the same rule as promote's), or that does not exist. */
export async function checkApproved(sagemaker: SageMakerClient, arn: string, retry: RetryOptions = {}): Promise<void> {
  const out = await retryingClient(sagemaker, retry).send(new DescribeModelPackageCommand({ ModelPackageName: arn })).catch((error: unknown) => {
    if (isError(error) && error.name === "ValidationException" && NO_SUCH_PACKAGE.test(error.message)) {
      throw new CliError(`the registry has no version ${arn}`);
    }
    throw error;
  });
  const status = out.ModelApprovalStatus ?? "Unknown";
  if (status !== ModelApprovalStatus.APPROVED) {
    throw new CliError(`${arn} is ${status}, not Approved: only approved versions are deployed (registry approve --arn ${arn}, by an approver)`);
  }
}

/** The running executions of a state machine; a state machine that does not exist is a CliError saying to deploy the stage. */
export async function runningExecutions(sfn: SFNClient, stateMachineArn: string, stage: string, retry: RetryOptions = {}): Promise<string[]> {
  const arns: string[] = [];
  try {
    const pages = paginateListExecutions({ client: retryingClient(sfn, retry) }, { stateMachineArn, statusFilter: ExecutionStatus.RUNNING });
    for await (const page of pages) for (const e of page.executions ?? []) if (e.executionArn !== undefined) arns.push(e.executionArn);
  } catch (error) {
    if (isError(error) && error.name === "StateMachineDoesNotExist") {
      throw new CliError(`the state machine ${stateMachineArn} does not exist: ${deployHint(stage)}`);
    }
    throw error;
  }
  return arns;
}

/**
 * Starts the execution `name`. Retries are safe: Step Functions starts a standard execution only
 * once per name, and answers a repeated request with the same name and input with the same execution.
 */
export async function startExecution(
  sfn: SFNClient, stateMachineArn: string, name: string, input: CanaryExecutionInput, retry: RetryOptions = {},
): Promise<{ executionArn: string; startDate?: Date }> {
  const out = await retryingClient(sfn, retry).send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }))
    .catch((error: unknown) => {
      if (isError(error) && error.name === "ExecutionAlreadyExists") {
        throw new CliError(`an execution named ${name} already exists on ${stateMachineArn}: start the deployment again a second later`);
      }
      throw error;
    });
  if (out.executionArn === undefined) throw new CliError("StartExecution returned no execution ARN");
  return { executionArn: out.executionArn, startDate: out.startDate };
}

/** An execution as Step Functions describes it; one that does not exist is a CliError. */
export async function describeExecution(sfn: SFNClient, executionArn: string, retry: RetryOptions = {}): Promise<DescribeExecutionCommandOutput> {
  return retryingClient(sfn, retry).send(new DescribeExecutionCommand({ executionArn })).catch((error: unknown) => {
    if (isError(error) && error.name === "ExecutionDoesNotExist") throw new CliError(`no execution ${executionArn}`);
    throw error;
  });
}

/** Every event of an execution's history, oldest first. */
export async function executionHistory(sfn: SFNClient, executionArn: string, retry: RetryOptions = {}): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory({ client: retryingClient(sfn, retry) }, { executionArn, maxResults: 1000 })) {
    events.push(...(page.events ?? []));
  }
  return events;
}

/**
 * The events of an execution's history after event `afterId`, oldest first: read newest first,
 * page by page, until a page reaches an event already seen, so a long history is not read again
 * on every poll.
 */
export async function historySince(sfn: SFNClient, executionArn: string, afterId: number, retry: RetryOptions = {}): Promise<HistoryEvent[]> {
  const newest: HistoryEvent[] = [];
  const pages = paginateGetExecutionHistory({ client: retryingClient(sfn, retry) }, { executionArn, reverseOrder: true, maxResults: 100 });
  for await (const page of pages) {
    const events = page.events ?? [];
    newest.push(...events.filter((e) => (e.id ?? 0) > afterId));
    if (events.some((e) => (e.id ?? 0) <= afterId)) break;
  }
  return newest.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

/**
 * The registry versions an endpoint serves now, one per production variant (DescribeEndpoint →
 * its endpoint config → each variant's model → its ModelPackageName), or undefined when the
 * endpoint does not exist. A variant whose model names no package counts as "".
 */
export async function servedVersions(
  sagemaker: SageMakerClient, endpoint: { name: string }, retry: RetryOptions = {},
): Promise<string[] | undefined> {
  const client = retryingClient(sagemaker, retry);
  const described = await client.send(new DescribeEndpointCommand({ EndpointName: endpoint.name })).catch((error: unknown) => {
    // An endpoint that does not exist serves nothing: the state machine's first deploy creates it.
    if (isError(error) && error.name === "ValidationException" && /could not find/i.test(error.message)) return undefined;
    throw error;
  });
  if (described === undefined) return undefined;
  const configName = described.EndpointConfigName;
  if (configName === undefined) return [];
  const config = await client.send(new DescribeEndpointConfigCommand({ EndpointConfigName: configName }));
  const versions: string[] = [];
  for (const variant of config.ProductionVariants ?? []) {
    const model = variant.ModelName === undefined ? undefined : await client.send(new DescribeModelCommand({ ModelName: variant.ModelName }));
    versions.push(model?.PrimaryContainer?.ModelPackageName ?? model?.Containers?.[0]?.ModelPackageName ?? "");
  }
  return versions;
}

/** `<group>/<version>` of a model package ARN or versioned name, to compare what SageMaker reports with the stack file. */
function packageKey(nameOrArn: string): string {
  return /([^/:]+\/\d+)$/.exec(nameOrArn)?.[1] ?? nameOrArn;
}

/** Whether the served versions are exactly `arn`: one variant, serving it (a canary left over serves two). */
export function servesOnly(served: readonly string[] | undefined, arn: string): boolean {
  return served !== undefined && served.length === 1 && packageKey(served[0]) === packageKey(arn);
}

/** A person's answer to an approval request. */
export type Decision = { readonly approve: true; readonly reason?: string } | { readonly approve: false; readonly reason: string };

/** Task errors that mean the approval request no longer waits. */
const ANSWERED = new Set(["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"]);

/** Sends the answer to a waiting approval: SendTaskSuccess, or SendTaskFailure with the reason as cause. */
export async function sendDecision(
  sfn: SFNClient, taskToken: string, decision: Decision, executionArn: string, retry: RetryOptions = {},
): Promise<void> {
  const client = retryingClient(sfn, retry);
  const sent = decision.approve
    ? client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(dropUndefined({ approved: true, reason: decision.reason })) }))
    : client.send(new SendTaskFailureCommand({ taskToken, error: APPROVAL_REJECTED_ERROR, cause: decision.reason }));
  await sent.catch((error: unknown) => {
    if (isError(error) && ANSWERED.has(error.name)) {
      throw new CliError(`the approval request of ${executionArn} no longer waits (${error.name}): it timed out or was answered meanwhile`);
    }
    throw error;
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the history.
// ---------------------------------------------------------------------------------------------

/** Parses JSON text; anything else stays as it is. */
function parseMaybeJson(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[{[]/.test(value)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/** The first value under a key that `match` accepts, anywhere in a JSON value (JSON strings inside it are read too). */
function findKey(value: unknown, match: (key: string, found: unknown) => boolean): unknown {
  const parsed = parseMaybeJson(value);
  if (typeof parsed !== "object" || parsed === null) return undefined;
  for (const [key, inner] of Object.entries(parsed)) {
    const v = parseMaybeJson(inner);
    if (match(key, v)) return v;
    const deeper = findKey(v, match);
    if (deeper !== undefined) return deeper;
  }
  return undefined;
}

/** The name of the state an event enters, if it is a `...StateEntered` event. */
function enteredState(event: HistoryEvent): string | undefined {
  return event.type?.endsWith("StateEntered") ? event.stateEnteredEventDetails?.name : undefined;
}

/** The name of the state an event leaves, if it is a `...StateExited` event. */
function exitedState(event: HistoryEvent): string | undefined {
  return event.type?.endsWith("StateExited") ? event.stateExitedEventDetails?.name : undefined;
}

/** An approval request the execution waits on now. */
export interface PendingApproval {
  readonly taskToken: string;
  /** When the execution entered CANARY_STATES.approval. */
  readonly since?: Date;
}

/**
 * The approval the execution waits on at the end of `events` (its whole history, oldest first): it
 * entered CANARY_STATES.approval, scheduled the task whose parameters carry the task token, and has
 * not left the state nor ended the task since.
 */
export function pendingApproval(events: readonly HistoryEvent[]): PendingApproval | undefined {
  let waiting: { enteredId?: number; since?: Date; taskToken?: string } | undefined;
  for (const event of events) {
    if (enteredState(event) === CANARY_STATES.approval) {
      waiting = { enteredId: event.id, since: event.timestamp };
    } else if (exitedState(event) === CANARY_STATES.approval) {
      waiting = undefined;
    } else if (waiting !== undefined && event.type === "TaskScheduled") {
      const token = findKey(event.taskScheduledEventDetails?.parameters, (key, v) => key.toLowerCase() === "tasktoken" && typeof v === "string");
      if (typeof token === "string") waiting.taskToken = token;
    } else if (waiting !== undefined && ["TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed"].includes(event.type ?? "")) {
      waiting = undefined;
    }
  }
  return waiting?.taskToken === undefined ? undefined : { taskToken: waiting.taskToken, since: waiting.since };
}

/** The commands that answer an approval request, for the progress line and --no-wait. */
export interface ApprovalCommands {
  readonly approve: string;
  readonly reject: string;
}

/** The first line of a task failure's cause, at most 300 characters. */
function shortCause(cause: string | undefined): string {
  const line = (cause ?? "").split("\n")[0];
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/**
 * Turns an execution's history into progress lines, event by event, as it grows. A line for each
 * state the first time it is entered (Choice states, which only branch, are left out), and for the
 * loops' wait states every time: the poll count in CANARY_STATES.pollWait (reset by every
 * CreateEndpoint or UpdateEndpoint), the bake time in CANARY_STATES.bakeWait. How to answer in
 * CANARY_STATES.approval; the canary alarms whenever what DescribeAlarms says changes; failed tasks
 * with their error. It also keeps the last state entered, whose name tells a promotion from a
 * first deploy.
 */
export class ProgressTracker {
  /** The last state the execution entered. */
  lastState: string | undefined;
  private readonly shown = new Set<string>();
  private polls = 0;
  private bakeStart: Date | undefined;
  /** The state filter of the last DescribeAlarms scheduled (the bake asks only for alarms in ALARM). */
  private alarmFilter: unknown;
  private alarms: string | undefined;

  constructor(private readonly settings: CanarySettings, private readonly answer: ApprovalCommands) {}

  /** The progress lines of the next events (oldest first), without a prefix. */
  lines(events: readonly HistoryEvent[]): string[] {
    return events.flatMap((event) => this.line(event));
  }

  private line(event: HistoryEvent): string[] {
    const state = enteredState(event);
    if (state !== undefined) {
      this.lastState = state;
      const loopWait = state === CANARY_STATES.pollWait || state === CANARY_STATES.bakeWait;
      if (event.type === "ChoiceStateEntered" || (!loopWait && this.shown.has(state))) return [];
      this.shown.add(state);
      return [this.stateLine(state, event.timestamp)];
    }
    switch (event.type) {
      case "ExecutionStarted":
        return [`started${event.timestamp ? ` at ${event.timestamp.toISOString()}` : ""}`];
      case "TaskScheduled": {
        const details = event.taskScheduledEventDetails;
        if (/^(create|update)Endpoint/.test(details?.resource ?? "")) this.polls = 0;
        if (details?.resource === "describeAlarms") this.alarmFilter = findKey(details.parameters, (key) => key === "StateValue");
        return [];
      }
      case "TaskSucceeded":
        return this.alarmLine(event);
      case "TaskFailed":
      case "TaskTimedOut":
      case "TaskStartFailed":
      case "TaskSubmitFailed": {
        const d = event.taskFailedEventDetails ?? event.taskTimedOutEventDetails ?? event.taskStartFailedEventDetails
          ?? event.taskSubmitFailedEventDetails;
        const cause = shortCause(d?.cause);
        return [`${d?.resource ?? "a task"} ${event.type === "TaskTimedOut" ? "timed out" : "failed"}: ${d?.error ?? event.type}${cause ? `: ${cause}` : ""}`];
      }
      default:
        return [];
    }
  }

  private stateLine(state: string, at: Date | undefined): string {
    switch (state) {
      case CANARY_STATES.pollWait: {
        this.polls += 1;
        return `${state}: waiting for InService, poll ${this.polls}${this.settings.maxPolls === undefined ? "" : ` of ${this.settings.maxPolls}`}`;
      }
      case CANARY_STATES.bakeWait: {
        this.bakeStart ??= at;
        const elapsed = at !== undefined && this.bakeStart !== undefined ? at.getTime() - this.bakeStart.getTime() : 0;
        const total = this.settings.bakeSeconds === undefined ? "" : ` of ${formatSeconds(this.settings.bakeSeconds)}`;
        return `${state}: baking the canary, ${formatSeconds(elapsed / 1000)}${total} elapsed`;
      }
      case CANARY_STATES.approval: {
        const timeout = this.settings.approval?.timeoutSeconds;
        return `${state}: approval requested: approve with "${this.answer.approve}", reject with "${this.answer.reject}"`
          + (timeout === undefined ? "" : `; without an answer it rolls back after ${formatSeconds(timeout)}`);
      }
      default:
        return state;
    }
  }

  /**
   * The canary alarms from a DescribeAlarms task's output (every alarm with its state, or, when the
   * call asked only for alarms in a state, those), when that differs from the last line shown.
   */
  private alarmLine(event: HistoryEvent): string[] {
    const details = event.taskSucceededEventDetails;
    if (!/(^|:)cloudwatch$/.test(details?.resourceType ?? "") || details?.resource !== "describeAlarms") return [];
    const output = parseMaybeJson(details.output) as { MetricAlarms?: unknown; CompositeAlarms?: unknown } | undefined;
    const alarms = [output?.MetricAlarms, output?.CompositeAlarms].flatMap((list) => (Array.isArray(list) ? list : []))
      .map((a: { AlarmName?: string; StateValue?: string }) => ({ name: a.AlarmName ?? "?", state: a.StateValue ?? "?" }));
    const filter = this.alarmFilter;
    const text = typeof filter === "string"
      ? (alarms.length === 0 ? `canary alarms: none in ${filter}` : `canary alarms in ${filter}: ${alarms.map((a) => a.name).join(", ")}`)
      : `canary alarms: ${alarms.length === 0 ? "none found" : alarms.map((a) => `${a.name} ${a.state}`).join(", ")}`;
    if (text === this.alarms) return [];
    this.alarms = text;
    return [text];
  }
}

/** `1h02m03s`, `4m05s`, `12s` from seconds. */
function formatSeconds(seconds: number): string {
  return formatDuration(seconds * 1000);
}

// ---------------------------------------------------------------------------------------------
// Watching and the outcome.
// ---------------------------------------------------------------------------------------------

/** How an execution is read while watching it (the CLI adds renewal of expired credentials). */
export interface ExecutionReader {
  describe(): Promise<DescribeExecutionCommandOutput>;
  /** Events after event `afterId`, oldest first. */
  eventsSince(afterId: number): Promise<HistoryEvent[]>;
}

/** How to wait between two looks at the execution. */
export interface WatchOptions {
  readonly pollIntervalMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Called with each progress line. */
  readonly onLine: (line: string) => void;
}

/**
 * Reads the execution's new history events and prints their progress lines until it is no longer
 * running; returns its last description. Describing before reading the history means the last
 * history read holds every event of an execution that has ended.
 */
export async function watchExecution(
  reader: ExecutionReader, tracker: ProgressTracker, options: WatchOptions,
): Promise<DescribeExecutionCommandOutput> {
  let lastId = 0;
  for (;;) {
    const execution = await reader.describe();
    const events = await reader.eventsSince(lastId);
    for (const line of tracker.lines(events)) options.onLine(line);
    lastId = events.reduce((max, e) => Math.max(max, e.id ?? 0), lastId);
    if (execution.status !== ExecutionStatus.RUNNING) return execution;
    await options.sleep(options.pollIntervalMs);
  }
}

/** How a deployment ended (or that it still runs). */
export type DeployOutcome = "running" | "promoted" | "first-deploy" | "succeeded" | "rolled-back" | "failed" | "timed-out" | "aborted";

/** The outcome of a described execution, with the reason of a rollback or failure. */
export function outcomeOf(
  execution: DescribeExecutionCommandOutput, lastState: string | undefined,
): { outcome: DeployOutcome; reason?: string } {
  switch (execution.status) {
    case ExecutionStatus.RUNNING:
    case ExecutionStatus.PENDING_REDRIVE:
      return { outcome: "running" };
    case ExecutionStatus.SUCCEEDED: {
      if (lastState === CANARY_STATES.promoted) return { outcome: "promoted" };
      if (lastState === CANARY_STATES.firstDeployed) return { outcome: "first-deploy" };
      return { outcome: "succeeded" };
    }
    case ExecutionStatus.FAILED: {
      const cause = execution.cause ?? "";
      const reason = findKey(cause, (key, v) => key === "reason" && typeof v === "string");
      const text = typeof reason === "string" ? reason : cause;
      if (execution.error === ROLLED_BACK_ERROR) return { outcome: "rolled-back", reason: text || "no reason given" };
      return { outcome: "failed", reason: `${execution.error ?? "unknown error"}${text ? `: ${text}` : ""}` };
    }
    case ExecutionStatus.TIMED_OUT:
      return { outcome: "timed-out", reason: "the execution ran past its timeout" };
    default:
      return { outcome: "aborted", reason: "the execution was stopped in Step Functions" };
  }
}

/** Whether an outcome is a success (exit 0). */
export function succeeded(outcome: DeployOutcome): boolean {
  return outcome === "promoted" || outcome === "first-deploy" || outcome === "succeeded" || outcome === "running";
}
