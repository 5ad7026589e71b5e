import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { fakeBucket, type FakeBucket, s3Error } from "./retrain-fake-bucket";
import { type AccountRef, registryNames, roleArn, TRAINING_OUTPUT_PREFIX } from "../../components/names";
import { type Consumer, policy, registryBucketStatements } from "../../components/policies";
import { publisherPolicy } from "../../components/registry-roles";
import {
  appendHistoryRow, EVALUATION_HISTORY, type EvaluationHistoryRow, HISTORY_PREFIX, historyCsv, historyKey, historyStore, readHistory,
  TUNING_HISTORY, type TuningHistoryRow,
} from "../../scripts/lib/retrain/history";
import { FIXTURE } from "../fixtures/service";
import { evaluate } from "../support/iam-eval";

const s3 = mockClient(S3Client);
/** What the code is given: a real client, whose send the mock replaces. */
const client = new S3Client({ region: FIXTURE.region });
const SERVICE = FIXTURE.serviceName;
const REGISTRY: AccountRef = { accountId: FIXTURE.accounts.sandbox, region: FIXTURE.region, partition: "aws" };
const NAMES = registryNames(SERVICE, REGISTRY);
const STORE = historyStore(SERVICE, REGISTRY);
const [MODEL, OTHER_MODEL] = FIXTURE.models;
const fastRetry = { sleep: async () => undefined, random: () => 0 };

/** A tuning row of `job`, written at `timestamp`. */
function tuningRow(job: string, timestamp: string, model: string = MODEL): TuningHistoryRow {
  return {
    timestamp,
    tuningJob: job,
    model,
    objectiveMetric: "validation:rmse",
    objective: "reg:squarederror",
    evalMetric: "rmse",
    trainingJobCount: 10,
    bestTrainingJob: `${job}-007-0a1b2c3d`,
    bestObjectiveValue: 1.25,
    datasetHash: "d".repeat(64),
    image: "image:1",
    hyperparameters: ["eta", "eval_metric", "num_round", "objective"],
    testing: false,
  };
}

let bucket: FakeBucket;
beforeEach(() => {
  s3.reset();
  bucket = fakeBucket(s3);
});

const puts = () => s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);

describe("appendHistoryRow", () => {
  test("GIVEN a row WHEN appended THEN it is one create-only PutObject of the whole row under history/<kind>/<model>/<job>.json, SSE-KMS with the registry key", async () => {
    const row = tuningRow("job-a", "2026-01-31T10:00:00.000Z");
    const outcome = await appendHistoryRow(client, STORE, TUNING_HISTORY, row, fastRetry);
    const key = `${HISTORY_PREFIX}tuning/${MODEL}/job-a.json`;
    expect(outcome).toEqual({ key, appended: true, row });
    expect(puts()).toEqual([{
      Bucket: NAMES.artifactBucket,
      Key: key,
      Body: expect.any(String),
      ContentType: "application/json",
      IfNoneMatch: "*",
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: NAMES.kmsAlias,
      BucketKeyEnabled: true,
    }]);
    expect(JSON.parse(String(puts()[0].Body))).toEqual(row);
    // Append-only: no read-modify-write of an existing document.
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  /** Holds every PutObject until `count` have arrived, as writers racing on one shared file would be. */
  function holdPutsUntil(count: number): void {
    let arrived = 0;
    let release: () => void = () => undefined;
    const allArrived = new Promise<void>((resolve) => { release = resolve; });
    bucket.beforePut = async () => {
      if (++arrived === count) release();
      await allArrived;
    };
  }

  test("GIVEN two runs that append rows of different jobs at the same moment WHEN both finish THEN the history holds both rows (no lost row)", async () => {
    // Both PutObjects are in flight before either is decided, as two runs racing on one shared file would be.
    holdPutsUntil(2);
    const first = tuningRow("job-a", "2026-01-31T10:00:00.000Z");
    const second = tuningRow("job-b", "2026-01-31T10:00:00.000Z");
    const outcomes = await Promise.all([
      appendHistoryRow(client, STORE, TUNING_HISTORY, first, fastRetry),
      appendHistoryRow(client, STORE, TUNING_HISTORY, second, fastRetry),
    ]);
    expect(outcomes.map((o) => o.appended)).toEqual([true, true]);
    const read = await readHistory(client, STORE, TUNING_HISTORY, MODEL, fastRetry);
    expect(read.rows).toEqual([first, second]);
  });

  test("GIVEN the same job appended by two attempts at once WHEN both finish THEN one object holds it, and the later attempt gets the stored row", async () => {
    holdPutsUntil(2);
    const early = tuningRow("job-a", "2026-01-31T10:00:00.000Z");
    const late = tuningRow("job-a", "2026-01-31T10:00:05.000Z");
    const outcomes = await Promise.all([
      appendHistoryRow(client, STORE, TUNING_HISTORY, early, fastRetry),
      appendHistoryRow(client, STORE, TUNING_HISTORY, late, fastRetry),
    ]);
    expect(bucket.objects.size).toBe(1);
    expect(outcomes.map((o) => o.appended)).toEqual([true, false]);
    expect(outcomes[1].row).toEqual(early);
  });

  test("GIVEN a resumed run WHEN it appends its job's row again THEN nothing is added and the first row (with its timestamp) is returned", async () => {
    const first = tuningRow("job-a", "2026-01-31T10:00:00.000Z");
    await appendHistoryRow(client, STORE, TUNING_HISTORY, first, fastRetry);
    const again = await appendHistoryRow(client, STORE, TUNING_HISTORY, tuningRow("job-a", "2026-02-01T08:00:00.000Z"), fastRetry);
    expect(again).toEqual({ key: historyKey(TUNING_HISTORY, first), appended: false, row: first });
    expect(bucket.objects.size).toBe(1);
  });

  test("GIVEN a PutObject that stored the row but whose answer was lost (500) WHEN retried THEN the retry finds the row and nothing is duplicated", async () => {
    let attempts = 0;
    bucket.beforePut = async (input) => {
      attempts += 1;
      if (attempts === 1) {
        bucket.objects.set(input.Key ?? "", { body: String(input.Body), etag: "\"lost\"" });
        throw s3Error("InternalError", 500);
      }
    };
    const row = tuningRow("job-a", "2026-01-31T10:00:00.000Z");
    const outcome = await appendHistoryRow(client, STORE, TUNING_HISTORY, row, fastRetry);
    expect(attempts).toBe(2);
    expect(outcome).toEqual({ key: historyKey(TUNING_HISTORY, row), appended: false, row });
    expect(bucket.objects.size).toBe(1);
  });

  test("GIVEN a different row already stored under the job's name WHEN appended THEN it is refused and the stored row stays", async () => {
    const stored = tuningRow("job-a", "2026-01-31T10:00:00.000Z");
    await appendHistoryRow(client, STORE, TUNING_HISTORY, stored, fastRetry);
    const different = { ...tuningRow("job-a", "2026-01-31T11:00:00.000Z"), bestObjectiveValue: 9 };
    await expect(appendHistoryRow(client, STORE, TUNING_HISTORY, different, fastRetry)).rejects
      .toThrow(`s3://${NAMES.artifactBucket}/${historyKey(TUNING_HISTORY, stored)} already holds a different tuning row for job-a`);
    expect(JSON.parse(bucket.objects.get(historyKey(TUNING_HISTORY, stored))!.body)).toEqual(stored);
  });

  test("GIVEN every PutObject failing WHEN a row is appended THEN the error surfaces and no object, partial or whole, is in the history", async () => {
    bucket.beforePut = async () => { throw s3Error("InternalError", 500); };
    await expect(appendHistoryRow(client, STORE, TUNING_HISTORY, tuningRow("job-a", "2026-01-31T10:00:00.000Z"), fastRetry))
      .rejects.toThrow(/failed with a transient error on all 5 attempts/);
    expect(bucket.objects.size).toBe(0);
    expect((await readHistory(client, STORE, TUNING_HISTORY, MODEL, fastRetry)).rows).toEqual([]);
  });

  test("GIVEN a row that breaks the history's schema WHEN appended THEN it is refused before any write", async () => {
    const broken = { ...tuningRow("job-a", "2026-01-31T10:00:00.000Z"), trainingJobCount: 1.5 };
    await expect(appendHistoryRow(client, STORE, TUNING_HISTORY, broken, fastRetry)).rejects
      .toThrow("the tuning row of job-a is not a tuning history row: trainingJobCount:");
    expect(puts()).toHaveLength(0);
  });

  test("GIVEN another write of the same key in flight (409) WHEN appended THEN it says to run the step again", async () => {
    bucket.beforePut = async () => { throw s3Error("ConditionalRequestConflict", 409); };
    await expect(appendHistoryRow(client, STORE, TUNING_HISTORY, tuningRow("job-a", "2026-01-31T10:00:00.000Z"), fastRetry))
      .rejects.toThrow(/another write of .*job-a\.json was in progress at the same time \(ConditionalRequestConflict\).*run the step again/);
  });

  test("GIVEN a model name that is not one key segment WHEN its row is keyed THEN it is refused", () => {
    expect(() => historyKey(TUNING_HISTORY, tuningRow("job-a", "2026-01-31T10:00:00.000Z", "a/b")))
      .toThrow('a history model must be letters, digits, ".", "_" or "-" (one S3 key segment), got "a/b"');
  });
});

describe("readHistory", () => {
  test("GIVEN rows written out of order and of two models WHEN one model's history is read THEN its rows come oldest first, the other model's not at all", async () => {
    const newer = tuningRow("job-a", "2026-03-01T00:00:00.000Z");
    const older = tuningRow("job-z", "2026-01-01T00:00:00.000Z");
    const other = tuningRow("job-m", "2026-02-01T00:00:00.000Z", OTHER_MODEL);
    for (const row of [newer, older, other]) await appendHistoryRow(client, STORE, TUNING_HISTORY, row, fastRetry);
    const read = await readHistory(client, STORE, TUNING_HISTORY, MODEL, fastRetry);
    expect(read).toEqual({ rows: [older, newer], skipped: [] });
    const all = await readHistory(client, STORE, TUNING_HISTORY, undefined, fastRetry);
    expect(all.rows.map((r) => r.tuningJob)).toEqual(["job-z", "job-m", "job-a"]);
  });

  test("GIVEN objects under the prefix that are not rows WHEN read THEN they are reported as skipped with why, and the rows are still read", async () => {
    const row = tuningRow("job-a", "2026-01-31T10:00:00.000Z");
    await appendHistoryRow(client, STORE, TUNING_HISTORY, row, fastRetry);
    const prefix = `${HISTORY_PREFIX}tuning/${MODEL}/`;
    bucket.objects.set(`${prefix}notes.txt`, { body: "hello", etag: "\"x\"" });
    bucket.objects.set(`${prefix}broken.json`, { body: "{\"timestamp\":", etag: "\"y\"" });
    bucket.objects.set(`${prefix}partial.json`, { body: JSON.stringify({ tuningJob: "job-b" }), etag: "\"z\"" });
    const read = await readHistory(client, STORE, TUNING_HISTORY, MODEL, fastRetry);
    expect(read.rows).toEqual([row]);
    const url = (name: string) => `s3://${NAMES.artifactBucket}/${prefix}${name}`;
    expect(read.skipped).toEqual([
      { key: `${prefix}broken.json`, reason: `${url("broken.json")} is not JSON` },
      { key: `${prefix}notes.txt`, reason: "not a .json row object" },
      { key: `${prefix}partial.json`, reason: expect.stringContaining(`${url("partial.json")} is not a tuning history row: timestamp:`) },
    ]);
  });

  test("GIVEN a listed object that is gone or has no body WHEN read THEN it is skipped with the reason", async () => {
    const prefix = `${HISTORY_PREFIX}evaluation/${MODEL}/`;
    s3.on(GetObjectCommand, { Key: `${prefix}gone.json` }).rejects(s3Error("NoSuchKey", 404));
    s3.on(GetObjectCommand, { Key: `${prefix}empty.json` }).resolves({});
    bucket.objects.set(`${prefix}gone.json`, { body: "", etag: "\"g\"" });
    bucket.objects.set(`${prefix}empty.json`, { body: "", etag: "\"e\"" });
    const read = await readHistory(client, STORE, EVALUATION_HISTORY, MODEL, fastRetry);
    expect(read.skipped).toEqual([
      { key: `${prefix}empty.json`, reason: `GetObject of s3://${NAMES.artifactBucket}/${prefix}empty.json returned no readable body` },
      { key: `${prefix}gone.json`, reason: `s3://${NAMES.artifactBucket}/${prefix}gone.json does not exist` },
    ]);
  });
});

describe("historyCsv", () => {
  test("GIVEN evaluation rows WHEN written as CSV THEN there is a header and one line per row, fields with commas or quotes quoted", () => {
    const rows: EvaluationHistoryRow[] = [
      { timestamp: "2026-01-31T10:00:00.000Z", model: MODEL, tuningJob: "t1", trainingJob: "t1-001-aa", mae: 0.5, rmse: 0.75, errorStd: 0.25, rows: 4, testing: false },
      { timestamp: "2026-02-28T10:00:00.000Z", model: MODEL, tuningJob: "t,2", trainingJob: "t\"2", mae: 1, rmse: 2, errorStd: 3, rows: 5, testing: true },
    ];
    expect(historyCsv(EVALUATION_HISTORY, rows)).toBe([
      "timestamp,model,tuningJob,trainingJob,mae,rmse,errorStd,rows,testing",
      `2026-01-31T10:00:00.000Z,${MODEL},t1,t1-001-aa,0.5,0.75,0.25,4,false`,
      `2026-02-28T10:00:00.000Z,${MODEL},"t,2","t""2",1,2,3,5,true`,
      "",
    ].join("\n"));
  });

  test("GIVEN a tuning row WHEN written as CSV THEN its hyperparameter names are one field joined by ;", () => {
    const csv = historyCsv(TUNING_HISTORY, [tuningRow("job-a", "2026-01-31T10:00:00.000Z")]);
    expect(csv.split("\n")[1].split(",")).toContain("eta;eval_metric;num_round;objective");
  });
});

describe("the design against the registry bucket's policy", () => {
  const consumers: Consumer[] = [{ stage: "sandbox", account: REGISTRY }];
  const bucketPolicy = policy(...registryBucketStatements(SERVICE, REGISTRY, consumers));
  const access = { serviceName: SERVICE, registry: REGISTRY, models: [...FIXTURE.models], ecrRepository: false };
  const publisher = { arn: roleArn(REGISTRY, NAMES.publisherRole), accountId: REGISTRY.accountId, identityPolicies: [publisherPolicy(access)] };
  const objectArn = (key: string) => `arn:aws:s3:::${NAMES.artifactBucket}/${key}`;
  const decide = (caller: typeof publisher, key: string, context: Record<string, string | boolean>) => evaluate({
    caller,
    action: "s3:PutObject",
    resource: objectArn(key),
    resourcePolicy: bucketPolicy,
    resourceAccountId: REGISTRY.accountId,
    context: { "aws:SecureTransport": true, "s3:ObjectCreationOperation": true, ...context },
  }).decision;
  const key = historyKey(TUNING_HISTORY, tuningRow("job-a", "2026-01-31T10:00:00.000Z"));

  test("GIVEN a history row's key WHEN the publisher creates it with If-None-Match (what appendHistoryRow sends) THEN the bucket allows it", () => {
    expect(decide(publisher, key, { "s3:if-none-match": "*" })).toBe("allow");
  });

  test("GIVEN a history object WHEN rewritten with If-Match (a single rewritten CSV) THEN the bucket's WriteOnce rule denies it: hence one object per row", () => {
    expect(decide(publisher, key, { "s3:if-match": "\"1\"" })).toBe("explicit-deny");
  });

  test("GIVEN the training/ prefix, where overwrites are allowed WHEN the publisher writes there THEN it is denied: histories cannot live there", () => {
    expect(decide(publisher, `${TRAINING_OUTPUT_PREFIX}history/tuning.csv`, { "s3:if-none-match": "*" })).toBe("explicit-deny");
  });
});
