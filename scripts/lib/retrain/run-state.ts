import { paginateListObjectsV2, PutObjectCommand } from "@aws-sdk/client-s3";
import { z } from "zod";
import { RUN_ID } from "./data";
import { readObjectText } from "./history";
import type { RetrainClients } from "./tuning";
import { type RetryOptions, retryingClient, withRetries } from "../aws";
import { CliError, isError } from "../cli";
import { s3Url } from "../models";

/**
 * The state of a retraining run (scripts/lib/retrain/run.ts runs it): one write-once object per
 * completed step, `runs/<model>/<run id>/<step>.json` in the registry's artifact bucket
 * (If-None-Match, as the bucket demands), holding the step's outputs, and one per job the tune and
 * evaluate steps started, `runs/<model>/<run id>/attempts/<step>/<job>.json`. Read back, each object
 * is checked; a broken one is named, never skipped (objects there are never deleted).
 */

/** The steps of a run, in order. */
export const RUN_STEPS = ["data", "tune", "evaluate", "register"] as const;
/** One step of a run. */
export type RunStep = (typeof RUN_STEPS)[number];

/** Prefix of every run's state in the artifact bucket (outside training/: write-once). */
export const RUNS_PREFIX = "runs/";

const number = z.number();
/** The fields every step record has. */
export const STEP_RECORD_COMMON = { schemaVersion: z.literal(1), model: z.string(), runId: z.string(), completedAt: z.string() };
const schemas = {
  data: z.object({
    ...STEP_RECORD_COMMON,
    step: z.literal("data"),
    manifestKey: z.string(),
    manifestUrl: z.string(),
    datasetHash: z.string(),
    testing: z.boolean(),
    rows: z.object({ total: number, train: number, validation: number, test: number }),
    window: z.object({ start: z.string(), end: z.string() }),
  }),
  tune: z.object({
    ...STEP_RECORD_COMMON,
    step: z.literal("tune"),
    tuningJob: z.string(),
    bestTrainingJob: z.string(),
    bestObjectiveValue: number,
    objectiveMetric: z.string(),
    modelArtifact: z.string(),
    image: z.string(),
    trainingJobCount: number,
    historyKey: z.string(),
    warmStart: z.object({ type: z.string(), parents: z.array(z.string()) }).optional(),
  }),
  evaluate: z.object({
    ...STEP_RECORD_COMMON,
    step: z.literal("evaluate"),
    transformJob: z.string(),
    predictions: z.string(),
    historyKey: z.string(),
    metrics: z.object({ mae: number, rmse: number, errorStd: number, rows: number }),
  }),
  register: z.object({
    ...STEP_RECORD_COMMON, step: z.literal("register"), modelPackageArn: z.string(), modelDataUrl: z.string(), modelSha256: z.string(), metricsUrl: z.string(),
  }),
};
const attemptSchema = z.object({ step: z.enum(["tune", "evaluate"]), job: z.string(), number: z.number().int().min(1), startedAt: z.string() });

/** The record of a completed step, by step. */
export type StepRecords = { readonly [S in RunStep]: z.infer<(typeof schemas)[S]> };
/** A job a step started. */
export type Attempt = z.infer<typeof attemptSchema>;
/** What a step adds to a record: its outputs. */
export type StepOutputs<S extends RunStep> = Omit<StepRecords[S], keyof typeof STEP_RECORD_COMMON | "step">;

/** What a run has done. */
export interface RunState {
  readonly model: string;
  readonly runId: string;
  /** The completed steps' records. */
  readonly steps: Partial<StepRecords>;
  /** The jobs the tune and evaluate steps started, oldest first. */
  readonly attempts: { readonly tune: readonly Attempt[]; readonly evaluate: readonly Attempt[] };
}

/** `runs/<model>/<run id>/`; the run id is checked (it names keys and jobs). */
export function runPrefix(model: string, runId: string): string {
  if (!RUN_ID.test(runId)) throw new CliError(`run id "${runId}" must be lowercase letters, digits and inner hyphens, at most 40 characters`);
  return `${RUNS_PREFIX}${model}/${runId}/`;
}

/** The first step a run has not completed, or undefined when it is done. */
export function nextStep(state: Pick<RunState, "steps">): RunStep | undefined {
  return RUN_STEPS.find((s) => state.steps[s] === undefined);
}

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;

/** Parses one state object; a broken one is a CliError naming it (objects there are never deleted). */
function parseObject<T>(schema: z.ZodType<T>, text: string, url: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${url} is not JSON: it is not a retraining run's state`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CliError(`${url} is not a retraining run's state: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

/** Every object of a run's state, read back and checked. */
export async function readRunState(s3: RetrainClients["s3"], bucket: string, model: string, runId: string, retry: RetryOptions = {}): Promise<RunState> {
  const prefix = runPrefix(model, runId);
  const steps: Partial<Record<RunStep, unknown>> = {};
  const attempts: { tune: Attempt[]; evaluate: Attempt[] } = { tune: [], evaluate: [] };
  for await (const page of paginateListObjectsV2({ client: retryingClient(s3, retry), pageSize: 1000 }, { Bucket: bucket, Prefix: prefix })) {
    for (const { Key: key } of page.Contents ?? []) {
      if (key === undefined) continue;
      const rest = key.slice(prefix.length);
      const step = RUN_STEPS.find((s) => rest === `${s}.json`);
      const isAttempt = /^attempts\/(tune|evaluate)\/[^/]+\.json$/.test(rest);
      if (step === undefined && !isAttempt) continue;
      const text = await readObjectText(s3, bucket, key, retry);
      if (step !== undefined) {
        const record = parseObject(schemas[step] as z.ZodType<StepRecords[RunStep]>, text, s3Url(bucket, key));
        if (record.model !== model || record.runId !== runId) throw new CliError(`${s3Url(bucket, key)} is the state of another run (${record.model} ${record.runId})`);
        steps[step] = record;
      } else {
        const attempt = parseObject(attemptSchema, text, s3Url(bucket, key));
        attempts[attempt.step].push(attempt);
      }
    }
  }
  for (const list of Object.values(attempts)) list.sort((a, b) => a.number - b.number);
  return { model, runId, steps: steps as Partial<StepRecords>, attempts };
}

/**
 * Writes one state object, write-once. When it exists (the write of an earlier attempt that went
 * through unseen, or a second process of the same run), the stored object is kept if it says the
 * same; anything else there is refused.
 */
export async function putOnce(s3: RetrainClients["s3"], bucket: string, kmsKeyId: string, key: string, body: object, same: (stored: string) => boolean, retry: RetryOptions): Promise<void> {
  const url = s3Url(bucket, key);
  const written = await withRetries(() => s3.send(new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    Body: `${JSON.stringify(body, null, 2)}\n`,
    ContentType: "application/json",
    IfNoneMatch: "*",
    ServerSideEncryption: "aws:kms",
    SSEKMSKeyId: kmsKeyId,
    BucketKeyEnabled: true,
  })).then(() => true, (error: unknown) => {
    if (isError(error) && (statusOf(error) === 412 || error.name === "PreconditionFailed")) return false;
    throw error;
  }), { ...retry, label: `PutObject of ${url}` });
  if (!written && !same(await readObjectText(s3, bucket, key, retry))) {
    throw new CliError(`${url} exists already with other content: is this run running twice? Its state is write-once; check "retrain status"`);
  }
}

/** Everything but when it was written. */
export const withoutTimes = (value: object): string => {
  const { completedAt: _c, startedAt: _s, ...rest } = value as { completedAt?: string; startedAt?: string };
  return JSON.stringify(rest, Object.keys(rest).sort());
};

/** A run as `retrain status` lists it. */
export interface RunSummary {
  readonly runId: string;
  readonly completed: readonly RunStep[];
  readonly next?: RunStep;
}

/** Every run of a model with its completed steps, newest first (run ids start with their UTC time). */
export async function listRuns(s3: RetrainClients["s3"], bucket: string, model: string, retry: RetryOptions = {}): Promise<RunSummary[]> {
  const prefix = `${RUNS_PREFIX}${model}/`;
  const runs = new Map<string, Set<RunStep>>();
  for await (const page of paginateListObjectsV2({ client: retryingClient(s3, retry), pageSize: 1000 }, { Bucket: bucket, Prefix: prefix })) {
    for (const { Key: key } of page.Contents ?? []) {
      const [runId, file] = (key ?? "").slice(prefix.length).split("/");
      if (!RUN_ID.test(runId ?? "")) continue;
      const steps = runs.get(runId) ?? new Set<RunStep>();
      const step = RUN_STEPS.find((s) => file === `${s}.json`);
      if (step !== undefined) steps.add(step);
      runs.set(runId, steps);
    }
  }
  return [...runs.entries()].sort(([a], [b]) => b.localeCompare(a)).map(([runId, steps]) => {
    const completed = RUN_STEPS.filter((s) => steps.has(s));
    const next = nextStep({ steps: Object.fromEntries(completed.map((s) => [s, true])) as unknown as Partial<StepRecords> });
    return { runId, completed, ...next === undefined ? {} : { next } };
  });
}
