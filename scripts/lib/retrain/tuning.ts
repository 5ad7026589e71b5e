import { createHash } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  CreateHyperParameterTuningJobCommand,
  type CreateHyperParameterTuningJobCommandInput,
  DescribeHyperParameterTuningJobCommand,
  type DescribeHyperParameterTuningJobCommandOutput,
  DescribeTrainingJobCommand,
  HyperParameterTuningJobStatus,
  type SageMakerClient,
  type TrainingInstanceType,
} from "@aws-sdk/client-sagemaker";
import { appendHistoryRow, historyStore, readHistory, TUNING_HISTORY, type TuningHistoryRow } from "./history";
import { hyperparameterNames, type ParameterRange, resolveTuning, type TuningSpec, tuningSpecProblems } from "./tuning-spec";
import { selectWarmStart, type WarmStart } from "./warm-start";
import { xgboostImageUri } from "./xgboost-images";
import { STACK_TAG_KEYS } from "../../../components/ci-policies";
import { hasLocalInstanceStorage } from "../../../components/instance-types";
import { type AccountRef, REGISTRY_STACK, registryNames, roleArn, TRAINING_OUTPUT_PREFIX } from "../../../components/names";
import { type RetryOptions, retryingClient } from "../aws";
import { CliError, isError } from "../cli";
import { formatDuration } from "../stage-access";

// The spec types live in tuning-spec.ts (with their rules) and are the tuning step's: config.ts checks its schema against them.
export type { ParameterRange, ScalingType, TuningSpec } from "./tuning-spec";

/**
 * Retraining, step 2 (seed 001): a warm-started hyperparameter tuning job of the region's built-in
 * XGBoost image. Bayesian search minimising the objective metric over the configured ranges, with
 * objective, eval_metric and num_round as static hyperparameters; warm-started from the newest
 * eligible jobs of the tuning history (warm-start.ts); waited for with progress; its best training
 * job read back, and the job appended to the tuning history (history.ts).
 *
 * Roles: the loop calls SageMaker as the registry's publisher role; the job itself runs as the
 * registry's training role (`<service>-sagemaker-training`), which reads the datasets and writes
 * only under `training/` of the artifact bucket (the bucket policy lets no other role write there),
 * so the best model's artifact is training output: registering it means copying it to a
 * write-once key first (`registry register` refuses training output).
 * Pure functions build and check everything; the AWS calls take clients passed in.
 */

// ---------------------------------------------------------------------------------------------
// The job's name.
// ---------------------------------------------------------------------------------------------

/** HyperParameterTuningJobName: 1-32 characters (SageMaker appends `-<3 digits>-<8 hex>` for its training jobs). */
export const TUNING_JOB_NAME_MAX = 32;
export const TUNING_JOB_NAME_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$/;

/** UTC `yyyymmddhhmmss`. */
function utcStamp(at: Date): string {
  return at.toISOString().replace(/\.\d+Z$/, "").replace(/\D/g, "");
}

/**
 * `<model>-<UTC yyyymmddhhmmss>`, 32 characters at most (HyperParameterTuningJobName). A model name
 * longer than the 17 characters left keeps its first 12 and a 4-hex hash of the whole, so two
 * models with a common prefix still get different names.
 */
export function tuningJobName(model: string, at: Date): string {
  const stamp = utcStamp(at);
  const room = TUNING_JOB_NAME_MAX - stamp.length - 1;
  const cleaned = model.replace(/[^a-zA-Z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  const head = cleaned.length <= room
    ? cleaned
    : `${cleaned.slice(0, room - 5).replace(/-+$/, "")}-${createHash("sha256").update(model).digest("hex").slice(0, 4)}`;
  const name = `${head}-${stamp}`;
  if (cleaned === "" || !TUNING_JOB_NAME_PATTERN.test(name)) {
    throw new CliError(`cannot make a tuning job name from model "${model}": "${name}" is not a valid HyperParameterTuningJobName `
      + `(1-${TUNING_JOB_NAME_MAX} letters, digits and hyphens)`);
  }
  return name;
}

// ---------------------------------------------------------------------------------------------
// The request.
// ---------------------------------------------------------------------------------------------

/** One tuning job of one model. */
export interface TuningRequest {
  /** The service: names the registry's bucket, key and roles (components/names.ts). */
  readonly serviceName: string;
  /** The registry's account and region: the job runs there. */
  readonly registry: AccountRef;
  readonly model: string;
  /** tuningJobName(model, run start): the same name on a resumed run, so the step finds its job. */
  readonly jobName: string;
  readonly spec: TuningSpec;
  /** s3:// URL of the training CSV (target first, no header) in the artifact bucket. */
  readonly trainData: string;
  /** s3:// URL of the validation CSV, like trainData. */
  readonly validationData: string;
  /** datasetHash() of the train and validation files. */
  readonly datasetHash: string;
  /**
   * Tags on the job besides the service's.
   * @default {}
   */
  readonly tags?: Readonly<Record<string, string>>;
}

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(\S+)$/;

/** Checks that `url` is an object or prefix of the artifact bucket outside training/; returns its key. */
export function artifactKey(url: string, bucket: string, what: string): string {
  const parsed = S3_URL.exec(url);
  if (parsed === null || url.length > 1024) throw new CliError(`${what} must be an s3://bucket/key URL of at most 1024 characters, got "${url}"`);
  if (parsed[1] !== bucket) {
    throw new CliError(`${what} must be in the registry's artifact bucket ${bucket}, which the training role reads; got bucket "${parsed[1]}"`);
  }
  if (parsed[2].startsWith(TRAINING_OUTPUT_PREFIX)) {
    throw new CliError(`${what} must not be training output (${TRAINING_OUTPUT_PREFIX}): datasets are write-once objects of the publisher`);
  }
  return parsed[2];
}

/** Where the job's training jobs write their models: `training/<model>/<tuning job>/` (the training role's prefix). */
export function tuningOutputPrefix(model: string, jobName: string): string {
  return `${TRAINING_OUTPUT_PREFIX}${model}/${jobName}/`;
}

/** Tags of everything the loop creates: the service's and the registry stack's, then the caller's. */
export function retrainTags(serviceName: string, extra: Readonly<Record<string, string>> = {}): { Key: string; Value: string }[] {
  const tags = { ...extra, [STACK_TAG_KEYS.service]: serviceName, [STACK_TAG_KEYS.stage]: REGISTRY_STACK };
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** The CreateHyperParameterTuningJob request (checked spec, image, warm start as chosen). */
export function createTuningJobInput(request: TuningRequest, image: string, warmStart?: WarmStart): CreateHyperParameterTuningJobCommandInput {
  const problems = tuningSpecProblems(request.spec);
  if (problems.length > 0) {
    throw new CliError(`the tuning of ${request.model} is not valid: ${problems.map((p) => `${p.path.join(".")}: ${p.message}`).join("; ")}`);
  }
  if (!TUNING_JOB_NAME_PATTERN.test(request.jobName)) {
    throw new CliError(`"${request.jobName}" is not a valid tuning job name (1-${TUNING_JOB_NAME_MAX} letters, digits and hyphens)`);
  }
  const spec = resolveTuning(request.spec);
  const names = registryNames(request.serviceName, request.registry);
  artifactKey(request.trainData, names.artifactBucket, "the training data");
  artifactKey(request.validationData, names.artifactBucket, "the validation data");
  const ranges = Object.entries(spec.ranges);
  const range = (name: string, r: ParameterRange) => ({
    Name: name, MinValue: String(r.min), MaxValue: String(r.max), ScalingType: r.scaling ?? "Auto",
  });
  const channel = (ChannelName: string, S3Uri: string) => ({
    ChannelName,
    ContentType: "text/csv",
    DataSource: { S3DataSource: { S3DataType: "S3Prefix" as const, S3Uri, S3DataDistributionType: "FullyReplicated" as const } },
  });
  return {
    HyperParameterTuningJobName: request.jobName,
    HyperParameterTuningJobConfig: {
      Strategy: "Bayesian",
      HyperParameterTuningJobObjective: { Type: spec.objectiveType, MetricName: spec.objectiveMetric },
      ResourceLimits: { MaxNumberOfTrainingJobs: spec.maxJobs, MaxParallelTrainingJobs: spec.maxParallelJobs },
      ParameterRanges: {
        ContinuousParameterRanges: ranges.filter(([, r]) => r.type === "continuous").map(([n, r]) => range(n, r)),
        IntegerParameterRanges: ranges.filter(([, r]) => r.type === "integer").map(([n, r]) => range(n, r)),
      },
      TrainingJobEarlyStoppingType: "Off",
    },
    TrainingJobDefinition: {
      AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: "File" },
      RoleArn: roleArn(request.registry, names.trainingRole),
      StaticHyperParameters: {
        objective: spec.objective,
        eval_metric: spec.evalMetric,
        ...spec.numRound === undefined ? {} : { num_round: String(spec.numRound) },
      },
      InputDataConfig: [channel("train", request.trainData), channel("validation", request.validationData)],
      OutputDataConfig: {
        S3OutputPath: `s3://${names.artifactBucket}/${tuningOutputPrefix(request.model, request.jobName)}`,
        KmsKeyId: names.kmsAlias,
      },
      ResourceConfig: {
        InstanceType: spec.instanceType as TrainingInstanceType,
        InstanceCount: spec.instanceCount,
        VolumeSizeInGB: spec.volumeSizeGiB,
        // Local NVMe instance storage is encrypted by the instance; SageMaker refuses a volume key for it.
        ...hasLocalInstanceStorage(spec.instanceType) ? {} : { VolumeKmsKeyId: names.kmsAlias },
      },
      StoppingCondition: { MaxRuntimeInSeconds: spec.maxRuntimeSeconds },
      EnableNetworkIsolation: true,
      EnableInterContainerTrafficEncryption: true,
    },
    ...warmStart === undefined ? {} : {
      WarmStartConfig: {
        WarmStartType: warmStart.type,
        ParentHyperParameterTuningJobs: warmStart.parents.map((p) => ({ HyperParameterTuningJobName: p.tuningJob })),
      },
    },
    Tags: retrainTags(request.serviceName, request.tags),
  };
}

// ---------------------------------------------------------------------------------------------
// The wait.
// ---------------------------------------------------------------------------------------------

/** Where a tuning job is: its status and its training jobs' counts. */
export interface TuningProgress {
  readonly job: string;
  readonly status: string;
  readonly completed: number;
  readonly inProgress: number;
  /** Retryable and non-retryable errors. */
  readonly failed: number;
  readonly stopped: number;
  readonly elapsedMs: number;
}

/** The progress of a described job. */
export function tuningProgress(job: DescribeHyperParameterTuningJobCommandOutput, elapsedMs: number): TuningProgress {
  const c = job.TrainingJobStatusCounters ?? {};
  return {
    job: job.HyperParameterTuningJobName ?? "",
    status: job.HyperParameterTuningJobStatus ?? "Unknown",
    completed: c.Completed ?? 0,
    inProgress: c.InProgress ?? 0,
    failed: (c.RetryableError ?? 0) + (c.NonRetryableError ?? 0),
    stopped: c.Stopped ?? 0,
    elapsedMs,
  };
}

/** `tuning <job>: InProgress, training jobs 3 completed, 2 in progress, 1 failed (4m10s)`. */
export function tuningProgressLine(p: TuningProgress): string {
  const stopped = p.stopped > 0 ? `, ${p.stopped} stopped` : "";
  return `tuning ${p.job}: ${p.status}, training jobs ${p.completed} completed, ${p.inProgress} in progress, ${p.failed} failed${stopped} `
    + `(${formatDuration(p.elapsedMs)})`;
}

/** Statuses after which a tuning job never changes again. */
export const TUNING_FINAL_STATUSES: readonly string[] = [
  HyperParameterTuningJobStatus.COMPLETED, HyperParameterTuningJobStatus.FAILED, HyperParameterTuningJobStatus.STOPPED,
];

/** How to wait. */
export interface TuningWaitOptions {
  /** Between two DescribeHyperParameterTuningJob calls. */
  readonly pollIntervalMs: number;
  /** Give up waiting (the job goes on) after this long. */
  readonly timeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  /** Called after every poll. */
  readonly onProgress: (progress: TuningProgress) => void;
}

/** The longest a job of this spec should take: its rounds of parallel training jobs, each up to the runtime limit, plus an hour. */
export function tuningTimeoutMs(spec: TuningSpec): number {
  const r = resolveTuning(spec);
  return (Math.ceil(r.maxJobs / r.maxParallelJobs) * r.maxRuntimeSeconds + 3600) * 1000;
}

/**
 * Polls until the job is Completed, Failed or Stopped (no SDK waiter exists for tuning jobs);
 * returns its last description. Past `timeoutMs` it stops waiting with an error that says the job
 * goes on and how to resume.
 */
export async function waitForTuningJob(
  describe: () => Promise<DescribeHyperParameterTuningJobCommandOutput>, options: TuningWaitOptions,
): Promise<DescribeHyperParameterTuningJobCommandOutput> {
  const start = options.now().getTime();
  for (;;) {
    const job = await describe();
    const elapsedMs = options.now().getTime() - start;
    const progress = tuningProgress(job, elapsedMs);
    options.onProgress(progress);
    if (TUNING_FINAL_STATUSES.includes(progress.status)) return job;
    if (elapsedMs >= options.timeoutMs) {
      throw new CliError(`tuning job ${progress.job} is still ${progress.status} after ${formatDuration(elapsedMs)}: it goes on running; `
        + "run this step again to resume waiting for it");
    }
    await options.sleep(options.pollIntervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// The outcome.
// ---------------------------------------------------------------------------------------------

/** The best training job of a job that completed, or a CliError naming the job and SageMaker's reason. */
export function bestOfTuningJob(job: DescribeHyperParameterTuningJobCommandOutput): { trainingJob: string; objectiveValue: number } {
  const name = job.HyperParameterTuningJobName ?? "(unnamed)";
  const status = job.HyperParameterTuningJobStatus;
  if (status === HyperParameterTuningJobStatus.FAILED) {
    throw new CliError(`tuning job ${name} failed: ${job.FailureReason ?? "SageMaker gave no failure reason"}; `
      + "see its training jobs' logs in CloudWatch (/aws/sagemaker/TrainingJobs)");
  }
  if (status !== HyperParameterTuningJobStatus.COMPLETED) {
    throw new CliError(`tuning job ${name} ended ${status ?? "in an unknown state"}, not Completed`
      + `${job.FailureReason === undefined ? "" : ` (${job.FailureReason})`}: start a new run`);
  }
  const best = job.BestTrainingJob;
  const value = best?.FinalHyperParameterTuningJobObjectiveMetric?.Value;
  if (best?.TrainingJobName === undefined || value === undefined) {
    const counts = tuningProgress(job, 0);
    throw new CliError(`tuning job ${name} completed without a best training job (${counts.completed} completed, ${counts.failed} failed): `
      + `none reported ${job.HyperParameterTuningJobConfig?.HyperParameterTuningJobObjective?.MetricName ?? "the objective metric"}`);
  }
  return { trainingJob: best.TrainingJobName, objectiveValue: value };
}

/** What the tuning step produced. */
export interface TuningResult {
  readonly model: string;
  readonly tuningJob: string;
  /** false: the job existed already (a resumed run) and was waited for. */
  readonly created: boolean;
  /** The warm start requested (none on a resumed run that found its job). */
  readonly warmStart?: { readonly type: string; readonly parents: readonly string[] };
  readonly image: string;
  readonly objectiveMetric: string;
  readonly bestTrainingJob: string;
  readonly bestObjectiveValue: number;
  /** s3:// URL of the best model (training output). */
  readonly modelArtifact: string;
  /** Training jobs that completed. */
  readonly trainingJobCount: number;
  /** The tuning history row and its object. */
  readonly history: { readonly key: string; readonly appended: boolean; readonly row: TuningHistoryRow };
}

/** The tuning history row of a finished job. */
export function tuningHistoryRow(
  request: TuningRequest, image: string, job: DescribeHyperParameterTuningJobCommandOutput, at: Date,
): TuningHistoryRow {
  const best = bestOfTuningJob(job);
  const spec = resolveTuning(request.spec);
  return {
    timestamp: at.toISOString(),
    tuningJob: request.jobName,
    model: request.model,
    objectiveMetric: spec.objectiveMetric,
    objective: spec.objective,
    evalMetric: spec.evalMetric,
    trainingJobCount: job.TrainingJobStatusCounters?.Completed ?? 0,
    bestTrainingJob: best.trainingJob,
    bestObjectiveValue: best.objectiveValue,
    datasetHash: request.datasetHash,
    image,
    hyperparameters: hyperparameterNames(request.spec),
    testing: spec.testing,
  };
}

/** Clients of the step: SageMaker and S3 as the registry's publisher role. */
export interface RetrainClients {
  readonly sagemaker: SageMakerClient;
  readonly s3: S3Client;
}

/** How a step of the loop waits for its SageMaker job and reports (the tuning and evaluation steps). */
export interface JobWaitOptions {
  readonly retry?: RetryOptions;
  /** Between two looks at the job. @default - the step's own (tuning 60000, evaluation 30000) */
  readonly pollIntervalMs?: number;
  /** Give up waiting (the job goes on) after this long. @default - the step's own */
  readonly timeoutMs?: number;
  /** @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default - the system clock */
  readonly now?: () => Date;
  /** Progress lines, for stderr. @default - nothing */
  readonly onProgress?: (line: string) => void;
}

/** How the tuning step waits (default timeout: tuningTimeoutMs(spec)). */
export type StepOptions = JobWaitOptions;

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Starts the job; false when a job of that name exists already (a resumed run: wait for it instead). */
export async function startTuningJob(
  sagemaker: SageMakerClient, input: CreateHyperParameterTuningJobCommandInput, retry: RetryOptions = {},
): Promise<boolean> {
  try {
    await retryingClient(sagemaker, retry).send(new CreateHyperParameterTuningJobCommand(input));
    return true;
  } catch (error) {
    // The name is the run's: a job of that name is this run's, created by an earlier attempt (or by a retried call that got through).
    if (isError(error) && error.name === "ResourceInUse") return false;
    throw error;
  }
}

/**
 * The whole step: read the model's tuning history, choose the warm start, start the job (or find
 * it, on a resumed run), wait with progress, read the best training job and its artifact, and
 * append the job to the tuning history.
 */
export async function runTuningStep(clients: RetrainClients, request: TuningRequest, options: StepOptions = {}): Promise<TuningResult> {
  const report = options.onProgress ?? (() => undefined);
  const retry = options.retry ?? {};
  const spec = resolveTuning(request.spec);
  const image = xgboostImageUri(request.registry.region, spec.xgboostVersion);
  const store = historyStore(request.serviceName, request.registry);

  const history = await readHistory(clients.s3, store, TUNING_HISTORY, request.model, retry);
  for (const s of history.skipped) report(`tuning history: skipped ${s.key}: ${s.reason}`);
  const warmStart = selectWarmStart(history.rows, {
    tuningJob: request.jobName,
    model: request.model,
    objectiveMetric: spec.objectiveMetric,
    objective: spec.objective,
    evalMetric: spec.evalMetric,
    hyperparameters: hyperparameterNames(request.spec),
    datasetHash: request.datasetHash,
    image,
  });
  const input = createTuningJobInput(request, image, warmStart);
  const created = await startTuningJob(clients.sagemaker, input, retry);
  if (!created) {
    report(`tuning ${request.jobName}: exists already (an earlier attempt of this run started it); waiting for it`);
  } else if (warmStart === undefined) {
    report(`tuning ${request.jobName}: started without a warm start (no eligible parent in the tuning history)`);
  } else {
    report(`tuning ${request.jobName}: started, warm start ${warmStart.type} from ${warmStart.parents.map((p) => p.tuningJob).join(", ")}`);
  }

  const sm = retryingClient(clients.sagemaker, retry);
  const now = options.now ?? (() => new Date());
  const job = await waitForTuningJob(() => sm.send(new DescribeHyperParameterTuningJobCommand({ HyperParameterTuningJobName: request.jobName })), {
    pollIntervalMs: options.pollIntervalMs ?? 60_000,
    timeoutMs: options.timeoutMs ?? tuningTimeoutMs(request.spec),
    sleep: options.sleep ?? realSleep,
    now,
    onProgress: (p) => report(tuningProgressLine(p)),
  });
  const best = bestOfTuningJob(job);
  const training = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: best.trainingJob }));
  const modelArtifact = training.ModelArtifacts?.S3ModelArtifacts;
  if (modelArtifact === undefined) throw new CliError(`training job ${best.trainingJob} (the best of ${request.jobName}) has no model artifact`);

  const row = tuningHistoryRow(request, image, job, now());
  const appended = await appendHistoryRow(clients.s3, store, TUNING_HISTORY, row, retry);
  return {
    model: request.model,
    tuningJob: request.jobName,
    created,
    ...created && warmStart !== undefined ? { warmStart: { type: warmStart.type, parents: warmStart.parents.map((p) => p.tuningJob) } } : {},
    image,
    objectiveMetric: spec.objectiveMetric,
    bestTrainingJob: best.trainingJob,
    bestObjectiveValue: best.objectiveValue,
    modelArtifact,
    trainingJobCount: row.trainingJobCount,
    history: appended,
  };
}
