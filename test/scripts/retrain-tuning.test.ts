import { createHash } from "node:crypto";
import { S3Client } from "@aws-sdk/client-s3";
import {
  CreateHyperParameterTuningJobCommand,
  DescribeHyperParameterTuningJobCommand,
  type DescribeHyperParameterTuningJobCommandOutput,
  DescribeTrainingJobCommand,
  SageMakerClient,
  SageMakerServiceException,
  TrainingInstanceType,
} from "@aws-sdk/client-sagemaker";
import { mockClient } from "aws-sdk-client-mock";
import { fakeBucket, type FakeBucket } from "./retrain-fake-bucket";
import { hasLocalInstanceStorage } from "../../components/instance-types";
import { type AccountRef, registryNames, roleArn } from "../../components/names";
import { historyKey, TUNING_HISTORY, type TuningHistoryRow } from "../../scripts/lib/retrain/history";
import {
  artifactKey, bestOfTuningJob, createTuningJobInput, runTuningStep, tuningJobName, tuningProgressLine, tuningTimeoutMs, type TuningRequest,
  waitForTuningJob,
} from "../../scripts/lib/retrain/tuning";
import { hyperparameterNames, resolveTuning, type TuningSpec, tuningSpecProblems } from "../../scripts/lib/retrain/tuning-spec";
import { datasetHash, selectWarmStart, type WarmStartCandidate } from "../../scripts/lib/retrain/warm-start";
import { XGBOOST_REGISTRY_ACCOUNTS, XGBOOST_VERSIONS, xgboostImageUri } from "../../scripts/lib/retrain/xgboost-images";
import { FIXTURE } from "../fixtures/service";

const sm = mockClient(SageMakerClient);
const s3 = mockClient(S3Client);
const clients = { sagemaker: new SageMakerClient({ region: FIXTURE.region }), s3: new S3Client({ region: FIXTURE.region }) };

const SERVICE = FIXTURE.serviceName;
const REGISTRY: AccountRef = { accountId: FIXTURE.accounts.sandbox, region: FIXTURE.region, partition: "aws" };
const NAMES = registryNames(SERVICE, REGISTRY);
const [MODEL, OTHER_MODEL] = FIXTURE.models;
const IMAGE = xgboostImageUri(FIXTURE.region, "1.7-1");
const HASH = "a".repeat(64);
const OTHER_HASH = "b".repeat(64);

/** Seed 001's ranges, a few of them, with num_round static. */
const SPEC: TuningSpec = {
  objectiveMetric: "validation:rmse",
  objective: "reg:squarederror",
  evalMetric: "rmse",
  numRound: 200,
  ranges: {
    eta: { type: "continuous", min: 0.1, max: 0.5, scaling: "Logarithmic" },
    max_depth: { type: "integer", min: 0, max: 10 },
    alpha: { type: "continuous", min: 0, max: 1000 },
  },
};
const NAMES_OF_SPEC = ["alpha", "eta", "eval_metric", "max_depth", "num_round", "objective"];

const JOB = tuningJobName(MODEL, new Date("2026-03-04T05:06:07.000Z"));

/** A history row of a finished job that is an eligible parent of JOB unless `change` says otherwise. */
function row(job: string, timestamp: string, change: Partial<TuningHistoryRow> = {}): TuningHistoryRow {
  return {
    timestamp,
    tuningJob: job,
    model: MODEL,
    objectiveMetric: "validation:rmse",
    objective: "reg:squarederror",
    evalMetric: "rmse",
    trainingJobCount: 10,
    bestTrainingJob: `${job}-003-0a1b2c3d`,
    bestObjectiveValue: 2.5,
    datasetHash: OTHER_HASH,
    image: IMAGE,
    hyperparameters: NAMES_OF_SPEC,
    testing: false,
    ...change,
  };
}

const CANDIDATE: WarmStartCandidate = {
  tuningJob: JOB,
  model: MODEL,
  objectiveMetric: "validation:rmse",
  objective: "reg:squarederror",
  evalMetric: "rmse",
  hyperparameters: NAMES_OF_SPEC,
  datasetHash: HASH,
  image: IMAGE,
};

const REQUEST: TuningRequest = {
  serviceName: SERVICE,
  registry: REGISTRY,
  model: MODEL,
  jobName: JOB,
  spec: SPEC,
  trainData: `s3://${NAMES.artifactBucket}/datasets/${MODEL}/run-1/train.csv`,
  validationData: `s3://${NAMES.artifactBucket}/datasets/${MODEL}/run-1/validation.csv`,
  datasetHash: HASH,
};

describe("selectWarmStart (seed 001's parents)", () => {
  test("GIVEN an empty tuning history WHEN parents are chosen THEN there is no warm start", () => {
    expect(selectWarmStart([], CANDIDATE)).toBeUndefined();
  });

  test("GIVEN one eligible job trained on other data WHEN parents are chosen THEN it is the one parent, by transfer learning", () => {
    const parent = row("p1", "2026-01-01T00:00:00.000Z");
    expect(selectWarmStart([parent], CANDIDATE)).toEqual({ type: "TransferLearning", parents: [parent] });
  });

  test("GIVEN seven eligible jobs in no order WHEN parents are chosen THEN the newest five are, newest first", () => {
    const days = ["03", "07", "01", "05", "02", "06", "04"];
    const history = days.map((d) => row(`p${d}`, `2026-01-${d}T00:00:00.000Z`));
    expect(selectWarmStart(history, CANDIDATE)?.parents.map((p) => p.tuningJob)).toEqual(["p07", "p06", "p05", "p04", "p03"]);
  });

  test.each([
    ["another model", { model: OTHER_MODEL }],
    ["another objective metric", { objectiveMetric: "validation:mae", evalMetric: "mae" }],
    ["another tuning objective metric only", { objectiveMetric: "validation:mse" }],
    ["another XGBoost objective", { objective: "reg:absoluteerror" }],
    ["another eval metric", { evalMetric: "mae" }],
    ["a single training job (a testing run)", { trainingJobCount: 1 }],
    ["other hyperparameters (SageMaker needs the same set)", { hyperparameters: ["eta", "eval_metric", "num_round", "objective"] }],
    ["this run's own job (a resumed run)", { tuningJob: JOB }],
  ])("GIVEN the only job in the history has %s WHEN parents are chosen THEN it is not a parent", (_, change) => {
    expect(selectWarmStart([row("p1", "2026-01-01T00:00:00.000Z", change)], CANDIDATE)).toBeUndefined();
  });

  test("GIVEN a newer single-job run and an older full run WHEN parents are chosen THEN only the full run is a parent", () => {
    const full = row("full", "2026-01-01T00:00:00.000Z");
    const single = row("single", "2026-02-01T00:00:00.000Z", { trainingJobCount: 1, testing: true });
    expect(selectWarmStart([single, full], CANDIDATE)?.parents).toEqual([full]);
  });

  test("GIVEN parents trained on this run's data with this image WHEN chosen THEN the warm start is IDENTICAL_DATA_AND_ALGORITHM", () => {
    const history = [row("p1", "2026-01-01T00:00:00.000Z", { datasetHash: HASH }), row("p2", "2026-01-02T00:00:00.000Z", { datasetHash: HASH })];
    expect(selectWarmStart(history, CANDIDATE)?.type).toBe("IdenticalDataAndAlgorithm");
  });

  test("GIVEN one of the parents trained on other data WHEN chosen THEN the warm start is TRANSFER_LEARNING", () => {
    const history = [row("p1", "2026-01-01T00:00:00.000Z", { datasetHash: OTHER_HASH }), row("p2", "2026-01-02T00:00:00.000Z", { datasetHash: HASH })];
    expect(selectWarmStart(history, CANDIDATE)?.type).toBe("TransferLearning");
  });

  test("GIVEN a parent on the same data but another image version WHEN chosen THEN the warm start is TRANSFER_LEARNING", () => {
    const history = [row("p1", "2026-01-01T00:00:00.000Z", { datasetHash: HASH, image: xgboostImageUri(FIXTURE.region, "1.5-1") })];
    expect(selectWarmStart(history, CANDIDATE)?.type).toBe("TransferLearning");
  });
});

describe("datasetHash", () => {
  test("GIVEN the train and validation hashes WHEN combined THEN it is SHA-256 of the sorted channel=hash lines, whatever their order", () => {
    const expected = createHash("sha256").update(`train=${HASH}\nvalidation=${OTHER_HASH}\n`).digest("hex");
    expect(datasetHash({ validation: OTHER_HASH, train: HASH })).toBe(expected);
    expect(datasetHash({ train: HASH, validation: OTHER_HASH })).toBe(expected);
    expect(datasetHash({ train: HASH, validation: HASH })).not.toBe(expected);
  });

  test("GIVEN no file hashes WHEN combined THEN it is refused", () => {
    expect(() => datasetHash({})).toThrow("a dataset hash needs the hash of at least one file");
  });
});

describe("tuningJobName", () => {
  test("GIVEN a model and the run's start WHEN named THEN it is <model>-<UTC yyyymmddhhmmss>, within SageMaker's 32 characters", () => {
    expect(JOB).toBe(`${MODEL}-20260304050607`);
    expect(JOB.length).toBeLessThanOrEqual(32);
  });

  test("GIVEN two long models with a common prefix WHEN named THEN both names fit 32 characters and differ", () => {
    const at = new Date("2026-03-04T05:06:07.000Z");
    const a = tuningJobName("customer-lifetime-value-a", at);
    const b = tuningJobName("customer-lifetime-value-b", at);
    expect([a.length, b.length]).toEqual([32, 32]);
    expect(a).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$/);
    expect(a).not.toBe(b);
  });

  test("GIVEN a model name with no letter or digit WHEN named THEN it is refused", () => {
    expect(() => tuningJobName("__", new Date("2026-03-04T05:06:07.000Z"))).toThrow('cannot make a tuning job name from model "__"');
  });
});

describe("xgboostImageUri", () => {
  test("GIVEN a region of AWS's table WHEN the image is named THEN it is the region's registry account's sagemaker-xgboost repository", () => {
    expect(IMAGE).toBe(`${XGBOOST_REGISTRY_ACCOUNTS[FIXTURE.region]}.dkr.ecr.${FIXTURE.region}.amazonaws.com/sagemaker-xgboost:1.7-1`);
    // Two entries as AWS publishes them (developer guide, Docker registry paths: XGBoost).
    expect(xgboostImageUri("us-east-1", "1.7-1")).toBe("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1");
    expect(xgboostImageUri("cn-north-1", "1.7-1")).toBe("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1");
  });

  test("GIVEN a region missing from the table WHEN the image is named THEN the error names the region and where to add it", () => {
    expect(() => xgboostImageUri("xx-nowhere-1", "1.7-1")).toThrow(/no built-in XGBoost image is known for region "xx-nowhere-1".*xgboost-images\.ts/);
  });

  test("GIVEN a version that is not built in WHEN the image is named THEN the versions are listed", () => {
    expect(() => xgboostImageUri(FIXTURE.region, "9.9-9")).toThrow(`XGBoost version "9.9-9" is not a built-in XGBoost image version; choose one of ${XGBOOST_VERSIONS.join(", ")}`);
  });
});

describe("tuningSpecProblems", () => {
  test("GIVEN seed 001's spec WHEN checked THEN nothing is wrong", () => {
    expect(tuningSpecProblems(SPEC)).toEqual([]);
  });

  test.each<[string, Partial<TuningSpec>, string, RegExp]>([
    ["a training-channel metric", { objectiveMetric: "train:rmse" }, "objectiveMetric", /must be validation:<metric>/],
    ["a metric XGBoost is not told to emit", { objectiveMetric: "validation:mae" }, "objectiveMetric", /XGBoost emits validation:rmse only/],
    ["an objective that is not XGBoost's", { objective: "minimise" }, "objective", /must be an XGBoost objective/],
    ["two eval metrics", { evalMetric: "rmse,mae", objectiveMetric: "validation:rmse,mae" }, "evalMetric", /must be one XGBoost eval_metric/],
    ["maximising an error metric", { objectiveType: "Maximize" }, "objectiveType", /rmse shrinks as the model improves: set objectiveType: Minimize/],
    ["no ranges", { ranges: {} }, "ranges", /must tune at least one hyperparameter/],
    ["a hyperparameter that is not tunable", { ranges: { ...SPEC.ranges, booster: { type: "integer", min: 0, max: 1 } } }, "ranges.booster", /is not a tunable XGBoost hyperparameter/],
    ["min not below max", { ranges: { eta: { type: "continuous", min: 0.5, max: 0.5 } } }, "ranges.eta.max", /must be greater than min \(0.5\), got 0.5/],
    ["a fractional integer bound", { ranges: { max_depth: { type: "integer", min: 0.5, max: 10 } } }, "ranges.max_depth.min", /whole number in an integer range/],
    ["max_depth as a continuous range", { ranges: { max_depth: { type: "continuous", min: 0, max: 10 } } }, "ranges.max_depth.type", /must be integer/],
    ["Logarithmic scaling from 0", { ranges: { alpha: { type: "continuous", min: 0, max: 10, scaling: "Logarithmic" } } }, "ranges.alpha.min", /greater than 0 with Logarithmic/],
    ["ReverseLogarithmic on integers", { ranges: { max_depth: { type: "integer", min: 0, max: 0.5, scaling: "ReverseLogarithmic" } } }, "ranges.max_depth.scaling", /only on continuous ranges/],
    ["ReverseLogarithmic up to 1", { ranges: { subsample: { type: "continuous", min: 0.5, max: 1, scaling: "ReverseLogarithmic" } } }, "ranges.subsample.scaling", /0 <= min and max < 1/],
    ["num_round both static and tuned", { ranges: { ...SPEC.ranges, num_round: { type: "integer", min: 1, max: 4000 } } }, "numRound", /keep one/],
    ["no num_round at all", { numRound: undefined }, "ranges", /must tune num_round, or numRound must fix it/],
    ["a fractional maxJobs", { maxJobs: 2.5 }, "maxJobs", /must be a whole number from 1 up, got 2.5/],
    ["zero parallel jobs", { maxParallelJobs: 0 }, "maxParallelJobs", /whole number from 1 up, got 0/],
    ["a runtime over 28 days", { maxRuntimeSeconds: 28 * 24 * 3600 + 1 }, "maxRuntimeSeconds", /from 1 to 2419200/],
    ["a hosting-only instance type", { instanceType: "ml.t2.medium" }, "instanceType", /must be a SageMaker training instance type/],
    ["an unknown image version", { xgboostVersion: "0.72" }, "xgboostVersion", /must be a version of the built-in XGBoost/],
  ])("GIVEN %s WHEN checked THEN the problem names its field", (_, change, field, message) => {
    const problems = tuningSpecProblems({ ...SPEC, ...change });
    expect(problems.map((p) => p.path.join("."))).toContain(field);
    expect(problems.find((p) => p.path.join(".") === field)?.message).toMatch(message);
  });

  test("GIVEN more than 30 ranges WHEN checked THEN the limit is named", () => {
    const ranges = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`p${i}`, { type: "continuous" as const, min: 0, max: 1 }]));
    expect(tuningSpecProblems({ ...SPEC, ranges }).map((p) => p.message)).toContain("may hold at most 30 ranges, got 31");
  });
});

describe("createTuningJobInput", () => {
  const parents = [row("p2", "2026-01-02T00:00:00.000Z"), row("p1", "2026-01-01T00:00:00.000Z")];

  test("GIVEN the spec and a warm start WHEN the request is built THEN it is Bayesian, minimises the metric, splits the ranges and names the parents", () => {
    const input = createTuningJobInput(REQUEST, IMAGE, { type: "TransferLearning", parents });
    expect(input.HyperParameterTuningJobName).toBe(JOB);
    expect(input.HyperParameterTuningJobConfig).toEqual({
      Strategy: "Bayesian",
      HyperParameterTuningJobObjective: { Type: "Minimize", MetricName: "validation:rmse" },
      ResourceLimits: { MaxNumberOfTrainingJobs: 10, MaxParallelTrainingJobs: 10 },
      ParameterRanges: {
        ContinuousParameterRanges: [
          { Name: "eta", MinValue: "0.1", MaxValue: "0.5", ScalingType: "Logarithmic" },
          { Name: "alpha", MinValue: "0", MaxValue: "1000", ScalingType: "Auto" },
        ],
        IntegerParameterRanges: [{ Name: "max_depth", MinValue: "0", MaxValue: "10", ScalingType: "Auto" }],
      },
      TrainingJobEarlyStoppingType: "Off",
    });
    expect(input.WarmStartConfig).toEqual({
      WarmStartType: "TransferLearning",
      ParentHyperParameterTuningJobs: [{ HyperParameterTuningJobName: "p2" }, { HyperParameterTuningJobName: "p1" }],
    });
  });

  test("GIVEN the request WHEN built THEN the jobs run as the training role, read the datasets and write encrypted under training/<model>/<job>/", () => {
    const definition = createTuningJobInput(REQUEST, IMAGE).TrainingJobDefinition!;
    expect(definition.RoleArn).toBe(roleArn(REGISTRY, NAMES.trainingRole));
    expect(definition.AlgorithmSpecification).toEqual({ TrainingImage: IMAGE, TrainingInputMode: "File" });
    expect(definition.StaticHyperParameters).toEqual({ objective: "reg:squarederror", eval_metric: "rmse", num_round: "200" });
    expect(definition.InputDataConfig?.map((c) => [c.ChannelName, c.ContentType, c.DataSource?.S3DataSource?.S3Uri])).toEqual([
      ["train", "text/csv", REQUEST.trainData],
      ["validation", "text/csv", REQUEST.validationData],
    ]);
    expect(definition.OutputDataConfig).toEqual({ S3OutputPath: `s3://${NAMES.artifactBucket}/training/${MODEL}/${JOB}/`, KmsKeyId: NAMES.kmsAlias });
    expect(definition.ResourceConfig).toEqual({ InstanceType: "ml.m5.xlarge", InstanceCount: 1, VolumeSizeInGB: 30, VolumeKmsKeyId: NAMES.kmsAlias });
    expect(definition.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 86_400 });
    expect(definition.EnableNetworkIsolation).toBe(true);
    expect(definition.EnableInterContainerTrafficEncryption).toBe(true);
  });

  test("GIVEN an instance type with local NVMe storage WHEN built THEN no volume key is sent (SageMaker refuses one)", () => {
    const nvme = Object.values(TrainingInstanceType).find((t) => hasLocalInstanceStorage(t))!;
    const resources = createTuningJobInput({ ...REQUEST, spec: { ...SPEC, instanceType: nvme } }, IMAGE).TrainingJobDefinition!.ResourceConfig!;
    expect(resources.InstanceType).toBe(nvme);
    expect(resources).not.toHaveProperty("VolumeKmsKeyId");
  });

  test("GIVEN testing mode with 10 jobs asked WHEN built THEN one training job runs, one at a time", () => {
    const input = createTuningJobInput({ ...REQUEST, spec: { ...SPEC, testing: true, maxJobs: 10, maxParallelJobs: 5 } }, IMAGE);
    expect(input.HyperParameterTuningJobConfig?.ResourceLimits).toEqual({ MaxNumberOfTrainingJobs: 1, MaxParallelTrainingJobs: 1 });
    expect(resolveTuning({ ...SPEC, testing: true }).testing).toBe(true);
  });

  test("GIVEN no warm start WHEN built THEN the request has no WarmStartConfig, and it carries the service's tags", () => {
    const input = createTuningJobInput({ ...REQUEST, tags: { team: "ml" } }, IMAGE);
    expect(input).not.toHaveProperty("WarmStartConfig");
    expect(input.Tags).toEqual([
      { Key: "team", Value: "ml" }, { Key: "mlplatform:service", Value: SERVICE }, { Key: "mlplatform:stage", Value: "registry" },
    ]);
  });

  test("GIVEN a spec with problems WHEN the request is built THEN it is refused naming each field", () => {
    expect(() => createTuningJobInput({ ...REQUEST, spec: { ...SPEC, maxJobs: 0, ranges: {} } }, IMAGE))
      .toThrow(`the tuning of ${MODEL} is not valid: ranges: must tune at least one hyperparameter; maxJobs: must be a whole number from 1 up, got 0`);
  });

  test("GIVEN a job name SageMaker would refuse WHEN the request is built THEN it is refused", () => {
    expect(() => createTuningJobInput({ ...REQUEST, jobName: "x".repeat(33) }, IMAGE)).toThrow(`"${"x".repeat(33)}" is not a valid tuning job name`);
  });

  test.each([
    ["not an s3 URL", "datasets/train.csv", /the training data must be an s3:\/\/bucket\/key URL/],
    ["another bucket", "s3://some-other-bucket/train.csv", /must be in the registry's artifact bucket .*got bucket "some-other-bucket"/],
    ["training output", `s3://${NAMES.artifactBucket}/training/x/train.csv`, /must not be training output \(training\/\)/],
  ])("GIVEN training data that is %s WHEN the request is built THEN it is refused", (_, url, message) => {
    expect(() => createTuningJobInput({ ...REQUEST, trainData: url }, IMAGE)).toThrow(message);
    expect(() => artifactKey(url, NAMES.artifactBucket, "the training data")).toThrow(message);
  });
});

/** A described tuning job. */
function described(status: string, counters: { Completed?: number; InProgress?: number; NonRetryableError?: number; RetryableError?: number } = {},
  extra: Partial<DescribeHyperParameterTuningJobCommandOutput> = {}): DescribeHyperParameterTuningJobCommandOutput {
  return {
    HyperParameterTuningJobName: JOB,
    HyperParameterTuningJobStatus: status,
    TrainingJobStatusCounters: { Completed: 0, InProgress: 0, NonRetryableError: 0, RetryableError: 0, Stopped: 0, ...counters },
    ...extra,
  } as DescribeHyperParameterTuningJobCommandOutput;
}

const BEST = `${JOB}-004-1a2b3c4d`;
const COMPLETED = described("Completed", { Completed: 9, NonRetryableError: 1 }, {
  BestTrainingJob: { TrainingJobName: BEST, FinalHyperParameterTuningJobObjectiveMetric: { MetricName: "validation:rmse", Value: 1.75 } },
} as Partial<DescribeHyperParameterTuningJobCommandOutput>);

/** A clock the sleeps move on. */
function clock(startIso: string) {
  let now = new Date(startIso).getTime();
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => new Date(now),
    sleep: async (ms: number) => { sleeps.push(ms); now += ms; },
  };
}

describe("waitForTuningJob", () => {
  test("GIVEN a job that runs, then completes WHEN waited for THEN each poll prints completed, in-progress and failed counts with the time", async () => {
    const c = clock("2026-03-04T05:06:07.000Z");
    const polls = [described("InProgress", { InProgress: 2 }), described("InProgress", { Completed: 1, InProgress: 1, RetryableError: 1 }), COMPLETED];
    const lines: string[] = [];
    const job = await waitForTuningJob(async () => polls.shift()!, {
      pollIntervalMs: 60_000, timeoutMs: 3_600_000, sleep: c.sleep, now: c.now, onProgress: (p) => lines.push(tuningProgressLine(p)),
    });
    expect(job).toBe(COMPLETED);
    expect(lines).toEqual([
      `tuning ${JOB}: InProgress, training jobs 0 completed, 2 in progress, 0 failed (0s)`,
      `tuning ${JOB}: InProgress, training jobs 1 completed, 1 in progress, 1 failed (1m00s)`,
      `tuning ${JOB}: Completed, training jobs 9 completed, 0 in progress, 1 failed (2m00s)`,
    ]);
    expect(c.sleeps).toEqual([60_000, 60_000]);
  });

  test("GIVEN a job still running when the wait's bound is reached WHEN waited for THEN it stops waiting and says how to resume", async () => {
    const c = clock("2026-03-04T05:06:07.000Z");
    await expect(waitForTuningJob(async () => described("InProgress", { InProgress: 1 }), {
      pollIntervalMs: 60_000, timeoutMs: 120_000, sleep: c.sleep, now: c.now, onProgress: () => undefined,
    })).rejects.toThrow(`tuning job ${JOB} is still InProgress after 2m00s: it goes on running; run this step again to resume waiting for it`);
    expect(c.sleeps).toEqual([60_000, 60_000]);
  });

  test("GIVEN a spec WHEN its wait is bounded THEN the bound is its rounds of parallel jobs times the runtime limit, plus an hour", () => {
    expect(tuningTimeoutMs(SPEC)).toBe((86_400 + 3600) * 1000);
    expect(tuningTimeoutMs({ ...SPEC, maxJobs: 10, maxParallelJobs: 3, maxRuntimeSeconds: 1000 })).toBe((4 * 1000 + 3600) * 1000);
  });
});

describe("bestOfTuningJob", () => {
  test("GIVEN a completed job WHEN read THEN its best training job and objective value come back", () => {
    expect(bestOfTuningJob(COMPLETED)).toEqual({ trainingJob: BEST, objectiveValue: 1.75 });
  });

  test("GIVEN a failed job WHEN read THEN the error names the job and SageMaker's failure reason", () => {
    expect(() => bestOfTuningJob(described("Failed", {}, { FailureReason: "All training jobs failed: AlgorithmError" })))
      .toThrow(`tuning job ${JOB} failed: All training jobs failed: AlgorithmError;`);
  });

  test("GIVEN a stopped job WHEN read THEN it is not taken as a result", () => {
    expect(() => bestOfTuningJob(described("Stopped"))).toThrow(`tuning job ${JOB} ended Stopped, not Completed`);
  });

  test("GIVEN a completed job without a best training job WHEN read THEN the error says none reported the metric", () => {
    expect(() => bestOfTuningJob(described("Completed", { NonRetryableError: 2 })))
      .toThrow(`tuning job ${JOB} completed without a best training job (0 completed, 2 failed)`);
  });
});

describe("runTuningStep", () => {
  let bucket: FakeBucket;
  const artifact = `s3://${NAMES.artifactBucket}/training/${MODEL}/${JOB}/${BEST}/output/model.tar.gz`;
  const seed = (...rows: TuningHistoryRow[]) => {
    for (const r of rows) bucket.objects.set(historyKey(TUNING_HISTORY, r), { body: JSON.stringify(r), etag: `"${r.tuningJob}"` });
  };
  const run = async (request: TuningRequest = REQUEST) => {
    const c = clock("2026-03-04T05:06:07.000Z");
    const lines: string[] = [];
    const result = await runTuningStep(clients, request, {
      sleep: c.sleep, now: c.now, onProgress: (l) => lines.push(l), retry: { sleep: async () => undefined },
    });
    return { result, lines };
  };

  beforeEach(() => {
    sm.reset();
    s3.reset();
    bucket = fakeBucket(s3);
    sm.on(CreateHyperParameterTuningJobCommand).resolves({ HyperParameterTuningJobArn: "arn" });
    sm.on(DescribeHyperParameterTuningJobCommand).resolvesOnce(described("InProgress", { InProgress: 10 })).resolves(COMPLETED);
    sm.on(DescribeTrainingJobCommand).resolves({ ModelArtifacts: { S3ModelArtifacts: artifact } } as never);
  });

  test("GIVEN eligible jobs in the tuning history WHEN the step runs THEN it warm-starts from them, waits, and appends its own row", async () => {
    const older = row("p1", "2026-01-01T00:00:00.000Z");
    const newer = row("p2", "2026-02-01T00:00:00.000Z");
    const testingRun = row("t1", "2026-02-15T00:00:00.000Z", { trainingJobCount: 1, testing: true });
    seed(older, newer, testingRun);
    const { result, lines } = await run();

    const created = sm.commandCalls(CreateHyperParameterTuningJobCommand)[0].args[0].input;
    expect(created.WarmStartConfig).toEqual({
      WarmStartType: "TransferLearning",
      ParentHyperParameterTuningJobs: [{ HyperParameterTuningJobName: "p2" }, { HyperParameterTuningJobName: "p1" }],
    });
    expect(result).toMatchObject({
      tuningJob: JOB,
      created: true,
      warmStart: { type: "TransferLearning", parents: ["p2", "p1"] },
      image: IMAGE,
      bestTrainingJob: BEST,
      bestObjectiveValue: 1.75,
      modelArtifact: artifact,
      trainingJobCount: 9,
    });
    const stored = JSON.parse(bucket.objects.get(historyKey(TUNING_HISTORY, result.history.row))!.body);
    expect(stored).toEqual({
      timestamp: "2026-03-04T05:07:07.000Z",
      tuningJob: JOB,
      model: MODEL,
      objectiveMetric: "validation:rmse",
      objective: "reg:squarederror",
      evalMetric: "rmse",
      trainingJobCount: 9,
      bestTrainingJob: BEST,
      bestObjectiveValue: 1.75,
      datasetHash: HASH,
      image: IMAGE,
      hyperparameters: hyperparameterNames(SPEC),
      testing: false,
    });
    expect(lines).toEqual([
      `tuning ${JOB}: started, warm start TransferLearning from p2, p1`,
      `tuning ${JOB}: InProgress, training jobs 0 completed, 10 in progress, 0 failed (0s)`,
      `tuning ${JOB}: Completed, training jobs 9 completed, 0 in progress, 1 failed (1m00s)`,
    ]);
  });

  test("GIVEN an empty tuning history WHEN the step runs THEN it starts without a warm start and says why", async () => {
    const { lines } = await run();
    expect(sm.commandCalls(CreateHyperParameterTuningJobCommand)[0].args[0].input).not.toHaveProperty("WarmStartConfig");
    expect(lines[0]).toBe(`tuning ${JOB}: started without a warm start (no eligible parent in the tuning history)`);
  });

  test("GIVEN a resumed run whose job exists already WHEN the step runs THEN it waits for that job instead of failing", async () => {
    sm.on(CreateHyperParameterTuningJobCommand).rejects(new SageMakerServiceException({
      name: "ResourceInUse", $fault: "client", $metadata: { httpStatusCode: 400 }, message: `Job ${JOB} already exists`,
    }));
    const { result, lines } = await run();
    expect(result.created).toBe(false);
    expect(result).not.toHaveProperty("warmStart");
    expect(lines[0]).toBe(`tuning ${JOB}: exists already (an earlier attempt of this run started it); waiting for it`);
    expect(result.bestTrainingJob).toBe(BEST);
  });

  test("GIVEN a testing-mode run WHEN a later run chooses parents THEN the testing run's row is not one of them", async () => {
    sm.on(DescribeHyperParameterTuningJobCommand).resolves({ ...COMPLETED, TrainingJobStatusCounters: { Completed: 1 } });
    const { result } = await run({ ...REQUEST, spec: { ...SPEC, testing: true } });
    expect(sm.commandCalls(CreateHyperParameterTuningJobCommand)[0].args[0].input.HyperParameterTuningJobConfig?.ResourceLimits)
      .toEqual({ MaxNumberOfTrainingJobs: 1, MaxParallelTrainingJobs: 1 });
    expect(result.history.row).toMatchObject({ testing: true, trainingJobCount: 1 });
    const stored = JSON.parse(bucket.objects.get(result.history.key)!.body) as TuningHistoryRow;
    expect(selectWarmStart([stored], { ...CANDIDATE, tuningJob: "next-run" })).toBeUndefined();
  });

  test("GIVEN the job fails WHEN the step runs THEN the error names the job and SageMaker's reason, and no history row is written", async () => {
    sm.on(DescribeHyperParameterTuningJobCommand).resolves(described("Failed", { NonRetryableError: 10 }, { FailureReason: "ClientError: no data" }));
    await expect(run()).rejects.toThrow(`tuning job ${JOB} failed: ClientError: no data`);
    expect([...bucket.objects.keys()]).toEqual([]);
  });

  test("GIVEN a best training job without a model artifact WHEN the step runs THEN it is refused", async () => {
    sm.on(DescribeTrainingJobCommand).resolves({} as never);
    await expect(run()).rejects.toThrow(`training job ${BEST} (the best of ${JOB}) has no model artifact`);
  });
});
