import { DescribeHyperParameterTuningJobCommand, DescribeTransformJobCommand } from "@aws-sdk/client-sagemaker";
import type { ModelRetraining } from "./config";
import { datasetKeys, type DatasetManifest, readManifest, runDataStep } from "./data";
import type { ConnectionSettings } from "./database";
import { evaluationName, runEvaluationStep } from "./evaluation";
import { runRegisterStep } from "./register";
import {
  type Attempt, putOnce, readRunState, RUN_STEPS, runPrefix, type RunState, type RunStep, type StepOutputs, type StepRecords, withoutTimes,
} from "./run-state";
import { type RetrainClients, runTuningStep, tuningJobName } from "./tuning";
import { datasetHash } from "./warm-start";
import { registryNames } from "../../../components/names";
import type { RetryOptions } from "../aws";
import { CliError, isError } from "../cli";
import { s3Url } from "../models";
import { type Registry, registryAccount } from "../registry";

/**
 * A retraining run of one model: its id, its steps in order (data, tune, evaluate, register), and
 * its state, kept where a resumed run finds it on any machine: the registry's artifact bucket, one
 * write-once object per completed step (`runs/<model>/<run id>/<step>.json`, If-None-Match, as
 * the bucket demands), holding the step's outputs. A run given again continues after its last
 * completed step; a step never runs twice once its object exists.
 *
 * Jobs that fail cannot run again under their name, so the tune and evaluate steps record each job
 * they start (`runs/<model>/<run id>/attempts/<step>/<job>.json`) before starting it: a resumed
 * run waits for a job of its own that is still running or finished, and starts a new attempt
 * only after one that failed or was stopped.
 */

/** What a run needs: the service, the model and its configuration, clients and how to wait and report. */
export interface RunContext {
  /** The service's registry (project and region): its bucket, key, roles and package groups. */
  readonly registry: Registry;
  /** One of the service's models. */
  readonly model: string;
  /** The run (a new one, or one to resume). */
  readonly runId: string;
  /** The model's section of retraining.yaml. */
  readonly spec: ModelRetraining;
  /** SageMaker and S3 as the registry's publisher role. */
  readonly clients: RetrainClients;
  /** The database's settings, resolved only when the data step queries it. */
  readonly connection: () => Promise<ConnectionSettings>;
  /** Testing mode was asked for (--testing). @default - as the run recorded it, else the configuration's tuning.testing */
  readonly testing?: boolean;
  /** The clock: the data window, job names and records. */
  readonly now: () => Date;
  /** @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Between two polls of a job. @default - each step's own (tuning 60 s, evaluation 30 s) */
  readonly pollIntervalMs?: number;
  /** The project's retry policy, for every AWS call. */
  readonly retry: RetryOptions;
  /** Progress lines, each starting with its step. */
  readonly progress: (line: string) => void;
  /** Parent of the data step's temporary directory. @default - the system's */
  readonly workDir?: string;
}

/** What a call of runSteps did. */
export interface RunOutcome {
  readonly model: string;
  readonly runId: string;
  readonly testing: boolean;
  /** Steps this call ran. */
  readonly ran: readonly RunStep[];
  /** Steps asked for that an earlier attempt had completed. */
  readonly skipped: readonly RunStep[];
  readonly steps: Partial<StepRecords>;
}

/** Testing mode of a run: as recorded by its data step; a run cannot change it. */
function testingOf(ctx: RunContext, state: RunState): boolean {
  const recorded = state.steps.data?.testing;
  if (recorded === false && ctx.testing === true) {
    throw new CliError(`run ${ctx.runId} of ${ctx.model} was started without --testing and keeps its mode: resume it without --testing, or start a new run`);
  }
  return recorded ?? (ctx.testing === true || ctx.spec.tuning.testing === true);
}

/**
 * Runs `steps` (in RUN_STEPS order) of the run: each one completed already is skipped, each other
 * needs the steps before it completed, runs, and is recorded before the next one starts.
 */
export async function runSteps(ctx: RunContext, steps: readonly RunStep[]): Promise<RunOutcome> {
  const names = registryNames(ctx.registry.project.serviceName, registryAccount(ctx.registry));
  const state = await readRunState(ctx.clients.s3, names.artifactBucket, ctx.model, ctx.runId, ctx.retry);
  const testing = testingOf(ctx, state);
  const records: Partial<Record<RunStep, StepRecords[RunStep]>> = { ...state.steps };
  const ran: RunStep[] = [];
  const skipped: RunStep[] = [];
  for (const step of RUN_STEPS.filter((s) => steps.includes(s))) {
    const key = `${runPrefix(ctx.model, ctx.runId)}${step}.json`;
    if (records[step] !== undefined) {
      ctx.progress(`${step}: completed by an earlier attempt of this run (${s3Url(names.artifactBucket, key)})`);
      skipped.push(step);
      continue;
    }
    const missing = RUN_STEPS.slice(0, RUN_STEPS.indexOf(step)).find((s) => records[s] === undefined);
    if (missing !== undefined) {
      throw new CliError(`run ${ctx.runId} of ${ctx.model} has not completed its ${missing} step, which ${step} needs: `
        + `run "retrain ${missing} --model ${ctx.model} --run-id ${ctx.runId}" (or "retrain run" with the same options) first`);
    }
    const outputs = await STEP_RUNNERS[step](ctx, { ...state, steps: records as Partial<StepRecords> }, testing);
    const completedAt = ctx.now().toISOString();
    const record = { schemaVersion: 1, step, model: ctx.model, runId: ctx.runId, completedAt, ...outputs } as StepRecords[RunStep];
    const same = (stored: string) => withoutTimes(JSON.parse(stored) as object) === withoutTimes(record);
    await putOnce(ctx.clients.s3, names.artifactBucket, names.kmsAlias, key, record, same, ctx.retry);
    ctx.progress(`${step}: completed, recorded in ${s3Url(names.artifactBucket, key)}`);
    records[step] = record;
    ran.push(step);
  }
  return { model: ctx.model, runId: ctx.runId, testing, ran, skipped, steps: records as Partial<StepRecords> };
}

type StepRunner<S extends RunStep> = (ctx: RunContext, state: RunState, testing: boolean) => Promise<StepOutputs<S>>;

/** The run's dataset manifest, which the steps after data read their files from. */
async function manifestOf(ctx: RunContext): Promise<DatasetManifest> {
  const bucket = registryNames(ctx.registry.project.serviceName, registryAccount(ctx.registry)).artifactBucket;
  const manifest = await readManifest(ctx.clients.s3, bucket, ctx.model, ctx.runId, ctx.retry);
  if (manifest === undefined) throw new CliError(`the dataset manifest of run ${ctx.runId} of ${ctx.model} is missing (${s3Url(bucket, datasetKeys(ctx.model, ctx.runId).manifest)})`);
  return manifest;
}

const STEP_RUNNERS: { readonly [S in RunStep]: StepRunner<S> } = {
  data: async (ctx, _state, testing) => {
    const names = registryNames(ctx.registry.project.serviceName, registryAccount(ctx.registry));
    // The manifest is uploaded last: when it exists, the dataset is complete and the database is not queried again.
    let manifest = await readManifest(ctx.clients.s3, names.artifactBucket, ctx.model, ctx.runId, ctx.retry);
    if (manifest !== undefined) {
      ctx.progress("data: the dataset of this run is complete already (an earlier attempt uploaded it); the database is not queried again");
    } else {
      manifest = (await runDataStep({
        model: ctx.model,
        runId: ctx.runId,
        spec: ctx.spec,
        connection: await ctx.connection(),
        s3: ctx.clients.s3,
        destination: { bucket: names.artifactBucket, kmsKeyId: names.kmsAlias },
        now: ctx.now(),
        progress: (line) => ctx.progress(`data: ${line}`),
        retry: ctx.retry,
        workDir: ctx.workDir,
      })).manifest;
    }
    const key = datasetKeys(ctx.model, ctx.runId).manifest;
    return {
      manifestKey: key,
      manifestUrl: s3Url(names.artifactBucket, key),
      rows: manifest.rows,
      window: { start: manifest.window.start, end: manifest.window.end },
      datasetHash: datasetHash({ train: manifest.files.train.sha256, validation: manifest.files.validation.sha256 }),
      testing,
    };
  },

  tune: async (ctx, state, testing) => {
    const manifest = await manifestOf(ctx);
    const { job: jobName } = await currentAttempt(ctx, "tune", state.attempts.tune, async (job) => {
      const described = await ctx.clients.sagemaker.send(new DescribeHyperParameterTuningJobCommand({ HyperParameterTuningJobName: job }))
        .catch((error: unknown) => { if (isError(error) && error.name === "ResourceNotFound") return undefined; throw error; });
      return described && { status: described.HyperParameterTuningJobStatus ?? "Unknown", reason: described.FailureReason };
    }, () => tuningJobName(ctx.model, ctx.now()));
    const result = await runTuningStep(ctx.clients, {
      serviceName: ctx.registry.project.serviceName,
      registry: registryAccount(ctx.registry),
      model: ctx.model,
      jobName,
      spec: { ...ctx.spec.tuning, testing },
      trainData: manifest.files.train.url,
      validationData: manifest.files.validation.url,
      datasetHash: state.steps.data!.datasetHash,
    }, { retry: ctx.retry, pollIntervalMs: ctx.pollIntervalMs, sleep: ctx.sleep, now: ctx.now, onProgress: (line) => ctx.progress(`tune: ${line}`) });
    return {
      tuningJob: result.tuningJob,
      bestTrainingJob: result.bestTrainingJob,
      bestObjectiveValue: result.bestObjectiveValue,
      objectiveMetric: result.objectiveMetric,
      modelArtifact: result.modelArtifact,
      image: result.image,
      trainingJobCount: result.trainingJobCount,
      historyKey: result.history.key,
      ...result.warmStart === undefined ? {} : { warmStart: { type: result.warmStart.type, parents: [...result.warmStart.parents] } },
    };
  },

  evaluate: async (ctx, state, testing) => {
    const manifest = await manifestOf(ctx);
    const tune = state.steps.tune!;
    const { number: attempt } = await currentAttempt(ctx, "evaluate", state.attempts.evaluate, async (name) => {
      const described = await ctx.clients.sagemaker.send(new DescribeTransformJobCommand({ TransformJobName: name })).catch((error: unknown) => {
        if (isError(error) && error.name === "ValidationException" && /could not find/i.test(error.message)) return undefined;
        throw error;
      });
      return described && { status: described.TransformJobStatus ?? "Unknown", reason: described.FailureReason };
    }, (n) => evaluationName(tune.bestTrainingJob, n));
    const result = await runEvaluationStep(ctx.clients, {
      serviceName: ctx.registry.project.serviceName,
      registry: registryAccount(ctx.registry),
      model: ctx.model,
      spec: ctx.spec.evaluation,
      tuningJob: tune.tuningJob,
      trainingJob: tune.bestTrainingJob,
      modelArtifact: tune.modelArtifact,
      image: tune.image,
      testFeatures: manifest.files.test.url,
      testTargets: manifest.files.testTarget.url,
      testing,
      attempt,
    }, { retry: ctx.retry, pollIntervalMs: ctx.pollIntervalMs, sleep: ctx.sleep, now: ctx.now, onProgress: (line) => ctx.progress(`evaluate: ${line}`) });
    return { transformJob: result.transformJob, predictions: result.predictions, metrics: { ...result.metrics }, historyKey: result.history.key };
  },

  register: async (ctx, state, testing) => {
    const { data, tune, evaluate } = state.steps as StepRecords;
    const result = await runRegisterStep(ctx.clients, {
      registry: ctx.registry,
      model: ctx.model,
      runId: ctx.runId,
      manifestKey: data.manifestKey,
      tuningJob: tune.tuningJob,
      bestTrainingJob: tune.bestTrainingJob,
      objectiveMetric: tune.objectiveMetric,
      bestObjectiveValue: tune.bestObjectiveValue,
      modelArtifact: tune.modelArtifact,
      image: tune.image,
      metrics: evaluate.metrics,
      testing,
      evaluatedAt: new Date(evaluate.completedAt),
    }, { retry: ctx.retry, onProgress: ctx.progress });
    const { modelPackageArn, modelDataUrl, modelSha256, metricsUrl } = result;
    return { modelPackageArn, modelDataUrl, modelSha256, metricsUrl };
  },
};

/** Statuses after which a job cannot be waited for to completion: its step starts another. */
const FAILED = ["Failed", "Stopped"];

/**
 * The job a step waits for: the last one it started, unless that one failed or was stopped (or is
 * still stopping, which ends the same way); then a new attempt, named by `name(n)`, recorded
 * before it is started. A new name that some other job has already is refused.
 */
async function currentAttempt(
  ctx: RunContext, step: "tune" | "evaluate", attempts: readonly Attempt[],
  describe: (job: string) => Promise<{ status: string; reason?: string } | undefined>, name: (n: number) => string,
): Promise<{ readonly job: string; readonly number: number }> {
  const last = attempts[attempts.length - 1];
  if (last !== undefined) {
    const found = await describe(last.job);
    if (found === undefined || ![...FAILED, "Stopping"].includes(found.status)) return last;
    ctx.progress(`${step}: ${last.job} of attempt ${last.number} ended ${found.status}${found.reason ? ` (${found.reason})` : ""}: starting attempt ${last.number + 1}`);
  }
  const next = (last?.number ?? 0) + 1;
  const job = name(next);
  if (attempts.some((a) => a.job === job)) throw new CliError(`attempt ${next} of the ${step} step would be named ${job}, as an earlier one is: run it again in a second`);
  if ((await describe(job)) !== undefined) {
    throw new CliError(`a ${step} job named ${job} exists already and is not this run's: another run of ${ctx.model} started it at the same time; run this step again in a minute`);
  }
  const names = registryNames(ctx.registry.project.serviceName, registryAccount(ctx.registry));
  const attempt: Attempt = { step, job, number: next, startedAt: ctx.now().toISOString() };
  await putOnce(ctx.clients.s3, names.artifactBucket, names.kmsAlias, `${runPrefix(ctx.model, ctx.runId)}attempts/${step}/${job}.json`, attempt,
    () => false, ctx.retry);
  return attempt;
}
