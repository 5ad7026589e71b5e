import {
  AssemblyType,
  BatchStrategy,
  CreateModelCommand,
  type CreateModelCommandInput,
  CreateTransformJobCommand,
  type CreateTransformJobCommandInput,
  type DescribeTransformJobCommandOutput,
  SplitType,
  TransformInstanceType,
  TransformJobStatus,
} from "@aws-sdk/client-sagemaker";
import { appendHistoryRow, EVALUATION_HISTORY, type EvaluationHistoryRow, historyStore, readObjectText } from "./history";
import { artifactKey, type JobWaitOptions, type RetrainClients, retrainTags, tuningOutputPrefix } from "./tuning";
import { hasLocalInstanceStorage } from "../../../components/instance-types";
import { type AccountRef, registryNames, roleArn, SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN } from "../../../components/names";
import { type RetryOptions, retryingClient } from "../aws";
import { describeTransformJob, FINAL_STATUSES, TRANSFORM_INSTANCE_TYPES, waitForTransformJob } from "../batch";
import { CliError, isError } from "../cli";
import { formatDuration } from "../stage-access";

/**
 * Retraining, step 3 (seed 001): the best training job's model predicts the test split in a batch
 * transform, and the errors against the test targets give MAE, RMSE and the standard deviation of
 * the error, appended to the evaluation history.
 *
 * The model and the transform job run as the registry's training role, the one role that may read
 * the datasets and write under `training/` of the artifact bucket: the predictions are training
 * output, beside the tuning job's models. The loop (the publisher role) creates them and reads the
 * predictions back. Names derive from the training job, so a resumed run finds its model and job.
 */

// ---------------------------------------------------------------------------------------------
// The spec (config.ts checks its schema against this type).
// ---------------------------------------------------------------------------------------------

/** The evaluation of one model, from the retraining configuration. */
export interface EvaluationSpec {
  /**
   * Batch transform instance type.
   * @default "ml.m5.large"
   */
  readonly instanceType?: string;
  /**
   * Batch transform instances.
   * @default 1
   */
  readonly instanceCount?: number;
}

/** The defaults of EvaluationSpec's optional fields, as its `@default` tags say. */
export const EVALUATION_DEFAULTS = { instanceType: "ml.m5.large", instanceCount: 1 } as const;

/** TransformResources.InstanceCount. */
const MAX_TRANSFORM_INSTANCES = 100;

/** What is wrong with a spec (empty when nothing is). */
export function evaluationSpecProblems(spec: EvaluationSpec): { field: string; message: string; source: string }[] {
  const problems: { field: string; message: string; source: string }[] = [];
  if (spec.instanceType !== undefined && !TRANSFORM_INSTANCE_TYPES.includes(spec.instanceType)) {
    problems.push({
      field: "instanceType",
      message: `must be a batch transform instance type such as ml.m5.large, got "${spec.instanceType}"`,
      source: "SageMaker API model: TransformInstanceType",
    });
  }
  const count = spec.instanceCount;
  if (count !== undefined && (!Number.isInteger(count) || count < 1 || count > MAX_TRANSFORM_INSTANCES)) {
    problems.push({
      field: "instanceCount",
      message: `must be a whole number from 1 to ${MAX_TRANSFORM_INSTANCES}, got ${count}`,
      source: "SageMaker API model: TransformResources.InstanceCount",
    });
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The metrics (pure).
// ---------------------------------------------------------------------------------------------

/** The errors of a model on the test split; the error of a row is actual - predicted. */
export interface ErrorMetrics {
  /** Mean absolute error: mean(|e|). */
  readonly mae: number;
  /** Root mean squared error: sqrt(mean(e²)). */
  readonly rmse: number;
  /**
   * POPULATION standard deviation of the error: sqrt(mean((e - mean(e))²)), dividing by n, as
   * seed 001's `np.std` does (ddof 0). Every row of the evaluation history uses this definition.
   */
  readonly errorStd: number;
  /** Rows compared. */
  readonly rows: number;
}

/** MAE, RMSE and the population standard deviation of the error, of two equally long series. */
export function errorMetrics(actual: readonly number[], predicted: readonly number[]): ErrorMetrics {
  if (actual.length !== predicted.length) {
    throw new CliError(`${actual.length} test targets but ${predicted.length} predictions: each test row needs exactly one prediction`);
  }
  if (actual.length === 0) throw new CliError("the test split has no rows to evaluate");
  const bad = [...actual, ...predicted].findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new CliError(`a test target or prediction is not a finite number (${[...actual, ...predicted][bad]})`);
  const n = actual.length;
  const errors = actual.map((a, i) => a - predicted[i]);
  const mean = errors.reduce((s, e) => s + e, 0) / n;
  return {
    mae: errors.reduce((s, e) => s + Math.abs(e), 0) / n,
    rmse: Math.sqrt(errors.reduce((s, e) => s + e * e, 0) / n),
    // Two passes (deviations from the mean) rather than mean(e²) - mean(e)², which loses precision.
    errorStd: Math.sqrt(errors.reduce((s, e) => s + (e - mean) ** 2, 0) / n),
    rows: n,
  };
}

/**
 * The test targets: the first column of each line of a CSV. A first line whose first field is not
 * a number is a header and is skipped; every other line must hold a number.
 */
export function parseTargets(text: string, where: string): number[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const first = (line: string) => line.split(",")[0].trim();
  const start = lines.length > 0 && !isNumber(first(lines[0])) ? 1 : 0;
  return lines.slice(start).map((line, i) => {
    const value = first(line);
    if (!isNumber(value)) throw new CliError(`${where}: line ${i + start + 1} does not start with a number: "${line.slice(0, 80)}"`);
    return Number(value);
  });
}

/**
 * The predictions of a transform's output: every number in it, in order. The built-in XGBoost
 * answers a CSV mini-batch with one value per row, separated by commas or line breaks depending
 * on its version, and the job assembles mini-batches with line breaks: both separators are read.
 */
export function parsePredictions(text: string, where: string): number[] {
  const tokens = text.split(/[\s,]+/).filter((t) => t !== "");
  return tokens.map((t, i) => {
    if (!isNumber(t)) throw new CliError(`${where}: value ${i + 1} is not a number: "${t.slice(0, 80)}" (only single-output models are evaluated)`);
    return Number(t);
  });
}

function isNumber(text: string): boolean {
  return text !== "" && Number.isFinite(Number(text));
}

// ---------------------------------------------------------------------------------------------
// The requests.
// ---------------------------------------------------------------------------------------------

/** One evaluation of a tuning job's best model. */
export interface EvaluationRequest {
  /** The service: names the registry's bucket, key and roles (components/names.ts). */
  readonly serviceName: string;
  /** The registry's account and region: the job runs there. */
  readonly registry: AccountRef;
  readonly model: string;
  readonly spec: EvaluationSpec;
  readonly tuningJob: string;
  /** The tuning job's best training job. */
  readonly trainingJob: string;
  /** s3:// URL of its model.tar.gz. */
  readonly modelArtifact: string;
  /** The image that trained it (TuningResult.image): the built-in XGBoost also serves. */
  readonly image: string;
  /** s3:// URL of the test split's features (CSV, no header, no target column) in the artifact bucket. */
  readonly testFeatures: string;
  /** s3:// URL of the test split's targets (first column; an optional header line), in the same row order. */
  readonly testTargets: string;
  /**
   * Testing mode, recorded in the evaluation history.
   * @default false
   */
  readonly testing?: boolean;
  /**
   * Which try of this evaluation: a transform job that failed cannot run again under its name, so
   * try n > 1 runs as `<training job>-eval<n>` (the model, `<training job>-eval`, is reused).
   * @default 1
   */
  readonly attempt?: number;
  /**
   * Tags on the model and job besides the service's.
   * @default {}
   */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * `<training job>-eval`, the training job's name shortened to fit 63 characters: the model's and
 * the first transform job's name; try n > 1 of the transform job is `<training job>-eval<n>`.
 */
export function evaluationName(trainingJob: string, attempt = 1): string {
  if (!Number.isInteger(attempt) || attempt < 1) throw new CliError(`an evaluation attempt is a whole number from 1, got ${attempt}`);
  const suffix = attempt === 1 ? "-eval" : `-eval${attempt}`;
  const name = `${trainingJob.slice(0, SAGEMAKER_NAME_MAX - suffix.length).replace(/-+$/, "")}${suffix}`;
  if (!SAGEMAKER_NAME_PATTERN.test(name)) throw new CliError(`cannot make a model name from training job "${trainingJob}": "${name}" is not a valid SageMaker name`);
  return name;
}

/** `training/<model>/<tuning job>/evaluation/`: where the transform writes its predictions. */
export function evaluationOutputPrefix(model: string, tuningJob: string): string {
  return `${tuningOutputPrefix(model, tuningJob)}evaluation/`;
}

/** The CreateModel request: the artifact with the image that trained it, run as the training role, without network access. */
export function createModelInput(request: EvaluationRequest): CreateModelCommandInput {
  const names = registryNames(request.serviceName, request.registry);
  const artifact = /^s3:\/\/([^/]+)\/(.+)$/.exec(request.modelArtifact);
  if (artifact === null || artifact[1] !== names.artifactBucket) {
    throw new CliError(`the model artifact ${request.modelArtifact} is not in the registry's artifact bucket ${names.artifactBucket}`);
  }
  return {
    ModelName: evaluationName(request.trainingJob),
    PrimaryContainer: { Image: request.image, ModelDataUrl: request.modelArtifact },
    ExecutionRoleArn: roleArn(request.registry, names.trainingRole),
    EnableNetworkIsolation: true,
    Tags: retrainTags(request.serviceName, request.tags),
  };
}

/** The CreateTransformJob request: the test features, line by line, into training output, encrypted with the registry key. */
export function createEvaluationTransformInput(request: EvaluationRequest): CreateTransformJobCommandInput {
  const problems = evaluationSpecProblems(request.spec);
  if (problems.length > 0) {
    throw new CliError(`the evaluation of ${request.model} is not valid: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`);
  }
  const names = registryNames(request.serviceName, request.registry);
  artifactKey(request.testFeatures, names.artifactBucket, "the test features");
  const instanceType = request.spec.instanceType ?? EVALUATION_DEFAULTS.instanceType;
  return {
    TransformJobName: evaluationName(request.trainingJob, request.attempt ?? 1),
    ModelName: evaluationName(request.trainingJob),
    BatchStrategy: BatchStrategy.MULTI_RECORD,
    MaxPayloadInMB: 6,
    TransformInput: {
      // The exact key as the prefix: this one object.
      DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: request.testFeatures } },
      ContentType: "text/csv",
      SplitType: SplitType.LINE,
    },
    TransformOutput: {
      S3OutputPath: `s3://${names.artifactBucket}/${evaluationOutputPrefix(request.model, request.tuningJob)}`,
      Accept: "text/csv",
      AssembleWith: AssemblyType.LINE,
      KmsKeyId: names.kmsAlias,
    },
    TransformResources: {
      InstanceType: instanceType as TransformInstanceType,
      InstanceCount: request.spec.instanceCount ?? EVALUATION_DEFAULTS.instanceCount,
      ...hasLocalInstanceStorage(instanceType) ? {} : { VolumeKmsKeyId: names.kmsAlias },
    },
    Tags: retrainTags(request.serviceName, request.tags),
  };
}

/** The key of the predictions: the output prefix plus the input object's name and `.out` (how batch transform names its output). */
export function predictionsKey(request: EvaluationRequest): string {
  const names = registryNames(request.serviceName, request.registry);
  const inputKey = artifactKey(request.testFeatures, names.artifactBucket, "the test features");
  const file = inputKey.slice(inputKey.lastIndexOf("/") + 1);
  return `${evaluationOutputPrefix(request.model, request.tuningJob)}${file}.out`;
}

// ---------------------------------------------------------------------------------------------
// The step.
// ---------------------------------------------------------------------------------------------

/** How the evaluation step waits (default: a look every 30 s, giving up after 4 hours). */
export type EvaluationStepOptions = JobWaitOptions;

/** What the evaluation step produced. */
export interface EvaluationResult {
  readonly model: string;
  readonly tuningJob: string;
  readonly trainingJob: string;
  /** The SageMaker model and transform job (same name). */
  readonly transformJob: string;
  /** s3:// URL of the predictions. */
  readonly predictions: string;
  readonly metrics: ErrorMetrics;
  readonly history: { readonly key: string; readonly appended: boolean; readonly row: EvaluationHistoryRow };
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether a create call failed because the resource exists (a resumed run). */
function alreadyExists(error: unknown): boolean {
  return isError(error) && (error.name === "ResourceInUse" || (error.name === "ValidationException" && /already exist/i.test(error.message)));
}

/** The text of an object named by its s3:// URL. */
async function objectText(s3: RetrainClients["s3"], url: string, retry: RetryOptions): Promise<string> {
  const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(url) ?? [];
  return readObjectText(s3, bucket, key, retry);
}

/** The transform job's end, or a CliError naming it and SageMaker's reason. */
export function checkTransformOutcome(job: DescribeTransformJobCommandOutput): void {
  const name = job.TransformJobName ?? "(unnamed)";
  if (job.TransformJobStatus === TransformJobStatus.FAILED) {
    throw new CliError(`evaluation transform job ${name} failed: ${job.FailureReason ?? "SageMaker gave no failure reason"}; `
      + "see its logs in CloudWatch (/aws/sagemaker/TransformJobs)");
  }
  if (job.TransformJobStatus !== TransformJobStatus.COMPLETED) {
    throw new CliError(`evaluation transform job ${name} ended ${job.TransformJobStatus ?? "in an unknown state"}, not Completed: run the step again`);
  }
}

/**
 * The whole step: create the model and the transform job (or find them, on a resumed run), wait
 * with progress, read the predictions and the targets, compute the metrics, and append them to the
 * evaluation history.
 */
export async function runEvaluationStep(
  clients: RetrainClients, request: EvaluationRequest, options: EvaluationStepOptions = {},
): Promise<EvaluationResult> {
  const report = options.onProgress ?? (() => undefined);
  const retry = options.retry ?? {};
  const now = options.now ?? (() => new Date());
  const sm = retryingClient(clients.sagemaker, retry);
  const modelInput = createModelInput(request);
  const jobInput = createEvaluationTransformInput(request);
  const name = jobInput.TransformJobName ?? "";
  const names = registryNames(request.serviceName, request.registry);
  const predictions = `s3://${names.artifactBucket}/${predictionsKey(request)}`;

  await sm.send(new CreateModelCommand(modelInput)).catch((error: unknown) => {
    if (!alreadyExists(error)) throw error;
    report(`evaluation ${name}: the model exists already (an earlier attempt of this run created it)`);
  });
  const created = await sm.send(new CreateTransformJobCommand(jobInput)).then(() => true, (error: unknown) => {
    if (!alreadyExists(error)) throw error;
    return false;
  });
  report(created ? `evaluation ${name}: started a batch transform of ${request.testFeatures}`
    : `evaluation ${name}: the transform job exists already (an earlier attempt of this run started it); waiting for it`);

  const timeoutMs = options.timeoutMs ?? 4 * 3600 * 1000;
  const start = now().getTime();
  const job = await waitForTransformJob(async () => {
    const described = await describeTransformJob(clients.sagemaker, name, retry);
    const elapsed = now().getTime() - start;
    const status = described.TransformJobStatus ?? "Unknown";
    if (elapsed >= timeoutMs && !FINAL_STATUSES.includes(status)) {
      throw new CliError(`evaluation transform job ${name} is still ${status} after ${formatDuration(elapsed)}: it goes on running; `
        + "run this step again to resume waiting for it");
    }
    return described;
  }, {
    pollIntervalMs: options.pollIntervalMs ?? 30_000,
    sleep: options.sleep ?? realSleep,
    now,
    onPoll: (status, elapsedMs) => report(`evaluation ${name}: ${status} (${formatDuration(elapsedMs)})`),
  });
  checkTransformOutcome(job);

  const actual = parseTargets(await objectText(clients.s3, request.testTargets, retry), request.testTargets);
  const predicted = parsePredictions(await objectText(clients.s3, predictions, retry), predictions);
  const metrics = errorMetrics(actual, predicted);
  const row: EvaluationHistoryRow = {
    timestamp: now().toISOString(),
    model: request.model,
    tuningJob: request.tuningJob,
    trainingJob: request.trainingJob,
    mae: metrics.mae,
    rmse: metrics.rmse,
    errorStd: metrics.errorStd,
    rows: metrics.rows,
    testing: request.testing ?? false,
  };
  const history = await appendHistoryRow(clients.s3, historyStore(request.serviceName, request.registry), EVALUATION_HISTORY, row, retry);
  return { model: request.model, tuningJob: request.tuningJob, trainingJob: request.trainingJob, transformJob: name, predictions, metrics, history };
}
