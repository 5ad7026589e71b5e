import {
  GetObjectCommand, paginateListObjectsV2, PutObjectCommand, type PutObjectCommandInput, type S3Client,
} from "@aws-sdk/client-s3";
import { z } from "zod";
import { type AccountRef, registryNames } from "../../../components/names";
import { type RetryOptions, retryingClient, withRetries } from "../aws";
import { CliError, isError } from "../cli";

/**
 * The retraining loop's histories, kept in the registry's artifact bucket (versioned, SSE-KMS with
 * the registry key): the tuning history (seed 001's `tuningjobhistory.csv`, which the next run's
 * warm start reads) and the evaluation history (`evaluationhistory.csv`, which approvers read).
 *
 * Layout: ONE IMMUTABLE OBJECT PER ROW, `history/<kind>/<model>/<job>.json`, created with
 * `If-None-Match: *`; a history is the union of the objects under its prefix, read back in
 * timestamp order. Not a single CSV rewritten with `If-Match`: the bucket policy denies every
 * PutObject outside `training/` that lacks `If-None-Match` (components/policies.ts, WriteOnce),
 * so no object there can ever be overwritten, and `training/` is writable by the training role
 * only, which the loop (run as the publisher) cannot use. One object per row also gives what the
 * rewrite design had to work for:
 *  - two runs that append at once write different keys, so neither loses the other's row (no
 *    read-modify-write, no retry loop on 412);
 *  - a PutObject is atomic, so a reader sees a whole row or none: no partial file is ever visible;
 *  - the key is the job's name, so appending the same job's row again (a resumed run, or a PutObject
 *    that succeeded unseen and was retried) finds its own row (412) and adds nothing.
 * The publisher role writes the rows (it is the only role of the service allowed to create objects
 * outside `training/`), and reads them back with the reader statements it has.
 */

/** Prefix of every history object in the artifact bucket (outside TRAINING_OUTPUT_PREFIX: write-once). */
export const HISTORY_PREFIX = "history/";

const isoTimestamp = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "an ISO 8601 UTC timestamp");

const tuningRow = z.object({
  /** When the row was written (UTC, ISO 8601). */
  timestamp: isoTimestamp,
  tuningJob: z.string().min(1),
  model: z.string().min(1),
  /** The tuning objective metric (`validation:rmse`). */
  objectiveMetric: z.string().min(1),
  /** XGBoost `objective`. */
  objective: z.string().min(1),
  /** XGBoost `eval_metric`. */
  evalMetric: z.string().min(1),
  /** Training jobs of the tuning job that completed. */
  trainingJobCount: z.number().int().min(0),
  bestTrainingJob: z.string().min(1),
  bestObjectiveValue: z.number(),
  /** Content hash of the training and validation data (see tuning.ts datasetHash). */
  datasetHash: z.string().min(1),
  /** Training image URI. */
  image: z.string().min(1),
  /** Names of the static and tunable hyperparameters, sorted. */
  hyperparameters: z.array(z.string()),
  /** Testing mode (one training job). */
  testing: z.boolean(),
});

const evaluationRow = z.object({
  timestamp: isoTimestamp,
  model: z.string().min(1),
  tuningJob: z.string().min(1),
  /** The evaluated model's training job (the tuning job's best). */
  trainingJob: z.string().min(1),
  /** Mean absolute error. */
  mae: z.number(),
  /** Root mean squared error. */
  rmse: z.number(),
  /** Population standard deviation of the error (actual - predicted). */
  errorStd: z.number(),
  /** Test rows evaluated. */
  rows: z.number().int().min(1),
  testing: z.boolean(),
});

/** One row of the tuning history. */
export type TuningHistoryRow = z.infer<typeof tuningRow>;
/** One row of the evaluation history. */
export type EvaluationHistoryRow = z.infer<typeof evaluationRow>;

/** A history: where its rows live, how a row is checked, and which job names it. */
export interface HistoryKind<R extends { readonly model: string; readonly timestamp: string }> {
  /** The folder under HISTORY_PREFIX. */
  readonly name: "tuning" | "evaluation";
  /** CSV columns, in order. */
  readonly columns: readonly (keyof R & string)[];
  readonly schema: z.ZodType<R>;
  /** The job a row is about: its object's name. */
  readonly jobOf: (row: R) => string;
}

export const TUNING_HISTORY: HistoryKind<TuningHistoryRow> = {
  name: "tuning",
  columns: ["timestamp", "tuningJob", "model", "objectiveMetric", "objective", "evalMetric", "trainingJobCount", "bestTrainingJob",
    "bestObjectiveValue", "datasetHash", "image", "hyperparameters", "testing"],
  schema: tuningRow,
  jobOf: (row) => row.tuningJob,
};

export const EVALUATION_HISTORY: HistoryKind<EvaluationHistoryRow> = {
  name: "evaluation",
  columns: ["timestamp", "model", "tuningJob", "trainingJob", "mae", "rmse", "errorStd", "rows", "testing"],
  schema: evaluationRow,
  jobOf: (row) => row.trainingJob,
};

/** Where histories are written: the registry's artifact bucket and key. */
export interface HistoryStore {
  readonly bucket: string;
  /** Key id, alias or ARN for SSE-KMS. */
  readonly kmsKeyId: string;
}

/** The registry's artifact bucket and key alias (components/names.ts). */
export function historyStore(serviceName: string, registry: AccountRef): HistoryStore {
  const names = registryNames(serviceName, registry);
  return { bucket: names.artifactBucket, kmsKeyId: names.kmsAlias };
}

/** A model name or job name as one key segment. */
function segment(value: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    throw new CliError(`a history ${what} must be letters, digits, ".", "_" or "-" (one S3 key segment), got "${value}"`);
  }
  return value;
}

/** `history/<kind>/` or, for one model, `history/<kind>/<model>/`. */
export function historyPrefix(kind: { readonly name: string }, model?: string): string {
  return `${HISTORY_PREFIX}${kind.name}/${model === undefined ? "" : `${segment(model, "model")}/`}`;
}

/** `history/<kind>/<model>/<job>.json`: the object of one row. */
export function historyKey<R extends { readonly model: string; readonly timestamp: string }>(kind: HistoryKind<R>, row: R): string {
  return `${historyPrefix(kind, row.model)}${segment(kind.jobOf(row), "job")}.json`;
}

/** The PutObject request of a row: create-only (If-None-Match *), SSE-KMS with the registry key. */
export function putRowInput<R extends { readonly model: string; readonly timestamp: string }>(
  store: HistoryStore, kind: HistoryKind<R>, row: R,
): PutObjectCommandInput {
  return {
    Bucket: store.bucket,
    Key: historyKey(kind, row),
    Body: `${JSON.stringify(row)}\n`,
    ContentType: "application/json",
    IfNoneMatch: "*",
    ServerSideEncryption: "aws:kms",
    SSEKMSKeyId: store.kmsKeyId,
    BucketKeyEnabled: true,
  };
}

/** What an append did. */
export interface AppendOutcome<R> {
  readonly key: string;
  /** false: the job's row was there already (a resumed run); `row` is the stored one. */
  readonly appended: boolean;
  readonly row: R;
}

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
const isPreconditionFailed = (error: unknown) => isError(error) && (statusOf(error) === 412 || error.name === "PreconditionFailed");
const isConflict = (error: unknown): error is Error => isError(error) && (statusOf(error) === 409 || error.name === "ConditionalRequestConflict");
const isNoSuchKey = (error: unknown) => isError(error) && (statusOf(error) === 404 || error.name === "NoSuchKey" || error.name === "NotFound");

/** A checked row, or a CliError naming the history and what is wrong. */
function checkedRow<R extends { readonly model: string; readonly timestamp: string }>(kind: HistoryKind<R>, value: unknown, where: string): R {
  const parsed = kind.schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(row)"}: ${i.message}`).join("; ");
    throw new CliError(`${where} is not a ${kind.name} history row: ${problems}`);
  }
  return parsed.data;
}

/** Everything of a row but when it was written: what must match for two rows to be the same job's. */
function withoutTimestamp(row: object): string {
  const { timestamp: _, ...rest } = row as { timestamp?: string };
  return JSON.stringify(rest, Object.keys(rest).sort());
}

/**
 * Appends `row` to its history: one PutObject of a new object, never an overwrite. When the job's
 * object exists already (412), the stored row is returned if it describes the same job the same
 * way (only its timestamp may differ); a different row under the job's name is refused.
 * A 409 (another conditional write of the same key in flight: the same job appended twice at once)
 * is refused with a message to run the step again.
 */
export async function appendHistoryRow<R extends { readonly model: string; readonly timestamp: string }>(
  s3: S3Client, store: HistoryStore, kind: HistoryKind<R>, row: R, retry: RetryOptions = {},
): Promise<AppendOutcome<R>> {
  const checked = checkedRow(kind, row, `the ${kind.name} row of ${kind.jobOf(row)}`);
  const input = putRowInput(store, kind, checked);
  const key = input.Key ?? "";
  const url = `s3://${store.bucket}/${key}`;
  const created = await withRetries(async () => {
    try {
      await s3.send(new PutObjectCommand(input));
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      if (isConflict(error)) {
        throw new CliError(`another write of ${url} was in progress at the same time (${error.name}): two runs append the same `
          + `${kind.name} row of ${kind.jobOf(checked)}; run the step again to check what was written`);
      }
      throw error;
    }
  }, { ...retry, label: `PutObject of ${url}` });
  if (created) return { key, appended: true, row: checked };

  const stored = await readRow(s3, store, kind, key, retry);
  if (withoutTimestamp(stored) !== withoutTimestamp(checked)) {
    throw new CliError(`${url} already holds a different ${kind.name} row for ${kind.jobOf(checked)} (written ${stored.timestamp}); `
      + "history rows are write-once: find out what wrote it before running this step again");
  }
  return { key, appended: false, row: stored };
}

/** The text of an object (UTF-8); a missing object or one without a body is a CliError naming it. */
export async function readObjectText(s3: S3Client, bucket: string, key: string, retry: RetryOptions = {}): Promise<string> {
  const url = `s3://${bucket}/${key}`;
  const got = await retryingClient(s3, retry).send(new GetObjectCommand({ Bucket: bucket, Key: key })).catch((error: unknown) => {
    if (isNoSuchKey(error)) throw new CliError(`${url} does not exist`);
    throw error;
  });
  const body = got.Body as { transformToString?: (encoding?: string) => Promise<string> } | undefined;
  if (typeof body?.transformToString !== "function") throw new CliError(`GetObject of ${url} returned no readable body`);
  return body.transformToString("utf-8");
}

/** One row object, checked. */
async function readRow<R extends { readonly model: string; readonly timestamp: string }>(
  s3: S3Client, store: HistoryStore, kind: HistoryKind<R>, key: string, retry: RetryOptions,
): Promise<R> {
  const url = `s3://${store.bucket}/${key}`;
  const text = await readObjectText(s3, store.bucket, key, retry);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${url} is not JSON`);
  }
  return checkedRow(kind, value, url);
}

/** A history as read back: its rows in timestamp order, and the objects under its prefix that are not rows. */
export interface HistoryRead<R> {
  readonly rows: R[];
  /** Objects that could not be read as rows (written by something else), with why; they are left out of `rows`. */
  readonly skipped: { readonly key: string; readonly reason: string }[];
}

/**
 * Every row of a history (of one model, or of all), oldest first (ties by job name). An object
 * under the prefix that is not a row is reported in `skipped`, not fatal: objects there can never be
 * deleted, so a stray one must not stop every later run.
 */
export async function readHistory<R extends { readonly model: string; readonly timestamp: string }>(
  s3: S3Client, store: HistoryStore, kind: HistoryKind<R>, model?: string, retry: RetryOptions = {},
): Promise<HistoryRead<R>> {
  const prefix = historyPrefix(kind, model);
  const rows: R[] = [];
  const skipped: { key: string; reason: string }[] = [];
  const pages = paginateListObjectsV2({ client: retryingClient(s3, retry), pageSize: 1000 }, { Bucket: store.bucket, Prefix: prefix });
  for await (const page of pages) {
    for (const object of page.Contents ?? []) {
      const key = object.Key;
      if (key === undefined) continue;
      if (!key.endsWith(".json")) {
        skipped.push({ key, reason: "not a .json row object" });
        continue;
      }
      try {
        rows.push(await readRow(s3, store, kind, key, retry));
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        skipped.push({ key, reason: error.message });
      }
    }
  }
  rows.sort((a, b) => a.timestamp.localeCompare(b.timestamp) || kind.jobOf(a).localeCompare(kind.jobOf(b)));
  return { rows, skipped };
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. Arrays join with ";". */
function csvField(value: unknown): string {
  const text = Array.isArray(value) ? value.join(";") : String(value ?? "");
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The history as one CSV document (header, then one line per row), as seed 001 keeps it. */
export function historyCsv<R extends { readonly model: string; readonly timestamp: string }>(kind: HistoryKind<R>, rows: readonly R[]): string {
  const lines = [kind.columns.join(","), ...rows.map((row) => kind.columns.map((c) => csvField(row[c])).join(","))];
  return `${lines.join("\n")}\n`;
}
