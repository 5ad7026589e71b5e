import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { PolicyDocument } from "./policies";

export interface EncryptionKeyArgs {
  /** Alias the key is reached by (`alias/...`); other accounts name the key through it. */
  readonly alias: string;
  /** Human description of what the key protects. */
  readonly description: string;
  /** Key policy. */
  readonly policy: PolicyDocument;
  /**
   * Days a deleted key can still be recovered.
   * @default 30
   */
  readonly deletionWindowDays?: number;
  /**
   * Tags on the key.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/** A customer-managed KMS key with yearly rotation and a fixed alias. */
export class EncryptionKey extends pulumi.ComponentResource {
  public readonly keyArn: pulumi.Output<string>;
  public readonly keyId: pulumi.Output<string>;
  public readonly aliasName: pulumi.Output<string>;

  constructor(name: string, args: EncryptionKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:kms:EncryptionKey", name, {}, opts);
    const deletionWindowDays = args.deletionWindowDays ?? 30;
    const problems: string[] = [];
    if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(args.alias) || args.alias.startsWith("alias/aws/")) {
      problems.push(`alias must be alias/<name> of letters, digits, / _ - and not under alias/aws/, got "${args.alias}"`);
    }
    if (!Number.isInteger(deletionWindowDays) || deletionWindowDays < 7 || deletionWindowDays > 30) {
      problems.push(`deletionWindowDays must be a whole number from 7 to 30, got ${deletionWindowDays}`);
    }
    if (problems.length > 0) throw new pulumi.ResourceError(`${name}: ${problems.join("; ")}`, this);

    const key = new aws.kms.Key(`${name}-key`, {
      description: args.description,
      enableKeyRotation: true,
      deletionWindowInDays: deletionWindowDays,
      policy: JSON.stringify(args.policy),
      tags: args.tags ?? {},
    }, { parent: this });
    const alias = new aws.kms.Alias(`${name}-alias`, { name: args.alias, targetKeyId: key.keyId }, { parent: this });

    this.keyArn = key.arn;
    this.keyId = key.keyId;
    this.aliasName = alias.name;
    this.registerOutputs({ keyArn: this.keyArn, keyId: this.keyId, aliasName: this.aliasName });
  }
}
