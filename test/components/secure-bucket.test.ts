import type * as component from "../../components/secure-bucket";
import { FIXTURE } from "../fixtures/service";
import { ofType, onlyOfType, RecordedResource, valueOf, resourceErrorOf } from "../support/mocks";
import { policyInput, recordAccountResources, recordDuring } from "../support/resources";

const NAME = "stage-bucket";
const BUCKET = "churn-predictor-qa-404040404042-ap-southeast-4";
const ACCOUNT = { accountId: FIXTURE.accounts.qa, region: FIXTURE.region };
const KEY_ARN = "arn:aws:kms:ap-southeast-4:404040404042:key/0000-key";
const T = {
  bucket: "aws:s3/bucket:Bucket",
  ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
};
const CONFIGURATION_TYPES = [T.ownership, T.publicAccess, T.versioning, T.encryption, T.lifecycle, T.policy];

const baseArgs: component.SecureBucketArgs = { bucketName: BUCKET, account: ACCOUNT, kmsKeyArn: KEY_ARN };

let resources: RecordedResource[];
let mod: typeof component;

beforeAll(async () => {
  resources = await recordAccountResources();
  mod = await import("../../components/secure-bucket");
});

/** Builds the bucket and returns what it registered. */
async function build(overrides: Partial<component.SecureBucketArgs> = {}) {
  const { result: bucket, recorded } = await recordDuring(resources, () => new mod.SecureBucket(NAME, { ...baseArgs, ...overrides }));
  return { bucket, recorded, inputs: (type: string) => onlyOfType(recorded, type).inputs };
}

/** The message of the error the constructor throws. */
function rejection(overrides: Partial<component.SecureBucketArgs>): string {
  return resourceErrorOf(() => new mod.SecureBucket("rejected-bucket", { ...baseArgs, ...overrides }));
}

describe("SecureBucket resources", () => {
  test("GIVEN a bucket WHEN built THEN the component registers under its type token", async () => {
    const { recorded } = await build();
    expect(ofType(recorded, "mlplatform:storage:SecureBucket").map((r) => r.name)).toEqual([NAME]);
  });

  test("GIVEN a bucket name WHEN built THEN the S3 bucket has exactly that name and cannot be force-destroyed", async () => {
    const { inputs } = await build();
    expect(inputs(T.bucket).bucket).toBe(BUCKET);
    expect(inputs(T.bucket).forceDestroy).toBe(false);
  });

  test("GIVEN a bucket WHEN built THEN every configuration resource targets that bucket", async () => {
    const { recorded } = await build();
    const bucketId = `${onlyOfType(recorded, T.bucket).name}-id`;
    for (const type of CONFIGURATION_TYPES) {
      expect({ type, bucket: onlyOfType(recorded, type).inputs.bucket }).toEqual({ type, bucket: bucketId });
    }
  });

  test("GIVEN a bucket WHEN built THEN versioning is Enabled", async () => {
    const { inputs } = await build();
    expect(inputs(T.versioning).versioningConfiguration).toEqual({ status: "Enabled" });
  });

  test("GIVEN a key ARN WHEN built THEN default encryption is aws:kms with that key and a bucket key", async () => {
    const { inputs } = await build();
    expect(inputs(T.encryption).rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN }, bucketKeyEnabled: true },
    ]);
  });

  test("GIVEN a bucket WHEN built THEN all four public-access blocks are on", async () => {
    const { inputs } = await build();
    expect(inputs(T.publicAccess)).toMatchObject({
      blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    });
  });

  test("GIVEN a bucket WHEN built THEN ACLs are disabled by BucketOwnerEnforced ownership", async () => {
    const { inputs } = await build();
    expect(inputs(T.ownership).rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });
  });

  test("GIVEN no expiry WHEN built THEN non-current versions expire after the default 90 days", async () => {
    const { inputs } = await build();
    const [rule] = inputs(T.lifecycle).rules;
    expect(rule.status).toBe("Enabled");
    expect(rule.noncurrentVersionExpiration).toEqual({ noncurrentDays: 90 });
  });

  test("GIVEN an expiry of 30 days WHEN built THEN non-current versions expire after 30 days", async () => {
    const { inputs } = await build({ noncurrentVersionExpirationDays: 30 });
    expect(inputs(T.lifecycle).rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 30 });
  });

  test("GIVEN a bucket WHEN built THEN abandoned multipart uploads are aborted after 7 days", async () => {
    const { inputs } = await build();
    expect(inputs(T.lifecycle).rules[0].abortIncompleteMultipartUpload).toEqual({ daysAfterInitiation: 7 });
  });

  test("GIVEN no extra statements WHEN built THEN the bucket policy is the TLS-only deny on the bucket and its objects", async () => {
    const { recorded } = await build();
    const document = policyInput(onlyOfType(recorded, T.policy));
    expect(document.Version).toBe("2012-10-17");
    expect(document.Statement).toEqual([{
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`],
      Condition: { Bool: { "aws:SecureTransport": false } },
    }]);
  });

  test("GIVEN extra statements WHEN built THEN the policy holds the TLS deny first, then the statements in order", async () => {
    const extra = [
      { Sid: "A", Effect: "Allow" as const, Principal: { AWS: "arn:aws:iam::404040404041:root" }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${BUCKET}/*` },
      { Sid: "B", Effect: "Allow" as const, Principal: { AWS: "arn:aws:iam::404040404041:root" }, Action: "s3:ListBucket", Resource: `arn:aws:s3:::${BUCKET}` },
    ];
    const { recorded } = await build({ policyStatements: extra });
    const statements = policyInput(onlyOfType(recorded, T.policy)).Statement;
    expect(statements.map((s: { Sid: string }) => s.Sid)).toEqual(["DenyInsecureTransport", "A", "B"]);
    expect(statements.slice(1)).toEqual(extra);
  });

  test("GIVEN tags WHEN built THEN the bucket carries them", async () => {
    const { inputs } = await build({ tags: { team: "ml" } });
    expect(inputs(T.bucket).tags).toEqual({ team: "ml" });
  });

  test("GIVEN a bucket WHEN built THEN it exposes the bucket name", async () => {
    const { bucket } = await build();
    expect(await valueOf(bucket.bucketName)).toBe(BUCKET);
  });
});

describe("SecureBucket checks", () => {
  test.each([
    ["upper case", "Fraud-Bucket"],
    ["an underscore", "fraud_bucket"],
    ["a dot", "fraud.bucket"],
    ["two characters", "ab"],
    ["64 characters", "a".repeat(64)],
    ["a trailing hyphen", "fraud-bucket-"],
  ])("GIVEN a bucket name with %s WHEN built THEN it throws naming bucketName", (_, bucketName) => {
    expect(rejection({ bucketName })).toContain(
      `rejected-bucket: bucketName must be 3-63 characters of a-z, 0-9 and hyphens, got "${bucketName}"`);
  });

  test("GIVEN a 63-character bucket name WHEN built THEN it is accepted", () => {
    expect(() => new mod.SecureBucket("longest-bucket", { ...baseArgs, bucketName: "a".repeat(63) })).not.toThrow();
  });

  test.each([0, -1, 1.5])("GIVEN an expiry of %p days WHEN built THEN it throws naming noncurrentVersionExpirationDays", (days) => {
    expect(rejection({ noncurrentVersionExpirationDays: days })).toContain(
      `rejected-bucket: noncurrentVersionExpirationDays must be a whole number >= 1, got ${days}`);
  });

  test("GIVEN a bad name and a bad expiry WHEN built THEN one error names both fields", () => {
    const message = rejection({ bucketName: "Bad", noncurrentVersionExpirationDays: 0 });
    expect(message).toContain("bucketName must be");
    expect(message).toContain("noncurrentVersionExpirationDays must be");
  });

  test("GIVEN a bad name WHEN built THEN no S3 resource is registered", async () => {
    const { recorded } = await recordDuring(resources, () => rejection({ bucketName: "Bad" }));
    expect(recorded.filter((r) => r.custom)).toEqual([]);
  });
});
