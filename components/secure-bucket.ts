import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AccountRef } from "./names";
import { policy, type Statement, tlsOnlyStatement } from "./policies";

export interface SecureBucketArgs {
  /** Explicit bucket name: other accounts derive it from config, so it cannot be auto-named. */
  readonly bucketName: string;
  /** Account and region that own the bucket (for ARNs in its policy). */
  readonly account: AccountRef;
  /** Customer-managed KMS key that encrypts every object (SSE-KMS with a bucket key). */
  readonly kmsKeyArn: pulumi.Input<string>;
  /**
   * Statements added to the bucket policy after the TLS-only deny.
   * @default []
   */
  readonly policyStatements?: readonly Statement[];
  /**
   * Days before non-current object versions expire.
   * @default 90
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Tags on the bucket.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/**
 * A private, versioned S3 bucket: SSE-KMS with a customer-managed key, every form of public access
 * blocked, ACLs disabled, TLS-only policy, and expiry of old versions and abandoned uploads.
 */
export class SecureBucket extends pulumi.ComponentResource {
  public readonly bucketName: pulumi.Output<string>;
  public readonly bucketArn: pulumi.Output<string>;

  constructor(name: string, args: SecureBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:storage:SecureBucket", name, {}, opts);
    const days = args.noncurrentVersionExpirationDays ?? 90;
    const problems: string[] = [];
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(args.bucketName)) {
      problems.push(`bucketName must be 3-63 characters of a-z, 0-9 and hyphens, got "${args.bucketName}"`);
    }
    if (!Number.isInteger(days) || days < 1) {
      problems.push(`noncurrentVersionExpirationDays must be a whole number >= 1, got ${days}`);
    }
    if (problems.length > 0) throw new pulumi.ResourceError(`${name}: ${problems.join("; ")}`, this);
    const child = { parent: this };

    const bucket = new aws.s3.Bucket(`${name}-bucket`, { bucket: args.bucketName, forceDestroy: false, tags: args.tags ?? {} }, child);
    const ownership = new aws.s3.BucketOwnershipControls(`${name}-ownership`, {
      bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" },
    }, child);
    const publicAccess = new aws.s3.BucketPublicAccessBlock(`${name}-public-access`, {
      bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    }, child);
    new aws.s3.BucketVersioning(`${name}-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, child);
    new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-encryption`, {
      bucket: bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true }],
    }, child);
    new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, {
      bucket: bucket.id,
      rules: [{
        id: "expire-noncurrent-versions",
        status: "Enabled",
        filter: {},
        noncurrentVersionExpiration: { noncurrentDays: days },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
      }],
    }, child);
    new aws.s3.BucketPolicy(`${name}-policy`, {
      bucket: bucket.id,
      policy: JSON.stringify(policy(tlsOnlyStatement(args.bucketName, args.account), ...(args.policyStatements ?? []))),
    }, { parent: this, dependsOn: [publicAccess, ownership] });

    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;
    this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn });
  }
}
