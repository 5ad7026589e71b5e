import { createHash } from "node:crypto";
import { appendFileSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CopyObjectCommand, type CopyObjectCommandInput, GetObjectCommand, type GetObjectCommandOutput, HeadObjectCommand, type HeadObjectCommandInput,
  ListObjectsV2Command, PutObjectCommand, type PutObjectCommandInput, S3Client, S3ServiceException,
} from "@aws-sdk/client-s3";
import {
  CreateHyperParameterTuningJobCommand, type CreateHyperParameterTuningJobCommandInput, CreateModelCommand, CreateModelPackageCommand,
  type CreateModelPackageCommandInput, CreateTransformJobCommand, type CreateTransformJobCommandInput, DescribeHyperParameterTuningJobCommand,
  DescribeModelPackageCommand, DescribeTrainingJobCommand, DescribeTransformJobCommand, ListModelPackagesCommand, SageMakerClient,
  SageMakerServiceException,
} from "@aws-sdk/client-sagemaker";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import type { Client } from "pg";
import { modelPackageGroupName, registryNames, roleArn } from "../../components/names";
import { registryAccount } from "../../scripts/lib/registry";
import { evaluationName } from "../../scripts/lib/retrain/evaluation";
import { registeredKeys, runRegisterStep, type RegisterStepRequest } from "../../scripts/lib/retrain/register";
import { runPrefix } from "../../scripts/lib/retrain/run-state";
import { tuningJobName } from "../../scripts/lib/retrain/tuning";
import { XGBOOST_REGISTRY_ACCOUNTS } from "../../scripts/lib/retrain/xgboost-images";
import { main, type RetrainDeps } from "../../scripts/retrain";
import { readProjectConfig } from "../../stacks/config/files";
import { FIXTURE_ROOT } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { seededPostgres, type TestPostgres } from "../support/postgres";

/**
 * The retraining loop end to end (issue 12's "done when"): ONE command, `retrain run`, in-process,
 * against a real PostgreSQL server (test/support/postgres.ts, TLS verified) seeded here with 12,000
 * generated rows over seven years, and SageMaker, S3 and STS through aws-sdk-client-mock. S3 is an
 * in-memory bucket with S3's conditional writes (below); the SageMaker mock "trains" by writing a
 * model artifact as training output, and "predicts" by writing the batch transform's output from
 * the test split it reads in the bucket, with a known rule. Expected counts and metrics are computed
 * here from the generated rows and the rule, never from the code under test.
 */

/** The fixture service's first model (test/fixtures/service.ts), which the test's retraining.yaml configures; the second has no section. */
const [MODEL, UNCONFIGURED] = FIXTURE.models;
const NOW = Date.parse("2025-07-15T10:00:00Z");
const WINDOW = { start: "2019-01-01", end: "2025-06-15" };
const FRACTIONS = { train: 0.7, validation: 0.15, test: 0.15 };
const BEST_OBJECTIVE = 0.4375;

// ---------------------------------------------------------------------------------------------
// Synthetic data, and the answers computed independently.
// ---------------------------------------------------------------------------------------------

interface Row { readonly id: number; readonly at: number; readonly cents: number; readonly items: number; readonly y: number }

/** Park and Miller's minimal standard generator: the same numbers on every run. */
function generator(start: number): () => number {
  let state = start % 2147483647;
  return () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
}

/** The model's answer: what the mocked batch transform predicts from a row's features (amount, items). */
const predict = (amount: number, items: number) => 0.5 * amount + 2 * items;

const ROWS: Row[] = (() => {
  const random = generator(20260301);
  const from = Date.UTC(2018, 5, 1);
  const to = Date.UTC(2025, 11, 31);
  return Array.from({ length: 12_000 }, (_, i) => {
    const at = from + Math.floor((random() * (to - from)) / 1000) * 1000;
    const cents = 100 + Math.floor(random() * 99_900);
    const items = 1 + Math.floor(random() * 20);
    const y = Math.round((predict(cents / 100, items) + (random() * 4 - 2)) * 1e4) / 1e4;
    return { id: i + 1, at, cents, items, y };
  });
})();

function splitOf(id: number): "train" | "validation" | "test" {
  const u = createHash("sha256").update(`["${id}"]`).digest().readUIntBE(0, 6) / 2 ** 48;
  return u < FRACTIONS.train ? "train" : u < FRACTIONS.train + FRACTIONS.validation ? "validation" : "test";
}

const IN_WINDOW = ROWS.filter((r) => r.at >= Date.parse(`${WINDOW.start}T00:00:00Z`) && r.at < Date.parse(`${WINDOW.end}T00:00:00Z`));
const EXPECTED_COUNTS = {
  total: IN_WINDOW.length,
  train: IN_WINDOW.filter((r) => splitOf(r.id) === "train").length,
  validation: IN_WINDOW.filter((r) => splitOf(r.id) === "validation").length,
  test: IN_WINDOW.filter((r) => splitOf(r.id) === "test").length,
};
/** MAE, RMSE and the population standard deviation of actual - predicted over the test split, by hand. */
const EXPECTED_METRICS = (() => {
  const errors = IN_WINDOW.filter((r) => splitOf(r.id) === "test").map((r) => r.y - predict(r.cents / 100, r.items));
  const n = errors.length;
  const mean = errors.reduce((a, e) => a + e, 0) / n;
  return {
    mae: errors.reduce((a, e) => a + Math.abs(e), 0) / n,
    rmse: Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / n),
    errorStd: Math.sqrt(errors.reduce((a, e) => a + (e - mean) ** 2, 0) / n),
    rows: n,
  };
})();

async function seed(client: Client): Promise<void> {
  await client.query("CREATE TABLE observations (id bigint PRIMARY KEY, observed_at timestamptz NOT NULL, amount numeric(10,2) NOT NULL, items integer NOT NULL, y double precision NOT NULL)");
  await client.query(
    "INSERT INTO observations SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::numeric[], $4::int[], $5::float8[])",
    [
      ROWS.map((r) => r.id), ROWS.map((r) => new Date(r.at).toISOString()), ROWS.map((r) => (r.cents / 100).toFixed(2)),
      ROWS.map((r) => r.items), ROWS.map((r) => r.y),
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// An in-memory S3 bucket with conditional writes, behind aws-sdk-client-mock.
// ---------------------------------------------------------------------------------------------

interface StoredObject { body: Buffer; etag: string; metadata: Record<string, string>; sha256?: string }

const s3Error = (name: string, status: number) => new S3ServiceException({ name, $fault: "client", $metadata: { httpStatusCode: status }, message: name });

async function bytesOf(body: unknown): Promise<Buffer> {
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const s3 = mockClient(S3Client);
const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);
const secrets = mockClient(SecretsManagerClient);

/** The bucket's objects by key; every write request (PutObject, CopyObject) in order; a hook before each PutObject. */
let objects: Map<string, StoredObject>;
let writes: { kind: "put" | "copy"; key: string; ifNoneMatch?: string }[];
let beforePut: (input: PutObjectCommandInput) => void;
let etags = 0;

function fakeBucket(): void {
  objects = new Map();
  writes = [];
  beforePut = () => undefined;
  s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    const body = await bytesOf(input.Body);
    beforePut(input);
    writes.push({ kind: "put", key: input.Key!, ifNoneMatch: input.IfNoneMatch });
    if (input.IfNoneMatch === "*" && objects.has(input.Key!)) throw s3Error("PreconditionFailed", 412);
    const sha256 = createHash("sha256").update(body).digest("base64");
    if (input.ChecksumSHA256 !== undefined && input.ChecksumSHA256 !== sha256) throw s3Error("BadDigest", 400);
    objects.set(input.Key!, { body, etag: `"${++etags}"`, metadata: { ...input.Metadata }, sha256: input.ChecksumSHA256 });
    return { ETag: objects.get(input.Key!)!.etag };
  });
  s3.on(GetObjectCommand).callsFake(async (input: { Key?: string }) => {
    const object = objects.get(input.Key ?? "");
    if (object === undefined) throw s3Error("NoSuchKey", 404);
    return { Body: { transformToString: async () => object.body.toString("utf8") } as unknown as GetObjectCommandOutput["Body"], ETag: object.etag };
  });
  s3.on(HeadObjectCommand).callsFake(async (input: HeadObjectCommandInput) => {
    const object = objects.get(input.Key ?? "");
    if (object === undefined) throw s3Error("NotFound", 404);
    return {
      ContentLength: object.body.length,
      ETag: object.etag,
      Metadata: object.metadata,
      ...input.ChecksumMode === "ENABLED" && object.sha256 !== undefined ? { ChecksumSHA256: object.sha256 } : {},
    };
  });
  s3.on(ListObjectsV2Command).callsFake(async (input: { Prefix?: string }) => ({
    Contents: [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? "")).sort().map((Key) => ({ Key })),
    IsTruncated: false,
  }));
  s3.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
    const sourceKey = decodeURI(input.CopySource!).slice(`${input.Bucket}/`.length);
    const source = objects.get(sourceKey);
    writes.push({ kind: "copy", key: input.Key!, ifNoneMatch: input.IfNoneMatch });
    if (source === undefined) throw s3Error("NoSuchKey", 404);
    if (input.CopySourceIfMatch !== undefined && input.CopySourceIfMatch !== source.etag) throw s3Error("PreconditionFailed", 412);
    if (input.IfNoneMatch === "*" && objects.has(input.Key!)) throw s3Error("PreconditionFailed", 412);
    const sha256 = input.ChecksumAlgorithm === "SHA256" ? createHash("sha256").update(source.body).digest("base64") : undefined;
    const metadata = input.MetadataDirective === "REPLACE" ? { ...input.Metadata } : { ...source.metadata };
    objects.set(input.Key!, { body: source.body, etag: `"${++etags}"`, metadata, sha256 });
    return { CopyObjectResult: { ETag: objects.get(input.Key!)!.etag, ...sha256 === undefined ? {} : { ChecksumSHA256: sha256 } } };
  });
}

const json = (key: string) => JSON.parse(objects.get(key)!.body.toString("utf8")) as Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// SageMaker: tuning that "trains" into training output, a transform that predicts with the rule.
// ---------------------------------------------------------------------------------------------

const smError = (name: string, message: string, status = 400) => new SageMakerServiceException({ name, $fault: "client", $metadata: { httpStatusCode: status }, message });

/** How each tuning job ends, by the order it was created in (1-based); Completed when not listed. */
let tuningOutcomes: Record<number, { status: "Failed" | "Stopped"; reason: string }>;
let transformOutcomes: Record<number, { status: "Failed" | "Stopped"; reason: string }>;
let tuningJobs: Map<string, { input: CreateHyperParameterTuningJobCommandInput; order: number; polls: number }>;
let transformJobs: Map<string, { input: CreateTransformJobCommandInput; order: number; polls: number }>;
let packages: { input: CreateModelPackageCommandInput; arn: string; created: Date }[];
let failPackageCreation: boolean;

const bestTrainingJobOf = (tuningJob: string) => `${tuningJob}-001-0a1b2c3d`;

function fakeSageMaker(): void {
  tuningJobs = new Map();
  transformJobs = new Map();
  packages = [];
  tuningOutcomes = {};
  transformOutcomes = {};
  failPackageCreation = false;
  sm.on(CreateHyperParameterTuningJobCommand).callsFake(async (input: CreateHyperParameterTuningJobCommandInput) => {
    const name = input.HyperParameterTuningJobName!;
    if (tuningJobs.has(name)) throw smError("ResourceInUse", `Job ${name} already exists`);
    tuningJobs.set(name, { input, order: tuningJobs.size + 1, polls: 0 });
    return { HyperParameterTuningJobArn: `arn:aws:sagemaker:x:1:hyper-parameter-tuning-job/${name}` };
  });
  sm.on(DescribeHyperParameterTuningJobCommand).callsFake(async (input: { HyperParameterTuningJobName?: string }) => {
    const job = tuningJobs.get(input.HyperParameterTuningJobName!);
    if (job === undefined) throw smError("ResourceNotFound", "Amazon SageMaker can't find a tuning job");
    job.polls++;
    const name = input.HyperParameterTuningJobName!;
    const outcome = tuningOutcomes[job.order];
    const base = {
      HyperParameterTuningJobName: name,
      HyperParameterTuningJobConfig: job.input.HyperParameterTuningJobConfig,
      TrainingJobDefinition: job.input.TrainingJobDefinition,
    };
    if (outcome !== undefined) {
      const { status, reason } = outcome;
      return { ...base, HyperParameterTuningJobStatus: status, FailureReason: reason, TrainingJobStatusCounters: { NonRetryableError: 1 } };
    }
    if (job.polls === 1) return { ...base, HyperParameterTuningJobStatus: "InProgress", TrainingJobStatusCounters: { InProgress: 1 } };
    // The training role's job writes the best model as training output.
    const artifactKey = `${job.input.TrainingJobDefinition!.OutputDataConfig!.S3OutputPath!.replace(/^s3:\/\/[^/]+\//, "")}${bestTrainingJobOf(name)}/output/model.tar.gz`;
    if (!objects.has(artifactKey)) objects.set(artifactKey, { body: Buffer.from(`model trained by ${name}`), etag: `"${++etags}"`, metadata: {} });
    const completed = job.input.HyperParameterTuningJobConfig!.ResourceLimits!.MaxNumberOfTrainingJobs!;
    return {
      ...base,
      HyperParameterTuningJobStatus: "Completed",
      TrainingJobStatusCounters: { Completed: completed },
      BestTrainingJob: {
        TrainingJobName: bestTrainingJobOf(name),
        FinalHyperParameterTuningJobObjectiveMetric: { MetricName: "validation:rmse", Value: BEST_OBJECTIVE },
      },
    };
  });
  sm.on(DescribeTrainingJobCommand).callsFake(async (input: { TrainingJobName?: string }) => {
    const tuning = [...tuningJobs.entries()].find(([name]) => bestTrainingJobOf(name) === input.TrainingJobName)!;
    const output = tuning[1].input.TrainingJobDefinition!.OutputDataConfig!.S3OutputPath!;
    return { TrainingJobName: input.TrainingJobName, ModelArtifacts: { S3ModelArtifacts: `${output}${input.TrainingJobName}/output/model.tar.gz` } };
  });
  sm.on(CreateModelCommand).resolves({});
  sm.on(CreateTransformJobCommand).callsFake(async (input: CreateTransformJobCommandInput) => {
    const name = input.TransformJobName!;
    if (transformJobs.has(name)) throw smError("ResourceInUse", `Job ${name} already exists`);
    transformJobs.set(name, { input, order: transformJobs.size + 1, polls: 0 });
    if (transformOutcomes[transformJobs.size] !== undefined) return {};
    // The model predicts every line of the test features with the rule.
    const inputKey = input.TransformInput!.DataSource!.S3DataSource!.S3Uri!.replace(/^s3:\/\/[^/]+\//, "");
    const lines = objects.get(inputKey)!.body.toString("utf8").split("\n").filter((l) => l !== "");
    const predictions = lines.map((l) => { const [amount, items] = l.split(",").map(Number); return String(predict(amount, items)); });
    const outputKey = `${input.TransformOutput!.S3OutputPath!.replace(/^s3:\/\/[^/]+\//, "")}${inputKey.slice(inputKey.lastIndexOf("/") + 1)}.out`;
    objects.set(outputKey, { body: Buffer.from(`${predictions.join("\n")}\n`), etag: `"${++etags}"`, metadata: {} });
    return { TransformJobArn: `arn:aws:sagemaker:x:1:transform-job/${name}` };
  });
  sm.on(DescribeTransformJobCommand).callsFake(async (input: { TransformJobName?: string }) => {
    const job = transformJobs.get(input.TransformJobName!);
    if (job === undefined) throw smError("ValidationException", `Could not find job ${input.TransformJobName}`);
    job.polls++;
    const outcome = transformOutcomes[job.order];
    if (outcome !== undefined) return { TransformJobName: input.TransformJobName, TransformJobStatus: outcome.status, FailureReason: outcome.reason };
    return { TransformJobName: input.TransformJobName, TransformJobStatus: job.polls === 1 ? "InProgress" : "Completed" };
  });
  sm.on(CreateModelPackageCommand).callsFake(async (input: CreateModelPackageCommandInput) => {
    const arn = `arn:aws:sagemaker:${f.region}:${f.account.accountId}:model-package/${input.ModelPackageGroupName}/${packages.length + 1}`;
    packages.push({ input, arn, created: new Date(clock) });
    // The version is created, but its answer is lost.
    if (failPackageCreation) throw smError("ValidationException", "the connection was reset after the request was accepted");
    return { ModelPackageArn: arn };
  });
  sm.on(ListModelPackagesCommand).callsFake(async () => ({
    ModelPackageSummaryList: packages.map((p, i) => ({
      ModelPackageArn: p.arn,
      ModelPackageVersion: i + 1,
      ModelPackageGroupName: p.input.ModelPackageGroupName,
      ModelApprovalStatus: "PendingManualApproval",
      ModelPackageStatus: "Completed",
      CreationTime: p.created,
    })),
  }));
  sm.on(DescribeModelPackageCommand).callsFake(async (input: { ModelPackageName?: string }) => ({
    ModelPackageArn: input.ModelPackageName,
    CustomerMetadataProperties: packages.find((p) => p.arn === input.ModelPackageName)?.input.CustomerMetadataProperties,
  }));
}

// ---------------------------------------------------------------------------------------------
// The project, the server, the clock.
// ---------------------------------------------------------------------------------------------

let pg: TestPostgres;
seededPostgres(seed, (server) => {
  pg = server;
});

/** The fixture project in a temporary directory with a retraining.yaml for the test database, and what the loop derives from it. */
function project(database: Record<string, unknown> = {}, tuning: Record<string, unknown> = {}, grantedSecretArn?: string) {
  const dir = mkdtempSync(join(tmpdir(), "retrain-run-"));
  copyFileSync(join(FIXTURE_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
  // The secret the service definition lets the publisher read (Pulumi.yaml's project config).
  if (grantedSecretArn !== undefined) appendFileSync(join(dir, "Pulumi.yaml"), `  mlplatform:retrainingDatabaseSecretArn: ${grantedSecretArn}\n`);
  copyFileSync(pg.caFile, join(dir, "test-ca.pem"));
  const config = {
    database: { host: pg.host, port: pg.port, database: pg.database, user: pg.user, sslmode: "verify-full", sslRootCert: "test-ca.pem", ...database },
    models: {
      [MODEL]: {
        query: "SELECT id, observed_at, amount, items, y\n  FROM observations\n WHERE observed_at >= $1 AND observed_at < $2\n ORDER BY id",
        dateColumn: "observed_at",
        window: { start: WINDOW.start, pushbackDays: 30 },
        target: "y",
        features: ["amount", "items"],
        rowKey: ["id"],
        split: FRACTIONS,
        tuning: {
          objective: "reg:squarederror",
          evalMetric: "rmse",
          objectiveMetric: "validation:rmse",
          ranges: { eta: { type: "continuous", min: 0.1, max: 0.5 }, num_round: { type: "integer", min: 1, max: 50 } },
          ...tuning,
        },
      },
    },
  };
  writeFileSync(join(dir, "retraining.yaml"), JSON.stringify(config, null, 2));
  const registry = readProjectConfig(dir);
  const account = registryAccount(registry);
  const names = registryNames(registry.project.serviceName, account);
  return {
    dir,
    registry,
    account,
    region: registry.region,
    bucket: names.artifactBucket,
    publisher: roleArn(account, names.publisherRole),
    reader: roleArn(account, names.readerRole),
    group: modelPackageGroupName(registry.project.serviceName, MODEL),
  };
}

let f: ReturnType<typeof project>;
let clock: number;
let workDir: string;
let env: Record<string, string>;

beforeEach(() => {
  s3.reset();
  sm.reset();
  sts.reset();
  secrets.reset();
  clock = NOW;
  f = project();
  workDir = mkdtempSync(join(tmpdir(), "retrain-work-"));
  env = { PGPASSWORD: pg.password };
  fakeBucket();
  fakeSageMaker();
  // The CI job's credentials: the publisher role itself.
  sts.on(GetCallerIdentityCommand).resolves({ Account: f.account.accountId, Arn: `arn:aws:sts::${f.account.accountId}:assumed-role/${f.publisher.split("/").pop()}/retrain-42` });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAREADER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date(NOW + 3_600_000) } });
});
afterEach(() => {
  rmSync(f.dir, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

async function retrain(argv: string[], deps: Partial<RetrainDeps> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    cwd: f.dir,
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    now: () => new Date(clock),
    sleep: async (ms) => { clock += ms; },
    pollIntervalMs: 30_000,
    env,
    workDir,
    ...deps,
  });
  return { code, out, err };
}

/** The run id a run announced on stderr. */
const runIdOf = (err: string[]) => /run (\S+) of /.exec(err.find((l) => /: (starting|continuing) run /.test(l)) ?? "")![1];
const keysUnder = (prefix: string) => [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
const image = () => `${XGBOOST_REGISTRY_ACCOUNTS[f.region]}.dkr.ecr.${f.region}.amazonaws.com/sagemaker-xgboost:1.7-1`;

// ---------------------------------------------------------------------------------------------
// The loop.
// ---------------------------------------------------------------------------------------------

describe("retrain run: the whole loop in one command", () => {
  test("GIVEN 12,000 rows in PostgreSQL WHEN retrain run runs THEN a PendingManualApproval version is registered whose metrics equal the test split's, computed by hand", async () => {
    // WHEN
    const { code, out, err } = await retrain(["run", "--model", MODEL, "--json"]);
    // THEN
    expect(err.filter((l) => l.includes("unexpected error"))).toEqual([]);
    expect(code).toBe(0);
    const runId = runIdOf(err);
    expect(packages).toHaveLength(1);
    const version = packages[0].input;
    expect(version.ModelPackageGroupName).toBe(f.group);
    expect(version.ModelApprovalStatus).toBe("PendingManualApproval");
    const modelKey = `models/${MODEL}/${runId}/model.tar.gz`;
    expect(version.InferenceSpecification?.Containers).toEqual([{ Image: image(), ModelDataUrl: `s3://${f.bucket}/${modelKey}` }]);
    const metadata = version.CustomerMetadataProperties!;
    expect(Number(metadata["metric:mae"])).toBeCloseTo(EXPECTED_METRICS.mae, 10);
    expect(Number(metadata["metric:rmse"])).toBeCloseTo(EXPECTED_METRICS.rmse, 10);
    expect(Number(metadata["metric:errorStd"])).toBeCloseTo(EXPECTED_METRICS.errorStd, 10);
    expect(Number(metadata["metric:testRows"])).toBe(EXPECTED_METRICS.rows);
    const tuningJob = [...tuningJobs.keys()][0];
    expect(metadata).toMatchObject({
      "retrain:run-id": runId,
      "retrain:dataset-manifest": `s3://${f.bucket}/datasets/${MODEL}/${runId}/manifest.json`,
      "retrain:tuning-job": tuningJob,
      "retrain:training-job": bestTrainingJobOf(tuningJob),
      "retrain:testing": "false",
    });
    // The metrics report in the bucket is the one the version links, by its digest.
    const statistics = version.ModelMetrics?.ModelQuality?.Statistics;
    const reportKey = statistics!.S3Uri!.replace(`s3://${f.bucket}/`, "");
    expect(reportKey).toBe(`models/${MODEL}/${runId}/evaluation.json`);
    expect(statistics!.ContentDigest).toBe(`sha256:${createHash("sha256").update(objects.get(reportKey)!.body).digest("hex")}`);
    expect(json(reportKey).rmse).toBeCloseTo(EXPECTED_METRICS.rmse, 10);
    // The registered model is a write-once copy of the best training job's output, outside training/.
    const artifact = `training/${MODEL}/${tuningJob}/${bestTrainingJobOf(tuningJob)}/output/model.tar.gz`;
    expect(objects.get(modelKey)!.body).toEqual(objects.get(artifact)!.body);
    expect(metadata["retrain:model-sha256"]).toBe(createHash("sha256").update(objects.get(artifact)!.body).digest("hex"));
    // --json: one object on stdout, the run's outputs.
    const report = JSON.parse(out.join("\n")) as { runId: string; ran: string[]; skipped: string[]; testing: boolean; steps: Record<string, Record<string, unknown>> };
    expect({ runId: report.runId, ran: report.ran, skipped: report.skipped, testing: report.testing, steps: Object.keys(report.steps) })
      .toEqual({ runId, ran: ["data", "tune", "evaluate", "register"], skipped: [], testing: false, steps: ["data", "tune", "evaluate", "register"] });
    expect(report.steps.register.modelPackageArn).toBe(packages[0].arn);
  });

  test("GIVEN a completed run WHEN its objects are read THEN the manifest counts, the histories' new rows and the run state agree with the generated data", async () => {
    // WHEN
    const { code, err } = await retrain(["run", "--model", MODEL]);
    // THEN
    expect(code).toBe(0);
    const runId = runIdOf(err);
    const manifest = json(`datasets/${MODEL}/${runId}/manifest.json`) as { rows: unknown; window: { start: string; end: string } };
    expect(manifest.rows).toEqual(EXPECTED_COUNTS);
    expect([manifest.window.start, manifest.window.end]).toEqual([WINDOW.start, WINDOW.end]);
    const tuningJob = [...tuningJobs.keys()][0];
    expect(json(`history/tuning/${MODEL}/${tuningJob}.json`)).toMatchObject({
      tuningJob, model: MODEL, objectiveMetric: "validation:rmse", trainingJobCount: 10, bestTrainingJob: bestTrainingJobOf(tuningJob), bestObjectiveValue: BEST_OBJECTIVE,
    });
    const evaluation = json(`history/evaluation/${MODEL}/${bestTrainingJobOf(tuningJob)}.json`) as Record<string, number>;
    expect(evaluation.rows).toBe(EXPECTED_METRICS.rows);
    expect(evaluation.mae).toBeCloseTo(EXPECTED_METRICS.mae, 10);
    expect(evaluation.errorStd).toBeCloseTo(EXPECTED_METRICS.errorStd, 10);
    // One state object per step, and one attempt record per job.
    expect(keysUnder(runPrefix(MODEL, runId))).toEqual([
      `runs/${MODEL}/${runId}/attempts/evaluate/${evaluationName(bestTrainingJobOf(tuningJob))}.json`,
      `runs/${MODEL}/${runId}/attempts/tune/${tuningJob}.json`,
      `runs/${MODEL}/${runId}/data.json`,
      `runs/${MODEL}/${runId}/evaluate.json`,
      `runs/${MODEL}/${runId}/register.json`,
      `runs/${MODEL}/${runId}/tune.json`,
    ]);
    expect(json(`runs/${MODEL}/${runId}/data.json`)).toMatchObject({ step: "data", rows: EXPECTED_COUNTS, testing: false });
    expect(json(`runs/${MODEL}/${runId}/tune.json`)).toMatchObject({ tuningJob, bestObjectiveValue: BEST_OBJECTIVE, image: image() });
    expect((json(`runs/${MODEL}/${runId}/evaluate.json`).metrics as Record<string, number>).rmse).toBeCloseTo(EXPECTED_METRICS.rmse, 10);
    expect(json(`runs/${MODEL}/${runId}/register.json`)).toMatchObject({ modelPackageArn: packages[0].arn });
  });

  test("GIVEN the loop WHEN it writes the registry bucket THEN every write outside training/ is write-once (If-None-Match)", async () => {
    const { code } = await retrain(["run", "--model", MODEL]);
    expect(code).toBe(0);
    expect(writes.length).toBeGreaterThan(10);
    expect(writes.filter((w) => !w.key.startsWith("training/") && w.ifNoneMatch !== "*")).toEqual([]);
  });

  test("GIVEN the jobs take time WHEN the loop waits THEN stderr shows progress on every wait, as the publisher role it already is", async () => {
    const { code, err } = await retrain(["run", "--model", MODEL]);
    expect(code).toBe(0);
    expect(err[0]).toBe(`retrain: as ${f.publisher} (the publisher role, already held by these credentials; --role-arn overrides)`);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    const tuningJob = [...tuningJobs.keys()][0];
    expect(err).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^retrain: tune: tuning ${tuningJob}: InProgress, training jobs 0 completed, 1 in progress`)),
      expect.stringMatching(new RegExp(`^retrain: tune: tuning ${tuningJob}: Completed, training jobs 10 completed`)),
      `retrain: evaluate: evaluation ${evaluationName(bestTrainingJobOf(tuningJob))}: InProgress (0s)`,
      `retrain: evaluate: evaluation ${evaluationName(bestTrainingJobOf(tuningJob))}: Completed (30s)`,
    ]));
    // The tuning job: the built-in image, 10 jobs by default, run as the training role.
    const request = tuningJobs.get(tuningJob)!.input;
    expect(request.TrainingJobDefinition?.AlgorithmSpecification?.TrainingImage).toBe(image());
    expect(request.HyperParameterTuningJobConfig?.ResourceLimits).toEqual({ MaxNumberOfTrainingJobs: 10, MaxParallelTrainingJobs: 10 });
    expect(request.TrainingJobDefinition?.RoleArn).toBe(roleArn(f.account, registryNames(f.registry.project.serviceName, f.account).trainingRole));
  });

  test("GIVEN --testing WHEN retrain run runs THEN the tuning job runs one training job, and the run and its version say testing mode", async () => {
    const { code, err } = await retrain(["run", "--model", MODEL, "--testing"]);
    expect(code).toBe(0);
    const runId = runIdOf(err);
    const limits = [...tuningJobs.values()][0].input.HyperParameterTuningJobConfig?.ResourceLimits;
    expect(limits).toEqual({ MaxNumberOfTrainingJobs: 1, MaxParallelTrainingJobs: 1 });
    expect(json(`runs/${MODEL}/${runId}/data.json`).testing).toBe(true);
    expect(packages[0].input.CustomerMetadataProperties?.["retrain:testing"]).toBe("true");
    expect(packages[0].input.ModelPackageDescription).toContain("in testing mode (one training job)");
  });
});

describe("resuming a run", () => {
  test("GIVEN the tuning job Failed WHEN the run is given again THEN it skips the data step (no query, no upload), starts a new tuning job and completes", async () => {
    // GIVEN a first attempt whose tuning job fails
    tuningOutcomes = { 1: { status: "Failed", reason: "AlgorithmError: out of memory" } };
    const first = await retrain(["run", "--model", MODEL]);
    const runId = runIdOf(first.err);
    const [failedJob] = tuningJobs.keys();
    expect(first.code).toBe(1);
    expect(first.err[first.err.length - 1]).toBe(`retrain: tuning job ${failedJob} failed: AlgorithmError: out of memory; `
      + `see its training jobs' logs in CloudWatch (/aws/sagemaker/TrainingJobs) (run ${runId} of ${MODEL}: once that is fixed, resume it with `
      + `"npx projen retrain run --model ${MODEL} --run-id ${runId}")`);
    expect(keysUnder(runPrefix(MODEL, runId)).filter((k) => !k.includes("/attempts/"))).toEqual([`runs/${MODEL}/${runId}/data.json`]);
    const datasetWrites = writes.filter((w) => w.key.startsWith("datasets/")).length;
    expect(datasetWrites).toBe(5);
    // WHEN resumed later, with a password that no longer works: a query would fail the run
    clock += 3_600_000;
    env = { PGPASSWORD: "not-the-password" };
    const second = await retrain(["run", "--model", MODEL, "--run-id", runId]);
    // THEN
    expect(second.code).toBe(0);
    expect(writes.filter((w) => w.key.startsWith("datasets/")).length).toBe(datasetWrites);
    expect(second.err).toEqual(expect.arrayContaining([
      `retrain: continuing run ${runId} of ${MODEL}`,
      `retrain: data: completed by an earlier attempt of this run (s3://${f.bucket}/runs/${MODEL}/${runId}/data.json)`,
      `retrain: tune: ${failedJob} of attempt 1 ended Failed (AlgorithmError: out of memory): starting attempt 2`,
    ]));
    const [, retried] = tuningJobs.keys();
    expect(retried).not.toBe(failedJob);
    expect(packages).toHaveLength(1);
    expect(packages[0].input.CustomerMetadataProperties).toMatchObject({ "retrain:run-id": runId, "retrain:tuning-job": retried });
    expect(Number(packages[0].input.CustomerMetadataProperties?.["metric:mae"])).toBeCloseTo(EXPECTED_METRICS.mae, 10);
  });

  test("GIVEN the evaluation's transform job Failed WHEN the run is given again THEN a second transform job, -eval2, evaluates the same model", async () => {
    transformOutcomes = { 1: { status: "Failed", reason: "ClientError: capacity" } };
    const first = await retrain(["run", "--model", MODEL]);
    expect(first.code).toBe(1);
    const runId = runIdOf(first.err);
    const trainingJob = bestTrainingJobOf([...tuningJobs.keys()][0]);
    const second = await retrain(["run", "--model", MODEL, "--run-id", runId]);
    expect(second.code).toBe(0);
    expect([...transformJobs.keys()]).toEqual([evaluationName(trainingJob), `${trainingJob}-eval2`]);
    expect(transformJobs.get(`${trainingJob}-eval2`)!.input.ModelName).toBe(`${trainingJob}-eval`);
    expect(tuningJobs.size).toBe(1);
    expect(Number(packages[0].input.CustomerMetadataProperties?.["metric:rmse"])).toBeCloseTo(EXPECTED_METRICS.rmse, 10);
  });

  test("GIVEN a version registered whose answer was lost WHEN the run is given again THEN it finds the run's version and registers no second one", async () => {
    failPackageCreation = true;
    const first = await retrain(["run", "--model", MODEL]);
    expect(first.code).toBe(1);
    const runId = runIdOf(first.err);
    failPackageCreation = false;
    const second = await retrain(["run", "--model", MODEL, "--run-id", runId, "--json"]);
    expect(second.code).toBe(0);
    expect(packages).toHaveLength(1);
    expect(second.err).toContain(`retrain: register: ${packages[0].arn} is this run's version already (an earlier attempt registered it)`);
    expect((JSON.parse(second.out.join("\n")) as { steps: { register: { modelPackageArn: string } } }).steps.register.modelPackageArn).toBe(packages[0].arn);
  });

  test("GIVEN a completed run WHEN it is given again THEN nothing runs and nothing is created", async () => {
    const first = await retrain(["run", "--model", MODEL]);
    const runId = runIdOf(first.err);
    const writesBefore = writes.length;
    const second = await retrain(["run", "--model", MODEL, "--run-id", runId, "--json"]);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.out.join("\n"))).toMatchObject({ ran: [], skipped: ["data", "tune", "evaluate", "register"] });
    expect([writes.length, tuningJobs.size, transformJobs.size, packages.length]).toEqual([writesBefore, 1, 1, 1]);
  });

  test("GIVEN a tuning job that failed at once WHEN the run is given again within the same second THEN it refuses to reuse the name, and a second later it runs", async () => {
    tuningOutcomes = { 1: { status: "Failed", reason: "ResourceLimitExceeded" } };
    const first = await retrain(["run", "--model", MODEL], { pollIntervalMs: 0 });
    const runId = runIdOf(first.err);
    clock = NOW;
    const again = await retrain(["run", "--model", MODEL, "--run-id", runId]);
    expect(again.code).toBe(1);
    expect(again.err[again.err.length - 1]).toContain(`retrain: attempt 2 of the tune step would be named ${tuningJobName(MODEL, new Date(NOW))}, as an earlier one is`);
    clock = NOW + 1000;
    expect((await retrain(["run", "--model", MODEL, "--run-id", runId])).code).toBe(0);
  });

  test("GIVEN another run's tuning job has the name this run would give its job WHEN the tune step starts THEN it refuses to adopt it", async () => {
    const name = tuningJobName(MODEL, new Date(NOW));
    tuningJobs.set(name, { input: { HyperParameterTuningJobName: name } as CreateHyperParameterTuningJobCommandInput, order: 99, polls: 0 });
    const { code, err } = await retrain(["run", "--model", MODEL]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain(`retrain: a tune job named ${name} exists already and is not this run's: another run of ${MODEL} started it at the same time`);
  });

  test("GIVEN a run started without --testing WHEN it is resumed with --testing THEN it is refused: a run keeps its mode", async () => {
    tuningOutcomes = { 1: { status: "Stopped", reason: "stopped by hand" } };
    const runId = runIdOf((await retrain(["run", "--model", MODEL])).err);
    const { code, err } = await retrain(["run", "--model", MODEL, "--run-id", runId, "--testing"]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain(`run ${runId} of ${MODEL} was started without --testing and keeps its mode`);
  });

  test("GIVEN another process writes the run's data state first, differently WHEN the data step records its own THEN it is refused, never overwritten", async () => {
    beforePut = (input) => {
      if (input.Key!.endsWith("/data.json") && !objects.has(input.Key!)) {
        objects.set(input.Key!, { body: Buffer.from(JSON.stringify({ step: "data", manifestKey: "elsewhere" })), etag: "\"x\"", metadata: {} });
      }
    };
    const { code, err } = await retrain(["data", "--model", MODEL]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toMatch(/data\.json exists already with other content: is this run running twice\?/);
  });
});

describe("one step at a time", () => {
  test("GIVEN retrain data WHEN the next steps run one by one with its run id THEN the version is registered, each step seeing the earlier ones", async () => {
    const data = await retrain(["data", "--model", MODEL]);
    expect(data.code).toBe(0);
    const runId = runIdOf(data.err);
    for (const step of ["tune", "evaluate", "register"]) {
      const result = await retrain([step, "--model", MODEL, "--run-id", runId, "--json"]);
      expect([step, result.code, (JSON.parse(result.out.join("\n")) as { ran: string[] }).ran]).toEqual([step, 0, [step]]);
    }
    expect(packages).toHaveLength(1);
  });

  test("GIVEN a run without a dataset WHEN retrain tune is given its id THEN it says to run the data step first", async () => {
    const { code, err } = await retrain(["tune", "--model", MODEL, "--run-id", "20250715-100000-abcdef"]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain(`run 20250715-100000-abcdef of ${MODEL} has not completed its data step, which tune needs: `
      + `run "retrain data --model ${MODEL} --run-id 20250715-100000-abcdef"`);
    expect(sm.calls()).toHaveLength(0);
  });

  test("GIVEN a run whose dataset manifest is gone WHEN its tune step runs THEN it names the missing manifest", async () => {
    const runId = runIdOf((await retrain(["data", "--model", MODEL])).err);
    objects.delete(`datasets/${MODEL}/${runId}/manifest.json`);
    const { code, err } = await retrain(["tune", "--model", MODEL, "--run-id", runId]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain(`the dataset manifest of run ${runId} of ${MODEL} is missing (s3://${f.bucket}/datasets/${MODEL}/${runId}/manifest.json)`);
  });

  test("GIVEN a dataset uploaded whose state was not recorded WHEN the data step runs again THEN it adopts the manifest without querying", async () => {
    const runId = runIdOf((await retrain(["data", "--model", MODEL])).err);
    objects.delete(`runs/${MODEL}/${runId}/data.json`);
    env = { PGPASSWORD: "not-the-password" };
    const { code, err } = await retrain(["data", "--model", MODEL, "--run-id", runId]);
    expect(code).toBe(0);
    expect(err).toContain("retrain: data: the dataset of this run is complete already (an earlier attempt uploaded it); the database is not queried again");
    expect(json(`runs/${MODEL}/${runId}/data.json`).rows).toEqual(EXPECTED_COUNTS);
  });
});

describe("the database", () => {
  test("GIVEN the database cannot be reached WHEN retrain run runs THEN it fails naming the host and port, and nothing is uploaded", async () => {
    // GIVEN a port nothing listens on
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    rmSync(f.dir, { recursive: true, force: true });
    f = project({ port: closed });
    // WHEN
    const { code, err } = await retrain(["run", "--model", MODEL]);
    // THEN
    expect(code).toBe(1);
    expect(err[err.length - 1]).toMatch(new RegExp(`^retrain: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${closed}: the connection was refused \\(ECONNREFUSED\\).*nothing was uploaded`));
    expect(err.join("\n")).not.toContain(pg.password);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(objects.size).toBe(0);
    expect(sm.calls()).toHaveLength(0);
  });

  test("GIVEN database.secretArn WHEN the data step runs THEN it reads the secret with the publisher's credentials and connects with it", async () => {
    // GIVEN credentials that must assume the publisher, and the secret holding the login
    sts.on(GetCallerIdentityCommand).resolves({ Account: f.account.accountId, Arn: `arn:aws:sts::${f.account.accountId}:assumed-role/dev/alice` });
    const secretArn = `arn:aws:secretsmanager:${f.region}:${f.account.accountId}:secret:retrain/test-db-AbCdEf`;
    rmSync(f.dir, { recursive: true, force: true });
    f = project({ user: undefined, secretArn }, {}, secretArn);
    const login = JSON.stringify({ username: pg.user, password: pg.password });
    secrets.on(GetSecretValueCommand, { SecretId: secretArn }).resolves({ SecretString: login });
    const built: { credentials?: { accessKeyId: string } }[] = [];
    // WHEN
    const { code } = await retrain(["data", "--model", MODEL], {
      env: {},
      createSecretsClient: (options) => {
        built.push(options as { credentials?: { accessKeyId: string } });
        return new SecretsManagerClient({ region: f.region });
      },
    });
    // THEN
    expect(code).toBe(0);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(built.map((o) => o.credentials?.accessKeyId)).toEqual(["ASIAREADER"]);
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn)).toEqual([f.publisher]);
  });
});

describe("the database secret the publisher may read", () => {
  const secretArn = () => `arn:aws:secretsmanager:${f.region}:${f.account.accountId}:secret:retrain/test-db-AbCdEf`;

  test("GIVEN database.secretArn the service definition does not name WHEN a run starts THEN it is refused before any AWS call", async () => {
    rmSync(f.dir, { recursive: true, force: true });
    f = project({ user: undefined, secretArn: secretArn() });
    const { code, err } = await retrain(["run", "--model", MODEL]);
    expect(code).toBe(1);
    expect(err.join("\n")).toContain(`retraining.yaml: database.secretArn ${secretArn()} is not the secret the publisher may read `
      + "(the service definition names none): set retrainingDatabaseSecretArn in .projenrc.ts to it");
    expect(sts.calls()).toHaveLength(0);
    expect(secrets.calls()).toHaveLength(0);
  });

  test("GIVEN another secret in the service definition WHEN a run starts THEN the refusal names the granted one", async () => {
    rmSync(f.dir, { recursive: true, force: true });
    const other = secretArn().replace("test-db-AbCdEf", "other-db-XyZ123");
    f = project({ user: undefined, secretArn: secretArn() }, {}, other);
    const { code, err } = await retrain(["data", "--model", MODEL]);
    expect(code).toBe(1);
    expect(err.join("\n")).toContain(`the service definition's retrainingDatabaseSecretArn is ${other}`);
  });
});

describe("retrain status", () => {
  test("GIVEN a run WHEN status is asked for it THEN it shows its completed steps, as the reader role", async () => {
    tuningOutcomes = { 1: { status: "Failed", reason: "AlgorithmError" } };
    const runId = runIdOf((await retrain(["run", "--model", MODEL])).err);
    const { code, out, err } = await retrain(["status", "--model", MODEL, "--run-id", runId, "--json"]);
    expect(code).toBe(0);
    expect(err[0]).toBe(`retrain: as ${f.reader} (the reader role; --role-arn overrides)`);
    const report = JSON.parse(out.join("\n")) as { completed: string[]; next: string; attempts: { tune: { job: string }[] } };
    expect({ completed: report.completed, next: report.next, attempts: report.attempts.tune.map((a) => a.job) })
      .toEqual({ completed: ["data"], next: "tune", attempts: [...tuningJobs.keys()] });
  });

  test("GIVEN two runs WHEN status is asked for the model THEN it lists them newest first with their steps", async () => {
    const first = runIdOf((await retrain(["run", "--model", MODEL])).err);
    clock += 86_400_000;
    const second = runIdOf((await retrain(["data", "--model", MODEL])).err);
    const { code, out } = await retrain(["status", "--model", MODEL]);
    expect(code).toBe(0);
    expect(out.map((line) => line.split(/ {2,}/))).toEqual([
      ["RUN", "COMPLETED", "NEXT"],
      [second, "data", "tune"],
      [first, "data, tune, evaluate, register", "done"],
    ]);
  });

  test("GIVEN a state object that is not JSON WHEN status reads the run THEN it names the object", async () => {
    const runId = "20250715-100000-abcdef";
    objects.set(`runs/${MODEL}/${runId}/data.json`, { body: Buffer.from("{not json"), etag: "\"1\"", metadata: {} });
    const { code, err } = await retrain(["status", "--model", MODEL, "--run-id", runId]);
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`retrain: s3://${f.bucket}/runs/${MODEL}/${runId}/data.json is not JSON: it is not a retraining run's state`);
  });

  test("GIVEN a state object of another shape or run WHEN status reads the run THEN it names the object and the problem", async () => {
    const runId = "20250715-100000-abcdef";
    objects.set(`runs/${MODEL}/${runId}/data.json`, { body: Buffer.from(JSON.stringify({ step: "data" })), etag: "\"1\"", metadata: {} });
    const broken = await retrain(["status", "--model", MODEL, "--run-id", runId]);
    expect(broken.err[broken.err.length - 1]).toMatch(new RegExp("data\\.json is not a retraining run's state: schemaVersion: "));
    // A well-formed record of another run under this run's key.
    const other = await retrain(["data", "--model", MODEL]);
    const otherId = runIdOf(other.err);
    objects.set(`runs/${MODEL}/${runId}/data.json`, objects.get(`runs/${MODEL}/${otherId}/data.json`)!);
    const moved = await retrain(["status", "--model", MODEL, "--run-id", runId]);
    expect(moved.err[moved.err.length - 1]).toBe(`retrain: s3://${f.bucket}/runs/${MODEL}/${runId}/data.json is the state of another run (${MODEL} ${otherId})`);
  });
});

describe("the command line", () => {
  test.each([
    [["--help"], "Usage: retrain <command> [options]"],
    [["run", "--help"], "Usage: retrain run --model NAME [--testing] [--run-id ID] [options]"],
    [["tune", "--help"], "Usage: retrain tune --model NAME --run-id ID [options]"],
    [["status", "--help"], "Usage: retrain status --model NAME [--run-id ID] [options]"],
  ])("GIVEN %j WHEN run THEN it prints the help and exits 0 without reading config or calling AWS", async (argv, first) => {
    const { code, out } = await retrain(argv, { cwd: "/nonexistent" });
    expect([code, out[0]]).toEqual([0, first]);
    expect(sts.calls().length + sm.calls().length + s3.calls().length).toBe(0);
  });

  test.each([
    [["tune", "--model", MODEL], "retrain: --run-id is required: the run whose step this is (retrain status --model NAME lists them) (see retrain --help)"],
    [["run", "--model", MODEL, "--run-id", "Run_1"],
      'retrain: --run-id must be lowercase letters, digits and inner hyphens, at most 40 characters, as retrain run printed it; got "Run_1" (see retrain --help)'],
    [["evaluate", "--model", MODEL, "--run-id", "20250715-100000-abcdef", "--testing"],
      "retrain: --testing is chosen when a run starts (retrain run or retrain data), not by evaluate (see retrain --help)"],
    [["run", "--model", "nope"], `retrain: unknown model "nope"; this service's models are ${FIXTURE.models.join(", ")} (see retrain --help)`],
    [["run"], "retrain: --model is required (see retrain --help)"],
  ])("GIVEN %j WHEN run THEN it is bad usage in one line, exit 2, with no AWS call", async (argv, message) => {
    const { code, err } = await retrain(argv);
    expect([code, err]).toEqual([2, [message]]);
    expect(sts.calls().length + sm.calls().length + s3.calls().length).toBe(0);
  });

  test("GIVEN a model of the service without a section in retraining.yaml WHEN run THEN it names the configured ones", async () => {
    const { code, err } = await retrain(["run", "--model", UNCONFIGURED]);
    expect(code).toBe(1);
    expect(err).toEqual([`retrain: model "${UNCONFIGURED}" has no retraining configured: add models.${UNCONFIGURED} to retraining.yaml (configured: ${MODEL})`]);
  });
});

// ---------------------------------------------------------------------------------------------
// The register step's refusals (its request built by hand).
// ---------------------------------------------------------------------------------------------

describe("the register step's refusals", () => {
  const RUN = "20250715-100000-abcdef";
  function request(edit: Partial<RegisterStepRequest> = {}): RegisterStepRequest {
    return {
      registry: f.registry,
      model: MODEL,
      runId: RUN,
      manifestKey: `datasets/${MODEL}/${RUN}/manifest.json`,
      tuningJob: "t",
      bestTrainingJob: "t-001-x",
      objectiveMetric: "validation:rmse",
      bestObjectiveValue: 1,
      modelArtifact: `s3://${f.bucket}/training/${MODEL}/t/t-001-x/output/model.tar.gz`,
      image: image(),
      metrics: { mae: 1, rmse: 2, errorStd: 3, rows: 4 },
      testing: false,
      evaluatedAt: new Date(NOW),
      ...edit,
    };
  }
  const clients = () => ({ sagemaker: new SageMakerClient({ region: f.region }), s3: new S3Client({ region: f.region }) });
  const artifact = () => objects.set(request().modelArtifact.replace(`s3://${f.bucket}/`, ""), { body: Buffer.from("m"), etag: "\"m\"", metadata: {} });

  test("GIVEN an artifact outside the registry bucket WHEN registered THEN it is refused naming it", async () => {
    await expect(runRegisterStep(clients(), request({ modelArtifact: "s3://elsewhere/model.tar.gz" })))
      .rejects.toThrow("the model artifact s3://elsewhere/model.tar.gz of training job t-001-x is not in the registry's artifact bucket");
    expect(packages).toHaveLength(0);
  });

  test("GIVEN an artifact that does not exist WHEN registered THEN it is refused naming it", async () => {
    await expect(runRegisterStep(clients(), request())).rejects.toThrow(`the model artifact ${request().modelArtifact} of training job t-001-x does not exist`);
    expect(packages).toHaveLength(0);
  });

  test("GIVEN an artifact larger than one CopyObject copies WHEN registered THEN it is refused", async () => {
    artifact();
    s3.on(HeadObjectCommand).resolves({ ContentLength: 6 * 1024 ** 3, ETag: "\"m\"" });
    await expect(runRegisterStep(clients(), request())).rejects.toThrow(`has ${6 * 1024 ** 3} bytes, more than one CopyObject copies (${5 * 1024 ** 3})`);
  });

  test("GIVEN a copy without a checksum in S3's answer WHEN registered THEN it is refused", async () => {
    artifact();
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: "\"c\"" } });
    await expect(runRegisterStep(clients(), request())).rejects.toThrow(`CopyObject to s3://${f.bucket}/${registeredKeys(MODEL, RUN).model} returned no SHA-256 checksum`);
  });

  test("GIVEN the run's model key holds another object WHEN registered THEN it is refused, never overwritten", async () => {
    artifact();
    objects.set(registeredKeys(MODEL, RUN).model, { body: Buffer.from("other"), etag: "\"o\"", metadata: { "source-etag": "\"zz\"" }, sha256: "AA==" });
    await expect(runRegisterStep(clients(), request())).rejects.toThrow(`refusing to register s3://${f.bucket}/${registeredKeys(MODEL, RUN).model}: it exists already`);
    expect(objects.get(registeredKeys(MODEL, RUN).model)!.body.toString()).toBe("other");
  });

  test("GIVEN the artifact changes between its description and the copy WHEN registered THEN it says to run the step again", async () => {
    artifact();
    s3.on(HeadObjectCommand, { Key: request().modelArtifact.replace(`s3://${f.bucket}/`, "") }).resolves({ ContentLength: 1, ETag: "\"old\"" });
    s3.on(HeadObjectCommand, { Key: registeredKeys(MODEL, RUN).model }).rejects(s3Error("NotFound", 404));
    await expect(runRegisterStep(clients(), request())).rejects.toThrow("changed while it was being copied: training output is still being written; run the step again");
  });

  test("GIVEN the run's metrics key holds other metrics WHEN registered THEN it is refused", async () => {
    artifact();
    objects.set(registeredKeys(MODEL, RUN).metrics, { body: Buffer.from("{}"), etag: "\"e\"", metadata: { sha256: "0".repeat(64) } });
    await expect(runRegisterStep(clients(), request())).rejects.toThrow(`refusing to register with s3://${f.bucket}/${registeredKeys(MODEL, RUN).metrics}: it exists already with other metrics`);
  });

  test("GIVEN an image the registry refuses WHEN registered THEN the refusal names the run, not a command-line option's usage", async () => {
    artifact();
    const foreign = `123456789012.dkr.ecr.${f.region}.amazonaws.com/random:v1`;
    await expect(runRegisterStep(clients(), request({ image: foreign }))).rejects.toThrow(`the registry refuses run ${RUN}'s version of ${MODEL}: --image must be in the registry's ECR repository`);
  });
});

describe("names", () => {
  test("GIVEN an attempt that is not a whole number from 1 WHEN an evaluation is named THEN it is refused", () => {
    expect(() => evaluationName("job-001-abc", 0)).toThrow("an evaluation attempt is a whole number from 1, got 0");
    expect(evaluationName("job-001-abc", 3)).toBe("job-001-abc-eval3");
  });

  test("GIVEN a run id that is not one WHEN its state prefix is made THEN it is refused", () => {
    expect(() => runPrefix(MODEL, "../other")).toThrow('run id "../other" must be lowercase letters, digits and inner hyphens, at most 40 characters');
  });
});
