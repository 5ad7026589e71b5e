import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream, mkdtempSync, type ReadStream, rmSync, writeFileSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Client, FieldDef } from "pg";
import { type ModelRetraining, parseIsoDate } from "./config";
import { connectDatabase, type ConnectionSettings, DatabaseConnectionError, DEFAULT_BATCH_ROWS, queryInBatches } from "./database";
import { type RetryOptions, retryingClient, withRetries } from "../aws";
import { CliError, isError } from "../cli";
import { MAX_SINGLE_PUT_BYTES, s3Url } from "../models";

/**
 * Retraining, step 1 (seed 001, "A. データの準備"): query PostgreSQL for a date window, split the
 * rows into train / validation / test, write CSV for SageMaker's built-in XGBoost, describe the
 * result in a manifest, and upload it all to the registry bucket under a key that names the run
 * (`datasets/<model>/<run id>/`), for lineage.
 *
 * - Window: from the configured start to the run's UTC date minus pushbackDays; `$1` is its first
 *   day and `$2` the day after its last (half-open, so consecutive windows neither overlap nor
 *   leave a gap, and a timestamp column needs no end-of-day arithmetic). The session runs in UTC.
 * - The query runs read-only, its values bound by the driver (never written into the SQL), and is
 *   read through a server-side cursor in batches: at most one batch of rows is in memory.
 * - Split: by a hash of each row's key (rowKey), not by a random generator seeded with the run
 *   id. A seeded generator would give the same rows another split on every run (the window grows
 *   each run), so rows of an earlier test split would be trained on later and evaluations of two
 *   runs would not compare; with the hash a row keeps its split for as long as its key exists,
 *   whatever the row order, batch size or run.
 * - CSV as the built-in XGBoost reads it: no header, the target first (train, validation); the
 *   test split is written as features only (the batch transform's input) and its targets in a
 *   file of their own, line for line, for the evaluation.
 * - Nothing half-written: the files are written in a temporary directory, and uploaded only once
 *   every split and the manifest are complete, each write-once (`If-None-Match: *`, as the
 *   bucket policy demands), the manifest last: a run's manifest in S3 means its data is complete.
 *   When the database cannot be reached, the error names the host, the port and what failed, and
 *   nothing is uploaded. Credentials appear in no message, progress line or manifest.
 */

/** Prefix of every dataset in the registry bucket (write-once, outside training/). */
export const DATASET_PREFIX = "datasets/";

/** The splits, in the order of their fractions. */
export const SPLITS = ["train", "validation", "test"] as const;
export type Split = (typeof SPLITS)[number];

/** The files of a dataset; `test` holds the test split's features, `testTarget` its targets. */
export const DATASET_FILES = {
  train: "train.csv",
  validation: "validation.csv",
  test: "test.csv",
  testTarget: "test-target.csv",
} as const;
export type DatasetFileName = keyof typeof DATASET_FILES;
const MANIFEST_FILE = "manifest.json";

/** A progress line every this many rows. */
const PROGRESS_ROWS = 100_000;
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// The window, the run and its keys.
// ---------------------------------------------------------------------------------------------

/** The dates of a run's data, YYYY-MM-DD (UTC): rows with start <= date < end. */
export interface DataWindow {
  /** First day in the window ($1). */
  readonly start: string;
  /** The day after the last day in the window ($2): today minus pushbackDays. */
  readonly end: string;
  /** The run's date (UTC) the end was counted from. */
  readonly today: string;
  readonly pushbackDays: number;
}

/**
 * The window of a run at `now`: from `start` to now's UTC date minus `pushbackDays` (excluded).
 * Throws a CliError when it is empty or reversed.
 */
export function dataWindow(model: string, window: { readonly start: string; readonly pushbackDays: number }, now: Date): DataWindow {
  const todayMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const today = isoDay(todayMs);
  const end = isoDay(todayMs - window.pushbackDays * DAY_MS);
  const startMs = parseIsoDate(window.start);
  if (startMs === undefined) throw new CliError(`models.${model}.window.start must be a date written YYYY-MM-DD, got "${window.start}"`);
  const counted = `today ${today} (UTC) minus pushbackDays ${window.pushbackDays}`;
  if (startMs === todayMs - window.pushbackDays * DAY_MS) {
    throw new CliError(`the window of ${model} is empty: it starts on ${window.start} and ends before ${end} (${counted}); `
      + `move models.${model}.window.start earlier or lower pushbackDays`);
  }
  if (startMs > todayMs - window.pushbackDays * DAY_MS) {
    throw new CliError(`the window of ${model} is reversed: it starts on ${window.start}, after its end ${end} (${counted}); `
      + `move models.${model}.window.start earlier or lower pushbackDays`);
  }
  return { start: window.start, end, today, pushbackDays: window.pushbackDays };
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** A run id: lowercase letters, digits and inner hyphens, at most 40 characters (it names S3 keys and jobs). */
export const RUN_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/** A new run id: the UTC time to the second and a random suffix (`20261201-172900-3f9a1c`). */
export function newRunId(now: Date, random: () => Buffer = () => randomBytes(3)): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, "").replace(/[-:]/g, "").replace("T", "-");
  return `${stamp}-${random().toString("hex")}`;
}

/** The key prefix of a run's dataset: `datasets/<model>/<run id>/`. */
export function datasetPrefix(model: string, runId: string): string {
  if (!RUN_ID.test(runId)) {
    throw new CliError(`run id "${runId}" must be lowercase letters, digits and inner hyphens, at most 40 characters (it names S3 keys)`);
  }
  return `${DATASET_PREFIX}${model}/${runId}/`;
}

/** The S3 keys of a run's dataset files and manifest. */
export function datasetKeys(model: string, runId: string): Record<DatasetFileName | "manifest", string> {
  const prefix = datasetPrefix(model, runId);
  return {
    train: prefix + DATASET_FILES.train,
    validation: prefix + DATASET_FILES.validation,
    test: prefix + DATASET_FILES.test,
    testTarget: prefix + DATASET_FILES.testTarget,
    manifest: prefix + MANIFEST_FILE,
  };
}

// ---------------------------------------------------------------------------------------------
// The split.
// ---------------------------------------------------------------------------------------------

/** The text a row's key is hashed as: JSON of its key columns' values (text, or null), in rowKey order. */
export function rowKeyText(values: readonly (string | null)[]): string {
  return JSON.stringify(values);
}

/** A number in [0, 1) from a row's key: the first 48 bits of SHA-256 of its text, over 2^48. */
export function splitPoint(keyText: string): number {
  return createHash("sha256").update(keyText, "utf8").digest().readUIntBE(0, 6) / 2 ** 48;
}

/** The split of a point: train below the train fraction, validation below train + validation, else test. */
export function assignSplit(point: number, fractions: Readonly<Record<Split, number>>): Split {
  if (point < fractions.train) return "train";
  if (point < fractions.train + fractions.validation) return "validation";
  return "test";
}

// ---------------------------------------------------------------------------------------------
// Rows to CSV.
// ---------------------------------------------------------------------------------------------

/** PostgreSQL's numeric types (pg_type OIDs): int8, int2, int4, float4, float8, numeric. */
const NUMERIC_TYPES = new Set([20, 21, 23, 700, 701, 1700]);
/** date, timestamp, timestamptz. */
const DATE_TYPES = new Set([1082, 1114, 1184]);
const TYPE_NAMES: Record<number, string> = {
  16: "boolean",
  25: "text",
  1042: "character",
  1043: "character varying",
  1082: "date",
  1114: "timestamp",
  1184: "timestamptz",
  2950: "uuid",
  114: "json",
  3802: "jsonb",
  1186: "interval",
};
const typeName = (oid: number) => TYPE_NAMES[oid] ?? `the type with OID ${oid}`;

/** Where each configured column is in the query's result. */
interface ColumnPlan {
  readonly target: number;
  readonly features: readonly number[];
  readonly date: number;
  readonly key: readonly number[];
  readonly rowKey: readonly string[];
}

/** Finds the configured columns in the result and checks their types: numbers for XGBoost, a date for the window. */
function columnPlan(model: string, spec: ModelRetraining, fields: readonly FieldDef[]): ColumnPlan {
  const names = fields.map((f) => f.name);
  const where = (column: string, key: string) => {
    const found = names.filter((n) => n === column).length;
    if (found === 0) throw new CliError(`the query of ${model} returns no column ${column} (models.${model}.${key}); it returns ${names.join(", ")}`);
    if (found > 1) throw new CliError(`the query of ${model} returns ${found} columns named ${column} (models.${model}.${key}): name each column once (AS)`);
    return names.indexOf(column);
  };
  const numeric = (column: string, key: string) => {
    const i = where(column, key);
    if (!NUMERIC_TYPES.has(fields[i].dataTypeID)) {
      throw new CliError(`column ${column} (models.${model}.${key}) is ${typeName(fields[i].dataTypeID)}, and XGBoost reads numbers: `
        + `make it one in the query (${column}::int for a boolean, a CASE or a code table for text)`);
    }
    return i;
  };
  const date = where(spec.dateColumn, "dateColumn");
  if (!DATE_TYPES.has(fields[date].dataTypeID)) {
    throw new CliError(`the dateColumn ${spec.dateColumn} of ${model} is ${typeName(fields[date].dataTypeID)}: it must be a date, timestamp or timestamptz`);
  }
  const rowKey = spec.rowKey ?? [spec.dateColumn, spec.target, ...spec.features];
  return {
    target: numeric(spec.target, "target"),
    features: spec.features.map((f, i) => numeric(f, `features[${i}]`)),
    date,
    key: rowKey.map((k, i) => where(k, spec.rowKey ? `rowKey[${i}]` : "dateColumn/target/features (the default rowKey)")),
    rowKey,
  };
}

const NOT_FINITE = new Set(["NaN", "Infinity", "-Infinity"]);
const DATE_PREFIX = /^\d{4}-\d{2}-\d{2}/;

/** A file being written: its stream, running SHA-256, bytes and rows. */
class CsvFile {
  readonly path: string;
  rows = 0;
  bytes = 0;
  private readonly hash = createHash("sha256");
  private readonly stream: WriteStream;
  private failure: Error | undefined;

  constructor(dir: string, name: string) {
    this.path = join(dir, name);
    this.stream = createWriteStream(this.path, { flags: "wx" });
    this.stream.on("error", (error) => { this.failure = error; });
  }

  /** Appends lines (each ending in \n), waiting when the disk is behind. */
  async write(text: string, rows: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (text === "") return;
    const chunk = Buffer.from(text, "utf8");
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.rows += rows;
    if (!this.stream.write(chunk)) await once(this.stream, "drain");
  }

  /** Closes the file; its SHA-256 (hex). */
  async close(): Promise<string> {
    this.stream.end();
    await finished(this.stream);
    if (this.failure) throw this.failure;
    return this.hash.digest("hex");
  }

  /** Closes the file after a failure, without waiting for it. */
  abandon(): void {
    this.stream.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The manifest.
// ---------------------------------------------------------------------------------------------

/** One file of a dataset. */
export interface DatasetFile {
  readonly key: string;
  readonly url: string;
  readonly rows: number;
  readonly bytes: number;
  /** SHA-256 of the file's bytes, hex. */
  readonly sha256: string;
  /** The CSV's columns, in order (the file has no header line). */
  readonly columns: readonly string[];
}

/** What a run's data is and where it came from: `manifest.json`, uploaded last. No credentials. */
export interface DatasetManifest {
  readonly schemaVersion: 1;
  readonly model: string;
  readonly runId: string;
  /** When the rows were read (UTC, ISO 8601). */
  readonly createdAt: string;
  /** The SQL as configured; `$1` and `$2` are `parameters`. */
  readonly query: string;
  readonly parameters: readonly [string, string];
  readonly window: DataWindow;
  /** Where the rows came from (never the user or password). */
  readonly source: { readonly host: string; readonly port: number; readonly database: string; readonly sslmode: string };
  readonly dateColumn: string;
  /** The first and last dates (UTC) of dateColumn among the rows. */
  readonly observedDates: { readonly first: string; readonly last: string };
  readonly target: string;
  readonly features: readonly string[];
  /** How rows were split, and the columns hashed. */
  readonly split: { readonly method: string; readonly rowKey: readonly string[]; readonly fractions: Readonly<Record<Split, number>> };
  readonly rows: Readonly<Record<Split | "total", number>>;
  readonly files: Readonly<Record<DatasetFileName, DatasetFile>>;
}

const SPLIT_METHOD = "SHA-256 of the JSON array of the rowKey values (text, or null); its first 48 bits over 2^48, "
  + "below train: train, below train+validation: validation, else test";

// ---------------------------------------------------------------------------------------------
// The step.
// ---------------------------------------------------------------------------------------------

/** Where datasets go: the registry's artifact bucket, encrypted with the registry's key. */
export interface DatasetDestination {
  readonly bucket: string;
  /** The registry key, by alias (`alias/<service>-registry`). */
  readonly kmsKeyId: string;
}

/** What the data step needs. */
export interface DataStepOptions {
  readonly model: string;
  readonly runId: string;
  readonly spec: ModelRetraining;
  readonly connection: ConnectionSettings;
  /** A client that may write the registry bucket (the publisher role). */
  readonly s3: S3Client;
  readonly destination: DatasetDestination;
  /** @default - the current time */
  readonly now?: Date;
  /** @default DEFAULT_BATCH_ROWS */
  readonly batchRows?: number;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Parent of the temporary directory the files are written in. @default - the system's temporary directory */
  readonly workDir?: string;
  /** Progress lines (for stderr). @default - none */
  readonly progress?: (line: string) => void;
  /** @default - the project's retry policy */
  readonly retry?: RetryOptions;
  /**
   * Largest file uploaded (one PutObject each).
   * @default MAX_SINGLE_PUT_BYTES
   */
  readonly maxObjectBytes?: number;
}

/** What the data step did. */
export interface DataStepResult {
  readonly manifest: DatasetManifest;
  readonly manifestKey: string;
  /** Keys written by this call. */
  readonly uploaded: readonly string[];
  /** Keys that already held the same bytes (a re-run of the same run id): left as they were. */
  readonly alreadyPresent: readonly string[];
}

/**
 * The data step of one model's run: the window, the query, the split, the files and the manifest,
 * then the upload. Throws before any upload when anything fails (see the module comment).
 */
export async function runDataStep(options: DataStepOptions): Promise<DataStepResult> {
  const { model, runId, spec } = options;
  const progress = options.progress ?? (() => undefined);
  const now = options.now ?? new Date();
  const window = dataWindow(model, spec.window, now);
  const keys = datasetKeys(model, runId);
  progress(`${model}: window ${window.start} to ${window.end} (excluded; ${window.today} minus ${window.pushbackDays} days, UTC)`);

  const dir = mkdtempSync(join(options.workDir ?? tmpdir(), "retrain-data-"));
  try {
    const timeout = options.connectTimeoutMs ?? 10_000;
    const c = options.connection;
    progress(`${model}: connecting to ${c.host}:${c.port}, database ${c.database} (sslmode ${c.sslmode})`);
    const client = await connectDatabase(c, timeout).catch((error: unknown) => {
      if (!(error instanceof DatabaseConnectionError)) throw error;
      throw new DatabaseConnectionError(error.host, error.port, error.failure, `${error.reason}; nothing was uploaded`);
    });
    let written: Awaited<ReturnType<typeof writeSplits>>;
    try {
      written = await writeSplits(client, options, window, dir, progress);
    } finally {
      await client.end().catch(() => undefined);
    }
    const { counts, hashes, observed, plan } = written;
    const file = (name: DatasetFileName, columns: readonly string[]): DatasetFile => ({
      key: keys[name],
      url: s3Url(options.destination.bucket, keys[name]),
      rows: counts[name === "testTarget" ? "test" : name],
      bytes: hashes[name].bytes,
      sha256: hashes[name].sha256,
      columns,
    });
    const manifest: DatasetManifest = {
      schemaVersion: 1,
      model,
      runId,
      createdAt: now.toISOString(),
      query: spec.query,
      parameters: [window.start, window.end],
      window,
      source: { host: c.host, port: c.port, database: c.database, sslmode: c.sslmode },
      dateColumn: spec.dateColumn,
      observedDates: observed,
      target: spec.target,
      features: spec.features,
      split: { method: SPLIT_METHOD, rowKey: plan.rowKey, fractions: { ...spec.split } },
      rows: { total: counts.train + counts.validation + counts.test, ...counts },
      files: {
        train: file("train", [spec.target, ...spec.features]),
        validation: file("validation", [spec.target, ...spec.features]),
        test: file("test", spec.features),
        testTarget: file("testTarget", [spec.target]),
      },
    };
    const manifestText = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, "utf8");
    writeFileSync(join(dir, MANIFEST_FILE), manifestText, { flag: "wx" });
    const uploads: Upload[] = [
      ...(Object.keys(DATASET_FILES) as DatasetFileName[]).map((name) => ({
        path: join(dir, DATASET_FILES[name]), key: keys[name], contentType: "text/csv", ...hashes[name],
      })),
      {
        path: join(dir, MANIFEST_FILE),
        key: keys.manifest,
        contentType: "application/json",
        sha256: createHash("sha256").update(manifestText).digest("hex"),
        bytes: manifestText.length,
      },
    ];
    const limit = options.maxObjectBytes ?? MAX_SINGLE_PUT_BYTES;
    const tooBig = uploads.find((u) => u.bytes > limit);
    if (tooBig !== undefined) {
      throw new CliError(`${s3Url(options.destination.bucket, tooBig.key)} would have ${tooBig.bytes} bytes, more than the ${limit} of one PutObject: `
        + "narrow the window or the columns; nothing was uploaded");
    }
    const uploaded: string[] = [];
    const alreadyPresent: string[] = [];
    for (const upload of uploads) {
      const outcome = await putOnce(options, upload, progress);
      (outcome === "written" ? uploaded : alreadyPresent).push(upload.key);
    }
    progress(`${model}: dataset complete: ${s3Url(options.destination.bucket, keys.manifest)}`);
    return { manifest, manifestKey: keys.manifest, uploaded, alreadyPresent };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Streams the query's rows into the split files; counts, hashes, the dates seen and the column plan. */
async function writeSplits(client: Client, options: DataStepOptions, window: DataWindow, dir: string, progress: (line: string) => void) {
  const { model, spec } = options;
  const files = {
    train: new CsvFile(dir, DATASET_FILES.train),
    validation: new CsvFile(dir, DATASET_FILES.validation),
    test: new CsvFile(dir, DATASET_FILES.test),
    testTarget: new CsvFile(dir, DATASET_FILES.testTarget),
  };
  try {
    let plan: ColumnPlan | undefined;
    let rowNumber = 0;
    let first = "";
    let last = "";
    let nextProgress = PROGRESS_ROWS;
    const batches = queryInBatches(client, spec.query, [window.start, window.end], options.batchRows ?? DEFAULT_BATCH_ROWS);
    for await (const batch of batches) {
      plan ??= columnPlan(model, spec, batch.fields);
      const text = { train: "", validation: "", test: "", testTarget: "" };
      const rows = { train: 0, validation: 0, test: 0 };
      for (const row of batch.rows) {
        rowNumber++;
        const date = rowDate(row[plan.date], rowNumber, model, spec.dateColumn);
        if (date < window.start || date >= window.end) {
          throw new CliError(`row ${rowNumber} of the query of ${model} has ${spec.dateColumn} ${date}, outside the window ${window.start} to ${window.end} (excluded): `
            + `the query must keep only rows with $1 <= ${spec.dateColumn} < $2`);
        }
        if (first === "" || date < first) first = date;
        if (date > last) last = date;
        const target = row[plan.target];
        if (target === null) {
          throw new CliError(`row ${rowNumber} of the query of ${model} has no ${spec.target} (the target is NULL): leave such rows out (WHERE ${spec.target} IS NOT NULL)`);
        }
        const features = plan.features.map((i) => row[i] ?? "");
        const notFinite = [target, ...features].findIndex((v) => NOT_FINITE.has(v));
        if (notFinite >= 0) {
          const column = notFinite === 0 ? spec.target : spec.features[notFinite - 1];
          throw new CliError(`row ${rowNumber} of the query of ${model} has ${column} = ${[target, ...features][notFinite]}: XGBoost reads finite numbers; `
            + "turn it into NULL (a missing value) or leave the row out in the query");
        }
        const split = assignSplit(splitPoint(rowKeyText(plan.key.map((i) => row[i]))), spec.split);
        rows[split]++;
        if (split === "test") {
          text.test += `${features.join(",")}\n`;
          text.testTarget += `${target}\n`;
        } else {
          text[split] += `${target},${features.join(",")}\n`;
        }
      }
      await files.train.write(text.train, rows.train);
      await files.validation.write(text.validation, rows.validation);
      await files.test.write(text.test, rows.test);
      await files.testTarget.write(text.testTarget, rows.test);
      if (rowNumber >= nextProgress) {
        progress(`${model}: ${rowNumber} rows read (train ${files.train.rows}, validation ${files.validation.rows}, test ${files.test.rows})`);
        nextProgress = (Math.floor(rowNumber / PROGRESS_ROWS) + 1) * PROGRESS_ROWS;
      }
    }
    const counts = { train: files.train.rows, validation: files.validation.rows, test: files.test.rows };
    if (rowNumber === 0) {
      throw new CliError(`the query of ${model} returned no rows for the window ${window.start} to ${window.end} (excluded); nothing was uploaded`);
    }
    const empty = SPLITS.filter((s) => counts[s] === 0);
    if (empty.length > 0) {
      throw new CliError(`the ${empty.join(" and ")} split${empty.length > 1 ? "s are" : " is"} empty: the window has only ${rowNumber} rows `
        + `(${SPLITS.map((s) => `${s} ${counts[s]}`).join(", ")}); widen the window (models.${model}.window) or change models.${model}.split`);
    }
    progress(`${model}: ${rowNumber} rows read (train ${counts.train}, validation ${counts.validation}, test ${counts.test})`);
    const hashes = {} as Record<DatasetFileName, { sha256: string; bytes: number }>;
    for (const name of Object.keys(files) as DatasetFileName[]) hashes[name] = { sha256: await files[name].close(), bytes: files[name].bytes };
    return { counts, hashes, observed: { first, last }, plan: plan! };
  } catch (error) {
    for (const f of Object.values(files)) f.abandon();
    throw error;
  }
}

/** The UTC date (YYYY-MM-DD) of a date column's text; the session's DateStyle is ISO and its time zone UTC. */
function rowDate(value: string | null, row: number, model: string, column: string): string {
  // "infinity", or a date before Christ ("0044-03-15 BC"), places no row in a window.
  const match = value === null || value.endsWith(" BC") ? null : DATE_PREFIX.exec(value);
  if (match === null) {
    throw new CliError(`row ${row} of the query of ${model} has ${value === null ? "no" : "an unusable"} ${column} (${value ?? "NULL"}): `
      + "every row needs a date between the years 1 and 9999");
  }
  return match[0];
}

// ---------------------------------------------------------------------------------------------
// Upload and read back.
// ---------------------------------------------------------------------------------------------

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;

/** A complete local file and where it goes. */
interface Upload {
  readonly path: string;
  readonly key: string;
  readonly contentType: string;
  /** SHA-256 of the file, hex. */
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * PutObject of one file, write-once (`If-None-Match: *`), SSE-KMS with the registry key, its
 * SHA-256 sent for S3 to check and kept as metadata. A key that exists already is accepted only
 * when it holds the same bytes (its sha256 metadata): a re-run of this run after an upload that
 * succeeded. Anything else there is a refusal, never an overwrite.
 */
async function putOnce(options: DataStepOptions, upload: Upload, progress: (line: string) => void): Promise<"written" | "present"> {
  const { bucket, kmsKeyId } = options.destination;
  const { path, key, bytes, sha256 } = upload;
  const url = s3Url(bucket, key);
  progress(`${options.model}: uploading ${url} (${bytes} bytes)`);
  try {
    await withRetries(() => sendFile(options.s3, path, (body) => new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentLength: bytes,
      ContentType: upload.contentType,
      IfNoneMatch: "*",
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: kmsKeyId,
      BucketKeyEnabled: true,
      ChecksumSHA256: Buffer.from(sha256, "hex").toString("base64"),
      Metadata: { sha256, "run-id": options.runId, "model": options.model },
    })), { ...options.retry, label: `PutObject of ${url}` });
    return "written";
  } catch (error) {
    if (isError(error) && (statusOf(error) === 409 || error.name === "ConditionalRequestConflict")) {
      throw new CliError(`another upload to ${url} was in progress at the same time (${error.name}): is the same run running twice?`);
    }
    if (!(isError(error) && (statusOf(error) === 412 || error.name === "PreconditionFailed"))) throw error;
  }
  const head = await retryingClient(options.s3, options.retry).send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (head.Metadata?.sha256 === sha256) return "present";
  throw new CliError(`refusing to overwrite ${url}: it exists with other content (sha256 ${head.Metadata?.sha256 ?? "unknown"}, this run's is ${sha256}); `
    + "datasets are write-once: start a new run (another run id)");
}

/**
 * Sends a command whose body is a fresh stream of the file (a retry re-reads it from the start),
 * and closes the stream whatever happened: a request that failed before reading it must not leave
 * it open on a file that is about to be removed.
 */
async function sendFile(s3: S3Client, path: string, command: (body: ReadStream) => PutObjectCommand): Promise<void> {
  const body = createReadStream(path);
  // Read errors reach the request through its own listeners; this one only keeps a stream nobody reads from crashing the process.
  body.on("error", () => undefined);
  try {
    await s3.send(command(body));
  } finally {
    body.destroy();
  }
}

/** The manifest of a run's dataset, or undefined when the run has none (its data step has not completed). */
export async function readManifest(
  s3: S3Client, bucket: string, model: string, runId: string, retry: RetryOptions = {},
): Promise<DatasetManifest | undefined> {
  const key = datasetKeys(model, runId).manifest;
  let body: { transformToString(): Promise<string> } | undefined;
  try {
    body = (await retryingClient(s3, retry).send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body;
  } catch (error) {
    if (isError(error) && (statusOf(error) === 404 || error.name === "NoSuchKey" || error.name === "NotFound")) return undefined;
    throw error;
  }
  if (body === undefined) throw new CliError(`GetObject of ${s3Url(bucket, key)} returned no body`);
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(await body.transformToString()) as DatasetManifest;
  } catch {
    throw new CliError(`${s3Url(bucket, key)} is not JSON: it is not a dataset manifest`);
  }
  if (manifest === null || manifest.schemaVersion !== 1 || manifest.runId !== runId || manifest.model !== model) {
    throw new CliError(`${s3Url(bucket, key)} is not the dataset manifest of run ${runId} of ${model}`);
  }
  return manifest;
}
