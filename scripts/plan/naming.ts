import { createHash } from "node:crypto";
import { replacementInputs } from "./replacement";
import {
  alarmArn,
  AUTO_NAME_SUFFIX_LENGTH,
  bucketArn,
  ecrRegistryHost,
  ecrRepositoryArn,
  kmsAliasArn,
  kmsKeyArn,
  oidcProviderArn,
  policyArn,
  roleArn,
  sagemakerArn,
  snsTopicArn,
  type AccountRef,
} from "../../components/names";

/**
 * What the AWS provider would do that Pulumi's mocks do not: auto-name resources, and give each one
 * an id and ARN in its type's real format, in the stack's account and region.
 *
 * Auto-naming follows pulumi-terraform-bridge (pkg/tfbridge/info, AutoName / AutoNameTransform):
 * the logical name, a "-" separator and 7 random hex digits, never truncated. pulumi-aws
 * (provider/resources.go) lowercases S3 bucket names first (AutoNameTransform("bucket", 63,
 * strings.ToLower)). Instead of random digits the plan derives them from a hash of the resource's
 * replacement-forcing inputs (replacement.ts): the same inputs give the same future name, and a
 * change that replaces the resource gives it a new name, which then flows into every resource that
 * references it, as a real replacement does.
 */

/** Hex digits Pulumi appends to an auto-named resource ("-" + 7 = DESIGN §5.3's 8 characters). */
const AUTO_NAME_HEX_DIGITS = AUTO_NAME_SUFFIX_LENGTH - 1;

/** How the provider names one resource type and what it reports back. */
interface TypeModel {
  /** Input property holding the physical name; the provider fills it in when the program does not. */
  readonly nameProperty?: string;
  /** Applied to the logical name before the suffix (S3 lowercases; KMS aliases get "alias/"). */
  readonly transform?: (name: string) => string;
  /** IAM is global: names and ARNs carry the account but no region. */
  readonly global?: boolean;
  /** Id and output state from the physical name (or a generated unique id) and the inputs. */
  outputs(ctx: OutputContext): { id: string; state: Record<string, unknown> };
}

interface OutputContext {
  readonly name: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly account: AccountRef;
  /** A UUID-shaped id derived like the auto-name suffix, for resources AWS gives random ids. */
  readonly uuid: string;
}

const str = (value: unknown): string => (value === undefined || value === null ? "" : String(value));

/** SageMaker reports ARNs with the resource name lowercased (e.g. yet-another-cloudwatch-exporter#1178, boto3#4606). */
const sagemaker = (kind: string): TypeModel => ({
  nameProperty: kind === "model-package-group" ? "modelPackageGroupName" : "name",
  outputs: ({ name, account }) => ({ id: name, state: { arn: sagemakerArn(account, `${kind}/${name.toLowerCase()}`) } }),
});

/** Resources named after the bucket they configure: id = bucket name. */
const bucketPart: TypeModel = { outputs: ({ inputs }) => ({ id: str(inputs.bucket), state: {} }) };

const TYPES: Readonly<Record<string, TypeModel>> = {
  "pulumi:providers:aws": { outputs: ({ uuid }) => ({ id: uuid, state: {} }) },
  "aws:sagemaker/model:Model": sagemaker("model"),
  "aws:sagemaker/endpointConfiguration:EndpointConfiguration": sagemaker("endpoint-config"),
  "aws:sagemaker/endpoint:Endpoint": sagemaker("endpoint"),
  "aws:sagemaker/modelPackageGroup:ModelPackageGroup": sagemaker("model-package-group"),
  "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy": {
    outputs: ({ inputs }) => ({ id: str(inputs.modelPackageGroupName), state: {} }),
  },
  "aws:cloudwatch/metricAlarm:MetricAlarm": {
    nameProperty: "name",
    outputs: ({ name, account }) => ({ id: name, state: { arn: alarmArn(account, name) } }),
  },
  "aws:iam/role:Role": {
    nameProperty: "name",
    global: true,
    outputs: ({ name, account, uuid }) => ({
      id: name,
      state: { arn: roleArn(account, name), uniqueId: `AROA${uuid.replace(/-/g, "").slice(0, 17).toUpperCase()}` },
    }),
  },
  "aws:iam/policy:Policy": {
    nameProperty: "name",
    global: true,
    outputs: ({ name, account, uuid }) => {
      const arn = policyArn(account, name);
      return { id: arn, state: { arn, policyId: `ANPA${uuid.replace(/-/g, "").slice(0, 17).toUpperCase()}` } };
    },
  },
  "aws:iam/rolePolicy:RolePolicy": {
    nameProperty: "name",
    global: true,
    outputs: ({ name, inputs }) => ({ id: `${str(inputs.role)}:${name}`, state: {} }),
  },
  "aws:iam/openIdConnectProvider:OpenIdConnectProvider": {
    global: true,
    outputs: ({ inputs, account }) => {
      const arn = oidcProviderArn(account, str(inputs.url).replace(/^https:\/\//, ""));
      return { id: arn, state: { arn } };
    },
  },
  "aws:s3/bucket:Bucket": {
    nameProperty: "bucket",
    transform: (name) => name.toLowerCase(),
    outputs: ({ name, account }) => ({
      id: name,
      state: {
        arn: bucketArn(account, name),
        bucketDomainName: `${name}.s3.amazonaws.com`,
        bucketRegionalDomainName: `${name}.s3.${account.region}.amazonaws.com`,
        region: account.region,
      },
    }),
  },
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": bucketPart,
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": bucketPart,
  "aws:s3/bucketVersioning:BucketVersioning": bucketPart,
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": bucketPart,
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": bucketPart,
  "aws:s3/bucketPolicy:BucketPolicy": bucketPart,
  "aws:kms/key:Key": {
    outputs: ({ uuid, account }) => ({
      id: uuid,
      state: { keyId: uuid, arn: kmsKeyArn(account, uuid) },
    }),
  },
  "aws:kms/alias:Alias": {
    nameProperty: "name",
    // pulumi-aws auto-names aliases under "alias/" (not re-checked; the program always names them).
    transform: (name) => `alias/${name}`,
    outputs: ({ name, inputs, account }) => ({
      id: name,
      state: {
        arn: kmsAliasArn(account, name),
        targetKeyArn: kmsKeyArn(account, str(inputs.targetKeyId)),
      },
    }),
  },
  "aws:ecr/repository:Repository": {
    nameProperty: "name",
    // ECR takes lowercase names only; lowercasing like S3 is assumed (not re-checked; the program names it).
    transform: (name) => name.toLowerCase(),
    outputs: ({ name, account }) => ({
      id: name,
      state: {
        arn: ecrRepositoryArn(account, name),
        registryId: account.accountId,
        repositoryUrl: `${ecrRegistryHost(account)}/${name}`,
      },
    }),
  },
  "aws:ecr/repositoryPolicy:RepositoryPolicy": {
    outputs: ({ inputs, account }) => ({ id: str(inputs.repository), state: { registryId: account.accountId } }),
  },
  "aws:sns/topic:Topic": {
    nameProperty: "name",
    outputs: ({ name, account }) => {
      const arn = snsTopicArn(account, name);
      return { id: arn, state: { arn } };
    },
  },
  "aws:sns/topicPolicy:TopicPolicy": {
    outputs: ({ inputs }) => ({ id: str(inputs.arn), state: {} }),
  },
  // The provider's id of a state machine is its ARN.
  "aws:sfn/stateMachine:StateMachine": {
    nameProperty: "name",
    outputs: ({ name, account }) => {
      const arn = `arn:${account.partition ?? "aws"}:states:${account.region}:${account.accountId}:stateMachine:${name}`;
      return { id: arn, state: { arn } };
    },
  },
  // The provider's id of a scalable target is its resource id; AWS gives its ARN a random id.
  "aws:appautoscaling/target:Target": {
    outputs: ({ inputs, account, uuid }) => ({
      id: str(inputs.resourceId),
      state: { arn: `arn:${account.partition ?? "aws"}:application-autoscaling:${account.region}:${account.accountId}:scalable-target/${uuid.replace(/-/g, "")}` },
    }),
  },
  "aws:appautoscaling/policy:Policy": {
    nameProperty: "name",
    outputs: ({ name, inputs, account, uuid }) => ({
      id: name,
      state: {
        arn: `arn:${account.partition ?? "aws"}:autoscaling:${account.region}:${account.accountId}:scalingPolicy:${uuid}:`
          + `resource/${str(inputs.serviceNamespace)}/${str(inputs.resourceId)}:policyName/${name}`,
      },
    }),
  },
};

/** Unknown types: id from the logical name and the hash, state echoes the inputs. */
const UNKNOWN: TypeModel = { outputs: ({ name, uuid }) => ({ id: `${name}-${uuid.slice(0, 8)}`, state: {} }) };

/** The provider's view of a new resource: its future physical name, id and output state. */
export interface Identity {
  /** The physical name: explicit, auto-generated, or (for resources without one) undefined. */
  readonly physicalName: string | undefined;
  /** True when the provider, not the program, chose the name. */
  readonly autoNamed: boolean;
  readonly id: string;
  /** Output state: the inputs, the generated name, and the type's ARN and other computed outputs. */
  readonly state: Record<string, unknown>;
  /** Property that holds the name, when the type has one. */
  readonly nameProperty: string | undefined;
}

/**
 * What the provider would report for a new resource of `type` with these inputs, created in
 * `account` (the account and region of the resource's provider), with the inputs the program
 * ignores after creation (`ignoreChanges`).
 */
export function identityOf(
  type: string, logicalName: string, inputs: Readonly<Record<string, unknown>>, account: AccountRef, ignoreChanges: readonly string[] = [],
): Identity {
  const model = TYPES[type] ?? UNKNOWN;
  // An ignored input never replaces the resource, so it never changes its generated name either.
  const kept = Object.fromEntries(Object.entries(inputs).filter(([key]) => !ignoreChanges.includes(key)));
  const digest = hashOf(account, type, logicalName, kept);
  const explicit = model.nameProperty === undefined ? undefined : inputs[model.nameProperty];
  const autoNamed = model.nameProperty !== undefined && (explicit === undefined || explicit === null || explicit === "");
  const physicalName = model.nameProperty === undefined
    ? undefined
    : autoNamed ? autoName(logicalName, digest, model.transform) : String(explicit);
  const uuid = uuidOf(digest);
  const out = model.outputs({ name: physicalName ?? logicalName, inputs, account, uuid });
  const state: Record<string, unknown> = { ...inputs, ...out.state };
  if (model.nameProperty !== undefined && physicalName !== undefined) state[model.nameProperty] = physicalName;
  return { physicalName, autoNamed, id: out.id, state, nameProperty: model.nameProperty };
}

/** Logical name + "-" + 7 hex digits, transformed as the provider does; never truncated (DESIGN §5.3). */
function autoName(logicalName: string, digest: string, transform?: (name: string) => string): string {
  return `${transform ? transform(logicalName) : logicalName}-${digest.slice(0, AUTO_NAME_HEX_DIGITS)}`;
}

/** True when the plan models this resource type's naming, ids and outputs (not the generic fallback). */
export function isModelledType(type: string): boolean {
  return TYPES[type] !== undefined;
}

/** The input property that holds a type's physical name, when the type has one. */
export function nameProperty(type: string): string | undefined {
  return (TYPES[type] ?? UNKNOWN).nameProperty;
}

/** True for IAM and other global types: no region in their ARNs. */
export function isGlobalType(type: string): boolean {
  return (TYPES[type] ?? UNKNOWN).global === true;
}

/**
 * The hash behind generated names and ids: account, region, type, logical name and the inputs that
 * force replacement. Anything else (tags, policies, thresholds) leaves the name alone.
 */
function hashOf(account: AccountRef, type: string, logicalName: string, inputs: Readonly<Record<string, unknown>>): string {
  const identity = canonicalJson(replacementInputs(type, inputs));
  return createHash("sha256").update(`${account.accountId}\n${account.region}\n${type}\n${logicalName}\n${identity}`).digest("hex");
}

function uuidOf(digest: string): string {
  const h = digest.slice(7, 39);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** JSON with object keys sorted at every level, so equal values hash equally. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = sortKeys(v);
  }
  return out;
}
