import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput, type MetricDataResult } from "@aws-sdk/client-cloudwatch";
import {
  DescribeEndpointCommand,
  type DescribeEndpointCommandOutput,
  type ProductionVariantSummary,
  SageMakerClient,
  SageMakerServiceException,
  UpdateEndpointWeightsAndCapacitiesCommand,
} from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { Project, Testing } from "projen";
import { endpointNames, roleArn } from "../../components/names";
import { addScriptTasks } from "../../projen/script-tasks";
import { pickLeader, sharesPercent, type VariantMetrics } from "../../scripts/lib/variants";
import { main, type VariantsDeps } from "../../scripts/variants";
import { stackFileName } from "../../stacks/config/load";
import { FIXTURE_STAGES } from "../fixtures/project";
import { stageProject } from "../support/stack-files";

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);
const cw = mockClient(CloudWatchClient);

/** The fixture project in a temporary directory, and what the variants CLI derives from it for its first stage. */
function fixture() {
  const stage = FIXTURE_STAGES[0];
  const { dir, config, account, names } = stageProject(stage);
  const keys = Object.keys(config.endpoints);
  const key = keys[0];
  return {
    dir,
    config,
    stage,
    region: config.region,
    accountId: config.accountId,
    otherAccountId: config.project.stages.find((s) => s.accountId !== config.accountId)!.accountId,
    keys,
    key,
    endpointName: endpointNames(config.project.serviceName, key).endpoint,
    endpointConfig: `${endpointNames(config.project.serviceName, key).endpoint}-config-1a2b3c4`,
    deployerRole: roleArn(account, names.deployerRole),
  };
}

/** The variants of the tests' endpoint: an A/B pair with weights 1 and 1 (half the traffic each). */
const A = "primary";
const B = "challenger";
const START = new Date("2026-03-04T05:06:07.000Z");
let clock: number;
let sleeps: number[];
let f: ReturnType<typeof fixture>;

const caller = () => `arn:aws:sts::${f.accountId}:assumed-role/dev/alice`;
const roleLine = () => `variants: as ${f.deployerRole} (the ${f.stage} stage's deployer role; --role-arn overrides)`;
const listCommand = () => `variants list --stage ${f.stage} --endpoint ${f.key}`;
const pulumiNote = () => "Pulumi does not see this change: the next `pulumi up` that replaces the endpoint configuration resets the weights to "
  + `${stackFileName(f.stage)}'s; a lasting split belongs in the stack file.`;

/** A variant as DescribeEndpoint reports it: [name, current weight, desired weight, current instances, desired instances]. */
type Row = [string, number, number, number?, number?];
function variantSummary([name, current, desired, instances = 1, desiredInstances = instances]: Row): ProductionVariantSummary {
  return {
    VariantName: name, CurrentWeight: current, DesiredWeight: desired, CurrentInstanceCount: instances, DesiredInstanceCount: desiredInstances,
  };
}
function described(
  status: string, rows: Row[] = [[A, 1, 1], [B, 1, 1]], extra: Partial<DescribeEndpointCommandOutput> = {},
): DescribeEndpointCommandOutput {
  return {
    EndpointName: f.endpointName,
    EndpointArn: `arn:aws:sagemaker:${f.region}:${f.accountId}:endpoint/${f.endpointName}`,
    EndpointConfigName: f.endpointConfig,
    EndpointStatus: status as DescribeEndpointCommandOutput["EndpointStatus"],
    ProductionVariants: rows.map(variantSummary),
    CreationTime: START,
    LastModifiedTime: START,
    $metadata: {},
    ...extra,
  };
}

/** Serves the endpoint's descriptions in order, one per DescribeEndpoint call, the last one ever after. */
function serveEndpoint(...states: DescribeEndpointCommandOutput[]) {
  let mock = sm.on(DescribeEndpointCommand);
  for (const s of states.slice(0, -1)) mock = mock.resolvesOnce(s);
  mock.resolves(states[states.length - 1]);
}

/** One variant's CloudWatch numbers over the window; latency in microseconds, as CloudWatch has ModelLatency. */
interface Traffic { invocations: number; errors4xx: number; errors5xx: number; p50Us?: number; p99Us?: number }

/** Answers GetMetricData from each query's own metric, statistic and dimensions, so a wrong query gets wrong numbers. */
function serveMetrics(traffic: Record<string, Traffic>) {
  cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
    MetricDataResults: (input.MetricDataQueries ?? []).map((q): MetricDataResult => {
      const stat = q.MetricStat!;
      const dims = Object.fromEntries((stat.Metric?.Dimensions ?? []).map((d) => [d.Name, d.Value]));
      const t = stat.Metric?.Namespace === "AWS/SageMaker" && dims.EndpointName === f.endpointName ? traffic[dims.VariantName ?? ""] : undefined;
      const values: Record<string, number | undefined> = t === undefined ? {} : {
        "Invocations/Sum": t.invocations,
        "Invocation4XXErrors/Sum": t.errors4xx,
        "Invocation5XXErrors/Sum": t.errors5xx,
        "ModelLatency/p50": t.p50Us,
        "ModelLatency/p99": t.p99Us,
      };
      const value = values[`${stat.Metric?.MetricName}/${stat.Stat}`];
      return { Id: q.Id, Label: q.Id, StatusCode: "Complete", Timestamps: value === undefined ? [] : [input.StartTime!], Values: value === undefined ? [] : [value] };
    }),
  }));
}

beforeEach(() => {
  sm.reset();
  sts.reset();
  cw.reset();
  f = fixture();
  clock = START.getTime();
  sleeps = [];
  // A person in the stage's account, who is not the deployer role: the CLI assumes it.
  sts.on(GetCallerIdentityCommand).resolves({ Account: f.accountId, Arn: caller() });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIADEPLOYER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
  sm.on(UpdateEndpointWeightsAndCapacitiesCommand).resolves({ EndpointArn: `arn:aws:sagemaker:${f.region}:${f.accountId}:endpoint/${f.endpointName}` });
});
afterEach(() => rmSync(f.dir, { recursive: true, force: true }));

async function run(argv: string[], deps: Pick<VariantsDeps, "maxPolls"> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    cwd: f.dir,
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    now: () => new Date(clock),
    pollIntervalMs: 10_000,
    maxPolls: 5,
    sleep: async (ms) => { sleeps.push(ms); clock += ms; },
    ...deps,
  });
  return { code, out, err };
}

const args = (command: string, ...extra: string[]) => [command, "--stage", f.stage, "--endpoint", f.key, ...extra];
const updateCalls = () => sm.commandCalls(UpdateEndpointWeightsAndCapacitiesCommand);
const assumedRoles = () => sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn);
const serviceError = (name: string, message: string, status = 400) => new SageMakerServiceException({
  name, message, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status },
});
/** The cells of an output line, split at runs of two or more spaces (table columns). */
const cells = (line: string | undefined) => (line ?? "").trim().split(/\s{2,}/);
const rowOf = (out: string[], name: string) => cells(out.find((l) => l.startsWith(`${name} `)));

describe("list", () => {
  test("describes the stage's endpoint and prints each variant's weights, traffic share and instances, and the endpoint's status", async () => {
    // GIVEN weights 3 and 1, the challenger scaling from 1 to 2 instances
    serveEndpoint(described("InService", [[A, 3, 3, 2], [B, 1, 1, 1, 2]]));
    // WHEN
    const { code, out, err } = await run(args("list"));
    // THEN
    expect(code).toBe(0);
    expect(sm.commandCalls(DescribeEndpointCommand).map((c) => c.args[0].input)).toEqual([{ EndpointName: f.endpointName }]);
    expect(err).toEqual([roleLine()]);
    expect(out[0]).toBe(`endpoint ${f.endpointName}: InService, endpoint configuration ${f.endpointConfig}`);
    expect(cells(out[1])).toEqual(["VARIANT", "WEIGHT", "DESIRED WEIGHT", "TRAFFIC", "INSTANCES (CURRENT/DESIRED)"]);
    expect(rowOf(out, A)).toEqual([A, "3", "3", "75.0%", "2/2"]);
    expect(rowOf(out, B)).toEqual([B, "1", "1", "25.0%", "1/2"]);
    expect(updateCalls()).toHaveLength(0);
  });

  test("a serverless variant shows no instance counts, and a failed endpoint shows its reason", async () => {
    serveEndpoint(described("Failed", [[A, 1, 1]], {
      FailureReason: "capacity error",
      ProductionVariants: [
        { VariantName: A, CurrentWeight: 1, DesiredWeight: 1, CurrentServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 5 } },
      ],
    }));
    const { code, out } = await run(args("list"));
    expect(code).toBe(0);
    expect(out[0]).toBe(`endpoint ${f.endpointName}: Failed (capacity error), endpoint configuration ${f.endpointConfig}`);
    expect(rowOf(out, A)).toEqual([A, "1", "1", "100.0%", "serverless"]);
  });

  test("--json prints the endpoint and its variants", async () => {
    serveEndpoint(described("Updating", [[A, 1, 0], [B, 1, 4]]));
    const { code, out } = await run(args("list", "--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({
      endpoint: f.endpointName,
      endpointConfig: f.endpointConfig,
      status: "Updating",
      variants: [
        { name: A, currentWeight: 1, desiredWeight: 0, sharePercent: 50, currentInstanceCount: 1, desiredInstanceCount: 1, serverless: false },
        { name: B, currentWeight: 1, desiredWeight: 4, sharePercent: 50, currentInstanceCount: 1, desiredInstanceCount: 1, serverless: false },
      ],
    });
  });

  test("an endpoint that does not exist is a failure in one line that says to deploy first", async () => {
    sm.on(DescribeEndpointCommand).rejects(serviceError("ValidationException", `Could not find endpoint "${f.endpointName}".`));
    const { code, out, err } = await run(args("list"));
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err[err.length - 1]).toBe(`variants: endpoint ${f.endpointName} does not exist: deploy the ${f.stage} stage first `
      + `(npx projen up:${f.stage}, or merge and let the deploy workflow run)`);
  });

  test("an endpoint key the stack file does not have is bad usage, listing its endpoints, before any AWS call", async () => {
    const { code, err } = await run(["list", "--stage", f.stage, "--endpoint", "nope"]);
    expect(code).toBe(2);
    expect(err).toEqual([`variants: unknown endpoint "nope"; the endpoints of ${stackFileName(f.stage)} are ${f.keys.join(", ")} (see variants --help)`]);
    expect(sts.calls()).toHaveLength(0);
  });

  test("an unknown stage is bad usage, listing the stages", async () => {
    const { code, err } = await run(["list", "--stage", "staging", "--endpoint", f.key]);
    expect(code).toBe(2);
    expect(err[0]).toContain(`unknown stage "staging"; the stages of Pulumi.yaml are ${FIXTURE_STAGES.join(", ")}`);
  });
});

describe("weights", () => {
  test("sends UpdateEndpointWeightsAndCapacities with exactly the weights given, waits, and prints the new traffic shares", async () => {
    // GIVEN 1:1, then an update, then 1:3 in effect
    serveEndpoint(described("InService"), described("Updating", [[A, 1, 1], [B, 1, 3]]), described("InService", [[A, 1, 1], [B, 3, 3]]));
    // WHEN
    const { code, out } = await run(args("weights", "--set", `${B}=3`));
    // THEN
    expect(code).toBe(0);
    expect(updateCalls().map((c) => c.args[0].input)).toEqual([{
      EndpointName: f.endpointName,
      DesiredWeightsAndCapacities: [{ VariantName: B, DesiredWeight: 3 }],
    }]);
    expect(out[0]).toBe(`endpoint ${f.endpointName} is InService; traffic shares now:`);
    expect(rowOf(out, A)).toEqual([A, "1", "25.0%"]);
    expect(rowOf(out, B)).toEqual([B, "3", "75.0%"]);
    expect(out[out.length - 1]).toBe(pulumiNote());
  });

  test("several --set send one update with every variant named; fractional weights pass through", async () => {
    serveEndpoint(described("InService"), described("InService", [[A, 0.25, 0.25], [B, 0.75, 0.75]]));
    const { code, out } = await run(args("weights", "--set", `${A}=0.25`, "--set", `${B}=0.75`));
    expect(code).toBe(0);
    expect(updateCalls()[0].args[0].input.DesiredWeightsAndCapacities).toEqual([
      { VariantName: A, DesiredWeight: 0.25 }, { VariantName: B, DesiredWeight: 0.75 },
    ]);
    expect(rowOf(out, B)).toEqual([B, "0.75", "75.0%"]);
  });

  test("says on stderr which role it acts as and what changes, then prints progress at every poll", async () => {
    serveEndpoint(described("InService"), described("Updating"), described("Updating"), described("InService", [[A, 0, 0], [B, 1, 1]]));
    const { code, err } = await run(args("weights", "--set", `${A}=0`));
    expect(code).toBe(0);
    expect(err).toEqual([
      roleLine(),
      `variants: ${f.endpointName}: setting weights ${A} 1 -> 0, ${B} 1 -> 1`,
      `variants: ${f.endpointName}: Updating, 0s elapsed (poll 1 of 5)`,
      `variants: ${f.endpointName}: Updating, 10s elapsed (poll 2 of 5)`,
      `variants: ${f.endpointName}: InService, 20s elapsed (poll 3 of 5)`,
    ]);
    expect(sleeps).toEqual([10_000, 10_000]);
  });

  test("weights SageMaker returns in single precision count as the ones asked for", async () => {
    serveEndpoint(described("InService"), described("InService", [[A, 1, 1], [B, 0.10000000149011612, 0.10000000149011612]]));
    const { code } = await run(args("weights", "--set", `${B}=0.1`));
    expect(code).toBe(0);
  });

  test("--json prints the endpoint, the shares and the note about Pulumi", async () => {
    serveEndpoint(described("InService"), described("InService", [[A, 1, 1], [B, 3, 3]]));
    const { code, out } = await run(args("weights", "--set", `${B}=3`, "--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({
      endpoint: f.endpointName,
      status: "InService",
      waited: true,
      variants: [{ variant: A, weight: 1, sharePercent: 25 }, { variant: B, weight: 3, sharePercent: 75 }],
      note: pulumiNote(),
    });
  });

  test("--no-wait starts the change, prints the requested shares and how to check, and polls nothing", async () => {
    serveEndpoint(described("InService"));
    const { code, out } = await run(args("weights", "--set", `${A}=4`, "--no-wait"));
    expect(code).toBe(0);
    expect(updateCalls()).toHaveLength(1);
    expect(sm.commandCalls(DescribeEndpointCommand)).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(out[0]).toBe(`started the weight change of ${f.endpointName}; requested traffic shares:`);
    expect(rowOf(out, A)).toEqual([A, "4", "80.0%"]);
    expect(rowOf(out, B)).toEqual([B, "1", "20.0%"]);
    expect(out).toContain(`check it: ${listCommand()}`);
    expect(out[out.length - 1]).toBe(pulumiNote());
  });

  test("an unknown variant name is bad usage that lists the endpoint's variants, and nothing is updated", async () => {
    serveEndpoint(described("InService"));
    const { code, err } = await run(args("weights", "--set", `${A}=1`, "--set", "green=2"));
    expect(code).toBe(2);
    expect(err[err.length - 1]).toBe(`variants: unknown variant "green"; the production variants of endpoint ${f.endpointName} are ${A}, ${B} (see variants --help)`);
    expect(updateCalls()).toHaveLength(0);
  });

  test.each([
    ["-1", `--set ${A}: the weight must be a non-negative number such as 0, 1 or 0.25 (SageMaker's minimum is 0); got "-1"`],
    ["abc", `--set ${A}: the weight must be a non-negative number such as 0, 1 or 0.25 (SageMaker's minimum is 0); got "abc"`],
    ["1e3", `--set ${A}: the weight must be a non-negative number such as 0, 1 or 0.25 (SageMaker's minimum is 0); got "1e3"`],
    ["Infinity", `--set ${A}: the weight must be a non-negative number such as 0, 1 or 0.25 (SageMaker's minimum is 0); got "Infinity"`],
    ["", `--set must be NAME=WEIGHT, such as --set green=1; got "${A}="`],
  ])("weight %j is bad usage, before any AWS call", async (weight, message) => {
    const { code, err } = await run(args("weights", "--set", `${A}=${weight}`));
    expect(code).toBe(2);
    expect(err).toEqual([`variants: ${message} (see variants --help)`]);
    expect(sts.calls()).toHaveLength(0);
    expect(sm.calls()).toHaveLength(0);
  });

  test("a --set without a name, a variant set twice and no --set at all are bad usage", async () => {
    expect((await run(args("weights", "--set", "=1"))).err).toEqual(['variants: --set must be NAME=WEIGHT, such as --set green=1; got "=1" (see variants --help)']);
    expect((await run(args("weights", "--set", `${A}=1`, "--set", `${A}=2`))).err).toEqual([`variants: --set names variant "${A}" twice (see variants --help)`]);
    const { code, err } = await run(args("weights"));
    expect(code).toBe(2);
    expect(err).toEqual(["variants: --set NAME=WEIGHT is required, once per variant to change (see variants --help)"]);
    expect(sts.calls()).toHaveLength(0);
  });

  test.each([
    ["every variant set to 0", [[A, 1, 1], [B, 1, 1]] as Row[], [`${A}=0`, `${B}=0`]],
    ["the only variant with weight set to 0", [[A, 1, 1], [B, 0, 0]] as Row[], [`${A}=0`]],
  ])("%s is bad usage: no traffic would be routed; nothing is updated", async (_name, rows, sets) => {
    serveEndpoint(described("InService", rows));
    const { code, err } = await run(args("weights", ...sets.flatMap((s) => ["--set", s])));
    expect(code).toBe(2);
    expect(err[err.length - 1]).toBe(`variants: every variant of endpoint ${f.endpointName} would have weight 0, and requests that name no TargetVariant `
      + "would fail: keep at least one weight above 0 (see variants --help)");
    expect(updateCalls()).toHaveLength(0);
  });

  test.each(["Updating", "Creating", "SystemUpdating", "Failed"])("an endpoint that is %s is refused and nothing is updated", async (status) => {
    serveEndpoint(described(status));
    const { code, err } = await run(args("weights", "--set", `${B}=3`));
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`variants: endpoint ${f.endpointName} is ${status}, not InService: SageMaker refuses a weight change while an update `
      + `is in progress or the endpoint is not serving; wait until it is InService (${listCommand()})`);
    expect(updateCalls()).toHaveLength(0);
  });

  test("waiting gives up after the last poll, saying the change goes on and how to check it", async () => {
    serveEndpoint(described("InService"), described("Updating"));
    const { code, out, err } = await run(args("weights", "--set", `${B}=3`), { maxPolls: 3 });
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(sm.commandCalls(DescribeEndpointCommand)).toHaveLength(4);
    expect(sleeps).toEqual([10_000, 10_000]);
    expect(err[err.length - 2]).toBe(`variants: ${f.endpointName}: Updating, 20s elapsed (poll 3 of 3)`);
    expect(err[err.length - 1]).toBe(`variants: endpoint ${f.endpointName} is still Updating after 3 polls (20s): stopped waiting; `
      + `the weight change goes on: check it with "${listCommand()}"`);
  });

  test("an update that ends InService with other weights (rolled back) is a failure", async () => {
    serveEndpoint(described("InService"), described("Updating"), described("InService"));
    const { code, err } = await run(args("weights", "--set", `${B}=3`));
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`variants: endpoint ${f.endpointName} is InService again, but not with the requested weights (the change `
      + `was rolled back, or someone changed them meanwhile); look at them with "${listCommand()}"`);
  });

  test("an endpoint that fails during the change is a failure with its reason, without waiting on", async () => {
    serveEndpoint(described("InService"), described("Failed", undefined, { FailureReason: "internal failure" }));
    const { code, err } = await run(args("weights", "--set", `${B}=3`));
    expect(code).toBe(1);
    expect(sleeps).toEqual([]);
    expect(err[err.length - 1]).toBe(`variants: endpoint ${f.endpointName} is Failed (internal failure) after the weight change; look at it with "${listCommand()}"`);
  });

  test("an update still showing the old weights as InService right after the call is polled again, not failed", async () => {
    serveEndpoint(described("InService"), described("InService"), described("InService", [[A, 1, 1], [B, 3, 3]]));
    const { code } = await run(args("weights", "--set", `${B}=3`));
    expect(code).toBe(0);
    expect(sleeps).toEqual([10_000]);
  });

  test("a throttled update is retried; a server error is not, and says how to find out whether it started", async () => {
    serveEndpoint(described("InService"), described("InService", [[A, 1, 1], [B, 3, 3]]));
    sm.on(UpdateEndpointWeightsAndCapacitiesCommand).rejectsOnce(serviceError("ThrottlingException", "Rate exceeded")).resolves({});
    expect((await run(args("weights", "--set", `${B}=3`))).code).toBe(0);
    expect(updateCalls()).toHaveLength(2);

    sm.on(UpdateEndpointWeightsAndCapacitiesCommand).rejects(serviceError("InternalFailure", "internal error", 500));
    const { code, err } = await run(args("weights", "--set", `${B}=3`));
    expect(code).toBe(1);
    expect(updateCalls()).toHaveLength(3);
    expect(err[err.length - 1]).toBe(`variants: UpdateEndpointWeightsAndCapacities of ${f.endpointName} failed with AWS InternalFailure: internal error; `
      + `the change may or may not have started: check with "${listCommand()}" before trying again`);
  });

  test("an AWS refusal of the update is one line, no stack trace", async () => {
    serveEndpoint(described("InService"));
    sm.on(UpdateEndpointWeightsAndCapacitiesCommand).rejects(serviceError("AccessDeniedException", "not authorized to perform sagemaker:UpdateEndpointWeightsAndCapacities"));
    const { code, err } = await run(args("weights", "--set", `${B}=3`));
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe("variants: AWS AccessDeniedException: not authorized to perform sagemaker:UpdateEndpointWeightsAndCapacities");
  });
});

describe("metrics", () => {
  const leaderData = {
    [A]: { invocations: 10_000, errors4xx: 30, errors5xx: 20, p50Us: 12_000, p99Us: 120_000 },
    [B]: { invocations: 2_000, errors4xx: 10, errors5xx: 1, p50Us: 9_500, p99Us: 80_500 },
  };

  test("asks CloudWatch for each live variant's invocations, errors and latency percentiles over one period spanning the window", async () => {
    serveEndpoint(described("InService"));
    serveMetrics(leaderData);
    const { code } = await run(args("metrics"));
    expect(code).toBe(0);
    const input = cw.commandCalls(GetMetricDataCommand)[0].args[0].input;
    // The window ends at START rounded down to 5 minutes and spans the default 24 hours.
    expect(input.EndTime).toEqual(new Date("2026-03-04T05:05:00.000Z"));
    expect(input.StartTime).toEqual(new Date("2026-03-03T05:05:00.000Z"));
    const queries = input.MetricDataQueries ?? [];
    expect(queries).toHaveLength(10);
    expect(queries.map((q) => [q.MetricStat?.Metric?.Dimensions?.find((d) => d.Name === "VariantName")?.Value, q.MetricStat?.Metric?.MetricName, q.MetricStat?.Stat]))
      .toEqual([A, B].flatMap((v) => [
        [v, "Invocations", "Sum"], [v, "Invocation4XXErrors", "Sum"], [v, "Invocation5XXErrors", "Sum"], [v, "ModelLatency", "p50"], [v, "ModelLatency", "p99"],
      ]));
    for (const q of queries) {
      expect(q.MetricStat).toMatchObject({
        Metric: { Namespace: "AWS/SageMaker", Dimensions: [{ Name: "EndpointName", Value: f.endpointName }, expect.anything()] },
        Period: 86_400,
      });
      expect(q.Id).toMatch(/^[a-z][A-Za-z0-9_]*$/);
    }
    expect(new Set(queries.map((q) => q.Id)).size).toBe(10);
  });

  test("prints a row per variant with error rates and latency in milliseconds, and the variant with the lowest 5XX error rate as leader", async () => {
    serveEndpoint(described("InService", [[A, 4, 4], [B, 1, 1]]));
    serveMetrics(leaderData);
    const { code, out } = await run(args("metrics"));
    expect(code).toBe(0);
    expect(out[0]).toBe(`endpoint ${f.endpointName}, 2026-03-03T05:05:00.000Z to 2026-03-04T05:05:00.000Z (24 h), CloudWatch AWS/SageMaker:`);
    expect(cells(out[1])).toEqual(["VARIANT", "TRAFFIC", "INVOCATIONS", "4XX", "4XX RATE", "5XX", "5XX RATE", "P50 MS", "P99 MS"]);
    expect(rowOf(out, A)).toEqual([A, "80.0%", "10000", "30", "0.30%", "20", "0.20%", "12.0", "120.0"]);
    expect(rowOf(out, B)).toEqual([B, "20.0%", "2000", "10", "0.50%", "1", "0.05%", "9.5", "80.5"]);
    expect(out).toContain(`leader: ${B}: lowest 5XX error rate (0.05%) among the 2 variants with at least 100 invocations`);
    expect(out[out.length - 1]).toMatch(/^This helps pick a winner; it decides nothing/);
  });

  test("a tie on 5XX error rate goes to the lower p99 latency", async () => {
    serveEndpoint(described("InService"));
    serveMetrics({
      [A]: { invocations: 500, errors4xx: 0, errors5xx: 0, p50Us: 10_000, p99Us: 50_000 },
      [B]: { invocations: 800, errors4xx: 0, errors5xx: 0, p50Us: 10_000, p99Us: 70_000 },
    });
    const { out } = await run(args("metrics"));
    expect(out).toContain(`leader: ${A}: lowest 5XX error rate (0.00%) among the 2 variants with at least 100 invocations, `
      + `tied with ${B} on 5XX error rate; the lower p99 latency decides`);
  });

  test("with fewer than two variants of enough invocations there is no leader; --min-invocations lowers the bar", async () => {
    serveEndpoint(described("InService"));
    serveMetrics({
      [A]: { invocations: 5_000, errors4xx: 0, errors5xx: 9, p99Us: 90_000 },
      [B]: { invocations: 40, errors4xx: 0, errors5xx: 0, p99Us: 60_000 },
    });
    const few = await run(args("metrics"));
    expect(few.code).toBe(0);
    expect(few.out).toContain("leader: none: not enough traffic to compare: 1 of 2 variants had at least 100 invocations (--min-invocations)");

    const lowered = await run(args("metrics", "--min-invocations", "40"));
    expect(lowered.out).toContain(`leader: ${B}: lowest 5XX error rate (0.00%) among the 2 variants with at least 40 invocations`);
  });

  test("a variant without traffic has no rates or latency, only dashes", async () => {
    serveEndpoint(described("InService"));
    serveMetrics({ [A]: { invocations: 300, errors4xx: 0, errors5xx: 0, p50Us: 1_000, p99Us: 2_000 } });
    const { out } = await run(args("metrics"));
    expect(rowOf(out, B)).toEqual([B, "50.0%", "0", "0", "-", "0", "-", "-", "-"]);
    expect(out).toContain("leader: none: not enough traffic to compare: 1 of 2 variants had at least 100 invocations (--min-invocations)");
  });

  test("--hours sets the window and the period; --json prints the report", async () => {
    serveEndpoint(described("InService"));
    serveMetrics(leaderData);
    const { code, out } = await run(args("metrics", "--hours", "72", "--json"));
    expect(code).toBe(0);
    const input = cw.commandCalls(GetMetricDataCommand)[0].args[0].input;
    expect(input.StartTime).toEqual(new Date("2026-03-01T05:05:00.000Z"));
    expect(input.MetricDataQueries?.[0].MetricStat?.Period).toBe(72 * 3600);
    const report = JSON.parse(out.join("\n"));
    expect(report).toMatchObject({
      endpoint: f.endpointName,
      start: "2026-03-01T05:05:00.000Z",
      end: "2026-03-04T05:05:00.000Z",
      hours: 72,
      minInvocations: 100,
      leader: { variant: B, qualified: [A, B] },
    });
    expect(report.variants[1]).toEqual({
      variant: B,
      sharePercent: 50,
      invocations: 2000,
      errors4xx: 10,
      errors5xx: 1,
      errorRate4xx: 0.005,
      errorRate5xx: 0.0005,
      latencyP50Ms: 9.5,
      latencyP99Ms: 80.5,
    });
    expect(report.note).toMatch(/decides nothing/);
  });

  test("all pages of GetMetricData are read", async () => {
    serveEndpoint(described("InService"));
    const page = (ids: [string, number][], token?: string) => ({
      MetricDataResults: ids.map(([Id, v]) => ({ Id, StatusCode: "PartialData" as const, Values: [v], Timestamps: [START] })),
      NextToken: token,
    });
    cw.on(GetMetricDataCommand)
      .resolvesOnce(page([["inv_0", 600], ["e5xx_0", 6]], "next"))
      .resolvesOnce(page([["inv_1", 400], ["e5xx_1", 2]]));
    const { out } = await run(args("metrics"));
    expect(cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, "next"]);
    expect(rowOf(out, A)[2]).toBe("600");
    expect(rowOf(out, B)[2]).toBe("400");
  });

  test("a query CloudWatch forbids is a failure in one line", async () => {
    serveEndpoint(described("InService"));
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: "inv_0", Label: "inv_0", StatusCode: "Forbidden", Messages: [{ Code: "Forbidden", Value: "no access" }] }] });
    const { code, err } = await run(args("metrics"));
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe("variants: CloudWatch GetMetricData answered Forbidden for inv_0: no access");
  });

  test.each([["0"], ["721"], ["1.5"]])("--hours %s is bad usage, before any AWS call", async (hours) => {
    const { code, err } = await run(args("metrics", "--hours", hours));
    expect(code).toBe(2);
    expect(err).toEqual([`variants: --hours must be a whole number from 1 to 720, got "${hours}" (see variants --help)`]);
    expect(sts.calls()).toHaveLength(0);
  });

  test("--min-invocations 0 is bad usage", async () => {
    const { code, err } = await run(args("metrics", "--min-invocations", "0"));
    expect(code).toBe(2);
    expect(err[0]).toContain("--min-invocations must be a whole number from 1 to");
  });
});

describe("the leader", () => {
  const m = (variant: string, invocations: number, errors5xx: number, p99: number | null): VariantMetrics => ({
    variant,
    invocations,
    errors4xx: 0,
    errors5xx,
    errorRate4xx: 0,
    errorRate5xx: invocations > 0 ? errors5xx / invocations : null,
    latencyP50Ms: null,
    latencyP99Ms: p99,
  });

  test("ignores the 5XX error rate of variants below the minimum, however low", () => {
    const leader = pickLeader([m("a", 1000, 5, 10), m("b", 1000, 1, 90), m("c", 99, 0, 1)], 100);
    expect(leader).toMatchObject({ variant: "b", qualified: ["a", "b"] });
  });

  test("a variant without latency data loses a tie on errors", () => {
    expect(pickLeader([m("a", 500, 0, null), m("b", 500, 0, 300)], 100).variant).toBe("b");
  });

  test("names no leader when the best two tie on both", () => {
    expect(pickLeader([m("a", 500, 1, 40), m("b", 500, 1, 40)], 100)).toMatchObject({ variant: null, reason: "a and b tie on 5XX error rate and p99 latency" });
  });

  test("names no leader for an endpoint with a single variant", () => {
    expect(pickLeader([m("a", 500, 0, 40)], 100)).toMatchObject({ variant: null, reason: "the endpoint has a single production variant: nothing to compare" });
  });

  test("traffic shares are weight over the sum of weights, and none when the weights add up to 0", () => {
    expect(sharesPercent([1, 3])).toEqual([25, 75]);
    expect(sharesPercent([0, 0])).toEqual([null, null]);
  });
});

describe("stage account access", () => {
  beforeEach(() => serveEndpoint(described("InService")));

  test("assumes the stage's deployer role by default, says so, and calls SageMaker and CloudWatch with its credentials in the service's region", async () => {
    serveMetrics({});
    const { code, err } = await run(args("metrics"));
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.deployerRole]);
    expect(err[0]).toBe(roleLine());
    const sagemaker = sm.send.getCall(0).thisValue as SageMakerClient;
    const cloudwatch = cw.send.getCall(0).thisValue as CloudWatchClient;
    expect(await sagemaker.config.credentials()).toMatchObject({ accessKeyId: "ASIADEPLOYER" });
    expect(await cloudwatch.config.credentials()).toMatchObject({ accessKeyId: "ASIADEPLOYER" });
    expect(await sagemaker.config.region()).toBe(f.region);
    expect(await cloudwatch.config.region()).toBe(f.region);
  });

  test("credentials that already are the deployer role use their own and assume nothing", async () => {
    const name = f.deployerRole.split("/").pop()!;
    sts.on(GetCallerIdentityCommand).resolves({ Account: f.accountId, Arn: `arn:aws:sts::${f.accountId}:assumed-role/${name}/GitHubActions` });
    const { code, err } = await run(args("list"));
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(err[0]).toBe(`variants: as ${f.deployerRole} (the ${f.stage} stage's deployer role, already held by these credentials; --role-arn overrides)`);
  });

  test("--role-arn replaces the deployer role, and stderr says so", async () => {
    const custom = `arn:aws:iam::${f.accountId}:role/traffic-operator`;
    const { code, err } = await run(args("list", "--role-arn", custom));
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([custom]);
    expect(err[0]).toBe(`variants: as ${custom} (--role-arn, instead of the ${f.stage} stage's deployer role)`);
  });

  test("--role-arn in another account than the stage's is refused before any AWS call", async () => {
    const custom = `arn:aws:iam::${f.otherAccountId}:role/traffic-operator`;
    const { code, err } = await run(args("weights", "--set", `${B}=3`, "--role-arn", custom));
    expect(code).toBe(1);
    expect(err).toEqual([`variants: role ${custom} is not a role in account ${f.accountId}, where the work has to happen`]);
    expect(sts.calls()).toHaveLength(0);
    expect(sm.calls()).toHaveLength(0);
  });

  test("a denied AssumeRole names the deployer role, who its trust policy admits and the rights another role needs, in one line", async () => {
    sts.on(AssumeRoleCommand).rejects(new STSServiceException({
      name: "AccessDenied", message: "not authorized to perform: sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    const { code, out, err } = await run(args("list"));
    expect(code).toBe(1);
    expect(out).toEqual([]);
    const ci = f.config.project.ciPrincipal;
    expect(ci.type).toBe("github-oidc");
    expect(err).toEqual([`variants: credentials of account ${f.accountId} (${caller()}) may not assume ${f.deployerRole}: it is the ${f.stage} stage's `
      + `deployer role, whose trust policy admits only the CI principal (GitHub Actions jobs of ${ci.type === "github-oidc" ? ci.repository : ""} `
      + `in the environment "${f.stage}"; ciPrincipal in .projenrc.ts); run from there, or pass --role-arn with a role of account ${f.accountId} `
      + "that may describe and update the endpoint and read CloudWatch metrics"]);
    expect(sm.calls()).toHaveLength(0);
  });

  test("a --region other than the service's is bad usage", async () => {
    const { code, err } = await run(args("list", "--region", "eu-north-1"));
    expect(code).toBe(2);
    expect(err[0]).toContain(`--region must be ${f.region}`);
    expect(sts.calls()).toHaveLength(0);
  });
});

describe("command line", () => {
  test("--help lists the commands, says Pulumi does not see weight changes, and exits 0", async () => {
    const { code, out } = await run(["--help"]);
    expect(code).toBe(0);
    expect(out.join("\n")).toMatch(/list[\s\S]*weights[\s\S]*metrics[\s\S]*promote/);
    expect(out.join("\n")).toContain("Pulumi does not see a weight change");
  });

  test.each([
    ["list", "Usage: variants list --stage STAGE --endpoint KEY [options]", "--json"],
    ["weights", "Usage: variants weights --stage STAGE --endpoint KEY --set NAME=WEIGHT [--set NAME=WEIGHT ...] [options]", "resets the weights to"],
    ["metrics", "Usage: variants metrics --stage STAGE --endpoint KEY [--hours N] [--min-invocations N] [options]", "--min-invocations N"],
  ])("%s --help shows its usage without reading config or calling AWS", async (command, usage, mentions) => {
    rmSync(join(f.dir, "Pulumi.yaml"));
    const { code, out } = await run([command, "--help"]);
    expect(code).toBe(0);
    expect(out[0]).toBe(usage);
    expect(out.join("\n")).toContain(mentions);
    expect(sts.calls()).toHaveLength(0);
  });

  test("no command prints the usage on stderr and exits 2", async () => {
    const { code, out, err } = await run([]);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err[0]).toBe("Usage: variants <command> [options]");
  });

  test("an unknown command or option, or a missing one, is bad usage in one line", async () => {
    expect((await run(["shift"])).err).toEqual(['variants: unknown command "shift"; commands are list, weights, metrics, promote (see variants --help)']);
    expect((await run(args("list", "--weight", "1"))).err).toEqual(["variants: Unknown option '--weight' (see variants --help)"]);
    const { code, err } = await run(["list", "--stage", f.stage]);
    expect(code).toBe(2);
    expect(err).toEqual(["variants: --endpoint is required (see variants --help)"]);
  });
});

describe("projen task", () => {
  test("variants runs its script and passes the arguments on", () => {
    const project = new Project({ name: "test", outdir: mkdtempSync(join(tmpdir(), "projen-")) });
    addScriptTasks(project);
    const tasks = Testing.synth(project)[".projen/tasks.json"].tasks;
    expect(tasks.variants).toEqual({
      name: "variants",
      description: expect.stringContaining("A/B variants"),
      steps: [{ execArgs: ["ts-node", "--transpile-only", "scripts/variants.ts"], receiveArgs: true }],
    });
  });
});
