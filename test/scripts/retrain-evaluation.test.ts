import { S3Client } from "@aws-sdk/client-s3";
import {
  CreateModelCommand, CreateTransformJobCommand, DescribeTransformJobCommand, type DescribeTransformJobCommandOutput, SageMakerClient,
  SageMakerServiceException,
} from "@aws-sdk/client-sagemaker";
import { mockClient } from "aws-sdk-client-mock";
import { fakeBucket, type FakeBucket } from "./retrain-fake-bucket";
import { type AccountRef, registryNames, roleArn } from "../../components/names";
import {
  createEvaluationTransformInput, createModelInput, type EvaluationRequest, evaluationName, evaluationSpecProblems, errorMetrics, parsePredictions,
  parseTargets, predictionsKey, runEvaluationStep,
} from "../../scripts/lib/retrain/evaluation";
import { EVALUATION_HISTORY, historyKey } from "../../scripts/lib/retrain/history";
import { tuningJobName } from "../../scripts/lib/retrain/tuning";
import { xgboostImageUri } from "../../scripts/lib/retrain/xgboost-images";
import { FIXTURE } from "../fixtures/service";

const sm = mockClient(SageMakerClient);
const s3 = mockClient(S3Client);
const clients = { sagemaker: new SageMakerClient({ region: FIXTURE.region }), s3: new S3Client({ region: FIXTURE.region }) };

const SERVICE = FIXTURE.serviceName;
const REGISTRY: AccountRef = { accountId: FIXTURE.accounts.sandbox, region: FIXTURE.region, partition: "aws" };
const NAMES = registryNames(SERVICE, REGISTRY);
const [MODEL] = FIXTURE.models;
const TUNING_JOB = tuningJobName(MODEL, new Date("2026-03-04T05:06:07.000Z"));
const TRAINING_JOB = `${TUNING_JOB}-004-1a2b3c4d`;
const NAME = `${TRAINING_JOB}-eval`;
const DATASET = `datasets/${MODEL}/run-1`;

const REQUEST: EvaluationRequest = {
  serviceName: SERVICE,
  registry: REGISTRY,
  model: MODEL,
  spec: {},
  tuningJob: TUNING_JOB,
  trainingJob: TRAINING_JOB,
  modelArtifact: `s3://${NAMES.artifactBucket}/training/${MODEL}/${TUNING_JOB}/${TRAINING_JOB}/output/model.tar.gz`,
  image: xgboostImageUri(FIXTURE.region, "1.7-1"),
  testFeatures: `s3://${NAMES.artifactBucket}/${DATASET}/test-features.csv`,
  testTargets: `s3://${NAMES.artifactBucket}/${DATASET}/test-targets.csv`,
};

/**
 * The small example, by hand. Targets 3, 5, 2, 8; predictions 2.5, 5, 4, 7.
 * Errors (actual - predicted): 0.5, 0, -2, 1.
 * MAE  = (0.5 + 0 + 2 + 1) / 4 = 3.5 / 4 = 0.875
 * MSE  = (0.25 + 0 + 4 + 1) / 4 = 5.25 / 4 = 1.3125, RMSE = sqrt(1.3125)
 * mean error = (0.5 + 0 - 2 + 1) / 4 = -0.125
 * deviations 0.625, 0.125, -1.875, 1.125; squares 0.390625, 0.015625, 3.515625, 1.265625; sum 5.1875
 * population variance = 5.1875 / 4 = 1.296875 (the sample variance would be 5.1875 / 3)
 */
const ACTUAL = [3, 5, 2, 8];
const PREDICTED = [2.5, 5, 4, 7];
const EXPECTED = { mae: 0.875, rmse: Math.sqrt(1.3125), errorStd: Math.sqrt(1.296875), rows: 4 };

describe("errorMetrics", () => {
  test("GIVEN the hand-worked example WHEN the metrics are computed THEN MAE, RMSE and the population std of the error match it", () => {
    const metrics = errorMetrics(ACTUAL, PREDICTED);
    expect(metrics.mae).toBeCloseTo(EXPECTED.mae, 12);
    expect(metrics.rmse).toBeCloseTo(EXPECTED.rmse, 12);
    expect(metrics.errorStd).toBeCloseTo(EXPECTED.errorStd, 12);
    expect(metrics.errorStd).not.toBeCloseTo(Math.sqrt(5.1875 / 3), 6);
    expect(metrics.rows).toBe(4);
  });

  test("GIVEN perfect predictions WHEN computed THEN every error metric is 0", () => {
    expect(errorMetrics([1, 2, 3], [1, 2, 3])).toEqual({ mae: 0, rmse: 0, errorStd: 0, rows: 3 });
  });

  test("GIVEN a constant bias WHEN computed THEN MAE and RMSE are the bias and the std of the error is 0", () => {
    const metrics = errorMetrics([10, 20, 30], [8, 18, 28]);
    expect([metrics.mae, metrics.rmse]).toEqual([2, 2]);
    expect(metrics.errorStd).toBeCloseTo(0, 12);
  });

  test.each([
    ["fewer predictions than targets", [1, 2, 3], [1, 2], "3 test targets but 2 predictions: each test row needs exactly one prediction"],
    ["no rows", [], [], "the test split has no rows to evaluate"],
    ["a value that is not finite", [1, Number.NaN], [1, 2], "a test target or prediction is not a finite number (NaN)"],
  ])("GIVEN %s WHEN computed THEN it is refused", (_, actual, predicted, message) => {
    expect(() => errorMetrics(actual, predicted)).toThrow(message);
  });
});

describe("parseTargets and parsePredictions", () => {
  test("GIVEN targets with a header, CR LF line ends and extra columns WHEN parsed THEN the first column of each row comes back", () => {
    expect(parseTargets("target,id\r\n3,a\r\n5,b\r\n\r\n2.5,c\r\n", "t.csv")).toEqual([3, 5, 2.5]);
    expect(parseTargets("3\n5\n", "t.csv")).toEqual([3, 5]);
  });

  test("GIVEN a target row that is not a number WHEN parsed THEN the file and line are named", () => {
    expect(() => parseTargets("target\n3\nn/a\n", "t.csv")).toThrow('t.csv: line 3 does not start with a number: "n/a"');
  });

  test("GIVEN predictions separated by commas, by line breaks, or both WHEN parsed THEN all come back in order", () => {
    expect(parsePredictions("2.5,5\n4,7\n", "p.out")).toEqual(PREDICTED);
    expect(parsePredictions("2.5\n5\n4\n7", "p.out")).toEqual(PREDICTED);
  });

  test("GIVEN output that is not one number per row WHEN parsed THEN it is refused naming the value", () => {
    expect(() => parsePredictions("0.1,0.9\n[0.2;0.8]\n", "p.out")).toThrow('p.out: value 3 is not a number: "[0.2;0.8]" (only single-output models are evaluated)');
  });
});

describe("the requests", () => {
  test("GIVEN the best training job WHEN its model is described THEN it serves the artifact with the XGBoost image as the training role, isolated", () => {
    expect(createModelInput(REQUEST)).toEqual({
      ModelName: NAME,
      PrimaryContainer: { Image: REQUEST.image, ModelDataUrl: REQUEST.modelArtifact },
      ExecutionRoleArn: roleArn(REGISTRY, NAMES.trainingRole),
      EnableNetworkIsolation: true,
      Tags: [{ Key: "mlplatform:service", Value: SERVICE }, { Key: "mlplatform:stage", Value: "registry" }],
    });
  });

  test("GIVEN an artifact outside the registry's bucket WHEN the model is described THEN it is refused", () => {
    expect(() => createModelInput({ ...REQUEST, modelArtifact: "s3://elsewhere/model.tar.gz" }))
      .toThrow(`the model artifact s3://elsewhere/model.tar.gz is not in the registry's artifact bucket ${NAMES.artifactBucket}`);
  });

  test("GIVEN the test features WHEN the transform is described THEN it reads them line by line as CSV and writes encrypted training output", () => {
    const input = createEvaluationTransformInput(REQUEST);
    expect(input).toMatchObject({
      TransformJobName: NAME,
      ModelName: NAME,
      BatchStrategy: "MultiRecord",
      TransformInput: { DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: REQUEST.testFeatures } }, ContentType: "text/csv", SplitType: "Line" },
      TransformOutput: {
        S3OutputPath: `s3://${NAMES.artifactBucket}/training/${MODEL}/${TUNING_JOB}/evaluation/`, Accept: "text/csv", AssembleWith: "Line", KmsKeyId: NAMES.kmsAlias,
      },
      TransformResources: { InstanceType: "ml.m5.large", InstanceCount: 1, VolumeKmsKeyId: NAMES.kmsAlias },
    });
    expect(predictionsKey(REQUEST)).toBe(`training/${MODEL}/${TUNING_JOB}/evaluation/test-features.csv.out`);
  });

  test("GIVEN an evaluation spec with problems WHEN checked or used THEN each field is named", () => {
    const spec = { instanceType: "ml.nothing", instanceCount: 0 };
    expect(evaluationSpecProblems(spec).map((p) => p.field)).toEqual(["instanceType", "instanceCount"]);
    expect(() => createEvaluationTransformInput({ ...REQUEST, spec })).toThrow(
      `the evaluation of ${MODEL} is not valid: instanceType: must be a batch transform instance type such as ml.m5.large, got "ml.nothing"; `
      + "instanceCount: must be a whole number from 1 to 100, got 0");
  });

  test("GIVEN a training job name near 63 characters WHEN the evaluation is named THEN the name is shortened to fit", () => {
    const long = `${"a".repeat(60)}-001-1a2b3c4d`;
    expect(evaluationName(long)).toBe(`${"a".repeat(58)}-eval`);
    expect(() => evaluationName("bad_name")).toThrow('cannot make a model name from training job "bad_name"');
  });
});

describe("runEvaluationStep", () => {
  let bucket: FakeBucket;
  let sleeps: number[];
  const targetsKey = `${DATASET}/test-targets.csv`;
  const job = (status: string, extra: Partial<DescribeTransformJobCommandOutput> = {}) =>
    ({ TransformJobName: NAME, TransformJobStatus: status, ...extra }) as DescribeTransformJobCommandOutput;
  const run = async () => {
    let now = new Date("2026-03-05T00:00:00.000Z").getTime();
    const lines: string[] = [];
    const result = await runEvaluationStep(clients, REQUEST, {
      now: () => new Date(now),
      sleep: async (ms) => { sleeps.push(ms); now += ms; },
      onProgress: (l) => lines.push(l),
      retry: { sleep: async () => undefined },
      timeoutMs: 90_000,
    });
    return { result, lines };
  };

  beforeEach(() => {
    sm.reset();
    s3.reset();
    sleeps = [];
    bucket = fakeBucket(s3);
    bucket.objects.set(targetsKey, { body: `target\n${ACTUAL.join("\n")}\n`, etag: "\"t\"" });
    bucket.objects.set(predictionsKey(REQUEST), { body: "2.5,5\n4,7\n", etag: "\"p\"" });
    sm.on(CreateModelCommand).resolves({ ModelArn: "arn" });
    sm.on(CreateTransformJobCommand).resolves({ TransformJobArn: "arn" });
    sm.on(DescribeTransformJobCommand).resolvesOnce(job("InProgress")).resolves(job("Completed"));
  });

  test("GIVEN the best model WHEN the step runs THEN it transforms the test split, computes the metrics by hand's numbers and appends them", async () => {
    const { result, lines } = await run();
    expect(sm.commandCalls(CreateModelCommand)[0].args[0].input).toEqual(createModelInput(REQUEST));
    expect(sm.commandCalls(CreateTransformJobCommand)[0].args[0].input).toEqual(createEvaluationTransformInput(REQUEST));
    expect(result.metrics.mae).toBeCloseTo(EXPECTED.mae, 12);
    expect(result.metrics.rmse).toBeCloseTo(EXPECTED.rmse, 12);
    expect(result.metrics.errorStd).toBeCloseTo(EXPECTED.errorStd, 12);
    expect(result.predictions).toBe(`s3://${NAMES.artifactBucket}/${predictionsKey(REQUEST)}`);
    const stored = JSON.parse(bucket.objects.get(historyKey(EVALUATION_HISTORY, result.history.row))!.body);
    expect(stored).toEqual({
      timestamp: "2026-03-05T00:00:30.000Z",
      model: MODEL,
      tuningJob: TUNING_JOB,
      trainingJob: TRAINING_JOB,
      mae: result.metrics.mae,
      rmse: result.metrics.rmse,
      errorStd: result.metrics.errorStd,
      rows: 4,
      testing: false,
    });
    expect(lines).toEqual([
      `evaluation ${NAME}: started a batch transform of ${REQUEST.testFeatures}`,
      `evaluation ${NAME}: InProgress (0s)`,
      `evaluation ${NAME}: Completed (30s)`,
    ]);
    expect(sleeps).toEqual([30_000]);
  });

  test("GIVEN a resumed run whose model and job exist WHEN the step runs THEN it waits for that job and says so", async () => {
    sm.on(CreateModelCommand).rejects(new SageMakerServiceException({
      name: "ValidationException", $fault: "client", $metadata: { httpStatusCode: 400 }, message: `Cannot create already existing model "${NAME}"`,
    }));
    sm.on(CreateTransformJobCommand).rejects(new SageMakerServiceException({
      name: "ResourceInUse", $fault: "client", $metadata: { httpStatusCode: 400 }, message: "Job name must be unique",
    }));
    const { result, lines } = await run();
    expect(lines.slice(0, 2)).toEqual([
      `evaluation ${NAME}: the model exists already (an earlier attempt of this run created it)`,
      `evaluation ${NAME}: the transform job exists already (an earlier attempt of this run started it); waiting for it`,
    ]);
    expect(result.metrics.rows).toBe(4);
  });

  test("GIVEN the transform job fails WHEN the step runs THEN the error names the job and SageMaker's reason, and nothing is appended", async () => {
    sm.on(DescribeTransformJobCommand).resolves(job("Failed", { FailureReason: "ClientError: unable to parse CSV" }));
    await expect(run()).rejects.toThrow(`evaluation transform job ${NAME} failed: ClientError: unable to parse CSV`);
    expect([...bucket.objects.keys()].filter((k) => k.startsWith("history/"))).toEqual([]);
  });

  test("GIVEN the transform job was stopped WHEN the step runs THEN it is not evaluated", async () => {
    sm.on(DescribeTransformJobCommand).resolves(job("Stopped"));
    await expect(run()).rejects.toThrow(`evaluation transform job ${NAME} ended Stopped, not Completed: run the step again`);
  });

  test("GIVEN a job still running past the bound WHEN the step waits THEN it stops waiting and says how to resume", async () => {
    sm.on(DescribeTransformJobCommand).resolves(job("InProgress"));
    await expect(run()).rejects.toThrow(`evaluation transform job ${NAME} is still InProgress after 1m30s: it goes on running; run this step again`);
  });

  test("GIVEN fewer predictions than test rows WHEN the step runs THEN the counts are named and nothing is appended", async () => {
    bucket.objects.set(predictionsKey(REQUEST), { body: "2.5\n5\n4\n", etag: "\"p\"" });
    await expect(run()).rejects.toThrow("4 test targets but 3 predictions");
    expect([...bucket.objects.keys()].filter((k) => k.startsWith("history/"))).toEqual([]);
  });

  test("GIVEN no predictions object WHEN the step runs THEN the missing object is named", async () => {
    bucket.objects.delete(predictionsKey(REQUEST));
    await expect(run()).rejects.toThrow(`s3://${NAMES.artifactBucket}/${predictionsKey(REQUEST)} does not exist`);
  });
});
