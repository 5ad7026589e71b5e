import type { Caller } from "./iam-eval";
import type { PolicyDocument } from "../../components/policies";
import { readProjectInfo } from "../../scripts/plan/engine";
import { type RegisteredResource, runStackFromFiles } from "../../stacks/offline-run";

/**
 * Every IAM-relevant document a project's stacks create, read from the real program run offline
 * (one run per stack, in deploy order): the roles with their trust, inline policies and boundary,
 * and the resource policies of buckets, keys, ECR repositories and model package groups. The
 * mocks give each resource the ARN AWS would give it, so documents that name one another (a role's
 * boundary, a key's ARN in a policy) resolve as they would in the account.
 */
export interface IamWorld {
  /** Roles by name (role names are unique per account; the service's are unique across accounts). */
  readonly roles: ReadonlyMap<string, WorldRole>;
  /** Bucket policies by bucket name. */
  readonly bucketPolicies: ReadonlyMap<string, PolicyDocument>;
  /** KMS keys by their alias (`alias/...`). */
  readonly keys: ReadonlyMap<string, WorldKey>;
  /** ECR repository policies by repository name. */
  readonly repositoryPolicies: ReadonlyMap<string, PolicyDocument>;
  /** Model package group policies by group name. */
  readonly groupPolicies: ReadonlyMap<string, PolicyDocument>;
}

export interface WorldRole {
  readonly name: string;
  readonly stack: string;
  readonly accountId: string;
  readonly arn: string;
  readonly trust: PolicyDocument;
  readonly policies: PolicyDocument[];
  readonly boundary?: PolicyDocument;
}

export interface WorldKey {
  readonly arn: string;
  readonly accountId: string;
  readonly policy: PolicyDocument;
  /** The tags the key carries (the provider's default tags included). */
  readonly tags: Record<string, string>;
}

const json = (value: unknown): PolicyDocument => (typeof value === "string" ? JSON.parse(value) : value) as PolicyDocument;

/** Outputs AWS would return: ARNs from the names, a key id from the logical name. */
function resolverFor(accountId: string, region: string) {
  return (args: { type: string; name: string; inputs: Record<string, unknown> }) => {
    const state: Record<string, unknown> = { ...args.inputs };
    const name = String(args.inputs.name ?? args.name);
    if (args.type === "aws:iam/role:Role") state.arn = `arn:aws:iam::${accountId}:role/${name}`;
    if (args.type === "aws:iam/policy:Policy") state.arn = `arn:aws:iam::${accountId}:policy/${name}`;
    if (args.type === "aws:kms/key:Key") {
      state.keyId = `${args.name}-id`;
      state.arn = `arn:aws:kms:${region}:${accountId}:key/${args.name}-id`;
    }
    if (args.type === "aws:s3/bucket:Bucket") state.arn = `arn:aws:s3:::${String(args.inputs.bucket)}`;
    return { id: `${args.name}-id`, state };
  };
}

/** Runs every stack of the project and collects its IAM documents. */
export async function buildIamWorld(projectDir: string): Promise<IamWorld> {
  const info = readProjectInfo(projectDir);
  const roles = new Map<string, WorldRole>();
  const bucketPolicies = new Map<string, PolicyDocument>();
  const keys = new Map<string, WorldKey>();
  const repositoryPolicies = new Map<string, PolicyDocument>();
  const groupPolicies = new Map<string, PolicyDocument>();
  for (const stack of info.stages) {
    const accountId = info.accounts[stack];
    const run = await runStackFromFiles(projectDir, stack, resolverFor(accountId, info.region));
    const of = (type: string) => run.resources.filter((r) => r.type === type);
    const boundaries = new Map(of("aws:iam/policy:Policy").map((p) => [`arn:aws:iam::${accountId}:policy/${String(p.inputs.name)}`, json(p.inputs.policy)]));
    const inline = of("aws:iam/rolePolicy:RolePolicy");
    for (const role of of("aws:iam/role:Role")) {
      const name = String(role.inputs.name);
      const boundaryArn = role.inputs.permissionsBoundary as string | undefined;
      if (boundaryArn !== undefined && !boundaries.has(boundaryArn)) throw new Error(`${stack}: role ${name} has boundary ${boundaryArn}, which no stack creates`);
      roles.set(name, {
        name,
        stack,
        accountId,
        arn: `arn:aws:iam::${accountId}:role/${name}`,
        trust: json(role.inputs.assumeRolePolicy),
        policies: inline.filter((p) => p.inputs.role === name).map((p) => json(p.inputs.policy)),
        boundary: boundaryArn === undefined ? undefined : boundaries.get(boundaryArn),
      });
    }
    const byUrnName = (r: RegisteredResource) => r.name;
    const bucketsByLogical = new Map(of("aws:s3/bucket:Bucket").map((b) => [`${byUrnName(b)}-id`, String(b.inputs.bucket)]));
    for (const p of of("aws:s3/bucketPolicy:BucketPolicy")) bucketPolicies.set(bucketsByLogical.get(String(p.inputs.bucket)) ?? String(p.inputs.bucket), json(p.inputs.policy));
    for (const key of of("aws:kms/key:Key")) {
      const alias = of("aws:kms/alias:Alias").find((a) => a.inputs.targetKeyId === `${key.name}-id`);
      if (alias === undefined) throw new Error(`${stack}: key ${key.name} has no alias`);
      keys.set(String(alias.inputs.name), {
        arn: `arn:aws:kms:${info.region}:${accountId}:key/${key.name}-id`,
        accountId,
        policy: json(key.inputs.policy),
        tags: { ...stackDefaultTags(run, stack), ...(key.inputs.tags as Record<string, string> | undefined) },
      });
    }
    for (const p of of("aws:ecr/repositoryPolicy:RepositoryPolicy")) repositoryPolicies.set(String(p.inputs.repository), json(p.inputs.policy));
    for (const p of of("aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy")) groupPolicies.set(String(p.inputs.modelPackageGroupName), json(p.inputs.resourcePolicy));
  }
  return { roles, bucketPolicies, keys, repositoryPolicies, groupPolicies };
}

/** The provider's default tags of a stack (they reach every resource it creates). */
function stackDefaultTags(run: { resources: RegisteredResource[] }, stack: string): Record<string, string> {
  const provider = run.resources.find((r) => r.type === "pulumi:providers:aws");
  const raw = provider?.inputs.defaultTags;
  const parsed = (typeof raw === "string" ? JSON.parse(raw) : raw) as { tags?: Record<string, string> } | undefined;
  if (parsed?.tags === undefined) throw new Error(`${stack}: the stack's provider sets no default tags`);
  return parsed.tags;
}

/** A role as the evaluator's caller. */
export function callerOf(world: IamWorld, roleName: string): Caller {
  const role = world.roles.get(roleName);
  if (role === undefined) throw new Error(`no stack creates role ${roleName}; roles: ${[...world.roles.keys()].join(", ")}`);
  return { arn: role.arn, accountId: role.accountId, identityPolicies: role.policies, boundary: role.boundary };
}
