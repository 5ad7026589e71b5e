import type { DescribeExecutionCommandOutput, HistoryEvent, SFNClient } from "@aws-sdk/client-sfn";
import type { WaitingToolDeps } from "./lib/aws";
import {
  CliError, COMMON_OPTIONS, describeKnownError, EXIT, isError, parseOptions, print, required, runTool, table, UsageError,
} from "./lib/cli";
import {
  type ApprovalCommands, CANARY_STRATEGY, type CanaryEndpoint, canaryEndpoint, canaryEndpoints, checkApproved, type Decision, deploymentId,
  type DeployOutcome, deployVersion, describeExecution, executionHistory, executionInput, historySince, outcomeOf, pendingApproval,
  ProgressTracker, runningExecutions, sendDecision, servedVersions, servesOnly, stageSfnClient, startExecution, succeeded, watchExecution,
} from "./lib/deploy";
import {
  dropUndefined, formatDuration, isExpiredCredentials, processInterrupt, type Stage, STAGE_ACCESS_HELP, STAGE_ACCESS_OPTIONS, type StageAccessValues,
  type StageConnection, type StagePurpose, StageToolSession,
} from "./lib/stage-access";
import { CANARY_STATES } from "../components/canary-contract";
import { stackFileName } from "../stacks/config/load";

/**
 * `deploy`: deploys registry versions to the endpoints whose stack file says strategy
 * step-functions-canary, by starting an execution of the endpoint's canary state machine, and
 * streams its progress until it ends; answers its approval requests. Steps in scripts/lib/deploy.ts.
 */

const TOOL = "deploy";

/** What main() can be given instead of the real thing: tests pass a clock, a fast sleep and a fake Ctrl-C. */
export interface DeployDeps extends WaitingToolDeps {
  /** @default stageSfnClient: the stage connection's credentials */
  readonly createSfnClient?: (connection: StageConnection, region: string) => SFNClient;
}

const DEFAULT_POLL_MS = 15_000;

const ACCESS_OPTIONS = { ...COMMON_OPTIONS, ...STAGE_ACCESS_OPTIONS, stage: { type: "string" }, endpoint: { type: "string" } } as const;
const START_OPTIONS = { ...ACCESS_OPTIONS, "version": { type: "string" }, "pending": { type: "boolean" }, "no-wait": { type: "boolean" } } as const;
const WATCH_OPTIONS = { ...ACCESS_OPTIONS, execution: { type: "string" } } as const;
const ANSWER_OPTIONS = { ...WATCH_OPTIONS, reason: { type: "string" } } as const;

const COMMON_HELP = [
  "  --stage STAGE       One of the stages of Pulumi.yaml",
  ...STAGE_ACCESS_HELP,
  "  --json              Print one JSON object at the end",
  "  -h, --help          Show this help",
];
const ENDPOINT_HELP = `  --endpoint KEY      An endpoint of the stage's stack file (mlplatform:endpoints.<KEY>) with strategy ${CANARY_STRATEGY}`;
const EXECUTION_HELP = "  --execution ARN     The execution (default: the one running on the endpoint's state machine)";

const command = (words: string) => `npx projen ${TOOL} ${words}`;
const watchCommand = (stage: string, key: string) => command(`watch --stage ${stage} --endpoint ${key}`);
const answerCommands = (stage: string, key: string): ApprovalCommands => ({
  approve: command(`approve --stage ${stage} --endpoint ${key}`),
  reject: command(`reject --stage ${stage} --endpoint ${key} --reason "<why>"`),
});

const FLOW = [
  `Each endpoint with strategy ${CANARY_STRATEGY} in its stack file (deployment.strategy) has a state machine,`,
  "<endpoint>-canary-deployer, in the stage's account: `pulumi up` creates the endpoint and the state machine, and each",
  "later version reaches the endpoint through an execution of it. An execution creates the version's model,",
  "serves it on a canary variant beside the current one (a share of the traffic), bakes it while the canary",
  "alarms are watched, waits for a person's approval when the stack file asks for one, and then serves it",
  "alone; an alarm, a failed update, a rejection or a timeout returns the endpoint to its previous config.",
];

const HELP: Record<"start" | "watch" | "approve" | "reject", readonly string[]> = {
  start: [
    `Usage: ${TOOL} --stage STAGE --endpoint KEY [--version ARN|N] [--no-wait] [options]`,
    `       ${TOOL} --stage STAGE --pending [options]`,
    `       ${TOOL} watch|approve|reject --stage STAGE --endpoint KEY [options]   (${TOOL} <command> --help)`,
    "",
    ...FLOW,
    "",
    "Starts an execution for a registry version (it must be Approved) and prints its progress on stderr until",
    "it ends: each state entered, the polls of the endpoint's status, the bake time, the canary alarms, an",
    "approval request with the commands that answer it, and the outcome.",
    "",
    ENDPOINT_HELP,
    "  --version ARN|N     The model package ARN of a version of the endpoint's model group in the registry, or its",
    "                      number (default: the stack file's source.version of the endpoint)",
    "  --pending           Every endpoint of the stage with this strategy, one after another, that does not serve its",
    "                      stack file's version yet; stops at the first that does not succeed. With none, does nothing.",
    "                      The deploy workflow runs this after `pulumi up` of each stage.",
    "  --no-wait           Start the execution, print how to watch and answer it, and return",
    ...COMMON_HELP,
    "",
    "Ctrl-C stops watching, not the deployment: it goes on in Step Functions (watch it again with deploy watch).",
    "",
    "Exit codes: 0 the version serves all traffic (or the execution started, with --no-wait; or nothing was pending),",
    "            1 rolled back, failed, or refused, 2 bad usage.",
    "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
  ],
  watch: [
    `Usage: ${TOOL} watch --stage STAGE --endpoint KEY [--execution ARN] [options]`,
    "",
    "Prints the progress of a deployment from its start (the one running, or --execution) until it ends, and its outcome.",
    "",
    ENDPOINT_HELP,
    EXECUTION_HELP,
    ...COMMON_HELP,
    "",
    "Exit codes: 0 the version serves all traffic, 1 rolled back, failed, or nothing runs, 2 bad usage.",
  ],
  approve: [
    `Usage: ${TOOL} approve --stage STAGE --endpoint KEY [--execution ARN] [--reason TEXT] [options]`,
    "",
    `Approves the deployment that waits in ${CANARY_STATES.approval}: its canary then takes all traffic. The task token`,
    "comes from the execution's history; nobody needs to copy it.",
    "",
    ENDPOINT_HELP,
    EXECUTION_HELP,
    "  --reason TEXT       Why, passed on to the execution",
    ...COMMON_HELP,
    "",
    "Runs as the stage's deployer role by default, which only CI may assume: a person passes --role-arn with a role",
    "of the stage's account that may list and read the state machine's executions and send task results.",
    "",
    "Exit codes: 0 answered, 1 nothing waits for approval, or refused, 2 bad usage.",
  ],
  reject: [
    `Usage: ${TOOL} reject --stage STAGE --endpoint KEY --reason TEXT [--execution ARN] [options]`,
    "",
    `Rejects the deployment that waits in ${CANARY_STATES.approval}: the endpoint returns to its previous config, and the`,
    "reason becomes the rollback's reason (in the notification and the execution's cause).",
    "",
    ENDPOINT_HELP,
    EXECUTION_HELP,
    "  --reason TEXT       Why (required)",
    ...COMMON_HELP,
    "",
    "Runs as the stage's deployer role by default, which only CI may assume: a person passes --role-arn with a role",
    "of the stage's account that may list and read the state machine's executions and send task results.",
    "",
    "Exit codes: 0 answered, 1 nothing waits for approval, or refused, 2 bad usage.",
  ],
};

/** For the messages of connectToStage. */
const PURPOSE: StagePurpose = {
  rights: "that may start and read executions of the endpoint's state machine and send their task results",
  uses: "endpoints and state machines",
};


/** The stage's clients as the role the tool acts as; renewed together when the credentials expire. */
class StageClients {
  sfn: SFNClient;
  constructor(readonly connection: StageConnection, private readonly makeSfn: (connection: StageConnection) => SFNClient) {
    this.sfn = makeSfn(connection);
  }

  async reconnect(): Promise<void> {
    await this.connection.reconnect();
    this.sfn = this.makeSfn(this.connection);
  }
}

/** One deployment as the tool reports it. */
interface DeployReport {
  readonly stage: string;
  /** The endpoint's key in the stack file. */
  readonly endpoint: string;
  readonly endpointName: string;
  readonly version?: string;
  readonly executionArn: string;
  readonly status: string;
  readonly outcome: DeployOutcome;
  readonly reason?: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
  readonly durationSeconds?: number;
}

const OUTCOME_TEXT: Record<DeployOutcome, string> = {
  "running": "started, running",
  "promoted": "promoted: the version serves all traffic",
  "first-deploy": "first deploy: the endpoint was created with the version",
  "succeeded": "succeeded",
  "rolled-back": "rolled back: the endpoint serves its previous config",
  "failed": "failed",
  "timed-out": "timed out",
  "aborted": "stopped",
};

function reportLines(r: DeployReport): string[] {
  const rows: [string, string | undefined][] = [
    ["endpoint", `${r.endpointName} (${r.endpoint})`],
    ["version", r.version],
    ["execution", r.executionArn],
    ["outcome", OUTCOME_TEXT[r.outcome]],
    ["reason", r.reason],
    ["duration", r.durationSeconds === undefined ? undefined : formatDuration(r.durationSeconds * 1000)],
  ];
  return table(rows.filter((row): row is [string, string] => row[1] !== undefined));
}

/** The version an execution deploys, from its input. */
function versionOfInput(input: string | undefined): string | undefined {
  try {
    const parsed = JSON.parse(input ?? "{}") as { modelPackageArn?: unknown };
    return typeof parsed.modelPackageArn === "string" ? parsed.modelPackageArn : undefined;
  } catch {
    return undefined;
  }
}

class Session extends StageToolSession<DeployDeps> {
  constructor(deps: DeployDeps) {
    super(TOOL, deps, PURPOSE, HELP);
  }

  /** The stage's clients, Step Functions among them, as the stage's deployer role (or --role-arn). */
  async clients(stage: Stage, values: StageAccessValues): Promise<StageClients> {
    const connection = await this.connect(stage, values);
    const region = stage.config.region;
    return new StageClients(connection, (c) => (this.deps.createSfnClient ?? stageSfnClient)(c, region));
  }

  /** `fn`, run again once as a renewed role when the credentials expired meanwhile. */
  async renewing<T>(clients: StageClients, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!isError(error) || !isExpiredCredentials(error)) throw error;
      this.io.err(`${TOOL}: the credentials expired while watching; connecting again`);
      await clients.reconnect();
      return fn();
    }
  }

  /** Streams an execution's progress on stderr until it ends; returns its report. */
  async follow(clients: StageClients, stage: Stage, endpoint: CanaryEndpoint, executionArn: string): Promise<DeployReport> {
    const { io } = this;
    const stageName = stage.config.stage;
    const watch = watchCommand(stageName, endpoint.key);
    const tracker = new ProgressTracker(endpoint.settings, answerCommands(stageName, endpoint.key));
    const unregister = (this.deps.onInterrupt ?? processInterrupt)(() => {
      io.err(`${TOOL}: interrupted: the deployment of ${endpoint.name} goes on in Step Functions (${executionArn}); watch it again with "${watch}"`);
    });
    let execution: DescribeExecutionCommandOutput;
    try {
      execution = await watchExecutionWith(this, clients, executionArn, tracker, (line) => io.err(`${TOOL}: ${endpoint.name}: ${line}`));
    } catch (error) {
      const known = describeKnownError(error);
      if (known === undefined) throw error;
      throw new CliError(`stopped watching ${executionArn}: ${known}; the deployment goes on in Step Functions: watch it again with "${watch}"`);
    } finally {
      unregister();
    }
    const { outcome, reason } = outcomeOf(execution, tracker.lastState);
    const leftOver = outcome === "aborted" || outcome === "timed-out"
      ? `; the endpoint may still serve the canary beside the previous version: check it with "npx projen variants list --stage ${stageName} --endpoint ${endpoint.key}"`
      : "";
    const start = execution.startDate;
    const stop = execution.stopDate;
    return dropUndefined({
      stage: stageName,
      endpoint: endpoint.key,
      endpointName: endpoint.name,
      version: versionOfInput(execution.input),
      executionArn,
      status: execution.status ?? "UNKNOWN",
      outcome,
      reason: reason === undefined ? undefined : `${reason}${leftOver}`,
      startedAt: start?.toISOString(),
      endedAt: stop?.toISOString(),
      durationSeconds: start !== undefined && stop !== undefined ? Math.round((stop.getTime() - start.getTime()) / 1000) : undefined,
    });
  }

  /** Checks the version, refuses a second deployment beside a running one, starts the execution. */
  async start(clients: StageClients, stage: Stage, endpoint: CanaryEndpoint, version: string, number: number): Promise<string> {
    const { retry, sagemaker } = clients.connection;
    const stageName = stage.config.stage;
    // Every offline step before the first AWS call.
    const id = deploymentId(number, this.now());
    const input = executionInput(endpoint, version, id);
    await checkApproved(sagemaker, version, retry);
    const running = await runningExecutions(clients.sfn, endpoint.stateMachineArn, stageName, retry);
    if (running.length > 0) {
      throw new CliError(`a deployment of ${endpoint.name} is already running (${running.join(", ")}): `
        + `watch it with "${watchCommand(stageName, endpoint.key)}" and start this one after it has ended`);
    }
    const { executionArn } = await startExecution(clients.sfn, endpoint.stateMachineArn, id, input, retry);
    this.io.err(`${TOOL}: ${endpoint.name}: started ${id}, version ${version} on ${input.instanceCount} x ${input.instanceType} (${executionArn})`);
    return executionArn;
  }
}

/** watchExecution, reading with credentials renewed when they expire. */
async function watchExecutionWith(
  session: Session, clients: StageClients, executionArn: string, tracker: ProgressTracker, onLine: (line: string) => void,
): Promise<DescribeExecutionCommandOutput> {
  const retry = clients.connection.retry;
  return watchExecution({
    describe: () => session.renewing(clients, () => describeExecution(clients.sfn, executionArn, retry)),
    eventsSince: (afterId: number): Promise<HistoryEvent[]> =>
      session.renewing(clients, () => historySince(clients.sfn, executionArn, afterId, retry)),
  }, tracker, {
    pollIntervalMs: session.deps.pollIntervalMs ?? DEFAULT_POLL_MS,
    sleep: session.deps.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    onLine,
  });
}

/** The execution a command names (--execution, which must belong to the endpoint's state machine), or the running ones. */
async function targetExecutions(clients: StageClients, stage: Stage, endpoint: CanaryEndpoint, option: string | undefined): Promise<string[]> {
  if (option !== undefined) {
    const prefix = `${endpoint.stateMachineArn.replace(":stateMachine:", ":execution:")}:`;
    if (!option.startsWith(prefix)) throw new UsageError(`--execution must be an execution of ${endpoint.stateMachineArn} (${prefix}<name>), got "${option}"`);
    return [option];
  }
  return runningExecutions(clients.sfn, endpoint.stateMachineArn, stage.config.stage, clients.connection.retry);
}

async function startCommand(args: readonly string[], session: Session): Promise<number> {
  const v = parseOptions(args, START_OPTIONS);
  if (v.help) return session.help("start");
  if (v.pending) return pendingCommand(v, session);
  const stage = session.stage(v.stage);
  const endpoint = canaryEndpoint(stage, required(v.endpoint, "endpoint"));
  const version = deployVersion(stage, endpoint, v.version);
  const clients = await session.clients(stage, v);
  const executionArn = await session.start(clients, stage, endpoint, version.arn, version.number);
  const stageName = stage.config.stage;

  if (v["no-wait"]) {
    const answer = answerCommands(stageName, endpoint.key);
    const report = { stage: stageName, endpoint: endpoint.key, endpointName: endpoint.name, version: version.arn, executionArn, status: "RUNNING", outcome: "running" };
    print(session.io, v.json, report, (r) => [
      `started the deployment of ${r.version} to ${r.endpointName} (${r.executionArn})`,
      `watch it:   ${watchCommand(stageName, endpoint.key)}`,
      ...(endpoint.settings.approval === undefined ? [] : [`approve it: ${answer.approve}`, `reject it:  ${answer.reject}`]),
    ]);
    return EXIT.ok;
  }
  const report = await session.follow(clients, stage, endpoint, executionArn);
  return finish(session, v.json, report);
}

/** Prints a report and returns its exit code, saying on stderr why a deployment did not succeed. */
function finish(session: Session, json: boolean | undefined, report: DeployReport): number {
  print(session.io, json, report, reportLines);
  if (succeeded(report.outcome)) return EXIT.ok;
  session.io.err(`${TOOL}: ${report.endpointName} ${report.outcome}: ${report.reason ?? "no reason given"}`);
  return EXIT.failure;
}

/** One endpoint in `--pending`. */
interface PendingResult {
  readonly endpoint: string;
  readonly endpointName: string;
  readonly version: string;
  /** Served already; deployed (see outcome); or not run after an earlier endpoint did not succeed. */
  readonly action: "already-served" | "deployed" | "not-run";
  readonly outcome?: DeployOutcome;
  readonly executionArn?: string;
  readonly reason?: string;
}

async function pendingCommand(v: ReturnType<typeof parseOptions<typeof START_OPTIONS>>, session: Session): Promise<number> {
  for (const option of ["endpoint", "version", "no-wait"] as const) {
    if (v[option] !== undefined) throw new UsageError(`--pending deploys every endpoint's stack file version, one after another: it takes no --${option}`);
  }
  const stage = session.stage(v.stage);
  const stageName = stage.config.stage;
  const endpoints = canaryEndpoints(stage).map((endpoint) => ({ endpoint, version: deployVersion(stage, endpoint) }));
  if (endpoints.length === 0) {
    print(session.io, v.json, { stage: stageName, endpoints: [] }, () => [
      `no endpoint of ${stackFileName(stageName)} deploys with strategy ${CANARY_STRATEGY}: nothing to deploy`,
    ]);
    return EXIT.ok;
  }
  const clients = await session.clients(stage, v);
  const results: PendingResult[] = [];
  let stopped: string | undefined;
  for (const { endpoint, version } of endpoints) {
    const base = { endpoint: endpoint.key, endpointName: endpoint.name, version: version.arn };
    if (stopped !== undefined) {
      results.push({ ...base, action: "not-run", reason: `stopped after ${stopped}` });
      continue;
    }
    const served = await servedVersions(clients.connection.sagemaker, { name: endpoint.name }, clients.connection.retry);
    if (servesOnly(served, version.arn)) {
      session.io.err(`${TOOL}: ${endpoint.name}: already serves ${version.arn}; nothing to deploy`);
      results.push({ ...base, action: "already-served" });
      continue;
    }
    const executionArn = await session.start(clients, stage, endpoint, version.arn, version.number);
    const report = await session.follow(clients, stage, endpoint, executionArn);
    results.push(dropUndefined({ ...base, action: "deployed" as const, outcome: report.outcome, executionArn, reason: report.reason }));
    if (!succeeded(report.outcome)) stopped = `${endpoint.key} ${report.outcome}`;
  }
  print(session.io, v.json, { stage: stageName, endpoints: results }, (r) => table(r.endpoints.map((e) => [
    e.endpoint,
    e.version,
    e.action === "already-served" ? "already served" : e.action === "not-run" ? `not run (${e.reason ?? ""})` : OUTCOME_TEXT[e.outcome ?? "succeeded"],
  ])));
  const failed = results.find((r) => r.outcome !== undefined && !succeeded(r.outcome));
  if (failed === undefined) return EXIT.ok;
  session.io.err(`${TOOL}: ${failed.endpointName} ${failed.outcome}: ${failed.reason ?? "no reason given"}`);
  return EXIT.failure;
}

async function watchCommandRun(args: readonly string[], session: Session): Promise<number> {
  const v = parseOptions(args, WATCH_OPTIONS);
  if (v.help) return session.help("watch");
  const stage = session.stage(v.stage);
  const endpoint = canaryEndpoint(stage, required(v.endpoint, "endpoint"));
  const clients = await session.clients(stage, v);
  const executions = await targetExecutions(clients, stage, endpoint, v.execution);
  if (executions.length === 0) throw new CliError(`no deployment of ${endpoint.name} is running; pass --execution to watch one that has ended`);
  const report = await session.follow(clients, stage, endpoint, executions[0]);
  return finish(session, v.json, report);
}

function answerCommand(approve: boolean): (args: readonly string[], session: Session) => Promise<number> {
  return async (args, session) => {
    const v = parseOptions(args, ANSWER_OPTIONS);
    if (v.help) return session.help(approve ? "approve" : "reject");
    const stage = session.stage(v.stage);
    const endpoint = canaryEndpoint(stage, required(v.endpoint, "endpoint"));
    const decision: Decision = approve ? { approve: true, reason: v.reason } : { approve: false, reason: required(v.reason, "reason") };
    const clients = await session.clients(stage, v);
    const retry = clients.connection.retry;
    const candidates = await targetExecutions(clients, stage, endpoint, v.execution);
    const waiting: { executionArn: string; taskToken: string; since?: Date }[] = [];
    for (const executionArn of candidates) {
      const pending = pendingApproval(await executionHistory(clients.sfn, executionArn, retry));
      if (pending !== undefined) waiting.push({ executionArn, ...pending });
    }
    if (waiting.length === 0) {
      const what = candidates.length === 0 ? "no deployment of it is running" : `${candidates.join(", ")} is not in ${CANARY_STATES.approval}`;
      throw new CliError(`nothing waits for approval on ${endpoint.name}: ${what}`);
    }
    if (waiting.length > 1) {
      throw new CliError(`${waiting.length} deployments of ${endpoint.name} wait for approval: choose one with --execution (${waiting.map((w) => w.executionArn).join(", ")})`);
    }
    const [target] = waiting;
    await sendDecision(clients.sfn, target.taskToken, decision, target.executionArn, retry);
    const report = dropUndefined({
      stage: stage.config.stage,
      endpoint: endpoint.key,
      endpointName: endpoint.name,
      executionArn: target.executionArn,
      decision: approve ? "approved" : "rejected",
      reason: decision.reason,
      waitingSince: target.since?.toISOString(),
    });
    print(session.io, v.json, report, (r) => [
      approve ? `approved ${r.executionArn}: the canary of ${r.endpointName} now takes all traffic`
        : `rejected ${r.executionArn}: ${r.endpointName} returns to its previous config`,
      `watch it: ${watchCommand(r.stage, r.endpoint)}`,
    ]);
    return EXIT.ok;
  };
}

const COMMANDS: Record<string, (args: readonly string[], session: Session) => Promise<number>> = {
  watch: watchCommandRun,
  approve: answerCommand(true),
  reject: answerCommand(false),
};

/** `deploy [watch|approve|reject] [options]`: returns the exit code. */
export async function main(argv: readonly string[], deps: DeployDeps = {}): Promise<number> {
  const session = new Session(deps);
  return runTool(TOOL, session.io, async () => {
    const [first, ...rest] = argv;
    if (first !== undefined && Object.prototype.hasOwnProperty.call(COMMANDS, first)) return COMMANDS[first](rest, session);
    if (first !== undefined && !first.startsWith("-")) {
      throw new UsageError(`unknown command "${first}"; the commands are ${Object.keys(COMMANDS).join(", ")}, or none to start a deployment`);
    }
    return startCommand(argv, session);
  });
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
