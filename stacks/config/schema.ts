import { z } from "zod";
import { CANARY_DEFINITION_DEFAULTS } from "../../components/canary-definition-params";
import { type RuleProblem, realtimeEndpointProblems } from "../../components/endpoint-rules";
import type { AbTestSpec, AsyncSpec, AutoscalingSpec, DeploymentSpec, RollbackAlarmSpec, ServerlessSpec } from "../../components/endpoint-spec";
import type { ModelSource } from "../../components/model-source";
import {
  type AccountRef,
  ecrRegistryHost,
  endpointNames,
  modelPackageGroupName,
  modelPackageVersionArn,
  partitionOfRegion,
  REGISTRY_STACK,
  registryNames,
} from "../../components/names";
import type { RolePrincipal } from "../../components/registry-roles";

// Config is parsed a few times per process: compiling each object schema to a fast parser (zod's
// default) costs more than it saves.
z.config({ jitless: true });

/**
 * The config schema: one zod schema for the project-level config (Pulumi.yaml, shared by every
 * stack) and one for a stage's config (Pulumi.<stage>.yaml). Their inferred types are what the
 * components receive. Guardrail ranges follow DESIGN §5.5; name limits follow §5.3.
 */

/** Namespace of this program's config keys (`mlplatform:endpoints`, ...). */
export const CONFIG_NAMESPACE = "mlplatform";

const NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
/** ECR image tag (ECR's ImageTag: at most 128 characters, not starting with . or -). */
const ECR_TAG = /^[\w][\w.-]{0,127}$/;
/** An S3 object key as written in a stack file: printable characters, no leading slash, no spaces. */
const S3_KEY = /^[^/\s][^\s]{0,999}$/;
/** SageMaker ModelPackageVersion is an Integer (AWS API model). */
const MODEL_PACKAGE_VERSION_MAX = 2_147_483_647;

const accountId = z.string({ error: "must be a 12-digit AWS account id in quotes" })
  .regex(ACCOUNT_ID, { error: "must be a 12-digit AWS account id" });

const stageDefinition = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9]{1,9}$/, { error: "must be 2-10 lowercase letters or digits, starting with a letter" }),
  accountId,
  shareAccountWith: z.string().optional(),
});

const ciPrincipal = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("github-oidc"),
    repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, { error: "must be \"owner/repo\"" }),
    createOidcProvider: z.boolean().default(false),
  }),
  z.strictObject({
    type: z.literal("iam-role"),
    roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,64}$/, { error: "must be an IAM role ARN" }),
  }),
], { error: "must have type \"github-oidc\" or \"iam-role\"" });

const GITHUB_REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/**
 * Who may assume a registry role (publisher, approver): a GitHub Actions job (OIDC, by repository
 * and environment or branch, optionally one workflow file), or IAM roles by ARN (`*` allowed in
 * the role name for SSO permission sets, whose roles end in a random suffix).
 */
const trustedPrincipal = z.union([
  z.strictObject({
    github: z.strictObject({
      /** @default - the ciPrincipal's repository */
      repository: z.string().regex(GITHUB_REPOSITORY, { error: "must be \"owner/repo\"" }).optional(),
      environment: z.string().regex(/^[\w.-]{1,255}$/, { error: "must be a GitHub environment name" }).optional(),
      branch: z.string().regex(/^[\w./-]{1,255}$/, { error: "must be a branch name" }).optional(),
      /** A workflow file in .github/workflows; needs the repository's OIDC subject to include job_workflow_ref (README). */
      workflow: z.string().regex(/^[\w.-]+\.ya?ml$/, { error: "must be a workflow file name such as retrain.yml" }).optional(),
    }).refine((g) => g.environment !== undefined || g.branch !== undefined, {
      error: "must name an environment or a branch (a workflow alone would admit any ref, pull requests included)",
    }).refine((g) => g.environment === undefined || g.branch === undefined || g.workflow !== undefined, {
      error: "an environment and a branch together need a workflow (GitHub's default subject carries one or the other)",
    }),
  }),
  z.strictObject({
    roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/*-]{1,512}$/, { error: "must be an IAM role ARN (a * may stand for an SSO permission set's suffix)" }),
  }),
], { error: "must be { github: { environment | branch | workflow } } or { roleArn: ... }" });

/** A trusted principal as written in the service definition. */
export type TrustedPrincipal = z.infer<typeof trustedPrincipal>;

/** Where Pulumi keeps the stacks' state (a DIY S3 backend) and the key of its secrets provider. */
/** A Secrets Manager secret's ARN (SecretsManager API model: SecretARNType, 20-2048; the name ends in "-" and 6 random characters). */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]{1,512}-[A-Za-z0-9]{6}$/;

const stateBackend = z.strictObject({
  /** The S3 bucket of `pulumi login s3://<bucket>`. */
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: "must be an S3 bucket name" }),
  /** The account that owns the bucket and key (its policies must let the CI roles in: README). */
  accountId,
  /** Alias of the KMS key of the `awskms://` secrets provider. @default - no KMS secrets provider */
  secretsKeyAlias: z.string().regex(/^alias\/[a-zA-Z0-9/_-]{1,250}$/, { error: "must be alias/<name>" }).optional(),
});

/** The state backend as written in the service definition. */
export type StateBackend = z.infer<typeof stateBackend>;

/** Project-level config: Pulumi.yaml, generated by projen from the service definition. */
export const projectConfigSchema = z.strictObject({
  /**
   * The service's region, as in the service definition (also Pulumi.yaml's `aws:region`): a stack
   * file that sets another `aws:region` is refused rather than deployed half into another region.
   * @default - `aws:region` alone
   */
  region: z.string().regex(REGION, { error: "must be an AWS region such as us-east-1" }).optional(),
  serviceName: z.string()
    .regex(NAME, { error: "must be lowercase letters, digits and single hyphens" })
    .min(3, { error: "must be at least 3 characters" })
    .max(20, { error: "must be at most 20 characters (it prefixes bucket, role and endpoint names)" }),
  stages: z.array(stageDefinition).min(1, { error: "must list at least one stage" }),
  /**
   * The stage whose account hosts the model registry (artifact bucket and key, package groups, ECR).
   * Leave out with registryAccountId.
   * @default - the first stage, when registryAccountId is not set
   */
  registryStage: z.string().optional(),
  /**
   * A dedicated registry account: its own stack (REGISTRY_STACK), which serves no endpoints and is
   * never promoted to. Leave out to host the registry in a stage's account (registryStage).
   * @default - no dedicated account
   */
  registryAccountId: accountId.optional(),
  models: z.array(z.string()
    .regex(NAME, { error: "must be lowercase letters, digits and single hyphens" })
    .min(2, { error: "must be at least 2 characters" })
    .max(24, { error: "must be at most 24 characters" }))
    .min(1, { error: "must list at least one model" }),
  ecrRepository: z.boolean().default(false),
  ciPrincipal,
  /**
   * Who may assume the registry's publisher role: upload artifacts under new keys, push images,
   * register versions pending approval (the training pipeline).
   * @default - GitHub environment "registry-publish" of the ciPrincipal's repository
   */
  publishers: z.array(trustedPrincipal).min(1, { error: "must list at least one principal" }).optional(),
  /**
   * Who may assume the registry's approver role: approve or reject versions, read everything.
   * @default - GitHub environment "registry-approve" of the ciPrincipal's repository
   */
  approvers: z.array(trustedPrincipal).min(1, { error: "must list at least one principal" }).optional(),
  /** @default - no state backend access for the CI roles */
  stateBackend: stateBackend.optional(),
  /**
   * The Secrets Manager secret of the retraining database (retraining.yaml's `database.secretArn`):
   * the registry's publisher, which runs the loop, may read it (and nothing else of Secrets Manager).
   * @default - none: the loop takes the database password from PGPASSWORD
   */
  retrainingDatabaseSecretArn: z.string().regex(SECRET_ARN, {
    error: "must be a Secrets Manager secret ARN: arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>",
  }).optional(),
}).superRefine((config, ctx) => {
  const seen = new Map<string, { accountId: string }>();
  config.stages.forEach((stage, i) => {
    if (seen.has(stage.name)) {
      ctx.addIssue({ code: "custom", path: ["stages", i, "name"], message: `"${stage.name}" is listed twice` });
    }
    const owner = [...seen.entries()].find(([, s]) => s.accountId === stage.accountId);
    if (owner && stage.shareAccountWith !== owner[0]) {
      ctx.addIssue({
        code: "custom",
        path: ["stages", i, "accountId"],
        message: `${stage.accountId} is already the account of stage "${owner[0]}"; one account per stage, `
          + `or set shareAccountWith: "${owner[0]}" to share it deliberately`,
      });
    }
    if (stage.shareAccountWith !== undefined && seen.get(stage.shareAccountWith)?.accountId !== stage.accountId) {
      ctx.addIssue({
        code: "custom",
        path: ["stages", i, "shareAccountWith"],
        message: `must name an earlier stage with the same account id, got "${stage.shareAccountWith}"`,
      });
    }
    seen.set(stage.name, stage);
  });
  for (const role of ["publishers", "approvers"] as const) {
    if (config.ciPrincipal.type === "github-oidc") continue;
    if (config[role] === undefined) {
      ctx.addIssue({ code: "custom", path: [role], message: "must be set when ciPrincipal is not github-oidc (there is no repository to default to)" });
    }
    (config[role] ?? []).forEach((p, i) => {
      if ("github" in p && p.github.repository === undefined) {
        ctx.addIssue({ code: "custom", path: [role, i, "github", "repository"], message: "is required when ciPrincipal is not github-oidc" });
      }
    });
  }
  if (seen.has(REGISTRY_STACK)) {
    const i = config.stages.findIndex((s) => s.name === REGISTRY_STACK);
    ctx.addIssue({ code: "custom", path: ["stages", i, "name"], message: `"${REGISTRY_STACK}" is the name of the registry's stack; choose another stage name` });
  }
  if (config.registryAccountId !== undefined) {
    if (config.registryStage !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["registryStage"],
        message: "cannot be set together with registryAccountId: the registry lives either in a stage's account or in a dedicated one",
      });
    }
    const owner = config.stages.find((s) => s.accountId === config.registryAccountId);
    if (owner !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["registryAccountId"],
        message: `${config.registryAccountId} is the account of stage "${owner.name}"; for a registry in a stage's account set registryStage: "${owner.name}" instead`,
      });
    }
  } else if (config.registryStage !== undefined && !seen.has(config.registryStage)) {
    ctx.addIssue({
      code: "custom",
      path: ["registryStage"],
      message: `must be one of the stages (${[...seen.keys()].join(", ")}), got "${config.registryStage}"`,
    });
  }
  config.models.forEach((model, i) => {
    if (config.models.indexOf(model) !== i) {
      ctx.addIssue({ code: "custom", path: ["models", i], message: `"${model}" is listed twice` });
    }
  });
});

export type ProjectConfig = z.output<typeof projectConfigSchema>;
export type ProjectConfigInput = z.input<typeof projectConfigSchema>;

// The endpoint's values are typed here and checked by components/endpoint-rules.ts, the one place
// their rules live (the schema, the component and the plan all call it): no range below.
const seconds = z.number({ error: "must be a number of seconds" });
const percent = z.number({ error: "must be a percentage" });

/** Settings every blue/green strategy shares. */
const blueGreenCommon = {
  terminationWaitSeconds: seconds.default(0),
  maximumExecutionTimeoutSeconds: seconds.optional(),
};

/** Deployment guardrails (components/endpoint-spec.ts DeploymentSpec, DESIGN §5.5). */
const deploymentSchema = z.discriminatedUnion("strategy", [
  z.strictObject({ strategy: z.literal("all-at-once"), waitSeconds: seconds.default(0), ...blueGreenCommon }),
  z.strictObject({ strategy: z.literal("canary"), canarySizePercent: percent, waitSeconds: seconds, ...blueGreenCommon }),
  z.strictObject({ strategy: z.literal("linear"), stepSizePercent: percent, waitSeconds: seconds, ...blueGreenCommon }),
  z.strictObject({
    strategy: z.literal("step-functions-canary"),
    canaryWeightPercent: percent.default(CANARY_DEFINITION_DEFAULTS.canaryWeightPercent),
    canaryInstanceCount: z.number({ error: "must be a number of instances" }).default(CANARY_DEFINITION_DEFAULTS.canaryInstanceCount),
    bakeSeconds: seconds.default(CANARY_DEFINITION_DEFAULTS.bakeSeconds),
    pollSeconds: seconds.default(CANARY_DEFINITION_DEFAULTS.pollSeconds),
    maxPolls: z.number({ error: "must be a number of polls" }).default(CANARY_DEFINITION_DEFAULTS.maxPolls),
    approval: z.strictObject({ timeoutSeconds: seconds.default(86400) }).optional(),
  }),
  z.strictObject({
    strategy: z.literal("rolling"),
    batchSizePercent: percent,
    waitSeconds: seconds,
    rollbackBatchSizePercent: percent.optional(),
    maximumExecutionTimeoutSeconds: seconds.optional(),
  }),
], { error: "strategy must be one of all-at-once, canary, linear, rolling, step-functions-canary" }) satisfies z.ZodType<DeploymentSpec>;

export type DeploymentConfig = z.output<typeof deploymentSchema>;

/** The rollback alarms the endpoint component creates (components/endpoint-spec.ts RollbackAlarmSpec). */
const alarmsSchema = z.strictObject({
  invocation5xxErrorsPerMinute: z.number().default(1),
  modelLatencyP99Milliseconds: z.number().default(1000),
  evaluationPeriods: z.number().default(2),
  additionalRollbackAlarmNames: z.array(z.string()).default([]),
}) satisfies z.ZodType<RollbackAlarmSpec>;

/** Target-tracking autoscaling of the variant (components/endpoint-spec.ts AutoscalingSpec). */
const autoscalingSchema = z.strictObject({
  minCapacity: z.number(),
  maxCapacity: z.number(),
  targetInvocationsPerInstance: z.number(),
  scaleInCooldownSeconds: seconds.default(600),
  scaleOutCooldownSeconds: seconds.default(30),
}) satisfies z.ZodType<AutoscalingSpec>;

/**
 * Where an endpoint's model comes from, as the stack file names it: only what is the stage's choice.
 * Accounts, region, repository and bucket names follow from the service definition, so the schema
 * derives the model package ARN, image URI and model data URL (resolveSource); a stack file never
 * repeats them. Either `version` (a registry model package version), or `imageTag` / `imageDigest`
 * plus `modelDataKey` (a custom image in the registry's ECR repository with model data in the
 * registry's artifact bucket).
 */
const sourceSchema = z.strictObject({
  /** Version of the model's package group in the registry (promotable). */
  version: z.number({ error: "must be a model package version number, such as 7" })
    .int({ error: "must be a whole version number" }).min(1, { error: "must be 1 or more (versions start at 1)" })
    .max(MODEL_PACKAGE_VERSION_MAX, { error: `must be at most ${MODEL_PACKAGE_VERSION_MAX}` }).optional(),
  /** Tag of the inference image in the registry's ECR repository (promotable). */
  imageTag: z.string().regex(ECR_TAG, { error: "must be an image tag: letters, digits, _ . - (at most 128, not starting with . or -)" }).optional(),
  /** Digest of the inference image in the registry's ECR repository (promotable). */
  imageDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: "must be sha256:<64 hex digits>" }).optional(),
  /** Key of model.tar.gz in the registry's artifact bucket (promotable, with the image). */
  modelDataKey: z.string().regex(S3_KEY, { error: "must be an S3 key such as my-model/v3/model.tar.gz (no leading /, at most 1000 characters)" })
    .optional(),
  /** Container environment of an image source. */
  environment: z.record(z.string(), z.string()).optional(),
  // The forms before derived names: refused with what to write instead (see legacySourceHint).
  modelPackageArn: z.unknown().optional(),
  image: z.unknown().optional(),
  modelDataUrl: z.unknown().optional(),
});

type SourceInput = z.output<typeof sourceSchema>;

const endpointSchema = z.strictObject({
  /** The model (one of the project's `models`) this endpoint serves. */
  model: z.string(),
  /** Where the model comes from: a registry version, or an image tag plus model data. */
  source: sourceSchema,
  /** Production variant name: the same in old and new configs (blue/green needs it). */
  variantName: z.string().default("primary"),
  instanceType: z.string({ error: "must be an instance type such as ml.m5.large" }).optional(),
  instanceCount: z.number({ error: "must be a number of instances" }).optional(),
  /** A multi-model endpoint: the image loads the models under its prefix of the stage bucket. */
  multiModel: z.boolean().optional(),
  containerStartupHealthCheckTimeoutSeconds: z.number().optional(),
  modelDataDownloadTimeoutSeconds: z.number().optional(),
  /** A serverless variant instead of instances (components/endpoint-spec.ts ServerlessSpec). */
  serverless: z.strictObject({
    memorySizeMiB: z.number(),
    maxConcurrency: z.number(),
    provisionedConcurrency: z.number().optional(),
  }).optional() satisfies z.ZodType<ServerlessSpec | undefined>,
  /** Size of the ML storage volume per instance, in GiB. */
  volumeSizeGiB: z.number().optional(),
  deployment: deploymentSchema,
  // An absent `alarms` gets every alarm default.
  alarms: alarmsSchema.prefault({}),
  autoscaling: autoscalingSchema.optional(),
  /** Asynchronous inference (components/endpoint-spec.ts AsyncSpec). */
  async: z.strictObject({
    maxConcurrentInvocationsPerInstance: z.number().optional(),
    notifications: z.boolean().default(false),
    scaleToZero: z.strictObject({ maxCapacity: z.number(), targetBacklogPerInstance: z.number() }).optional(),
  }).optional() satisfies z.ZodType<AsyncSpec | undefined>,
  /**
   * An A/B test: further weighted variants, each another version of the endpoint's model
   * (components/endpoint-spec.ts AbTestSpec; the stack file names each variant's `source`).
   */
  abTest: z.strictObject({
    weight: z.number({ error: "must be a weight, a number >= 0" }),
    variants: z.array(z.strictObject({
      name: z.string(),
      source: sourceSchema,
      weight: z.number({ error: "must be a weight, a number >= 0" }),
      instanceType: z.string({ error: "must be an instance type such as ml.m5.large" }).optional(),
      instanceCount: z.number({ error: "must be a number of instances" }).optional(),
    })),
  }).optional(),
});

type EndpointInput = z.output<typeof endpointSchema>;

/** Where a stack runs, resolved from the project config and the stack name. */
export interface StageContext {
  readonly project: ProjectConfig;
  readonly stage: string;
  readonly region: string;
}

/** A stage's own config: Pulumi.<stage>.yaml (keys under the `mlplatform:` namespace). */
export function stageConfigSchema(context: StageContext) {
  const { project, stage, region } = context;
  const registryStack = stage === REGISTRY_STACK;
  const registry = registryAccountRef(project, region);

  return z.strictObject({
    /**
     * The stage's endpoints. None is a day-zero stack: the account, its roles and (where it lives
     * here) the registry, ready for the first registered version.
     */
    endpoints: z.record(z.string(), endpointSchema).default({}),
    /** Tags on every resource of the stack, besides the service and stage tags. */
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
    /** Days before non-current object versions in the stage bucket expire. */
    noncurrentVersionExpirationDays: wholeNumber("days", 1, 3650).default(90),
  }).superRefine((config, ctx) => {
    if (registryStack && Object.keys(config.endpoints).length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["endpoints"],
        message: `the registry stack "${stage}" serves no endpoints; define endpoints in the stages' stack files`,
      });
      return;
    }
    for (const [key, endpoint] of Object.entries(config.endpoints)) {
      const at = (...rest: (string | number)[]) => ["endpoints", key, ...rest];
      if (!NAME.test(key)) {
        ctx.addIssue({ code: "custom", path: at(), message: "endpoint names must be lowercase letters, digits and single hyphens", params: { check: "name" } });
        continue;
      }
      if (!project.models.includes(endpoint.model)) {
        ctx.addIssue({
          code: "custom",
          path: at("model"),
          message: `must be one of the project's models (${project.models.join(", ")}), got "${endpoint.model}"`,
        });
      }
      const sourceIssues = sourceProblems(endpoint.source, project, registry, endpoint.multiModel === true);
      for (const problem of sourceIssues) {
        ctx.addIssue({ code: "custom", path: at("source", ...problem.path), message: problem.message });
      }
      const variantSourceIssues = (endpoint.abTest?.variants ?? []).map((variant, i) => {
        const issues = sourceProblems(variant.source, project, registry);
        for (const problem of issues) {
          ctx.addIssue({ code: "custom", path: at("abTest", "variants", i, "source", ...problem.path), message: problem.message });
        }
        return issues.length > 0;
      });
      // The endpoint's rules (components/endpoint-rules.ts), on the values the component will get;
      // a source already refused above is not checked again (its rules would only repeat the refusal).
      const badSource = (field: string) => (field.startsWith("source.") && sourceIssues.length > 0)
        || variantSourceIssues.some((bad, i) => bad && field.startsWith(`abTest.variants.${i}.source.`));
      const ruleProblems = realtimeEndpointProblems(endpointSpec(endpoint, project, registry, key))
        .filter((p) => !badSource(p.field));
      for (const problem of ruleProblems) {
        ctx.addIssue({ code: "custom", path: at(...problem.field.split(".").filter((part) => part !== "").map((part) => (/^\d+$/.test(part) ? Number(part) : part))), message: nameHint(problem, key), params: { check: problem.check } });
      }
    }
  }).transform((config) => ({
    ...config,
    endpoints: Object.fromEntries(Object.entries(config.endpoints).map(([key, endpoint]) => {
      const { model, abTest } = endpointSpec(endpoint, project, registry, key);
      return [key, { ...endpoint, source: model, abTest }];
    })),
  }));
}

/**
 * An endpoint's sources resolved as the component takes them (a source the schema refuses becomes
 * an empty registry ARN: its problems are reported by the schema, never deployed).
 */
function endpointSpec(endpoint: EndpointInput, project: ProjectConfig, registry: AccountRef, key: string): {
  name: string; model: ModelSource; abTest: AbTestSpec | undefined;
} & Omit<EndpointInput, "source" | "abTest" | "model"> {
  const resolve = (source: SourceInput, multiModel = false): ModelSource => (sourceProblems(source, project, registry, multiModel).length > 0
    ? { modelPackageArn: "" }
    : resolveSource(source, project.serviceName, endpoint.model, registry));
  const { source, abTest, model: _modelName, ...rest } = endpoint;
  return {
    ...rest,
    name: endpointNames(project.serviceName, key).endpoint,
    model: resolve(source, endpoint.multiModel === true),
    abTest: abTest === undefined ? undefined : {
      weight: abTest.weight,
      variants: abTest.variants.map(({ source: variantSource, ...variant }) => ({ ...variant, model: resolve(variantSource) })),
    },
  };
}

/** A name problem says what to shorten in the stack file: the endpoint key, not the derived name. */
function nameHint(problem: RuleProblem, key: string): string {
  if (problem.check !== "name" || problem.field !== "") return problem.message;
  return `endpoint "${key}": ${problem.message} (the endpoint's name is the service name, a hyphen and the key)`;
}

/**
 * A whole number. Top-level config values reach the program as strings (Pulumi hands every value
 * over as text), so a string of decimal digits is read as its number; nothing else is: not `true`,
 * not `[30]`, not `"0x1e"`, not `"1e3"`.
 */
function wholeNumber(unit: string, min: number, max: number) {
  const error = `must be a whole number of ${unit}, ${min}-${max}`;
  return z.preprocess((value) => (typeof value === "string" && /^\d{1,9}$/.test(value.trim()) ? Number(value) : value),
    z.number({ error }).int({ error }).min(min, { error }).max(max, { error }));
}

/** A problem with one key of an endpoint's `source`, relative to `source`. */
interface SourceProblem {
  readonly path: string[];
  readonly message: string;
}

/** The keys of each source form, for messages. */
const SOURCE_FORMS = "either version: <n> (a registry model package version) or imageTag (or imageDigest) with modelDataKey";

/** What is wrong with an endpoint's source as written, given what the service definition provides. */
function sourceProblems(source: SourceInput, project: ProjectConfig, registry: AccountRef, multiModel = false): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const legacy = legacySourceHint(source, project, registry);
  if (legacy.length > 0) return legacy;
  const image = source.imageTag !== undefined || source.imageDigest !== undefined || source.modelDataKey !== undefined
    || source.environment !== undefined;
  if (source.version !== undefined && multiModel) {
    return [{
      path: ["version"],
      message: "a multi-model endpoint serves an image (imageTag or imageDigest): its models are the artifacts "
      + "`npx projen models add` copies under its prefix of the stage bucket, not a registry version",
    }];
  }
  if (source.version !== undefined) {
    if (image) {
      const extra = (["imageTag", "imageDigest", "modelDataKey", "environment"] as const).filter((k) => source[k] !== undefined);
      problems.push({ path: [extra[0]], message: `cannot be combined with version: ${SOURCE_FORMS}` });
    }
    return problems;
  }
  if (!image) return [{ path: [], message: `must name the model: ${SOURCE_FORMS}` }];
  if (!project.ecrRepository) {
    problems.push({ path: [], message: "an image source needs the registry's ECR repository: set ecrRepository: true in the service definition (.projenrc.ts)" });
  }
  if ((source.imageTag === undefined) === (source.imageDigest === undefined)) {
    problems.push({ path: ["imageTag"], message: "an image source takes exactly one of imageTag and imageDigest" });
  }
  // The URL's length is a rule of components/endpoint-rules.ts, checked on the derived URL.
  if (multiModel && source.modelDataKey !== undefined) {
    problems.push({ path: ["modelDataKey"], message: "does not apply to a multi-model endpoint: it loads the models under its prefix of the stage bucket" });
  } else if (!multiModel && source.modelDataKey === undefined) {
    problems.push({ path: ["modelDataKey"], message: "is required with an image: the key of model.tar.gz in the registry's artifact bucket" });
  }
  return problems;
}

/**
 * The forms of earlier versions of this template (full ARNs and URLs in the stack file) are refused
 * with what to write instead: those values follow from the service definition now.
 */
function legacySourceHint(source: SourceInput, project: ProjectConfig, registry: AccountRef): SourceProblem[] {
  const problems: SourceProblem[] = [];
  if (source.modelPackageArn !== undefined) {
    const version = typeof source.modelPackageArn === "string" ? /\/(\d+)$/.exec(source.modelPackageArn)?.[1] : undefined;
    problems.push({
      path: ["modelPackageArn"],
      message: `is derived from the service definition now; write version: ${version ?? "<n>"} instead `
        + `(the registry account ${registry.accountId} and region ${registry.region} come from .projenrc.ts)`,
    });
  }
  if (source.image !== undefined) {
    const repository = `${ecrRegistryHost(registry)}/${registryNames(project.serviceName, registry).ecrRepository}`;
    const inRegistry = typeof source.image === "string" && source.image.startsWith(repository);
    const ref = inRegistry ? /(?::([\w][\w.-]{0,127})|@(sha256:[0-9a-f]{64}))$/.exec(String(source.image)) : null;
    // An image from elsewhere must be pushed to the registry's repository first: a bare tag would name another image.
    const hint = ref?.[1] !== undefined ? `imageTag: ${ref[1]}` : ref?.[2] !== undefined ? `imageDigest: ${ref[2]}`
      : `imageTag: <tag> after pushing the image to ${repository}`;
    problems.push({
      path: ["image"],
      message: `is derived from the service definition now; write ${hint} instead `
        + `(the repository ${registryNames(project.serviceName, registry).ecrRepository} comes from .projenrc.ts)`,
    });
  }
  if (source.modelDataUrl !== undefined) {
    const bucket = registryNames(project.serviceName, registry).artifactBucket;
    const key = typeof source.modelDataUrl === "string" ? new RegExp(`^s3://${bucket}/(.+)$`).exec(source.modelDataUrl)?.[1] : undefined;
    problems.push({
      path: ["modelDataUrl"],
      message: key !== undefined
        ? `is derived from the service definition now; write modelDataKey: ${key} instead (the key in the registry's artifact bucket)`
        : `is derived from the service definition now; copy the model data into the registry's artifact bucket ${bucket} and write modelDataKey: <key> instead`,
    });
  }
  return problems;
}

/** The model as the endpoint component takes it: a model package ARN, or an image URI and model data URL. */
function resolveSource(source: SourceInput, serviceName: string, model: string, registry: AccountRef): ModelSource {
  if (source.version !== undefined) {
    return { modelPackageArn: modelPackageVersionArn(registry, modelPackageGroupName(serviceName, model), source.version) };
  }
  const repository = `${ecrRegistryHost(registry)}/${registryNames(serviceName, registry).ecrRepository}`;
  return {
    image: source.imageDigest !== undefined ? `${repository}@${source.imageDigest}` : `${repository}:${source.imageTag ?? ""}`,
    modelDataUrl: modelDataUrlOf(serviceName, registry, source.modelDataKey ?? ""),
    environment: source.environment ?? {},
  };
}

function modelDataUrlOf(serviceName: string, registry: AccountRef, key: string): string {
  return `s3://${registryNames(serviceName, registry).artifactBucket}/${key}`;
}

export type StageConfig = z.output<ReturnType<typeof stageConfigSchema>>;

/** One endpoint of a stack, validated, with its model source resolved to ARNs and URLs. */
export type EndpointConfig = StageConfig["endpoints"][string];

/** What the stack entry point hands to the components: both levels of config, validated. */
export interface StackConfig extends StageContext, StageConfig {
  /** The stage's account id. */
  readonly accountId: string;
}

/** Checks a versioned model package ARN against the registry; returns a problem or undefined. */
export function checkModelPackageArn(arn: string, expected: { region: string; registryAccountId: string; group: string }): string | undefined {
  const m = /^arn:(aws[a-z-]*):sagemaker:([a-z0-9-]+):(\d{12}):model-package\/([a-zA-Z0-9-]{1,63})\/(\d+)$/.exec(arn);
  if (!m) return `must be a versioned model package ARN arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>, got "${arn}"`;
  const [, partition, region, account, group, version] = m;
  if (region !== expected.region) return `must be in region ${expected.region}, got ${region}`;
  if (partition !== partitionOfRegion(expected.region)) return `must be in partition ${partitionOfRegion(expected.region)} (region ${expected.region}), got ${partition}`;
  if (account !== expected.registryAccountId) return `must be in the registry account ${expected.registryAccountId}, got ${account}`;
  if (group !== expected.group) return `must be a version of the group ${expected.group}, got ${group}`;
  if (Number(version) < 1) return `must name a version of 1 or more (versions start at 1), got ${version}`;
  return undefined;
}

/** A problem with a config value: the key path and what was expected. */
export interface Problem {
  readonly path: string;
  readonly message: string;
  /** The plan's finding class, when a rule names it (components/endpoint-rules.ts). */
  readonly check?: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** Parses the project-level config (a service definition without region). */
export function parseProjectConfig(input: unknown): ParseResult<ProjectConfig> {
  return toResult(projectConfigSchema, input);
}

/** Runs a schema and turns its issues into problems with readable key paths. */
export function toResult<S extends z.ZodType>(schema: S, input: unknown, prefix = ""): ParseResult<z.output<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, problems: result.error.issues.flatMap((issue) => describeIssue(issue, input, prefix)) };
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, prefix: string): Problem[] {
  const path = joinPath(prefix, issue.path);
  const value = valueAt(input, issue.path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({ path: joinPath(path, [key]), message: "unknown key (check the spelling)" }));
    case "invalid_type":
      if (value === undefined) return [{ path, message: `is required (${issue.expected})` }];
      return [{ path, message: `${isDefault(issue.message) ? `must be a ${issue.expected}` : issue.message}, got ${show(value)}` }];
    case "too_big":
    case "too_small":
    case "invalid_format":
    case "invalid_value":
    case "custom":
    case "invalid_union": {
      const message = isDefault(issue.message) ? issue.message.replace(/^\w+:?\s*/, "must be ").toLowerCase() : issue.message;
      const check = issue.code === "custom" && typeof issue.params?.check === "string" ? { check: issue.params.check } : {};
      return [{ path, message: value === undefined || issue.code === "custom" ? message : `${message}, got ${show(value)}`, ...check }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}

/** zod's own wording (rephrased); every other message is ours and already says what is expected. */
function isDefault(message: string): boolean {
  return message.startsWith("Too ") || message.startsWith("Invalid");
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === "number") out = `${out}[${part}]`;
    else out = out === "" || out.endsWith(":") ? `${out}${String(part)}` : `${out}.${String(part)}`;
  }
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const part of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

function show(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

/** One problem per line, for error messages. */
export function formatProblems(problems: readonly Problem[], file?: string): string {
  return problems.map((p) => `${file ? `${file}: ` : ""}${p.path}: ${p.message}`).join("\n");
}

/** Account id of a stage, from the project config. */
export function accountOfStage(project: ProjectConfig, stage: string): string | undefined {
  return project.stages.find((s) => s.name === stage)?.accountId;
}

/** Name of the registry's stack (Pulumi.registry.yaml); no stage may take it. */
export { REGISTRY_STACK };

/** Where the model registry lives: its own stack (REGISTRY_STACK), in a stage's account or a dedicated one. */
export interface RegistryPlacement {
  readonly accountId: string;
  /** A dedicated account (registryAccountId), rather than the account of a stage (registryStage). */
  readonly dedicated: boolean;
}

/**
 * The registry's placement. The registry is always a stack of its own, deployed by its own roles,
 * so no stage's deployer manages what every stage loads (the supply chain, see README). Its
 * account is a dedicated one (registryAccountId), the account of the stage named by registryStage,
 * or by default that of the first stage (seed 001 trains and registers in the sandbox account).
 * The schema has checked that the names and accounts exist.
 */
export function registryPlacement(project: ProjectConfig): RegistryPlacement {
  if (project.registryAccountId !== undefined) return { accountId: project.registryAccountId, dedicated: true };
  const stage = project.registryStage ?? project.stages[0].name;
  return { accountId: accountOfStage(project, stage) ?? "", dedicated: false };
}

/** One Pulumi stack of the service: a stage, or the registry. */
export interface DeploymentStack {
  readonly name: string;
  readonly accountId: string;
  readonly kind: "stage" | "registry";
}

/** Every stack of the service in deploy order: the registry first, then the stages in promotion order. */
export function deploymentStacks(project: ProjectConfig): DeploymentStack[] {
  const placement = registryPlacement(project);
  const stages = project.stages.map((s): DeploymentStack => ({ name: s.name, accountId: s.accountId, kind: "stage" }));
  return [{ name: REGISTRY_STACK, accountId: placement.accountId, kind: "registry" }, ...stages];
}

/** Account id of any stack of the service (a stage or the dedicated registry), or undefined. */
export function accountOfStack(project: ProjectConfig, stack: string): string | undefined {
  return deploymentStacks(project).find((s) => s.name === stack)?.accountId;
}

/** The registry's account, region and partition. */
export function registryAccountRef(project: ProjectConfig, region: string): AccountRef {
  return accountRef(registryPlacement(project).accountId, region);
}

/** GitHub environment whose jobs (the promote workflow) may read the registry through its previewer. */
export const PROMOTE_ENVIRONMENT = "promote";

/** The default principal of a registry role: a GitHub environment of the CI repository. */
const DEFAULT_ENVIRONMENTS = { publishers: "registry-publish", approvers: "registry-approve" } as const;

/**
 * Who may assume the publisher or approver role, with defaults resolved: a principal as declared,
 * GitHub principals completed with the CI repository.
 */
export function registryPrincipals(project: ProjectConfig, role: "publishers" | "approvers"): ResolvedPrincipal[] {
  const ci = project.ciPrincipal;
  const repository = ci.type === "github-oidc" ? ci.repository : undefined;
  const declared = project[role] ?? [{ github: { environment: DEFAULT_ENVIRONMENTS[role] } }];
  return declared.map((p): ResolvedPrincipal => ("github" in p
    ? { type: "github", ...p.github, repository: p.github.repository ?? repository ?? "" }
    : { type: "role", roleArn: p.roleArn }));
}

/** A principal trusted by a registry role, defaults resolved (see registryPrincipals). */
export type ResolvedPrincipal = RolePrincipal;

/** An account in the service's region, with the region's partition. */
export function accountRef(id: string, region: string): AccountRef {
  return { accountId: id, region, partition: partitionOfRegion(region) };
}

/** What is wrong with an AWS region (`aws:region`, the service definition's `region`), or undefined. */
export function checkRegion(region: unknown): string | undefined {
  return typeof region === "string" && REGION.test(region) ? undefined : `must be an AWS region such as eu-west-1, got ${JSON.stringify(region)}`;
}

