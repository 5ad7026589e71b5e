import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTransformJobCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeTransformJobCommand,
  type DescribeTransformJobCommandOutput,
  SageMakerClient,
  SageMakerServiceException,
  TransformInstanceType,
} from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { Project, Testing } from "projen";
import { hasLocalInstanceStorage } from "../../components/instance-types";
import { endpointNames, roleArn, SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN, stageNames } from "../../components/names";
import { addScriptTasks } from "../../projen/script-tasks";
import { type BatchDeps, main } from "../../scripts/batch";
import { estimateCost, transformJobName } from "../../scripts/lib/batch";
import { hourlyPrice, PRICE_TABLE } from "../../scripts/lib/prices";
import { stackFileName } from "../../stacks/config/load";
import { FIXTURE_STAGES } from "../fixtures/project";
import { stageProject } from "../support/stack-files";

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);

/** The fixture project in a temporary directory, and what the batch CLI derives from it for its first stage. */
function fixture() {
  const stage = FIXTURE_STAGES[0];
  const { dir, config, account, names } = stageProject(stage);
  const keys = Object.keys(config.endpoints);
  // An endpoint on EBS-backed instances (takes a volume key) and one on local NVMe storage (takes none).
  const key = keys.find((k) => config.endpoints[k].instanceType !== undefined && !hasLocalInstanceStorage(config.endpoints[k].instanceType ?? ""))!;
  const nvmeKey = keys.find((k) => hasLocalInstanceStorage(config.endpoints[k].instanceType ?? ""))!;
  const endpointName = endpointNames(config.project.serviceName, key).endpoint;
  const otherStage = FIXTURE_STAGES[1];
  return {
    dir,
    config,
    stage,
    region: config.region,
    accountId: config.accountId,
    otherAccountId: config.project.stages.find((s) => s.accountId !== config.accountId)!.accountId,
    otherStage,
    otherBucket: stageNames(config.project.serviceName, otherStage, account).bucket,
    keys,
    key,
    nvmeKey,
    endpointName,
    instanceType: config.endpoints[key].instanceType!,
    nvmeInstanceType: config.endpoints[nvmeKey].instanceType!,
    bucket: names.bucket,
    kmsAlias: names.kmsAlias,
    deployerRole: roleArn(account, names.deployerRole),
    endpointConfig: `${endpointName}-config-1a2b3c4`,
    model: `${endpointName}-model-5d6e7f8`,
    input: `s3://${names.bucket}/batch/input/october/`,
    output: `s3://${names.bucket}/batch/output/october/`,
  };
}

/** A clock that the poll's sleep moves on, so elapsed times are exact. */
const START = new Date("2026-03-04T05:06:07.000Z");
const JOB_STAMP = "20260304050607";
let clock: number;
let sleeps: number[];
let f: ReturnType<typeof fixture>;

const jobName = () => `${f.endpointName}-batch-${JOB_STAMP}`;
const jobArn = () => `arn:aws:sagemaker:${f.region}:${f.accountId}:transform-job/${jobName()}`;
const caller = () => `arn:aws:sts::${f.accountId}:assumed-role/dev/alice`;
const roleLine = () => `batch: as ${f.deployerRole} (the ${f.stage} stage's deployer role; --role-arn overrides)`;

beforeEach(() => {
  sm.reset();
  sts.reset();
  f = fixture();
  clock = START.getTime();
  sleeps = [];
  // A person in the stage's account, who is not the deployer role: the CLI assumes it.
  sts.on(GetCallerIdentityCommand).resolves({ Account: f.accountId, Arn: caller() });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIADEPLOYER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
  sm.on(DescribeEndpointCommand).resolves({ EndpointName: f.endpointName, EndpointStatus: "InService", EndpointConfigName: f.endpointConfig });
  sm.on(DescribeEndpointConfigCommand).resolves({
    EndpointConfigName: f.endpointConfig,
    ProductionVariants: [{ VariantName: "primary", ModelName: f.model }, { VariantName: "shadow", ModelName: `${f.model}-other` }],
  });
  sm.on(CreateTransformJobCommand).resolves({ TransformJobArn: jobArn() });
});
afterEach(() => rmSync(f.dir, { recursive: true, force: true }));

/** A description of the job as SageMaker returns it: started a minute after START, running `minutes` when it ends. */
function described(status: string, extra: Partial<DescribeTransformJobCommandOutput> = {}, minutes = 30): DescribeTransformJobCommandOutput {
  const started = new Date(START.getTime() + 60_000);
  const final = ["Completed", "Failed", "Stopped"].includes(status);
  return {
    TransformJobName: jobName(),
    TransformJobArn: jobArn(),
    TransformJobStatus: status as DescribeTransformJobCommandOutput["TransformJobStatus"],
    ModelName: f.model,
    TransformInput: { DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: f.input } } },
    TransformOutput: { S3OutputPath: f.output, KmsKeyId: f.kmsAlias },
    TransformResources: { InstanceType: f.instanceType as TransformInstanceType, InstanceCount: 1 },
    CreationTime: START,
    TransformStartTime: started,
    ...(final ? { TransformEndTime: new Date(started.getTime() + minutes * 60_000) } : {}),
    $metadata: {},
    ...extra,
  };
}

/** Serves the job's statuses in order, one per DescribeTransformJob call. */
function serveStatuses(...statuses: DescribeTransformJobCommandOutput[]) {
  let mock = sm.on(DescribeTransformJobCommand);
  for (const s of statuses) mock = mock.resolvesOnce(s);
}

async function run(argv: string[], deps: Pick<BatchDeps, "onInterrupt" | "sleep"> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    cwd: f.dir,
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    now: () => new Date(clock),
    pollIntervalMs: 30_000,
    sleep: async (ms) => { sleeps.push(ms); clock += ms; },
    ...deps,
  });
  return { code, out, err };
}

const runArgs = (...extra: string[]) => ["run", "--stage", f.stage, "--endpoint", f.key, "--input", f.input, "--output", f.output, ...extra];
const createInput = () => sm.commandCalls(CreateTransformJobCommand)[0].args[0].input;
const assumedRoles = () => sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn);
const serviceError = (name: string, message: string, status = 400) => new SageMakerServiceException({
  name, message, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status },
});

describe("run", () => {
  test("starts a job with the model the endpoint serves now, in the stage bucket, encrypted with the stage key", async () => {
    // GIVEN
    serveStatuses(described("InProgress"), described("Completed"));
    // WHEN
    const { code } = await run(runArgs());
    // THEN
    expect(code).toBe(0);
    expect(sm.commandCalls(DescribeEndpointCommand)[0].args[0].input).toEqual({ EndpointName: f.endpointName });
    expect(sm.commandCalls(DescribeEndpointConfigCommand)[0].args[0].input).toEqual({ EndpointConfigName: f.endpointConfig });
    expect(createInput()).toEqual({
      TransformJobName: jobName(),
      ModelName: f.model,
      TransformInput: { DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: f.input } } },
      TransformOutput: { S3OutputPath: f.output, KmsKeyId: f.kmsAlias },
      TransformResources: { InstanceType: f.instanceType, InstanceCount: 1, VolumeKmsKeyId: f.kmsAlias },
      Tags: [
        ...Object.entries(f.config.tags).map(([Key, Value]) => ({ Key, Value })),
        { Key: "mlplatform:service", Value: f.config.project.serviceName },
        { Key: "mlplatform:stage", Value: f.stage },
      ],
    });
    expect(jobName()).toMatch(SAGEMAKER_NAME_PATTERN);
  });

  test("says which role, model and endpoint configuration it uses, then prints progress at every poll on stderr", async () => {
    // GIVEN
    serveStatuses(described("InProgress"), described("InProgress"), described("Completed"));
    // WHEN
    const { code, err } = await run(runArgs());
    // THEN
    expect(code).toBe(0);
    expect(err).toEqual([
      roleLine(),
      `batch: endpoint ${f.endpointName} serves model ${f.model} (endpoint configuration ${f.endpointConfig}, variant primary); `
        + "the job runs it as the model's execution role",
      `batch: starting transform job ${jobName()}: 1 x ${f.instanceType} (volume encrypted with ${f.kmsAlias}), `
        + `${f.input} -> ${f.output} (encrypted with ${f.kmsAlias})`,
      `batch: ${jobName()}: InProgress, 0s elapsed`,
      `batch: ${jobName()}: InProgress, 30s elapsed`,
      `batch: ${jobName()}: Completed, 1m00s elapsed`,
    ]);
    expect(sleeps).toEqual([30_000, 30_000]);
    expect(sm.commandCalls(DescribeTransformJobCommand).map((c) => c.args[0].input)).toEqual([
      { TransformJobName: jobName() }, { TransformJobName: jobName() }, { TransformJobName: jobName() },
    ]);
  });

  test("reports the job, its duration, output and the estimated cost from the dated price table", async () => {
    // GIVEN a 30-minute job on one instance
    serveStatuses(described("Completed"));
    const price = hourlyPrice(f.instanceType)!;
    // WHEN
    const { code, out } = await run(runArgs());
    // THEN
    expect(code).toBe(0);
    const line = (key: string) => out.find((l) => l.startsWith(`${key} `));
    expect(line("job")).toMatch(new RegExp(`^job\\s+${jobName()}$`));
    expect(line("status")).toMatch(/^status\s+Completed$/);
    expect(line("model")).toMatch(new RegExp(`^model\\s+${f.model}$`));
    expect(line("endpoint")).toContain(`${f.endpointName} (endpoint configuration ${f.endpointConfig})`);
    expect(line("output")).toContain(`${f.output} (encrypted with ${f.kmsAlias})`);
    expect(line("duration")).toContain("30m00s (2026-03-04T05:07:07.000Z to 2026-03-04T05:37:07.000Z)");
    expect(line("cost")).toContain(`about $${(price / 2).toFixed(2)} (1 x 0.500 h x $${price}/h; `);
    expect(line("cost")).toContain(`${PRICE_TABLE.region} on-demand real-time hosting price from ${PRICE_TABLE.source}, as of ${PRICE_TABLE.date}`);
    expect(line("failure")).toBeUndefined();
  });

  test("--json prints the same report as JSON", async () => {
    // GIVEN
    serveStatuses(described("Completed", { TransformResources: { InstanceType: f.instanceType as TransformInstanceType, InstanceCount: 2 } }, 90));
    const price = hourlyPrice(f.instanceType)!;
    // WHEN
    const { code, out } = await run(runArgs("--instance-count", "2", "--json"));
    // THEN
    expect(code).toBe(0);
    const report = JSON.parse(out.join("\n"));
    expect(report).toMatchObject({
      job: jobName(),
      arn: jobArn(),
      status: "Completed",
      model: f.model,
      endpoint: f.endpointName,
      endpointConfig: f.endpointConfig,
      instanceType: f.instanceType,
      instanceCount: 2,
      input: f.input,
      output: f.output,
      outputKmsKey: f.kmsAlias,
      durationSeconds: 5400,
      cost: { instanceCount: 2, hours: 1.5, hourlyUsd: price, usd: Math.round(2 * 1.5 * price * 10_000) / 10_000 },
    });
    expect(report.cost.basis).toContain(PRICE_TABLE.date);
    expect(report).not.toHaveProperty("failureReason");
    expect(createInput().TransformResources?.InstanceCount).toBe(2);
  });

  test.each(["Failed", "Stopped"])("a job that ends %s exits 1 with its reason on stdout and stderr", async (status) => {
    // GIVEN
    const reason = "ClientError: See job logs for more information";
    serveStatuses(described("InProgress"), described(status, { FailureReason: reason }, 4));
    // WHEN
    const { code, out, err } = await run(runArgs());
    // THEN
    expect(code).toBe(1);
    expect(out.find((l) => l.startsWith("failure "))).toMatch(new RegExp(`^failure\\s+${reason}$`));
    expect(out.find((l) => l.startsWith("status "))).toMatch(new RegExp(`^status\\s+${status}$`));
    expect(err[err.length - 1]).toBe(`batch: transform job ${jobName()} ${status}: ${reason}`);
  });

  test("--no-wait starts the job, prints how to check and stop it, and polls nothing", async () => {
    // WHEN
    const { code, out } = await run(runArgs("--no-wait"));
    // THEN
    expect(code).toBe(0);
    expect(sm.commandCalls(CreateTransformJobCommand)).toHaveLength(1);
    expect(sm.commandCalls(DescribeTransformJobCommand)).toHaveLength(0);
    expect(sleeps).toEqual([]);
    expect(out).toEqual([
      `started ${jobName()} (${jobArn()})`,
      `check it: batch status --stage ${f.stage} --job ${jobName()}`,
      `stop it:  aws sagemaker stop-transform-job --transform-job-name ${jobName()} --region ${f.region}`,
    ]);
  });

  test("--no-wait --json prints the started job", async () => {
    const { code, out } = await run(runArgs("--no-wait", "--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toMatchObject({ job: jobName(), status: "InProgress", model: f.model, cost: { usd: null } });
  });

  test("content type, split type and payload size reach the request; Line input is assembled by line", async () => {
    serveStatuses(described("Completed"));
    const { code } = await run(runArgs("--content-type", "text/csv", "--split-type", "Line", "--max-payload-mib", "20"));
    expect(code).toBe(0);
    expect(createInput()).toMatchObject({
      MaxPayloadInMB: 20,
      TransformInput: { ContentType: "text/csv", SplitType: "Line" },
      TransformOutput: { AssembleWith: "Line" },
    });
  });

  test("an instance type with local NVMe storage gets no volume key (SageMaker refuses one); the output still gets the stage key", async () => {
    serveStatuses(described("Completed"));
    const { code } = await run(runArgs("--instance-type", f.nvmeInstanceType));
    expect(code).toBe(0);
    expect(createInput().TransformResources).toEqual({ InstanceType: f.nvmeInstanceType, InstanceCount: 1 });
    expect(createInput().TransformOutput?.KmsKeyId).toBe(f.kmsAlias);
  });

  test("the instance type defaults to the endpoint's own, from the stack file", async () => {
    serveStatuses(described("Completed"));
    await run(["run", "--stage", f.stage, "--endpoint", f.nvmeKey, "--input", f.input, "--output", f.output]);
    expect(createInput().TransformResources?.InstanceType).toBe(f.nvmeInstanceType);
  });

  test("a price missing from the table is said, not guessed", async () => {
    // GIVEN a transform instance type the price table does not have
    const unpriced = Object.values(TransformInstanceType).find((t) => hourlyPrice(t) === undefined && !hasLocalInstanceStorage(t))!;
    serveStatuses(described("Completed", { TransformResources: { InstanceType: unpriced, InstanceCount: 1 } }));
    // WHEN
    const { code, out } = await run(runArgs("--instance-type", unpriced));
    // THEN
    expect(code).toBe(0);
    expect(out.find((l) => l.startsWith("cost "))).toMatch(
      new RegExp(`^cost\\s+unknown: ${unpriced.replace(/\./g, "\\.")} has no price in the price table \\(scripts/lib/prices\\.ts, ${PRICE_TABLE.date}\\)$`));
  });
});

describe("refusals before any AWS call", () => {
  test.each([
    ["input", () => runArgs().map((a) => (a === f.input ? `s3://${f.otherBucket}/batch/input/` : a))],
    ["output", () => runArgs().map((a) => (a === f.output ? `s3://${f.otherBucket}/batch/output/` : a))],
  ] as const)("--%s outside the stage's bucket is bad usage, saying why and what to do", async (option, args) => {
    // WHEN
    const { code, err } = await run(args());
    // THEN
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toContain(`batch: --${option} must be in the ${f.stage} stage's bucket ${f.bucket}: the model's execution role `
      + `may read and write only there; got bucket "${f.otherBucket}": `);
    expect(err[0]).toContain(`s3://${f.bucket}/batch/${option}/<name>/`);
    expect(sts.calls()).toHaveLength(0);
    expect(sm.calls()).toHaveLength(0);
  });

  test("an output inside the input prefix is refused: a later run would read it as input", async () => {
    // GIVEN an input prefix without a trailing slash, which also matches the keys of "<prefix>-results/"
    const input = f.input.replace(/\/$/, "");
    const output = `${input}-results/`;
    // WHEN
    const { code, err } = await run(runArgs().map((a) => (a === f.input ? input : a === f.output ? output : a)));
    // THEN
    expect(code).toBe(2);
    expect(err[0]).toContain(`--output ${output} is inside --input ${input}`);
    expect(sts.calls()).toHaveLength(0);
    expect(sm.calls()).toHaveLength(0);
  });

  test("an input that is not an s3:// URL is bad usage", async () => {
    const { code, err } = await run(runArgs().map((a) => (a === f.input ? "/tmp/data.csv" : a)));
    expect(code).toBe(2);
    expect(err[0]).toContain("--input must be an s3://bucket/prefix URL");
    expect(sts.calls()).toHaveLength(0);
  });

  test("an unknown endpoint key is bad usage listing the stage's endpoints", async () => {
    const { code, err } = await run(["run", "--stage", f.stage, "--endpoint", "nope", "--input", f.input, "--output", f.output]);
    expect(code).toBe(2);
    expect(err).toEqual([`batch: unknown endpoint "nope"; the endpoints of ${stackFileName(f.stage)} are ${f.keys.join(", ")} (see batch --help)`]);
    expect(sts.calls()).toHaveLength(0);
  });

  test("an unknown stage is bad usage listing the stages", async () => {
    const { code, err } = await run(["run", "--stage", "registry", "--endpoint", f.key, "--input", f.input, "--output", f.output]);
    expect(code).toBe(2);
    expect(err).toEqual([`batch: unknown stage "registry"; the stages of Pulumi.yaml are ${FIXTURE_STAGES.join(", ")} (see batch --help)`]);
  });

  test("an instance type that is not a batch transform type is bad usage", async () => {
    const { code, err } = await run(runArgs("--instance-type", "ml.m5.huge"));
    expect(code).toBe(2);
    expect(err[0]).toBe('batch: --instance-type must be a SageMaker batch transform instance type such as ml.m5.large; got "ml.m5.huge" (see batch --help)');
  });

  test("an endpoint whose own instance type cannot run transform jobs needs --instance-type", async () => {
    // GIVEN the endpoint on a hosting-only type
    const file = join(f.dir, stackFileName(f.stage));
    const hostingOnly = "ml.c5.large";
    expect(Object.values(TransformInstanceType)).not.toContain(hostingOnly);
    writeFileSync(file, readFileSync(file, "utf8").replace(`instanceType: ${f.instanceType}`, `instanceType: ${hostingOnly}`));
    // WHEN
    const { code, err } = await run(runArgs());
    // THEN
    expect(code).toBe(2);
    expect(err[0]).toContain(`the endpoint's instance type ${hostingOnly} (endpoints.${f.key}.instanceType of ${stackFileName(f.stage)}) `
      + "is not a batch transform instance type; choose one with --instance-type");
    expect(sm.calls()).toHaveLength(0);
  });

  test.each([["0"], ["101"], ["two"]])("--instance-count %s is bad usage", async (count) => {
    const { code, err } = await run(runArgs("--instance-count", count));
    expect(code).toBe(2);
    expect(err[0]).toContain(`--instance-count must be a whole number from 1 to 100, got "${count}"`);
  });

  test("an unknown split type is bad usage", async () => {
    const { code, err } = await run(runArgs("--split-type", "line"));
    expect(code).toBe(2);
    expect(err[0]).toContain('--split-type must be one of Line, None, RecordIO, TFRecord; got "line"');
  });

  test("a --region other than the service's is bad usage: the stage's endpoints and bucket are in the service's region", async () => {
    const { code, err } = await run(runArgs("--region", "eu-north-1"));
    expect(code).toBe(2);
    expect(err[0]).toContain(`--region must be ${f.region}`);
    expect(sts.calls()).toHaveLength(0);
  });
});

describe("the endpoint must be deployed", () => {
  test("an endpoint that does not exist is a failure that says to deploy first", async () => {
    sm.on(DescribeEndpointCommand).rejects(serviceError("ValidationException", `Could not find endpoint "${f.endpointName}".`));
    const { code, err } = await run(runArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`batch: endpoint ${f.endpointName} does not exist: deploy the ${f.stage} stage first `
      + `(npx projen up:${f.stage}, or merge and let the deploy workflow run)`);
    expect(sm.commandCalls(CreateTransformJobCommand)).toHaveLength(0);
  });

  test.each([
    ["Updating", "wait until its deployment has finished and it is InService"],
    ["Failed", `deploy the ${FIXTURE_STAGES[0]} stage first`],
    ["Creating", `deploy the ${FIXTURE_STAGES[0]} stage first`],
  ])("an endpoint that is %s is refused and no job starts", async (status, hint) => {
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: f.endpointName, EndpointStatus: status as "Updating", EndpointConfigName: f.endpointConfig });
    const { code, err } = await run(runArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain(`batch: endpoint ${f.endpointName} is ${status}, not InService: ${hint}`);
    expect(sm.commandCalls(CreateTransformJobCommand)).toHaveLength(0);
  });
});

describe("starting the job", () => {
  test("a throttled CreateTransformJob is retried: the job did not exist yet", async () => {
    sm.on(CreateTransformJobCommand).rejectsOnce(serviceError("ThrottlingException", "Rate exceeded")).resolves({ TransformJobArn: jobArn() });
    serveStatuses(described("Completed"));
    const { code, err } = await run(runArgs());
    expect(code).toBe(0);
    expect(sm.commandCalls(CreateTransformJobCommand)).toHaveLength(2);
    expect(err.some((l) => /^batch: CreateTransformJob: ThrottlingException, retrying in/.test(l))).toBe(true);
  });

  test("a server error is not retried: the job may exist, and the message says how to find out", async () => {
    sm.on(CreateTransformJobCommand).rejects(serviceError("InternalFailure", "internal error", 500));
    const { code, err } = await run(runArgs());
    expect(code).toBe(1);
    expect(sm.commandCalls(CreateTransformJobCommand)).toHaveLength(1);
    expect(err[err.length - 1]).toBe(`batch: CreateTransformJob of ${jobName()} failed with AWS InternalFailure: internal error; `
      + `the job may or may not have been created: check with "batch status --stage ${f.stage} --job ${jobName()}" before starting another`);
  });
});

describe("waiting", () => {
  test("Ctrl-C while waiting says the job keeps running and how to check and stop it; the handler is removed after the wait", async () => {
    // GIVEN Ctrl-C pressed during the first poll interval
    let handler: (() => void) | undefined;
    let removed = false;
    const onInterrupt = (h: () => void) => { handler = h; return () => { removed = true; }; };
    const sleep = async (ms: number) => { sleeps.push(ms); clock += ms; if (sleeps.length === 1) handler!(); };
    serveStatuses(described("InProgress"), described("Completed"));
    // WHEN
    const { code, err } = await run(runArgs(), { onInterrupt, sleep });
    // THEN
    expect(code).toBe(0);
    expect(removed).toBe(true);
    expect(err.slice(3)).toEqual([
      `batch: ${jobName()}: InProgress, 0s elapsed`,
      `batch: interrupted: transform job ${jobName()} keeps running (and billing); check it with "batch status --stage ${f.stage} --job ${jobName()}"`,
      `batch: stop it with: aws sagemaker stop-transform-job --transform-job-name ${jobName()} --region ${f.region}`,
      `batch: ${jobName()}: Completed, 30s elapsed`,
    ]);
  });

  test("credentials that expire during a long wait are renewed by assuming the role again", async () => {
    sm.on(DescribeTransformJobCommand)
      .resolvesOnce(described("InProgress"))
      .rejectsOnce(serviceError("ExpiredTokenException", "The security token included in the request is expired"))
      .resolvesOnce(described("Completed"));
    const { code, err } = await run(runArgs());
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.deployerRole, f.deployerRole]);
    expect(err).toContain("batch: the credentials expired while waiting; connecting again");
  });

  test("an AWS error while waiting says the job keeps running", async () => {
    sm.on(DescribeTransformJobCommand).rejects(serviceError("AccessDeniedException", "not authorized to perform sagemaker:DescribeTransformJob"));
    const { code, err } = await run(runArgs());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`batch: stopped waiting for transform job ${jobName()}: AWS AccessDeniedException: `
      + `not authorized to perform sagemaker:DescribeTransformJob; the job keeps running: check it with "batch status --stage ${f.stage} --job ${jobName()}", `
      + `stop it with "aws sagemaker stop-transform-job --transform-job-name ${jobName()} --region ${f.region}"`);
  });
});

describe("status", () => {
  test("reports a completed job with its cost and exits 0", async () => {
    serveStatuses(described("Completed"));
    const { code, out, err } = await run(["status", "--stage", f.stage, "--job", jobName()]);
    expect(code).toBe(0);
    expect(err).toEqual([roleLine()]);
    expect(out.find((l) => l.startsWith("status "))).toMatch(/Completed$/);
    expect(out.find((l) => l.startsWith("cost "))).toContain("about $");
    expect(sm.commandCalls(DescribeEndpointCommand)).toHaveLength(0);
  });

  test("a running job has no cost yet and exits 0; --json says why", async () => {
    serveStatuses(described("InProgress"));
    const { code, out } = await run(["status", "--stage", f.stage, "--job", jobName(), "--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n")).cost).toEqual({ usd: null, reason: "the job has not run to an end, so its duration is not known yet" });
  });

  test("a failed job exits 1", async () => {
    serveStatuses(described("Failed", { FailureReason: "AlgorithmError: out of memory" }));
    const { code, err } = await run(["status", "--stage", f.stage, "--job", jobName()]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`batch: transform job ${jobName()} Failed: AlgorithmError: out of memory`);
  });

  test("a job that does not exist is a failure in one line", async () => {
    sm.on(DescribeTransformJobCommand).rejects(serviceError("ValidationException", "Could not find requested job with name"));
    const { code, err } = await run(["status", "--stage", f.stage, "--job", jobName()]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`batch: no transform job ${jobName()} in this account and region`);
  });

  test("a job name of another service is bad usage, before any AWS call", async () => {
    const { code, err } = await run(["status", "--stage", f.stage, "--job", "other-service-batch-1"]);
    expect(code).toBe(2);
    expect(err[0]).toContain(`--job must be the name of one of this service's transform jobs, ${f.config.project.serviceName}-<endpoint>-batch-<UTC time>`);
    expect(sts.calls()).toHaveLength(0);
  });
});

describe("stage account access", () => {
  beforeEach(() => serveStatuses(described("Completed")));

  test("assumes the stage's deployer role by default, says so, and calls SageMaker with its credentials in the service's region", async () => {
    const { code, err } = await run(runArgs());
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.deployerRole]);
    expect(err[0]).toBe(roleLine());
    const client = sm.send.getCall(0).thisValue as SageMakerClient;
    expect(await client.config.credentials()).toMatchObject({ accessKeyId: "ASIADEPLOYER" });
    expect(await client.config.region()).toBe(f.region);
  });

  test("credentials that already are the deployer role use their own and assume nothing", async () => {
    const name = f.deployerRole.split("/").pop()!;
    sts.on(GetCallerIdentityCommand).resolves({ Account: f.accountId, Arn: `arn:aws:sts::${f.accountId}:assumed-role/${name}/GitHubActions` });
    const { code, err } = await run(runArgs());
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(err[0]).toBe(`batch: as ${f.deployerRole} (the ${f.stage} stage's deployer role, already held by these credentials; --role-arn overrides)`);
  });

  test("--role-arn replaces the deployer role, and stderr says so", async () => {
    const custom = `arn:aws:iam::${f.accountId}:role/batch-operator`;
    const { code, err } = await run(runArgs("--role-arn", custom));
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([custom]);
    expect(err[0]).toBe(`batch: as ${custom} (--role-arn, instead of the ${f.stage} stage's deployer role)`);
  });

  test("--role-arn in another account than the stage's is refused before any AWS call", async () => {
    const custom = `arn:aws:iam::${f.otherAccountId}:role/batch-operator`;
    const { code, err } = await run(runArgs("--role-arn", custom));
    expect(code).toBe(1);
    expect(err).toEqual([`batch: role ${custom} is not a role in account ${f.accountId}, where the work has to happen`]);
    expect(sts.calls()).toHaveLength(0);
    expect(sm.calls()).toHaveLength(0);
  });

  test("a denied AssumeRole names the deployer role and who its trust policy admits, in one line", async () => {
    sts.on(AssumeRoleCommand).rejects(new STSServiceException({
      name: "AccessDenied", message: "not authorized to perform: sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    const { code, out, err } = await run(runArgs());
    expect(code).toBe(1);
    expect(out).toEqual([]);
    const ci = f.config.project.ciPrincipal;
    expect(ci.type).toBe("github-oidc");
    expect(err).toEqual([`batch: credentials of account ${f.accountId} (${caller()}) may not assume ${f.deployerRole}: it is the ${f.stage} stage's `
      + `deployer role, whose trust policy admits only the CI principal (GitHub Actions jobs of ${ci.type === "github-oidc" ? ci.repository : ""} `
      + `in the environment "${f.stage}"; ciPrincipal in .projenrc.ts); run from there, or pass --role-arn with a role of account ${f.accountId} `
      + "that may run transform jobs"]);
    expect(sm.calls()).toHaveLength(0);
  });
});

describe("job names", () => {
  test("are <endpoint>-batch-<UTC yyyymmddhhmmss>", () => {
    expect(transformJobName("svc-scorer", new Date("2026-12-31T23:59:58.999Z"))).toBe("svc-scorer-batch-20261231235958");
  });

  test("shorten a long endpoint name to fit 63 characters, never ending it in a hyphen", () => {
    // GIVEN a name whose cut would fall right after a hyphen
    const suffix = `-batch-${JOB_STAMP}`;
    const keep = SAGEMAKER_NAME_MAX - suffix.length;
    const long = `${"a".repeat(keep - 1)}-${"b".repeat(20)}`;
    // WHEN
    const name = transformJobName(long, START);
    // THEN
    expect(name).toBe(`${"a".repeat(keep - 1)}${suffix}`);
    expect(name.length).toBeLessThanOrEqual(SAGEMAKER_NAME_MAX);
    expect(name).toMatch(SAGEMAKER_NAME_PATTERN);
  });
});

describe("cost estimate", () => {
  test("is instances x hours x the hourly price, and unknown without an end", () => {
    const priced = Object.values(TransformInstanceType).find((t) => hourlyPrice(t) !== undefined)!;
    const usd = Math.round(3 * 2 * hourlyPrice(priced)! * 10_000) / 10_000;
    expect(estimateCost(priced, 3, 7200)).toMatchObject({ usd, hours: 2, instanceCount: 3 });
    expect(estimateCost(priced, 3, undefined).usd).toBeNull();
  });
});

describe("command line", () => {
  test("--help lists the commands and exits 0", async () => {
    const { code, out } = await run(["--help"]);
    expect(code).toBe(0);
    expect(out.join("\n")).toMatch(/run[\s\S]*status/);
  });

  test("run --help shows the options and how to stop a job, without reading config or calling AWS", async () => {
    rmSync(join(f.dir, "Pulumi.yaml"));
    const { code, out } = await run(["run", "--help"]);
    expect(code).toBe(0);
    expect(out[0]).toBe("Usage: batch run --stage STAGE --endpoint KEY --input s3://... --output s3://... [options]");
    expect(out.join("\n")).toContain("aws sagemaker stop-transform-job --transform-job-name <job>");
    expect(out.join("\n")).toContain("--no-wait");
    expect(sts.calls()).toHaveLength(0);
  });

  test("no command prints the usage on stderr and exits 2", async () => {
    const { code, out, err } = await run([]);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err[0]).toBe("Usage: batch <command> [options]");
  });

  test("an unknown command or option, or a missing one, is bad usage in one line", async () => {
    expect((await run(["stop"])).err).toEqual(['batch: unknown command "stop"; commands are run, status (see batch --help)']);
    expect((await run(runArgs("--instnce-type", "x"))).err).toEqual(["batch: Unknown option '--instnce-type' (see batch --help)"]);
    const { code, err } = await run(["run", "--stage", f.stage, "--endpoint", f.key, "--input", f.input]);
    expect(code).toBe(2);
    expect(err).toEqual(["batch: --output is required (see batch --help)"]);
  });
});

describe("projen task", () => {
  test("batch runs its script and passes the arguments on", () => {
    const project = new Project({ name: "test", outdir: mkdtempSync(join(tmpdir(), "projen-")) });
    addScriptTasks(project);
    const tasks = Testing.synth(project)[".projen/tasks.json"].tasks;
    expect(tasks.batch).toEqual({
      name: "batch",
      description: expect.stringContaining("Batch transform"),
      steps: [{ execArgs: ["ts-node", "--transpile-only", "scripts/batch.ts"], receiveArgs: true }],
    });
  });
});
