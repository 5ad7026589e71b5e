import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import {
  GetObjectCommand, HeadObjectCommand, PutObjectCommand, type PutObjectCommandInput, S3Client,
} from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import type { Client } from "pg";
import { CliError } from "../../scripts/lib/cli";
import { type ModelRetraining, parseRetrainingConfig } from "../../scripts/lib/retrain/config";
import {
  assignSplit, dataWindow, datasetKeys, datasetPrefix, type DataStepOptions, type DatasetManifest, newRunId, readManifest, rowKeyText,
  runDataStep, splitPoint,
} from "../../scripts/lib/retrain/data";
import {
  connectDatabase, type ConnectionSettings, DatabaseConnectionError, describeConnectionFailure, queryInBatches, resolveConnection,
} from "../../scripts/lib/retrain/database";
import { INSTALL_HINT, seededPostgres, serverBinDir, type TestPostgres } from "../support/postgres";

/**
 * The data step against a real PostgreSQL server (test/support/postgres.ts: TLS with its own CA,
 * its time zone not UTC), seeded with synthetic rows this file generates, and S3 through
 * aws-sdk-client-mock with a small write-once fake behind PutObject/HeadObject. Expected rows,
 * windows and splits are computed here from the generated data, not read from the step.
 */

const MODEL = "demand-model";
const RUN = "20250715-100000-a1b2c3";
const BUCKET = "test-artifacts-bucket";
const KMS = "alias/test-registry";
const NOW = new Date("2025-07-15T10:00:00Z");
const INJECTION = "x'); DROP TABLE observations; --";
const QUERY = "SELECT id, observed_at, amount, items, ratio, outcome\n  FROM observations\n WHERE observed_at >= $1 AND observed_at < $2\n ORDER BY id";

// ---------------------------------------------------------------------------------------------
// Synthetic data: 12,000 observations over seven and a half years, from a seeded generator.
// ---------------------------------------------------------------------------------------------

interface Observation {
  readonly id: number;
  /** observed_at, ms since the epoch (UTC), whole seconds. */
  readonly at: number;
  readonly amountCents: number;
  readonly items: number;
  readonly ratio: number | null;
  readonly flagged: boolean;
  readonly region: string;
  readonly outcome: number;
}

/** Park and Miller's minimal standard generator: numbers in (0, 1), the same ones on every run. */
function generator(start: number): () => number {
  let state = start % 2147483647;
  return () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

function observations(count: number): Observation[] {
  const random = generator(20251201);
  const from = Date.UTC(2018, 5, 1);
  const to = Date.UTC(2025, 11, 31);
  return Array.from({ length: count }, (_, i) => {
    const id = i + 1;
    const at = from + Math.floor((random() * (to - from)) / 1000) * 1000;
    const amountCents = 100 + Math.floor(random() * 499_900);
    const items = 1 + Math.floor(random() * 20);
    const ratio = random() < 0.05 ? null : round4(0.01 + random() * 0.98);
    const flagged = random() < 0.1;
    const region = id % 331 === 0 ? INJECTION : `r${id % 17}`;
    const outcome = round4(amountCents / 10_000 + items * 0.5 + (ratio ?? 0.5) * 3 + random() - 0.5);
    return { id, at, amountCents, items, ratio, flagged, region, outcome };
  });
}

const ROWS = observations(12_000);
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

async function seed(client: Client): Promise<void> {
  await client.query(`CREATE TABLE observations (
    id bigint PRIMARY KEY, observed_at timestamptz NOT NULL, amount numeric(12,2) NOT NULL, items integer NOT NULL,
    ratio double precision, flagged boolean NOT NULL, region_code text NOT NULL, outcome double precision NOT NULL)`);
  await client.query(
    "INSERT INTO observations SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::numeric[], $4::int[], $5::float8[], $6::bool[], $7::text[], $8::float8[])",
    [ROWS.map((r) => r.id), ROWS.map((r) => new Date(r.at).toISOString()), ROWS.map((r) => (r.amountCents / 100).toFixed(2)),
      ROWS.map((r) => r.items), ROWS.map((r) => r.ratio), ROWS.map((r) => r.flagged), ROWS.map((r) => r.region), ROWS.map((r) => r.outcome)],
  );
  // Rows a step must refuse, one per id; and rows at the edges of a day, for the UTC checks.
  await client.query("CREATE TABLE cases (id integer, day date, y double precision, x double precision)");
  await client.query(`INSERT INTO cases VALUES
    (1, '2024-01-10', NULL, 1.5), (2, '2024-01-11', 2.5, 'NaN'), (3, NULL, 2.5, 1.5), (4, 'infinity', 2.5, 1.5),
    (5, '2024-01-12', 3.5, 1.25), (6, '2024-01-13', 4.5, 2.25)`);
  await client.query("CREATE TABLE edges (id integer, at timestamptz)");
  await client.query(`INSERT INTO edges VALUES
    (1, '2024-05-31 23:30:00+00'), (2, '2024-06-01 00:30:00+00'), (3, '2024-06-09 23:59:59.999+00'), (4, '2024-06-10 00:00:00+00')`);
}

// ---------------------------------------------------------------------------------------------
// The split, computed independently: SHA-256 of the key's JSON, first 48 bits over 2^48.
// ---------------------------------------------------------------------------------------------

const FRACTIONS = { train: 0.7, validation: 0.15, test: 0.15 };

function expectedSplit(id: number, fractions = FRACTIONS): "train" | "validation" | "test" {
  const u = createHash("sha256").update(`["${id}"]`).digest().readUIntBE(0, 6) / 2 ** 48;
  return u < fractions.train ? "train" : u < fractions.train + fractions.validation ? "validation" : "test";
}

function inWindow(start: string, end: string): Observation[] {
  const from = Date.parse(`${start}T00:00:00Z`);
  const to = Date.parse(`${end}T00:00:00Z`);
  return ROWS.filter((r) => r.at >= from && r.at < to);
}

// ---------------------------------------------------------------------------------------------
// Fixtures: the server, the spec, a write-once S3 fake.
// ---------------------------------------------------------------------------------------------

let pg: TestPostgres;
seededPostgres(seed, (server) => {
  pg = server;
});

function spec(edit: (model: Record<string, unknown>) => void = () => undefined): ModelRetraining {
  const model: Record<string, unknown> = {
    query: QUERY,
    dateColumn: "observed_at",
    window: { start: "2020-01-01", pushbackDays: 30 },
    target: "outcome",
    features: ["amount", "items", "ratio"],
    rowKey: ["id"],
    split: FRACTIONS,
    tuning: { objective: "reg:squarederror", evalMetric: "rmse", objectiveMetric: "validation:rmse", ranges: { num_round: { type: "integer", min: 1, max: 10 } } },
  };
  edit(model);
  return parseRetrainingConfig({ models: { [MODEL]: model } }, [MODEL]).models[MODEL];
}

/** Settings for the test server: verify-full against its CA unless changed. */
function settings(overrides: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return {
    host: pg.host,
    port: pg.port,
    database: pg.database,
    user: pg.user,
    password: () => pg.password,
    sslmode: "verify-full",
    ca: readFileSync(pg.caFile, "utf8"),
    credentialsFrom: "PGUSER and PGPASSWORD",
    ...overrides,
  };
}

const s3 = mockClient(S3Client);
/** What the fake bucket holds: bytes and metadata by key. */
let bucket: Map<string, { body: Buffer; metadata: Record<string, string> }>;
/** Every PutObject request in order, with the bytes it carried. */
let puts: { input: PutObjectCommandInput; body: Buffer }[];
let progress: string[];
let workDir: string;

async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const s3Error = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

beforeEach(() => {
  s3.reset();
  bucket = new Map();
  puts = [];
  progress = [];
  workDir = mkdtempSync(join(tmpdir(), "retrain-data-test-"));
  // S3's write-once behaviour: If-None-Match: * on an existing key is 412 PreconditionFailed.
  s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    const body = await bytesOf(input.Body);
    puts.push({ input, body });
    if (input.IfNoneMatch === "*" && bucket.has(input.Key!)) throw s3Error("PreconditionFailed", 412);
    bucket.set(input.Key!, { body, metadata: { ...input.Metadata } });
    return {};
  });
  s3.on(HeadObjectCommand).callsFake(async (input: { Key: string }) => {
    const object = bucket.get(input.Key);
    if (object === undefined) throw s3Error("NotFound", 404);
    return { ContentLength: object.body.length, Metadata: object.metadata };
  });
});
afterEach(() => rmSync(workDir, { recursive: true, force: true }));

function options(overrides: Partial<DataStepOptions> = {}): DataStepOptions {
  return {
    model: MODEL,
    runId: RUN,
    spec: spec(),
    connection: settings(),
    s3: new S3Client({ region: "us-east-1" }),
    destination: { bucket: BUCKET, kmsKeyId: KMS },
    now: NOW,
    batchRows: 1000,
    workDir,
    progress: (line) => progress.push(line),
    retry: { sleep: async () => undefined },
    ...overrides,
  };
}

/** Runs the step expecting a failure; its error. */
async function failure(opts: DataStepOptions): Promise<Error> {
  const error = await runDataStep(opts).then(() => undefined, (e: Error) => e);
  if (error === undefined) throw new Error("the data step succeeded");
  return error;
}

/** Nothing reached S3 and the temporary directory is gone. */
function expectNothingUploaded(): void {
  expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  expect(readdirSync(workDir)).toEqual([]);
}

const lines = (buffer: Buffer) => buffer.toString("utf8").split("\n").slice(0, -1);
const numbers = (line: string) => line.split(",").map((v) => (v === "" ? null : Number(v)));

test("GIVEN no PostgreSQL server binaries WHEN the test server looks for them THEN it fails saying to install Debian's postgresql package", () => {
  expect(() => serverBinDir(join(workDir, "no-postgresql"))).toThrow(INSTALL_HINT);
  expect(INSTALL_HINT).toBe("install Debian's postgresql package: apt-get install -y --no-install-recommends postgresql");
});

// ---------------------------------------------------------------------------------------------
// Pure arithmetic.
// ---------------------------------------------------------------------------------------------

describe("the window", () => {
  test.each([
    ["30 days back across February of a common year", "2025-03-01T00:30:00Z", 30, "2025-01-30"],
    ["30 days back across February of a leap year", "2024-03-01T12:00:00Z", 30, "2024-01-31"],
    ["the UTC date, not the local one, late in the evening west of Greenwich", "2025-03-01T23:30:00-05:00", 30, "2025-01-31"],
    ["no pushback: up to today, today excluded", "2025-03-01T08:00:00Z", 0, "2025-03-01"],
    ["a year back", "2025-03-01T08:00:00Z", 365, "2024-03-01"],
  ])("GIVEN %s WHEN the window is computed THEN it ends on the hand-computed day", (_what, now, pushbackDays, end) => {
    const window = dataWindow(MODEL, { start: "2020-01-01", pushbackDays }, new Date(now));
    expect(window).toEqual({ start: "2020-01-01", end, today: new Date(now).toISOString().slice(0, 10), pushbackDays });
  });

  test("GIVEN a start on the window's end day WHEN the window is computed THEN it is refused as empty", () => {
    expect(() => dataWindow(MODEL, { start: "2025-01-30", pushbackDays: 30 }, new Date("2025-03-01T00:00:00Z"))).toThrow(new CliError(
      `the window of ${MODEL} is empty: it starts on 2025-01-30 and ends before 2025-01-30 (today 2025-03-01 (UTC) minus pushbackDays 30); `
      + `move models.${MODEL}.window.start earlier or lower pushbackDays`));
  });

  test("GIVEN a start after the window's end WHEN the window is computed THEN it is refused as reversed", () => {
    expect(() => dataWindow(MODEL, { start: "2025-02-15", pushbackDays: 30 }, new Date("2025-03-01T00:00:00Z"))).toThrow(new CliError(
      `the window of ${MODEL} is reversed: it starts on 2025-02-15, after its end 2025-01-30 (today 2025-03-01 (UTC) minus pushbackDays 30); `
      + `move models.${MODEL}.window.start earlier or lower pushbackDays`));
  });

  test("GIVEN a start that is not a date WHEN the window is computed THEN it is refused naming the key", () => {
    expect(() => dataWindow(MODEL, { start: "2025-02-30", pushbackDays: 30 }, NOW))
      .toThrow(new CliError(`models.${MODEL}.window.start must be a date written YYYY-MM-DD, got "2025-02-30"`));
  });
});

describe("the split", () => {
  test("GIVEN keys whose SHA-256 was computed by sha256sum WHEN their split points are computed THEN they are the first 48 bits over 2^48", () => {
    // printf '["1"]' | sha256sum -> 43de3a417d75...; '["2"]' -> 68a90152c045...; '["8"]' -> 953d1c8161d6...
    expect(splitPoint(rowKeyText(["1"]))).toBe(0x43de3a417d75 / 2 ** 48);
    expect(splitPoint(rowKeyText(["2"]))).toBe(0x68a90152c045 / 2 ** 48);
    expect(splitPoint(rowKeyText(["8"]))).toBe(0x953d1c8161d6 / 2 ** 48);
    // printf '[null]' | sha256sum -> 1d8fc6ceb1f9...; '["null"]' -> 53b41ab0dae6...: NULL is not the text "null".
    expect(splitPoint(rowKeyText([null]))).toBe(0x1d8fc6ceb1f9 / 2 ** 48);
    expect(splitPoint(rowKeyText(["null"]))).toBe(0x53b41ab0dae6 / 2 ** 48);
  });

  test("GIVEN fractions 0.3 / 0.25 / 0.45 WHEN points 0.265, 0.409 and 0.583 are split THEN they go to train, validation and test", () => {
    const fractions = { train: 0.3, validation: 0.25, test: 0.45 };
    expect(assignSplit(0x43de3a417d75 / 2 ** 48, fractions)).toBe("train");
    expect(assignSplit(0x68a90152c045 / 2 ** 48, fractions)).toBe("validation");
    expect(assignSplit(0x953d1c8161d6 / 2 ** 48, fractions)).toBe("test");
    expect(assignSplit(0, fractions)).toBe("train");
    expect(assignSplit(0.3, fractions)).toBe("validation");
    expect(assignSplit(0.55, fractions)).toBe("test");
  });
});

describe("run ids and keys", () => {
  test("GIVEN a time WHEN a run id is made THEN it is the UTC second and a hex suffix, and names keys under datasets/<model>/<run id>/", () => {
    const id = newRunId(new Date("2026-12-01T17:29:05.123Z"), () => Buffer.from([0x3f, 0x9a, 0x1c]));
    expect(id).toBe("20261201-172905-3f9a1c");
    expect(datasetKeys(MODEL, id)).toEqual({
      train: `datasets/${MODEL}/${id}/train.csv`,
      validation: `datasets/${MODEL}/${id}/validation.csv`,
      test: `datasets/${MODEL}/${id}/test.csv`,
      testTarget: `datasets/${MODEL}/${id}/test-target.csv`,
      manifest: `datasets/${MODEL}/${id}/manifest.json`,
    });
  });

  test("GIVEN a run id with a slash WHEN its prefix is made THEN it is refused", () => {
    expect(() => datasetPrefix(MODEL, "../other")).toThrow(new CliError(
      'run id "../other" must be lowercase letters, digits and inner hyphens, at most 40 characters (it names S3 keys)'));
  });
});

// ---------------------------------------------------------------------------------------------
// The step against the real server.
// ---------------------------------------------------------------------------------------------

describe("the data step", () => {
  test("GIVEN 12,000 generated rows WHEN the step runs THEN each split holds exactly the rows computed here, target first, no header", async () => {
    const result = await runDataStep(options());
    const rows = inWindow("2020-01-01", "2025-06-15");
    const by = (split: string) => rows.filter((r) => expectedSplit(r.id) === split);
    const keys = datasetKeys(MODEL, RUN);
    const features = (r: Observation) => [r.amountCents / 100, r.items, r.ratio];

    expect(rows.length).toBeGreaterThan(8000);
    expect(lines(bucket.get(keys.train)!.body).map(numbers)).toEqual(by("train").map((r) => [r.outcome, ...features(r)]));
    expect(lines(bucket.get(keys.validation)!.body).map(numbers)).toEqual(by("validation").map((r) => [r.outcome, ...features(r)]));
    expect(lines(bucket.get(keys.test)!.body).map(numbers)).toEqual(by("test").map(features));
    expect(lines(bucket.get(keys.testTarget)!.body).map(Number)).toEqual(by("test").map((r) => r.outcome));
    expect(result.uploaded).toEqual([keys.train, keys.validation, keys.test, keys.testTarget, keys.manifest]);
    expect(result.alreadyPresent).toEqual([]);
  });

  test("GIVEN a finished step WHEN its manifest is checked against the uploaded bytes THEN counts, hashes, sizes, window and query agree", async () => {
    const { manifest } = await runDataStep(options());
    const keys = datasetKeys(MODEL, RUN);
    const uploaded = JSON.parse(bucket.get(keys.manifest)!.body.toString("utf8")) as DatasetManifest;
    const rows = inWindow("2020-01-01", "2025-06-15");
    const count = (split: string) => rows.filter((r) => expectedSplit(r.id) === split).length;

    expect(uploaded).toEqual(manifest);
    expect(manifest.rows).toEqual({ total: rows.length, train: count("train"), validation: count("validation"), test: count("test") });
    for (const name of ["train", "validation", "test", "testTarget"] as const) {
      const body = bucket.get(keys[name])!.body;
      expect(manifest.files[name]).toMatchObject({
        key: keys[name],
        url: `s3://${BUCKET}/${keys[name]}`,
        bytes: body.length,
        rows: lines(body).length,
        sha256: createHash("sha256").update(body).digest("hex"),
      });
    }
    expect(manifest.files.train.columns).toEqual(["outcome", "amount", "items", "ratio"]);
    expect(manifest.files.test.columns).toEqual(["amount", "items", "ratio"]);
    expect(manifest.files.testTarget.columns).toEqual(["outcome"]);
    expect(manifest).toMatchObject({
      schemaVersion: 1,
      model: MODEL,
      runId: RUN,
      createdAt: NOW.toISOString(),
      query: QUERY,
      parameters: ["2020-01-01", "2025-06-15"],
      window: { start: "2020-01-01", end: "2025-06-15", today: "2025-07-15", pushbackDays: 30 },
      source: { host: pg.host, port: pg.port, database: pg.database, sslmode: "verify-full" },
      observedDates: { first: utcDay(Math.min(...rows.map((r) => r.at))), last: utcDay(Math.max(...rows.map((r) => r.at))) },
      split: { rowKey: ["id"], fractions: FRACTIONS },
    });
  });

  test("GIVEN a finished step WHEN its PutObject requests are read THEN each is write-once, SSE-KMS with the registry key and checksummed, the manifest last", async () => {
    await runDataStep(options());
    expect(puts.map((p) => p.input.Key)).toEqual(Object.values(datasetKeys(MODEL, RUN)));
    for (const { input, body } of puts) {
      const sha256 = createHash("sha256").update(body).digest();
      expect(input).toMatchObject({
        Bucket: BUCKET,
        IfNoneMatch: "*",
        ServerSideEncryption: "aws:kms",
        SSEKMSKeyId: KMS,
        BucketKeyEnabled: true,
        ContentLength: body.length,
        ChecksumSHA256: sha256.toString("base64"),
        Metadata: { "sha256": sha256.toString("hex"), "run-id": RUN, "model": MODEL },
      });
    }
    expect(readdirSync(workDir)).toEqual([]);
  });

  test("GIVEN a database password and user WHEN the step runs THEN neither appears in the progress lines, the manifest or the requests' metadata", async () => {
    await runDataStep(options());
    const printed = [...progress, bucket.get(datasetKeys(MODEL, RUN).manifest)!.body.toString("utf8"), JSON.stringify(puts.map((p) => p.input.Metadata))].join("\n");
    expect(printed).not.toContain(pg.password);
    expect(printed).not.toContain(pg.user);
    expect(progress[0]).toBe(`${MODEL}: window 2020-01-01 to 2025-06-15 (excluded; 2025-07-15 minus 30 days, UTC)`);
    expect(progress).toContain(`${MODEL}: connecting to ${pg.host}:${pg.port}, database ${pg.database} (sslmode verify-full)`);
  });

  test("GIVEN a later run with a wider window WHEN both runs' splits are compared THEN every row keeps its split", async () => {
    await runDataStep(options({ runId: "early", now: new Date("2023-01-31T00:00:00Z") }));
    await runDataStep(options({ runId: "late" }));
    const contents = (run: string, name: "train" | "test") => new Set(lines(bucket.get(datasetKeys(MODEL, run)[name])!.body)
      .map((line) => (name === "train" ? line.slice(line.indexOf(",") + 1) : line)));
    const earlyTest = contents("early", "test");
    const lateTest = contents("late", "test");
    const lateTrain = contents("late", "train");
    expect(earlyTest.size).toBeGreaterThan(500);
    expect([...earlyTest].filter((row) => !lateTest.has(row) || lateTrain.has(row))).toEqual([]);
  });

  test("GIVEN the same run uploaded before WHEN the step runs again with the same data THEN every key is left as it was", async () => {
    await runDataStep(options());
    const again = await runDataStep(options());
    expect(again.uploaded).toEqual([]);
    expect(again.alreadyPresent).toEqual(Object.values(datasetKeys(MODEL, RUN)));
  });

  test("GIVEN the same run id with other content WHEN the step runs THEN it refuses to overwrite", async () => {
    await runDataStep(options());
    const error = await failure(options({ now: new Date("2025-07-15T11:00:00Z") }));
    const sha = createHash("sha256").update(puts[puts.length - 1].body).digest("hex");
    const before = JSON.stringify(JSON.parse(bucket.get(datasetKeys(MODEL, RUN).manifest)!.body.toString()));
    expect(error.message).toBe(`refusing to overwrite s3://${BUCKET}/${datasetKeys(MODEL, RUN).manifest}: it exists with other content `
      + `(sha256 ${createHash("sha256").update(bucket.get(datasetKeys(MODEL, RUN).manifest)!.body).digest("hex")}, this run's is ${sha}); `
      + "datasets are write-once: start a new run (another run id)");
    expect(JSON.stringify(JSON.parse(bucket.get(datasetKeys(MODEL, RUN).manifest)!.body.toString()))).toBe(before);
  });

  test("GIVEN S3 failing once with a 500 WHEN the step uploads THEN the retry sends the whole file again", async () => {
    let failed = false;
    s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      const body = await bytesOf(input.Body);
      puts.push({ input, body });
      if (!failed) {
        failed = true;
        throw s3Error("InternalError", 500);
      }
      bucket.set(input.Key!, { body, metadata: { ...input.Metadata } });
      return {};
    });
    const { manifest } = await runDataStep(options());
    expect(puts[0].body.equals(puts[1].body)).toBe(true);
    expect(createHash("sha256").update(bucket.get(manifest.files.train.key)!.body).digest("hex")).toBe(manifest.files.train.sha256);
  });

  test("GIVEN another writer on the same key WHEN S3 answers 409 THEN the step says so", async () => {
    s3.on(PutObjectCommand).rejects(s3Error("ConditionalRequestConflict", 409));
    expect((await failure(options())).message).toBe(`another upload to s3://${BUCKET}/${datasetKeys(MODEL, RUN).train} was in progress at the same time `
      + "(ConditionalRequestConflict): is the same run running twice?");
  });

  test("GIVEN files larger than one PutObject takes WHEN the step runs THEN nothing is uploaded", async () => {
    const error = await failure(options({ maxObjectBytes: 1000 }));
    expect(error.message).toMatch(new RegExp(`^s3://${BUCKET}/${datasetKeys(MODEL, RUN).train} would have \\d+ bytes, more than the 1000 of one PutObject: `
      + "narrow the window or the columns; nothing was uploaded$"));
    expectNothingUploaded();
  });
});

describe("the manifest read back", () => {
  const getReturns = (text: string | undefined) => s3.on(GetObjectCommand).resolves(
    text === undefined ? {} : { Body: { transformToString: async () => text } } as never);

  test("GIVEN an uploaded manifest WHEN it is read back THEN it is the step's manifest", async () => {
    const { manifest } = await runDataStep(options());
    getReturns(bucket.get(datasetKeys(MODEL, RUN).manifest)!.body.toString("utf8"));
    expect(await readManifest(new S3Client({}), BUCKET, MODEL, RUN)).toEqual(manifest);
  });

  test("GIVEN no manifest WHEN it is read THEN there is none (the step has not completed)", async () => {
    s3.on(GetObjectCommand).rejects(s3Error("NoSuchKey", 404));
    expect(await readManifest(new S3Client({}), BUCKET, MODEL, RUN)).toBeUndefined();
  });

  test.each([
    ["another run's manifest", JSON.stringify({ schemaVersion: 1, model: MODEL, runId: "other" }), `s3://${BUCKET}/datasets/${MODEL}/${RUN}/manifest.json is not the dataset manifest of run ${RUN} of ${MODEL}`],
    ["text that is not JSON", "{", `s3://${BUCKET}/datasets/${MODEL}/${RUN}/manifest.json is not JSON: it is not a dataset manifest`],
    ["no body", undefined, `GetObject of s3://${BUCKET}/datasets/${MODEL}/${RUN}/manifest.json returned no body`],
  ])("GIVEN %s WHEN it is read THEN it is refused", async (_what, text, expected) => {
    getReturns(text);
    await expect(readManifest(new S3Client({}), BUCKET, MODEL, RUN)).rejects.toThrow(new CliError(expected));
  });
});

// ---------------------------------------------------------------------------------------------
// What the step refuses, before any upload.
// ---------------------------------------------------------------------------------------------

describe("refusals: nothing is uploaded", () => {
  const casesQuery = (where: string) => `SELECT id, day, y, x FROM cases WHERE ${where}`;
  const casesSpec = (where: string, split = FRACTIONS) => spec((m) => {
    Object.assign(m, { query: casesQuery(where), dateColumn: "day", target: "y", features: ["x"], rowKey: ["id"], split });
  });

  test.each<[string, () => ModelRetraining, string | (() => string)]>([
    ["a query the server rejects, at its line and column",
      () => spec((m) => { m.query = "SELECT id, observed_at, amount, items,\n       nope AS ratio, outcome FROM observations\n WHERE observed_at >= $1 AND observed_at < $2"; }),
      "the query failed at line 2, column 8 of the query: column \"nope\" does not exist (SQLSTATE 42703)"],
    ["a query that tries to write",
      () => spec((m) => { m.query = "WITH gone AS (DELETE FROM observations RETURNING *) SELECT * FROM gone WHERE observed_at >= $1 AND observed_at < $2"; }),
      "the query failed: DECLARE CURSOR must not contain data-modifying statements in WITH (SQLSTATE 0A000)"],
    ["a configured column the query does not return",
      () => spec((m) => { m.query = QUERY.replace("ratio, ", ""); }),
      `the query of ${MODEL} returns no column ratio (models.${MODEL}.features[2]); it returns id, observed_at, amount, items, outcome`],
    ["a column returned twice",
      () => spec((m) => { m.query = QUERY.replace("outcome\n", "outcome, items AS ratio\n"); }),
      `the query of ${MODEL} returns 2 columns named ratio (models.${MODEL}.features[2]): name each column once (AS)`],
    ["a boolean feature",
      () => spec((m) => { m.query = QUERY.replace("outcome\n", "outcome, flagged\n"); m.features = ["amount", "items", "ratio", "flagged"]; }),
      `column flagged (models.${MODEL}.features[3]) is boolean, and XGBoost reads numbers: make it one in the query (flagged::int for a boolean, a CASE or a code table for text)`],
    ["a date column that is text",
      () => spec((m) => { m.query = QUERY.replace("outcome\n", "outcome, region_code AS label\n"); m.dateColumn = "label"; }),
      `the dateColumn label of ${MODEL} is text: it must be a date, timestamp or timestamptz`],
    ["a query that ignores the window",
      () => spec((m) => { m.query = "SELECT id, observed_at, amount, items, ratio, outcome FROM observations WHERE $1::date IS NOT NULL AND $2::date IS NOT NULL ORDER BY id"; }),
      () => `row 1 of the query of ${MODEL} has observed_at ${utcDay(ROWS[0].at)}, outside the window 2020-01-01 to 2025-06-15 (excluded): `
        + "the query must keep only rows with $1 <= observed_at < $2"],
    ["a NULL target", () => casesSpec("day >= $1 AND day < $2 AND id = 1"),
      `row 1 of the query of ${MODEL} has no y (the target is NULL): leave such rows out (WHERE y IS NOT NULL)`],
    ["a NaN feature", () => casesSpec("day >= $1 AND day < $2 AND id = 2"),
      `row 1 of the query of ${MODEL} has x = NaN: XGBoost reads finite numbers; turn it into NULL (a missing value) or leave the row out in the query`],
    ["a NULL date", () => casesSpec("id = 3 AND $1::date IS NOT NULL AND $2::date IS NOT NULL"),
      `row 1 of the query of ${MODEL} has no day (NULL): every row needs a date between the years 1 and 9999`],
    ["an infinite date", () => casesSpec("id = 4 AND $1::date IS NOT NULL AND $2::date IS NOT NULL"),
      `row 1 of the query of ${MODEL} has an unusable day (infinity): every row needs a date between the years 1 and 9999`],
    ["no rows in the window", () => casesSpec("day >= $1 AND day < $2 AND false"),
      `the query of ${MODEL} returned no rows for the window 2020-01-01 to 2025-06-15 (excluded); nothing was uploaded`],
    ["too few rows for every split", () => casesSpec("day >= $1 AND day < $2 AND id IN (5, 6)", { train: 0.3, validation: 0.25, test: 0.45 }), () => {
      const split = (id: number) => expectedSplit(id, { train: 0.3, validation: 0.25, test: 0.45 });
      const counts = { train: 0, validation: 0, test: 0 };
      [5, 6].forEach((id) => { counts[split(id)]++; });
      const empty = (["train", "validation", "test"] as const).filter((s) => counts[s] === 0);
      return `the ${empty.join(" and ")} split${empty.length > 1 ? "s are" : " is"} empty: the window has only 2 rows `
        + `(train ${counts.train}, validation ${counts.validation}, test ${counts.test}); widen the window (models.${MODEL}.window) or change models.${MODEL}.split`;
    }],
  ])("GIVEN %s WHEN the step runs THEN it fails with a message that says so", async (_what, makeSpec, expected) => {
    const error = await failure(options({ spec: makeSpec() }));
    expect(error).toBeInstanceOf(CliError);
    expect(error.message).toBe(typeof expected === "function" ? expected() : expected);
    expectNothingUploaded();
    const client = await pg.connect();
    try {
      expect((await client.query("SELECT count(*)::int AS n FROM observations")).rows[0].n).toBe(ROWS.length);
    } finally {
      await client.end();
    }
  });

  test("GIVEN a window that ends before it starts WHEN the step runs THEN it fails before connecting", async () => {
    const error = await failure(options({ spec: spec((m) => { m.window = { start: "2025-07-01" }; }), connection: settings({ host: "db.nonexistent.invalid" }) }));
    expect(error.message).toMatch(new RegExp(`^the window of ${MODEL} is reversed:`));
    expect(progress).toEqual([]);
    expectNothingUploaded();
  });
});

// ---------------------------------------------------------------------------------------------
// The query: parameters, batches, UTC.
// ---------------------------------------------------------------------------------------------

describe("the query", () => {
  let client: Client;
  beforeEach(async () => { client = await connectDatabase(settings()); });
  afterEach(async () => { await client.end(); });

  const all = async (sql: string, params: unknown[], batchRows = 1000) => {
    const batches: (readonly (string | null)[])[][] = [];
    for await (const batch of queryInBatches(client, sql, params, batchRows)) batches.push([...batch.rows]);
    return batches;
  };

  test("GIVEN a value with a quote and SQL in it WHEN it is a parameter THEN it matches as text and runs nothing", async () => {
    const batches = await all("SELECT id FROM observations WHERE region_code = $1 ORDER BY id", [INJECTION]);
    expect(batches.flat().map((r) => Number(r[0]))).toEqual(ROWS.filter((r) => r.region === INJECTION).map((r) => r.id));
    // This session reads every value as the server's text.
    expect((await client.query("SELECT count(*) AS n FROM observations")).rows[0].n).toBe(String(ROWS.length));
  });

  test("GIVEN 12,000 rows WHEN they are read 1,000 at a time THEN no batch holds more, and every row comes once", async () => {
    const batches = await all("SELECT id FROM observations WHERE $1::int > 0 AND $2::int > 0 ORDER BY id", [1, 1]);
    expect(Math.max(...batches.map((b) => b.length))).toBe(1000);
    expect(batches.flat().map((r) => Number(r[0]))).toEqual(ROWS.map((r) => r.id));
  });

  test("GIVEN a batch size that is not a whole number WHEN the query is read THEN it is refused before anything runs", async () => {
    await expect(all("SELECT 1 WHERE $1::int > 0", [1], 0.5)).rejects.toThrow(new CliError("rows per batch must be a whole number of at least 1, got 0.5"));
  });

  test("GIVEN a reader that stops after the first batch WHEN it stops THEN the cursor and its transaction are closed", async () => {
    for await (const batch of queryInBatches(client, "SELECT id FROM observations", [], 100)) {
      expect(batch.rows).toHaveLength(100);
      break;
    }
    const open = await client.query("SELECT count(*) AS n, (SELECT now() = statement_timestamp()) AS fresh FROM pg_cursors");
    expect(open.rows[0]).toEqual({ n: "0", fresh: "t" });
  });

  test("GIVEN a server in another time zone WHEN timestamps at the window's edges are read THEN the window is in UTC", async () => {
    const batches = await all("SELECT id FROM edges WHERE at >= $1 AND at < $2 ORDER BY id", ["2024-06-01", "2024-06-10"]);
    expect(batches.flat().map((r) => r[0])).toEqual(["2", "3"]);
    expect((await client.query("SHOW TimeZone")).rows[0]).toEqual({ TimeZone: "UTC" });
  });
});

// ---------------------------------------------------------------------------------------------
// The connection: TLS for real, and every way it fails.
// ---------------------------------------------------------------------------------------------

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function connectError(s: ConnectionSettings, timeoutMs?: number): Promise<DatabaseConnectionError> {
  const error = await connectDatabase(s, timeoutMs).then(async (c) => { await c.end(); return undefined; }, (e: unknown) => e);
  if (!(error instanceof DatabaseConnectionError)) throw new Error(`expected a DatabaseConnectionError, got ${String(error)}`);
  return error;
}

describe("the connection", () => {
  const sslOf = async (c: Client) => (await c.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0].ssl;

  test("GIVEN verify-full and the server's CA WHEN connecting THEN the session is encrypted", async () => {
    const client = await connectDatabase(settings());
    try {
      expect(await sslOf(client)).toBe("t");
    } finally {
      await client.end();
    }
  });

  test("GIVEN verify-full and a CA that did not sign the server's certificate WHEN connecting THEN it fails as TLS, naming host and port", async () => {
    const error = await connectError(settings({ ca: readFileSync(pg.otherCaFile, "utf8") }));
    expect(error.failure).toBe("tls");
    expect(error.message).toMatch(new RegExp(`^cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${pg.port}: TLS verification of the server's certificate failed \\(`));
  });

  test("GIVEN verify-full and Node's public CAs only WHEN connecting to a server with a private CA THEN it fails as TLS", async () => {
    expect((await connectError(settings({ ca: undefined }))).failure).toBe("tls");
  });

  test("GIVEN a certificate of the right CA for another name WHEN connecting THEN verify-full fails and require connects encrypted", async () => {
    await pg.useCertificateFor("db.elsewhere.invalid");
    try {
      const error = await connectError(settings());
      expect(error.failure).toBe("tls");
      expect(error.message).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
      const client = await connectDatabase(settings({ sslmode: "require", ca: undefined }));
      try {
        expect(await sslOf(client)).toBe("t");
      } finally {
        await client.end();
      }
    } finally {
      await pg.restoreCertificate();
    }
  });

  test("GIVEN sslmode disable WHEN connecting THEN the session is not encrypted", async () => {
    const client = await connectDatabase(settings({ sslmode: "disable", ca: undefined }));
    try {
      expect(await sslOf(client)).toBe("f");
    } finally {
      await client.end();
    }
  });

  test("GIVEN a wrong password WHEN connecting THEN it fails as authentication, and the message holds neither password nor user", async () => {
    const error = await connectError(settings({ password: () => "wrong-password-value" }));
    expect(error.failure).toBe("auth");
    expect(error.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${pg.port}: authentication failed (SQLSTATE 28P01): check the user and password (from PGUSER and PGPASSWORD)`);
    expect(error.message).not.toContain("wrong-password-value");
    expect(error.message).not.toContain(pg.user);
  });

  test("GIVEN no password WHEN the server asks for one THEN it fails as authentication", async () => {
    const error = await connectError(settings({ password: () => undefined, credentialsFrom: "PGUSER and no password (PGPASSWORD is not set)" }));
    expect(error.failure).toBe("auth");
    expect(error.message).toMatch(/: authentication failed: check the user and password \(from PGUSER and no password \(PGPASSWORD is not set\)\)$/);
  });

  test("GIVEN a database that does not exist WHEN connecting THEN the error names it", async () => {
    const error = await connectError(settings({ database: "no_such_db" }));
    expect(error.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${pg.port}: the server has no database "no_such_db" (SQLSTATE 3D000)`);
  });

  test("GIVEN the credentials and the CA file named by retraining.yaml's secretArn and sslRootCert WHEN resolved and used THEN the session is encrypted", async () => {
    const secrets = mockClient(SecretsManagerClient);
    const arn = "arn:aws:secretsmanager:ap-southeast-4:404040404041:secret:test-db-AbCdEf";
    try {
      secrets.on(GetSecretValueCommand, { SecretId: arn })
        .resolves({ SecretString: JSON.stringify({ username: pg.user, password: pg.password, host: pg.host, port: pg.port, dbname: pg.database }) });
      const file = { database: { secretArn: arn, sslRootCert: basename(pg.caFile) }, models: { [MODEL]: specInput() } };
      const database = parseRetrainingConfig(file, [MODEL]).database;
      const resolved = await resolveConnection(database, { dir: dirname(pg.caFile), secrets: new SecretsManagerClient({}) });
      const client = await connectDatabase(resolved);
      try {
        expect(await sslOf(client)).toBe("t");
      } finally {
        await client.end();
      }
    } finally {
      secrets.restore();
    }
  });

  test("GIVEN a port nobody listens on WHEN the step runs THEN the error names host, port and 'refused', and nothing is uploaded", async () => {
    const port = await closedPort();
    const error = await failure(options({ connection: settings({ port }) }));
    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${port}: the connection was refused (ECONNREFUSED): `
      + "no server listens on that port, or a firewall refuses it; nothing was uploaded");
    expectNothingUploaded();
  });

  test("GIVEN a host name that does not resolve WHEN the step runs THEN the error names the host and DNS, and nothing is uploaded", async () => {
    const error = await failure(options({ connection: settings({ host: "db.nonexistent.invalid" }) }));
    expect(error.message).toBe(`cannot connect to PostgreSQL at db.nonexistent.invalid:${pg.port}: the host name does not resolve (DNS ENOTFOUND); check database.host or PGHOST; nothing was uploaded`);
    expectNothingUploaded();
  });

  test("GIVEN a server that accepts and never answers WHEN connecting with a short timeout THEN it fails as a timeout, naming the wait", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => { sockets.push(socket); });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const error = await connectError(settings({ port }), 300);
      expect(error.failure).toBe("timeout");
      expect(error.message).toMatch(new RegExp(`^cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${port}: no answer within 0\\.3 s \\(`));
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("GIVEN failures without a server to cause them WHEN described THEN they say what to check", () => {
    const s = settings();
    expect(describeConnectionFailure(Object.assign(new Error("connect EHOSTUNREACH"), { code: "EHOSTUNREACH" }), s, 10_000))
      .toEqual({ failure: "timeout", reason: "no answer within 10 s (EHOSTUNREACH): a security group, firewall or route drops the connection" });
    expect(describeConnectionFailure(new Error("The server does not support SSL connections"), s, 10_000))
      .toEqual({ failure: "tls", reason: "TLS could not be set up (The server does not support SSL connections); the server must accept TLS with sslmode verify-full" });
    expect(describeConnectionFailure(Object.assign(new Error("sorry, too many clients already"), { code: "53300" }), s, 10_000))
      .toEqual({ failure: "other", reason: "53300: sorry, too many clients already" });
  });
});

/** A valid model entry (for parsing a file whose database section is under test). */
function specInput(): Record<string, unknown> {
  return {
    query: QUERY,
    dateColumn: "observed_at",
    window: { start: "2020-01-01" },
    target: "outcome",
    features: ["amount"],
    split: FRACTIONS,
    tuning: { objective: "reg:squarederror", evalMetric: "rmse", objectiveMetric: "validation:rmse", numRound: 10, ranges: { eta: { type: "continuous", min: 0.1, max: 0.5 } } },
  };
}
