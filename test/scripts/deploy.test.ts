import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DescribeEndpointCommand, DescribeEndpointConfigCommand, DescribeModelCommand, DescribeModelPackageCommand, SageMakerClient,
  SageMakerServiceException,
} from "@aws-sdk/client-sagemaker";
import {
  DescribeExecutionCommand, type DescribeExecutionCommandOutput, GetExecutionHistoryCommand, type GetExecutionHistoryCommandInput,
  type HistoryEvent, ListExecutionsCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, SFNServiceException,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { Project, Testing } from "projen";
import { APPROVAL_REJECTED_ERROR, CANARY_STATES, canaryResourceNames, ROLLED_BACK_ERROR } from "../../components/canary-contract";
import { addScriptTasks } from "../../projen/script-tasks";
import { type DeployDeps, main } from "../../scripts/deploy";
import { type CanaryEndpoint, deploymentId, deployVersion, executionInput, pendingApproval } from "../../scripts/lib/deploy";
import { readStage } from "../../scripts/lib/stage-access";
import { FIXTURE_STAGES } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { copyProject, endpointPath } from "../support/stack-files";

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);
const sfn = mockClient(SFNClient);

// ---------------------------------------------------------------------------------------------
// The project: the fixture's first stage, its first model's endpoint moved to the canary deployer
// (with an approval), a second canary endpoint beside it, and the fixture's other endpoint as it is.
// ---------------------------------------------------------------------------------------------

const STAGE = FIXTURE_STAGES[0];
const [MODEL, OTHER_MODEL] = FIXTURE.models;
/** The fixture names each endpoint after its model. */
const KEY = MODEL;
const SECOND = `${MODEL}-b`;
const NOT_CANARY = OTHER_MODEL;
const VERSION = 12;
const SECOND_VERSION = 3;
const INSTANCE_TYPE = "ml.m5.xlarge";
const INSTANCE_COUNT = 2;
const MAX_POLLS = 40;
const BAKE_SECONDS = 600;
const APPROVAL_TIMEOUT_SECONDS = 3600;

const ACCOUNT = FIXTURE.accounts[STAGE];
/** The fixture's registry lives in the first stage's account (registryStage). */
const REGISTRY_ACCOUNT = FIXTURE.accounts.sandbox;
const REGION = FIXTURE.region;
const STACK_FILE = `Pulumi.${STAGE}.yaml`;

const endpointName = (key: string) => `${FIXTURE.serviceName}-${key}`;
const stateMachine = (key: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${endpointName(key)}-canary-deployer`;
const executionArn = (key: string, name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:execution:${endpointName(key)}-canary-deployer:${name}`;
const versionArn = (n: number, model: string = MODEL) => `arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/${FIXTURE.serviceName}-${model}/${n}`;
const deployerRole = `arn:aws:iam::${ACCOUNT}:role/${FIXTURE.serviceName}-${STAGE}-deployer`;

let dir: string;
let cleanup: () => void;

function project(approval = true): void {
  ({ dir, cleanup } = copyProject(STAGE, {
    stack: (doc) => {
      const canary = { strategy: "step-functions-canary", maxPolls: MAX_POLLS, bakeSeconds: BAKE_SECONDS };
      doc.setIn(endpointPath(KEY, "source"), doc.createNode({ version: VERSION }));
      doc.setIn(endpointPath(KEY, "instanceType"), INSTANCE_TYPE);
      doc.setIn(endpointPath(KEY, "instanceCount"), INSTANCE_COUNT);
      doc.setIn(endpointPath(KEY, "deployment"), doc.createNode(approval ? { ...canary, approval: { timeoutSeconds: APPROVAL_TIMEOUT_SECONDS } } : canary));
      doc.setIn(endpointPath(SECOND), doc.createNode({
        model: MODEL, source: { version: SECOND_VERSION }, instanceType: INSTANCE_TYPE, instanceCount: 1, deployment: canary,
      }));
    },
  }));
}

// ---------------------------------------------------------------------------------------------
// A fake Step Functions: each execution reveals its history one batch per DescribeExecution.
// ---------------------------------------------------------------------------------------------

const START = new Date("2026-03-04T05:06:07.000Z");
const EXECUTION = `v${VERSION}-20260304t050607`;

/** A history event without its id; `at` is seconds after START. */
type Event = Omit<HistoryEvent, "id" | "timestamp"> & { at?: number };

const entered = (name: string, at = 0, type = "TaskStateEntered"): Event => ({ type: type as HistoryEvent["type"], at, stateEnteredEventDetails: { name } });
const exited = (name: string, at = 0, type = "TaskStateExited"): Event => ({ type: type as HistoryEvent["type"], at, stateExitedEventDetails: { name } });
const waitEntered = (name: string, at: number) => entered(name, at, "WaitStateEntered");
const scheduled = (resourceType: string, resource: string, parameters: object = {}): Event => ({
  type: "TaskScheduled", taskScheduledEventDetails: { resourceType, resource, region: REGION, parameters: JSON.stringify(parameters) },
});
const taskSucceeded = (resourceType: string, resource: string, output: object): Event => ({
  type: "TaskSucceeded", taskSucceededEventDetails: { resourceType, resource, output: JSON.stringify(output) },
});
/** A DescribeAlarms task, scheduled and answered with these alarms; `stateValue` filters the call as the bake does. */
const alarms = (states: [string, string][], stateValue?: string): Event[] => [
  scheduled("aws-sdk:cloudwatch", "describeAlarms", { AlarmNames: ["canary-5xx", "canary-latency"], ...(stateValue === undefined ? {} : { StateValue: stateValue }) }),
  taskSucceeded("aws-sdk:cloudwatch", "describeAlarms", { MetricAlarms: states.map(([AlarmName, StateValue]) => ({ AlarmName, StateValue })) }),
];
const started: Event = { type: "ExecutionStarted", at: 0 };

/** How a fake execution ends. */
type Final = Pick<DescribeExecutionCommandOutput, "status" | "error" | "cause">;

interface Scenario {
  readonly batches: Event[][];
  readonly final: Final;
  /** Batches visible before the first DescribeExecution (approve and reject read the history only). */
  readonly visible?: number;
}

/** Scenarios by state machine ARN, and the running executions ListExecutions reports. */
let scenarios: Map<string, Scenario>;
let running: string[];
let sleeps: number[];

const stateMachineOf = (arn: string) => arn.split(":").slice(0, 7).join(":").replace(":execution:", ":stateMachine:");

function numbered(batches: Event[][], upTo: number): HistoryEvent[] {
  return batches.slice(0, upTo).flat().map(({ at, ...event }, i) => ({
    ...event, id: i + 1, previousEventId: i, timestamp: new Date(START.getTime() + (at ?? 0) * 1000),
  }));
}

function fakeStepFunctions(): void {
  const revealed = new Map<string, number>();
  const inputs = new Map<string, string>();
  const visible = (arn: string) => revealed.get(arn) ?? scenarios.get(stateMachineOf(arn))?.visible ?? 0;
  sfn.on(StartExecutionCommand).callsFake((input: { stateMachineArn: string; name: string; input: string }) => {
    const arn = `${input.stateMachineArn.replace(":stateMachine:", ":execution:")}:${input.name}`;
    inputs.set(arn, input.input);
    return { executionArn: arn, startDate: START };
  });
  sfn.on(DescribeExecutionCommand).callsFake(({ executionArn: arn }: { executionArn: string }) => {
    const scenario = scenarios.get(stateMachineOf(arn))!;
    const shown = Math.min(visible(arn) + 1, scenario.batches.length);
    revealed.set(arn, shown);
    const done = shown === scenario.batches.length;
    const last = numbered(scenario.batches, shown).pop();
    return {
      executionArn: arn,
      stateMachineArn: stateMachineOf(arn),
      input: inputs.get(arn),
      startDate: START,
      ...(done ? { ...scenario.final, stopDate: last?.timestamp } : { status: "RUNNING" }),
    };
  });
  sfn.on(GetExecutionHistoryCommand).callsFake((input: GetExecutionHistoryCommandInput) => {
    const arn = input.executionArn!;
    const events = numbered(scenarios.get(stateMachineOf(arn))!.batches, visible(arn));
    if (input.reverseOrder) events.reverse();
    const from = Number(input.nextToken ?? "0");
    const size = input.maxResults ?? 100;
    const next = from + size < events.length ? String(from + size) : undefined;
    return { events: events.slice(from, from + size), ...(next === undefined ? {} : { nextToken: next }) };
  });
  sfn.on(ListExecutionsCommand).callsFake((input: { stateMachineArn: string }) => ({
    executions: running.filter((arn) => stateMachineOf(arn) === input.stateMachineArn)
      .map((arn) => ({ executionArn: arn, stateMachineArn: input.stateMachineArn, name: arn.split(":").pop(), status: "RUNNING", startDate: START })),
  }));
}

/**
 * A healthy deployment: the alarms exist, the canary update takes two polls, two looks at the alarms
 * during the bake find none in ALARM, the promotion's update takes one poll.
 */
function healthy(): Scenario {
  const poll = (at: number) => [waitEntered(CANARY_STATES.pollWait, at), entered("DescribeEndpoint", at + 30), entered("IsInService", at + 30, "ChoiceStateEntered")];
  const look = (at: number) => [waitEntered(CANARY_STATES.bakeWait, at), entered("LookAtAlarms", at + 60), ...alarms([], "ALARM"),
    entered("CountBake", at + 60, "PassStateEntered"), entered("CheckBake", at + 60, "ChoiceStateEntered")];
  return {
    batches: [
      [started, entered("CreateModel"), scheduled("aws-sdk:sagemaker", "createModel"), entered("CheckCanaryAlarms"),
        ...alarms([["canary-5xx", "OK"], ["canary-latency", "INSUFFICIENT_DATA"]]), entered("UpdateToCanary", 10),
        scheduled("aws-sdk:sagemaker", "updateEndpoint"), ...poll(10)],
      poll(40),
      [...look(100), ...look(400)],
      [entered("UpdateToPromoted", 700), scheduled("aws-sdk:sagemaker", "updateEndpoint"), ...poll(700),
        entered(CANARY_STATES.promoted, 900, "SucceedStateEntered"), { type: "ExecutionSucceeded", at: 900 }],
    ],
    final: { status: "SUCCEEDED" },
  };
}

/** A bake whose latency alarm fires: rolled back. */
function rollback(reason: string): Scenario {
  return {
    batches: [
      [started, entered("CreateModel"), waitEntered(CANARY_STATES.bakeWait, 100), ...alarms([["canary-latency", "ALARM"]], "ALARM")],
      [entered("RollBack", 160), entered(CANARY_STATES.rolledBack, 400, "FailStateEntered"), { type: "ExecutionFailed", at: 400 }],
    ],
    final: { status: "FAILED", error: ROLLED_BACK_ERROR, cause: reason },
  };
}

const TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAZy7Zq2f0example-task-token";

/** An execution waiting for approval after its bake; `answered` adds the end of the approval task. */
function waitingForApproval(answered = false): Scenario {
  const message = { kind: "approval-request", endpointName: endpointName(KEY), modelPackageArn: versionArn(VERSION), taskToken: TOKEN };
  return {
    batches: [[
      started, waitEntered(CANARY_STATES.bakeWait, 100), ...alarms([], "ALARM"),
      entered(CANARY_STATES.approval, 700),
      scheduled("sns", "publish.waitForTaskToken", { TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:deployer`, Message: JSON.stringify(message) }),
      { type: "TaskSubmitted", at: 700 },
      ...(answered ? [{ type: "TaskSucceeded", at: 800 } as Event, exited(CANARY_STATES.approval, 800), entered("Promote", 800)] : []),
    ]],
    final: { status: "RUNNING" },
    visible: 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Running the tool.
// ---------------------------------------------------------------------------------------------

beforeEach(() => {
  sm.reset();
  sts.reset();
  sfn.reset();
  project();
  scenarios = new Map([[stateMachine(KEY), healthy()], [stateMachine(SECOND), healthy()]]);
  running = [];
  sleeps = [];
  // A person of the stage's account, who is not the deployer role: the tool assumes it.
  sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT, Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/dev/alice` });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIADEPLOYER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
  sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "Approved" });
  fakeStepFunctions();
});
afterEach(() => cleanup());

async function run(argv: string[], deps: Partial<DeployDeps> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    cwd: dir,
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    now: () => START,
    pollIntervalMs: 20_000,
    sleep: async (ms) => { sleeps.push(ms); },
    ...deps,
  });
  return { code, out, err };
}

const deployArgs = (...extra: string[]) => ["--stage", STAGE, "--endpoint", KEY, ...extra];
const startInput = () => sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
const progress = (err: string[], key = KEY) => err.filter((l) => l.startsWith(`deploy: ${endpointName(key)}: `)).map((l) => l.slice(`deploy: ${endpointName(key)}: `.length));
const approveCommand = `npx projen deploy approve --stage ${STAGE} --endpoint ${KEY}`;
const rejectCommand = `npx projen deploy reject --stage ${STAGE} --endpoint ${KEY} --reason "<why>"`;

// ---------------------------------------------------------------------------------------------

describe("deploying a version", () => {
  test("GIVEN a healthy canary WHEN deploying the stack file's version THEN it starts the endpoint's state machine with the contract's input and exits 0", async () => {
    // WHEN
    const { code, out } = await run(deployArgs());
    // THEN
    expect(code).toBe(0);
    expect(startInput().stateMachineArn).toBe(stateMachine(KEY));
    expect(startInput().name).toBe(EXECUTION);
    expect(JSON.parse(startInput().input!)).toEqual({
      modelPackageArn: versionArn(VERSION),
      instanceType: INSTANCE_TYPE,
      instanceCount: INSTANCE_COUNT,
      ...canaryResourceNames(endpointName(KEY), EXECUTION),
    });
    expect(out.find((l) => l.startsWith("outcome"))).toMatch(/^outcome\s+promoted: the version serves all traffic$/);
    expect(out.find((l) => l.startsWith("execution"))).toMatch(new RegExp(`^execution\\s+${executionArn(KEY, EXECUTION)}$`));
    expect(out.find((l) => l.startsWith("duration"))).toMatch(/\s15m00s$/);
  });

  test("GIVEN a healthy canary WHEN watching THEN stderr has a line per state entered, the polls and bake time, and the alarms when they change", async () => {
    // WHEN
    const { err } = await run(deployArgs());
    // THEN
    expect(err[0]).toBe(`deploy: as ${deployerRole} (the ${STAGE} stage's deployer role; --role-arn overrides)`);
    expect(progress(err)).toEqual([
      `started ${EXECUTION}, version ${versionArn(VERSION)} on ${INSTANCE_COUNT} x ${INSTANCE_TYPE} (${executionArn(KEY, EXECUTION)})`,
      `started at ${START.toISOString()}`,
      "CreateModel",
      "CheckCanaryAlarms",
      "canary alarms: canary-5xx OK, canary-latency INSUFFICIENT_DATA",
      "UpdateToCanary",
      `${CANARY_STATES.pollWait}: waiting for InService, poll 1 of ${MAX_POLLS}`,
      // A loop's other states once, its Choice states never.
      "DescribeEndpoint",
      `${CANARY_STATES.pollWait}: waiting for InService, poll 2 of ${MAX_POLLS}`,
      `${CANARY_STATES.bakeWait}: baking the canary, 0s of 10m00s elapsed`,
      "LookAtAlarms",
      "canary alarms: none in ALARM",
      "CountBake",
      `${CANARY_STATES.bakeWait}: baking the canary, 5m00s of 10m00s elapsed`,
      "UpdateToPromoted",
      // The promotion's UpdateEndpoint starts a new count.
      `${CANARY_STATES.pollWait}: waiting for InService, poll 1 of ${MAX_POLLS}`,
      CANARY_STATES.promoted,
    ]);
    // One wait per look at a running execution.
    expect(sleeps).toEqual([20_000, 20_000, 20_000]);
  });

  test("GIVEN an alarm during the bake WHEN the execution rolls back THEN it exits 1 with the reason from the execution's cause", async () => {
    // GIVEN
    const reason = "alarm canary-latency is in ALARM during the bake";
    scenarios.set(stateMachine(KEY), rollback(reason));
    // WHEN
    const { code, out, err } = await run(deployArgs());
    // THEN
    expect(code).toBe(1);
    expect(progress(err)).toContain("canary alarms in ALARM: canary-latency");
    expect(out.find((l) => l.startsWith("outcome"))).toMatch(/rolled back: the endpoint serves its previous config$/);
    expect(out.find((l) => l.startsWith("reason"))).toMatch(new RegExp(`^reason\\s+${reason}$`));
    expect(err[err.length - 1]).toBe(`deploy: ${endpointName(KEY)} rolled-back: ${reason}`);
  });

  test("GIVEN a failure other than a rollback THEN it exits 1 with the error and the cause, and a failed task is shown", async () => {
    // GIVEN
    scenarios.set(stateMachine(KEY), {
      batches: [[started, entered("UpdateToCanary"), {
        type: "TaskFailed", taskFailedEventDetails: { resourceType: "sagemaker", resource: "updateEndpoint", error: "SageMaker.AmazonSageMakerException", cause: "Cannot update in-progress endpoint" },
      }, entered(CANARY_STATES.failed, 5, "FailStateEntered")]],
      final: { status: "FAILED", error: "Canary.UpdateRefused", cause: "the endpoint is being updated; wait and deploy again" },
    });
    // WHEN
    const { code, err } = await run(deployArgs());
    // THEN
    expect(code).toBe(1);
    expect(progress(err)).toContain("updateEndpoint failed: SageMaker.AmazonSageMakerException: Cannot update in-progress endpoint");
    expect(err[err.length - 1]).toBe(`deploy: ${endpointName(KEY)} failed: Canary.UpdateRefused: the endpoint is being updated; wait and deploy again`);
  });

  test("GIVEN an execution stopped in Step Functions THEN it exits 1 and says the canary may be left on the endpoint", async () => {
    scenarios.set(stateMachine(KEY), { batches: [[started, { type: "ExecutionAborted", at: 50 }]], final: { status: "ABORTED" } });
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: ${endpointName(KEY)} aborted: the execution was stopped in Step Functions; the endpoint may still serve the canary `
      + `beside the previous version: check it with "npx projen variants list --stage ${STAGE} --endpoint ${KEY}"`);
  });

  test("GIVEN the state machine waits for approval WHEN watching THEN the line says how to approve and reject and when it times out", async () => {
    // GIVEN an execution that waits, then is approved and promoted
    const waiting = waitingForApproval();
    scenarios.set(stateMachine(KEY), { batches: [...waiting.batches, [entered(CANARY_STATES.promoted, 900, "SucceedStateEntered")]], final: { status: "SUCCEEDED" } });
    // WHEN
    const { code, err } = await run(deployArgs());
    // THEN
    expect(code).toBe(0);
    expect(progress(err)).toContain(`${CANARY_STATES.approval}: approval requested: approve with "${approveCommand}", `
      + `reject with "${rejectCommand}"; without an answer it rolls back after 1h00m00s`);
  });

  test("GIVEN a first deploy THEN the outcome says the endpoint was created", async () => {
    scenarios.set(stateMachine(KEY), { batches: [[started, entered(CANARY_STATES.firstDeployed, 600, "SucceedStateEntered")]], final: { status: "SUCCEEDED" } });
    const { code, out } = await run(deployArgs());
    expect(code).toBe(0);
    expect(out.find((l) => l.startsWith("outcome"))).toMatch(/first deploy: the endpoint was created with the version$/);
  });

  test("GIVEN --json THEN stdout is one JSON object with the outcome, and progress stays on stderr", async () => {
    const { code, out, err } = await run(deployArgs("--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({
      stage: STAGE,
      endpoint: KEY,
      endpointName: endpointName(KEY),
      version: versionArn(VERSION),
      executionArn: executionArn(KEY, EXECUTION),
      status: "SUCCEEDED",
      outcome: "promoted",
      startedAt: START.toISOString(),
      endedAt: new Date(START.getTime() + 900_000).toISOString(),
      durationSeconds: 900,
    });
    expect(progress(err).length).toBeGreaterThan(5);
  });

  test("GIVEN --no-wait THEN it starts the execution, prints how to watch, approve and reject it, and reads nothing more", async () => {
    const { code, out } = await run(deployArgs("--no-wait"));
    expect(code).toBe(0);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    expect(out).toEqual([
      `started the deployment of ${versionArn(VERSION)} to ${endpointName(KEY)} (${executionArn(KEY, EXECUTION)})`,
      `watch it:   npx projen deploy watch --stage ${STAGE} --endpoint ${KEY}`,
      `approve it: ${approveCommand}`,
      `reject it:  ${rejectCommand}`,
    ]);
  });

  test("GIVEN no approval in the stack file THEN --no-wait prints only how to watch it", async () => {
    cleanup();
    project(false);
    const { code, out } = await run(deployArgs("--no-wait"));
    expect(code).toBe(0);
    expect(out.slice(1)).toEqual([`watch it:   npx projen deploy watch --stage ${STAGE} --endpoint ${KEY}`]);
  });

  test("GIVEN --version as a number THEN that version of the endpoint's model group is deployed, and the id carries its number", async () => {
    const { code } = await run(deployArgs("--version", "15", "--no-wait"));
    expect(code).toBe(0);
    expect(JSON.parse(startInput().input!).modelPackageArn).toBe(versionArn(15));
    expect(startInput().name).toBe("v15-20260304t050607");
    expect(sm.commandCalls(DescribeModelPackageCommand)[0].args[0].input).toEqual({ ModelPackageName: versionArn(15) });
  });

  test("GIVEN --version as an ARN of the endpoint's model group THEN that version is deployed", async () => {
    const { code } = await run(deployArgs("--version", versionArn(14), "--no-wait"));
    expect(code).toBe(0);
    expect(JSON.parse(startInput().input!).modelPackageArn).toBe(versionArn(14));
  });

  test("GIVEN --version of another model's group THEN it is bad usage and nothing is called", async () => {
    const { code, err } = await run(deployArgs("--version", versionArn(14, OTHER_MODEL)));
    expect(code).toBe(2);
    expect(err[0]).toBe(`deploy: --version must be a version of the group ${FIXTURE.serviceName}-${MODEL}, got ${FIXTURE.serviceName}-${OTHER_MODEL} (see deploy --help)`);
    expect(sts.calls()).toHaveLength(0);
  });

  test("GIVEN --version 0 THEN it is bad usage", async () => {
    const { code, err } = await run(deployArgs("--version", "0"));
    expect(code).toBe(2);
    expect(err[0]).toContain("--version must be a version number of 1 or more, got 0");
  });

  test("GIVEN a version the registry has not approved THEN nothing starts", async () => {
    sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "PendingManualApproval" });
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: ${versionArn(VERSION)} is PendingManualApproval, not Approved: only approved versions are deployed `
      + `(registry approve --arn ${versionArn(VERSION)}, by an approver)`);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test("GIVEN a version missing from the registry THEN nothing starts", async () => {
    sm.on(DescribeModelPackageCommand).rejects(new SageMakerServiceException({
      name: "ValidationException", message: "Model package does not exist", $fault: "client", $metadata: { httpStatusCode: 400 },
    }));
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: the registry has no version ${versionArn(VERSION)}`);
  });

  test("GIVEN a deployment already running on the endpoint THEN a second one is refused, saying how to watch the first", async () => {
    running = [executionArn(KEY, "v11-20260303t000000")];
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: a deployment of ${endpointName(KEY)} is already running (${running[0]}): `
      + `watch it with "npx projen deploy watch --stage ${STAGE} --endpoint ${KEY}" and start this one after it has ended`);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test("GIVEN no state machine for the endpoint THEN it says to deploy the stage first", async () => {
    sfn.on(ListExecutionsCommand).rejects(new SFNServiceException({ name: "StateMachineDoesNotExist", message: "State Machine Does Not Exist", $fault: "client", $metadata: {} }));
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: the state machine ${stateMachine(KEY)} does not exist: deploy the ${STAGE} stage first `
      + `(npx projen up:${STAGE}, or merge and let the deploy workflow run)`);
  });

  test("GIVEN an execution of the same name THEN it says to start again", async () => {
    sfn.on(StartExecutionCommand).rejects(new SFNServiceException({ name: "ExecutionAlreadyExists", message: "Execution Already Exists", $fault: "client", $metadata: {} }));
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: an execution named ${EXECUTION} already exists on ${stateMachine(KEY)}: start the deployment again a second later`);
  });

  test("GIVEN StartExecution answers without an ARN THEN it fails in one line", async () => {
    sfn.on(StartExecutionCommand).resolves({});
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe("deploy: StartExecution returned no execution ARN");
  });

  test("GIVEN an AWS error while watching THEN it says the deployment goes on and how to watch it again", async () => {
    sfn.on(DescribeExecutionCommand).rejects(new SFNServiceException({ name: "AccessDeniedException", message: "not authorized", $fault: "client", $metadata: {} }));
    const { code, err } = await run(deployArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: stopped watching ${executionArn(KEY, EXECUTION)}: AWS AccessDeniedException: not authorized; `
      + `the deployment goes on in Step Functions: watch it again with "npx projen deploy watch --stage ${STAGE} --endpoint ${KEY}"`);
  });

  test("GIVEN credentials that expire while watching THEN it assumes the role again and goes on", async () => {
    sfn.on(DescribeExecutionCommand).rejectsOnce(new SFNServiceException({ name: "ExpiredTokenException", message: "expired", $fault: "client", $metadata: {} }))
      .callsFake(({ executionArn: arn }: { executionArn: string }) => ({ executionArn: arn, status: "SUCCEEDED", startDate: START }));
    const { code, err } = await run(deployArgs());
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2);
    expect(err).toContain("deploy: the credentials expired while watching; connecting again");
  });

  test("GIVEN Ctrl-C while watching THEN it says the deployment goes on, and removes its handler after", async () => {
    let handler: (() => void) | undefined;
    let removed = false;
    const onInterrupt = (h: () => void) => { handler = h; return () => { removed = true; }; };
    const sleep = async (ms: number) => { sleeps.push(ms); if (sleeps.length === 1) handler!(); };
    const { code, err } = await run(deployArgs(), { onInterrupt, sleep });
    expect(code).toBe(0);
    expect(removed).toBe(true);
    expect(err).toContain(`deploy: interrupted: the deployment of ${endpointName(KEY)} goes on in Step Functions (${executionArn(KEY, EXECUTION)}); `
      + `watch it again with "npx projen deploy watch --stage ${STAGE} --endpoint ${KEY}"`);
  });
});

describe("which endpoint", () => {
  test("GIVEN an endpoint with another strategy THEN it is bad usage naming the stack file, the key and the endpoints that use the state machine", async () => {
    const { code, err } = await run(["--stage", STAGE, "--endpoint", NOT_CANARY]);
    expect(code).toBe(2);
    expect(err).toEqual([`deploy: ${STACK_FILE}: mlplatform:endpoints.${NOT_CANARY}.deployment.strategy is all-at-once, not step-functions-canary: `
      + `\`pulumi up\` deploys that endpoint itself; the endpoints of ${STACK_FILE} that deploy with the state machine are ${KEY}, ${SECOND} (see deploy --help)`]);
    expect(sts.calls()).toHaveLength(0);
  });

  test("GIVEN no endpoint with the strategy THEN the message says how to set it", async () => {
    cleanup();
    ({ dir, cleanup } = copyProject(STAGE, {}));
    const { code, err } = await run(["--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(2);
    expect(err[0]).toContain("set deployment.strategy: step-functions-canary there to deploy it with the state machine");
  });

  test("GIVEN an endpoint the stack file does not have THEN it is bad usage naming the stack file and its endpoints", async () => {
    const { code, err } = await run(["--stage", STAGE, "--endpoint", "nope"]);
    expect(code).toBe(2);
    expect(err[0]).toContain(`unknown endpoint "nope"; the endpoints of ${STACK_FILE} are`);
  });

  test("GIVEN an unknown stage THEN it is bad usage", async () => {
    const { code, err } = await run(["--stage", "nowhere", "--endpoint", KEY]);
    expect(code).toBe(2);
    expect(err[0]).toContain('unknown stage "nowhere"');
  });
});

describe("pending", () => {
  /** The endpoint `key` serves `arn` alone. */
  function serving(key: string, arn: string) {
    const config = `${endpointName(key)}-config-1a2b3c4`;
    const model = `${endpointName(key)}-model-5d6e7f8`;
    sm.on(DescribeEndpointCommand, { EndpointName: endpointName(key) }).resolves({ EndpointName: endpointName(key), EndpointStatus: "InService", EndpointConfigName: config });
    sm.on(DescribeEndpointConfigCommand, { EndpointConfigName: config }).resolves({ ProductionVariants: [{ VariantName: "primary", ModelName: model }] });
    sm.on(DescribeModelCommand, { ModelName: model }).resolves({ PrimaryContainer: { ModelPackageName: arn } });
  }

  test("GIVEN one endpoint serving its stack file's version and one not THEN only the other is deployed", async () => {
    // GIVEN
    serving(KEY, versionArn(VERSION));
    serving(SECOND, versionArn(SECOND_VERSION - 1));
    // WHEN
    const { code, out, err } = await run(["--stage", STAGE, "--pending"]);
    // THEN
    expect(code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.stateMachineArn)).toEqual([stateMachine(SECOND)]);
    expect(JSON.parse(startInput().input!).modelPackageArn).toBe(versionArn(SECOND_VERSION));
    expect(err).toContain(`deploy: ${endpointName(KEY)}: already serves ${versionArn(VERSION)}; nothing to deploy`);
    expect(out.find((l) => l.startsWith(`${KEY} `))).toMatch(/already served$/);
    expect(out.find((l) => l.startsWith(`${SECOND} `))).toMatch(/promoted: the version serves all traffic$/);
  });

  test("GIVEN an endpoint that does not exist yet THEN it is deployed (the state machine's first deploy)", async () => {
    const missing = new SageMakerServiceException({ name: "ValidationException", message: "Could not find endpoint", $fault: "client", $metadata: {} });
    sm.on(DescribeEndpointCommand).rejects(missing);
    const { code } = await run(["--stage", STAGE, "--pending"]);
    expect(code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(2);
  });

  test("GIVEN the first deployment rolls back THEN the next is not started and it exits 1; --json lists each endpoint", async () => {
    // GIVEN the endpoints serve older versions; the first rolls back
    serving(KEY, versionArn(VERSION - 1));
    serving(SECOND, versionArn(SECOND_VERSION - 1));
    scenarios.set(stateMachine(KEY), rollback("alarm canary-latency"));
    // WHEN
    const { code, out } = await run(["--stage", STAGE, "--pending", "--json"]);
    // THEN
    expect(code).toBe(1);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
    expect(JSON.parse(out.join("\n"))).toEqual({
      stage: STAGE,
      endpoints: [
        {
          endpoint: KEY,
          endpointName: endpointName(KEY),
          version: versionArn(VERSION),
          action: "deployed",
          outcome: "rolled-back",
          executionArn: executionArn(KEY, EXECUTION),
          reason: "alarm canary-latency",
        },
        { endpoint: SECOND, endpointName: endpointName(SECOND), version: versionArn(SECOND_VERSION), action: "not-run", reason: `stopped after ${KEY} rolled-back` },
      ],
    });
  });

  test("GIVEN an endpoint still serving a canary beside its version THEN it is deployed again", async () => {
    const config = `${endpointName(KEY)}-canary-config`;
    sm.on(DescribeEndpointCommand).resolves({ EndpointStatus: "InService", EndpointConfigName: config });
    sm.on(DescribeEndpointConfigCommand).resolves({ ProductionVariants: [{ VariantName: "primary", ModelName: "a" }, { VariantName: "canary", ModelName: "b" }] });
    sm.on(DescribeModelCommand).resolves({ PrimaryContainer: { ModelPackageName: versionArn(VERSION) } });
    const { code } = await run(["--stage", STAGE, "--pending"]);
    expect(code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(2);
  });

  test("GIVEN a stage without canary endpoints THEN it does nothing, without any AWS call", async () => {
    cleanup();
    ({ dir, cleanup } = copyProject(STAGE, {}));
    const { code, out } = await run(["--stage", STAGE, "--pending"]);
    expect(code).toBe(0);
    expect(out).toEqual([`no endpoint of ${STACK_FILE} deploys with strategy step-functions-canary: nothing to deploy`]);
    expect(sts.calls()).toHaveLength(0);
  });

  test.each([["--endpoint", KEY], ["--version", "3"], ["--no-wait"]])("GIVEN --pending with %s THEN it is bad usage", async (...option) => {
    const { code, err } = await run(["--stage", STAGE, "--pending", ...option]);
    expect(code).toBe(2);
    expect(err[0]).toBe(`deploy: --pending deploys every endpoint's stack file version, one after another: it takes no ${option[0]} (see deploy --help)`);
  });
});

describe("approve and reject", () => {
  const waitingArn = executionArn(KEY, EXECUTION);
  beforeEach(() => {
    scenarios.set(stateMachine(KEY), waitingForApproval());
    running = [waitingArn];
  });

  test("GIVEN an execution waiting for approval WHEN approving THEN it finds the task token in the history and sends success", async () => {
    // WHEN
    const { code, out } = await run(["approve", "--stage", STAGE, "--endpoint", KEY, "--reason", "metrics look fine"]);
    // THEN
    expect(code).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand)[0].args[0].input).toEqual({ stateMachineArn: stateMachine(KEY), statusFilter: "RUNNING" });
    const sent = sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input;
    expect(sent.taskToken).toBe(TOKEN);
    expect(JSON.parse(sent.output!)).toEqual({ approved: true, reason: "metrics look fine" });
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    expect(out[0]).toBe(`approved ${waitingArn}: the canary of ${endpointName(KEY)} now takes all traffic`);
  });

  test("GIVEN an execution waiting for approval WHEN rejecting THEN it sends a failure with the reason as cause", async () => {
    const { code, out } = await run(["reject", "--stage", STAGE, "--endpoint", KEY, "--reason", "INC-42: latency regression", "--json"]);
    expect(code).toBe(0);
    expect(sfn.commandCalls(SendTaskFailureCommand)[0].args[0].input).toEqual({ taskToken: TOKEN, error: APPROVAL_REJECTED_ERROR, cause: "INC-42: latency regression" });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(JSON.parse(out.join("\n"))).toMatchObject({ executionArn: waitingArn, decision: "rejected", reason: "INC-42: latency regression" });
  });

  test("GIVEN reject without a reason THEN it is bad usage, before any AWS call", async () => {
    const { code, err } = await run(["reject", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(2);
    expect(err[0]).toBe("deploy: --reason is required (see deploy --help)");
    expect(sts.calls()).toHaveLength(0);
  });

  test("GIVEN no deployment running THEN nothing waits for approval, and it says so", async () => {
    running = [];
    const { code, err } = await run(["approve", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: nothing waits for approval on ${endpointName(KEY)}: no deployment of it is running`);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  test("GIVEN a running deployment still baking THEN nothing waits for approval", async () => {
    scenarios.set(stateMachine(KEY), { ...healthy(), visible: 3, final: { status: "RUNNING" } });
    const { code, err } = await run(["approve", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: nothing waits for approval on ${endpointName(KEY)}: ${waitingArn} is not in ${CANARY_STATES.approval}`);
  });

  test("GIVEN an approval already answered THEN nothing waits for approval", async () => {
    scenarios.set(stateMachine(KEY), waitingForApproval(true));
    const { code } = await run(["approve", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(1);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  test("GIVEN two executions waiting THEN it asks for --execution", async () => {
    const other = executionArn(KEY, "v13-20260304t060000");
    running = [waitingArn, other];
    const { code, err } = await run(["approve", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: 2 deployments of ${endpointName(KEY)} wait for approval: choose one with --execution (${waitingArn}, ${other})`);
  });

  test("GIVEN --execution THEN that execution is answered without listing the running ones", async () => {
    const { code } = await run(["approve", "--stage", STAGE, "--endpoint", KEY, "--execution", waitingArn]);
    expect(code).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(0);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[0].args[0].input.executionArn).toBe(waitingArn);
  });

  test("GIVEN --execution of another state machine THEN it is bad usage", async () => {
    const foreign = executionArn(SECOND, EXECUTION);
    const { code, err } = await run(["approve", "--stage", STAGE, "--endpoint", KEY, "--execution", foreign]);
    expect(code).toBe(2);
    expect(err[err.length - 1]).toBe(`deploy: --execution must be an execution of ${stateMachine(KEY)} (${waitingArn.replace(EXECUTION, "")}<name>), `
      + `got "${foreign}" (see deploy --help)`);
  });

  test("GIVEN the request timed out meanwhile THEN the answer is refused in one line", async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new SFNServiceException({ name: "TaskTimedOut", message: "Task Timed Out", $fault: "client", $metadata: {} }));
    const { code, err } = await run(["approve", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: the approval request of ${waitingArn} no longer waits (TaskTimedOut): it timed out or was answered meanwhile`);
  });
});

describe("watch", () => {
  test("GIVEN a running deployment THEN it prints its progress from the start and its outcome", async () => {
    const arn = executionArn(KEY, EXECUTION);
    running = [arn];
    const { code, err, out } = await run(["watch", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(0);
    expect(progress(err)[0]).toBe(`started at ${START.toISOString()}`);
    expect(out.find((l) => l.startsWith("outcome"))).toMatch(/promoted/);
  });

  test("GIVEN nothing running THEN it says so", async () => {
    const { code, err } = await run(["watch", "--stage", STAGE, "--endpoint", KEY]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`deploy: no deployment of ${endpointName(KEY)} is running; pass --execution to watch one that has ended`);
  });

  test("GIVEN --execution of one that does not exist THEN it says so", async () => {
    const arn = executionArn(KEY, "v1-20200101t000000");
    sfn.on(DescribeExecutionCommand).rejects(new SFNServiceException({ name: "ExecutionDoesNotExist", message: "Execution Does Not Exist", $fault: "client", $metadata: {} }));
    const { code, err } = await run(["watch", "--stage", STAGE, "--endpoint", KEY, "--execution", arn]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain(`no execution ${arn}`);
  });
});

describe("command line", () => {
  test("GIVEN --help THEN it shows the forms, the flow and the exit codes, without reading config or calling AWS", async () => {
    rmSync(join(dir, "Pulumi.yaml"));
    const { code, out } = await run(["--help"]);
    expect(code).toBe(0);
    expect(out[0]).toBe("Usage: deploy --stage STAGE --endpoint KEY [--version ARN|N] [--no-wait] [options]");
    expect(out.join("\n")).toContain("--pending");
    expect(out.join("\n")).toContain("Exit codes: 0 the version serves all traffic");
    expect(sts.calls()).toHaveLength(0);
  });

  test.each(["watch", "approve", "reject"])("GIVEN %s --help THEN it shows that command's usage", async (name) => {
    const { code, out } = await run([name, "--help"]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(new RegExp(`^Usage: deploy ${name} --stage STAGE --endpoint KEY`));
  });

  test("GIVEN an unknown command, or no stage THEN it is bad usage in one line", async () => {
    expect((await run(["rollback"])).err).toEqual(['deploy: unknown command "rollback"; the commands are watch, approve, reject, or none to start a deployment (see deploy --help)']);
    const { code, err } = await run(["--endpoint", KEY]);
    expect(code).toBe(2);
    expect(err).toEqual(["deploy: --stage is required (see deploy --help)"]);
  });
});

describe("what the stack file cannot say", () => {
  // The schema refuses both for this strategy (components/endpoint-rules.ts); the functions still refuse them on their own.
  const stage = () => readStage(dir, STAGE);
  const endpoint = (patch: Partial<CanaryEndpoint["config"]>): CanaryEndpoint => {
    const config = stage().config.endpoints[KEY];
    return {
      key: KEY, name: endpointName(KEY), stackFile: STACK_FILE, stateMachineArn: stateMachine(KEY), settings: {}, config: { ...config, ...patch },
    };
  };

  test("GIVEN an image source without --version THEN there is no version to deploy", () => {
    const image = endpoint({ source: { image: "registry/image:tag", modelDataUrl: "s3://bucket/model.tar.gz", environment: {} } });
    expect(() => deployVersion(stage(), image)).toThrow(`${STACK_FILE}: mlplatform:endpoints.${KEY}.source is an image, not a registry version`);
  });

  test("GIVEN no instances THEN there is no execution input", () => {
    expect(() => executionInput(endpoint({ instanceType: undefined }), versionArn(VERSION), EXECUTION))
      .toThrow(`${STACK_FILE}: mlplatform:endpoints.${KEY} has no instanceType and instanceCount`);
  });
});

describe("deployment ids and approvals", () => {
  test("GIVEN the largest version and a time THEN the id fits the contract's names", () => {
    const id = deploymentId(2_147_483_647, new Date("2026-12-31T23:59:58.999Z"));
    expect(id).toBe("v2147483647-20261231t235958");
    expect(() => canaryResourceNames(endpointName(KEY), id)).not.toThrow();
  });

  test("GIVEN the task token inside the parameters as an object THEN it is found too", () => {
    const events: HistoryEvent[] = [
      { id: 1, type: "TaskStateEntered", timestamp: START, stateEnteredEventDetails: { name: CANARY_STATES.approval } },
      {
        id: 2,
        type: "TaskScheduled",
        timestamp: START,
        taskScheduledEventDetails: {
          resourceType: "sns", resource: "publish.waitForTaskToken", region: REGION, parameters: JSON.stringify({ Message: { taskToken: TOKEN } }),
        },
      },
    ];
    expect(pendingApproval(events)).toEqual({ taskToken: TOKEN, since: START });
  });
});

describe("projen task", () => {
  test("GIVEN the script tasks THEN deploy runs its script and passes the arguments on", () => {
    const outdir = mkdtempSync(join(tmpdir(), "projen-"));
    try {
      const p = new Project({ name: "test", outdir });
      addScriptTasks(p);
      const tasks = Testing.synth(p)[".projen/tasks.json"].tasks;
      expect(tasks.deploy).toEqual({
        name: "deploy",
        description: expect.stringContaining("step-functions-canary"),
        steps: [{ execArgs: ["ts-node", "--transpile-only", "scripts/deploy.ts"], receiveArgs: true }],
      });
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
