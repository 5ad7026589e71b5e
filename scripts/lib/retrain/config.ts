import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { type EvaluationSpec, evaluationSpecProblems } from "./evaluation";
import { type ParameterRange, type TuningSpec, tuningSpecProblems } from "./tuning-spec";
import { readYamlForEditing } from "../../../stacks/config/files";
import { ConfigError, type FileProblem } from "../../../stacks/config/load";
import { toResult } from "../../../stacks/config/schema";
import { CliError } from "../cli";

/**
 * The retraining configuration: `retraining.yaml` at the repository root, written by hand and only
 * read. It says, per model of the service, which rows to train on (a parameterised SQL query over a
 * date window), which columns are the target and the features, how to split the rows, how to tune
 * XGBoost and how to evaluate the result; and, once for all models, how to reach the PostgreSQL
 * database. A bad file fails before anything runs, with the file, the key path and what was
 * expected, the way the stack files do (stacks/config/schema.ts, load.ts).
 *
 * The tuning and evaluation sections take the shapes of the steps' spec types (TuningSpec in
 * tuning-spec.ts, EvaluationSpec in evaluation.ts) and are checked by the steps' own rule functions
 * (tuningSpecProblems, evaluationSpecProblems); their defaults belong to those steps too.
 */

/** The file, at the repository root (beside .projenrc.ts). */
export const RETRAINING_FILE = "retraining.yaml";

/** TLS settings, as libpq's sslmode names them. */
export const SSL_MODES = ["verify-full", "require", "disable"] as const;
export type SslMode = (typeof SSL_MODES)[number];

const COLUMN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

const column = z.string({ error: "must be a column name" })
  .regex(COLUMN, { error: "must be a column name of the query's result: letters, digits and _ (rename others with AS in the query)" });

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number({ error: "must be a whole number" })
  .int({ error: "must be a whole number" })
  .min(min, { error: `must be at least ${min}` })
  .max(max, { error: `must be at most ${max}` });

/** A calendar date written YYYY-MM-DD that exists (no 2023-02-30). */
const isoDate = z.string({ error: "must be a date written YYYY-MM-DD, in quotes" }).refine((text) => parseIsoDate(text) !== undefined, {
  error: "must be a calendar date written YYYY-MM-DD",
});

/** Milliseconds since the epoch of a YYYY-MM-DD date at 00:00 UTC, or undefined when it is not one. */
export function parseIsoDate(text: string): number | undefined {
  const m = ISO_DATE.exec(text);
  if (m === null) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return new Date(ms).toISOString().slice(0, 10) === text ? ms : undefined;
}

/**
 * What is wrong with a query's placeholders, or undefined: it must use `$1` (the window's first
 * day) and `$2` (the day after its last), and no other. Values are bound by the driver, never
 * written into the SQL, so a query without them would either ignore the window or need the dates
 * pasted in.
 */
export function queryPlaceholderProblem(query: string): string | undefined {
  const used = new Set([...query.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  const missing = [1, 2].filter((n) => !used.has(n)).map((n) => `$${n}`);
  const others = [...used].filter((n) => n !== 1 && n !== 2).sort((a, b) => a - b).map((n) => `$${n}`);
  if (missing.length === 0 && others.length === 0) return undefined;
  const parts = [
    ...(missing.length > 0 ? [`does not use ${missing.join(" and ")}`] : []),
    ...(others.length > 0 ? [`uses ${others.join(", ")}, which nothing binds`] : []),
  ];
  return `${parts.join(" and ")}: the query must filter on the window with $1 (its first day) and $2 (the day after its last), `
    + "for example WHERE <date column> >= $1 AND <date column> < $2; the values are bound by the driver, never written into the SQL";
}

// ---------------------------------------------------------------------------------------------
// Tuning and evaluation (checked against the steps' spec types).
// ---------------------------------------------------------------------------------------------

const parameterRange = z.strictObject({
  type: z.enum(["continuous", "integer"], { error: "must be continuous or integer" }),
  min: z.number({ error: "must be a number" }),
  max: z.number({ error: "must be a number" }),
  scaling: z.enum(["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"], { error: "must be Auto, Linear, Logarithmic or ReverseLogarithmic" }).optional(),
}) satisfies z.ZodType<ParameterRange>;

const number = z.number({ error: "must be a number" });

/**
 * The tuning of one model: TuningSpec's shape here, its rules in tuningSpecProblems (tuning-spec.ts),
 * which the tuning step calls too. The seed's ranges (SageMaker's suggested ones) are the example
 * of retraining.yaml:
 *
 * ```yaml
 * ranges:
 *   eta: { type: continuous, min: 0.1, max: 0.5, scaling: Logarithmic }
 *   max_depth: { type: integer, min: 0, max: 10 }
 *   num_round: { type: integer, min: 1, max: 4000 }
 *   subsample: { type: continuous, min: 0.5, max: 1, scaling: Logarithmic }
 *   colsample_bylevel: { type: continuous, min: 0.1, max: 1, scaling: Logarithmic }
 *   colsample_bytree: { type: continuous, min: 0.5, max: 1, scaling: Logarithmic }
 *   alpha: { type: continuous, min: 0, max: 1000 }
 *   lambda: { type: continuous, min: 0, max: 100 }
 *   max_delta_step: { type: integer, min: 0, max: 10 }
 *   min_child_weight: { type: continuous, min: 0, max: 10 }
 *   gamma: { type: continuous, min: 0, max: 5 }
 * ```
 */
const tuningSchema = z.strictObject({
  objectiveMetric: z.string({ error: "must be a metric such as validation:rmse" }),
  objectiveType: z.enum(["Minimize", "Maximize"], { error: "must be Minimize or Maximize" }).optional(),
  objective: z.string({ error: "must be an XGBoost objective such as reg:squarederror" }),
  evalMetric: z.string({ error: "must be an XGBoost eval_metric such as rmse" }),
  numRound: number.optional(),
  ranges: z.record(z.string(), parameterRange, { error: "must map hyperparameter names to ranges" }),
  maxJobs: number.optional(),
  maxParallelJobs: number.optional(),
  instanceType: z.string({ error: "must be a SageMaker training instance type such as ml.m5.xlarge" }).optional(),
  instanceCount: number.optional(),
  volumeSizeGiB: number.optional(),
  maxRuntimeSeconds: number.optional(),
  xgboostVersion: z.string({ error: "must be a version of the built-in XGBoost such as 1.7-1" }).optional(),
  testing: z.boolean({ error: "must be true or false" }).optional(),
}).superRefine((tuning, ctx) => {
  for (const problem of tuningSpecProblems(tuning)) ctx.addIssue({ code: "custom", path: [...problem.path], message: problem.message });
}) satisfies z.ZodType<TuningSpec>;

/** The evaluation of one model: EvaluationSpec's shape here, its rules in evaluationSpecProblems (evaluation.ts). */
const evaluationSchema = z.strictObject({
  instanceType: z.string({ error: "must be a SageMaker batch transform instance type such as ml.m5.large" }).optional(),
  instanceCount: number.optional(),
}).superRefine((evaluation, ctx) => {
  for (const problem of evaluationSpecProblems(evaluation)) ctx.addIssue({ code: "custom", path: [problem.field], message: problem.message });
}) satisfies z.ZodType<EvaluationSpec>;

// ---------------------------------------------------------------------------------------------
// A model's data.
// ---------------------------------------------------------------------------------------------

const SPLITS = ["train", "validation", "test"] as const;
/** How far the fractions may be off 1 (decimal fractions are not exact in binary). */
const SPLIT_TOLERANCE = 1e-9;

const fraction = z.number({ error: "must be a fraction such as 0.15" })
  .gt(0, { error: "must be more than 0 (every split needs rows)" })
  .lt(1, { error: "must be less than 1" });

const modelSchema = z.strictObject({
  /**
   * The SQL that returns the model's rows: `$1` is bound to the window's first day, `$2` to the
   * day after its last (both YYYY-MM-DD; the session runs in UTC).
   */
  query: z.string({ error: "must be the SQL text of a query" }).trim().min(1, { error: "must be the SQL text of a query" })
    .superRefine((query, ctx) => {
      const problem = queryPlaceholderProblem(query);
      if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
    }),
  /** The column (date, timestamp or timestamptz) that places a row in the window. */
  dateColumn: column,
  /** The window: from `start` to the day `pushbackDays` before the run (that day excluded). */
  window: z.strictObject({
    start: isoDate,
    /** @default 30 */
    pushbackDays: wholeNumber(0, 36500).default(30),
  }),
  /** The column XGBoost learns to predict (first column of the training CSV). */
  target: column,
  /** The feature columns, in CSV order. */
  features: z.array(column, { error: "must be a list of column names" }).min(1, { error: "must list at least one column" }),
  /**
   * The columns that identify a row: its split is decided by a hash of their values, so a row stays
   * in its split from one run to the next.
   * @default - the whole row: dateColumn, target and features
   */
  rowKey: z.array(column, { error: "must be a list of column names" }).min(1, { error: "must list at least one column" }).optional(),
  split: z.strictObject({ train: fraction, validation: fraction, test: fraction }),
  tuning: tuningSchema,
  evaluation: evaluationSchema.prefault({}),
}).superRefine((model, ctx) => {
  const seen = new Set<string>();
  model.features.forEach((feature, i) => {
    if (seen.has(feature)) ctx.addIssue({ code: "custom", path: ["features", i], message: `lists ${feature} twice` });
    seen.add(feature);
    if (feature === model.target) ctx.addIssue({ code: "custom", path: ["features", i], message: `is the target (${feature}): a model must not learn from its answer` });
    if (feature === model.dateColumn) {
      ctx.addIssue({
        code: "custom",
        path: ["features", i],
        message: `is the dateColumn (${feature}), a date, and XGBoost reads numbers: derive numbers from it in the query (EXTRACT(dow FROM ${feature}) AS ${feature}_dow)`,
      });
    }
  });
  if (model.target === model.dateColumn) ctx.addIssue({ code: "custom", path: ["target"], message: `is the dateColumn (${model.dateColumn}): the target must be a number` });
  if (model.rowKey !== undefined && new Set(model.rowKey).size !== model.rowKey.length) {
    ctx.addIssue({ code: "custom", path: ["rowKey"], message: "lists a column twice" });
  }
  const sum = SPLITS.reduce((total, s) => total + model.split[s], 0);
  if (Math.abs(sum - 1) > SPLIT_TOLERANCE) {
    ctx.addIssue({
      code: "custom",
      path: ["split"],
      message: `must add up to 1, got ${Number(sum.toFixed(12))} (${SPLITS.map((s) => `${s} ${model.split[s]}`).join(" + ")})`,
    });
  }
});

/** One model's retraining, as the steps receive it. */
export type ModelRetraining = z.output<typeof modelSchema>;

// ---------------------------------------------------------------------------------------------
// The database.
// ---------------------------------------------------------------------------------------------

const databaseSchema = z.strictObject({
  /** @default - PGHOST, or the secret's host */
  host: z.string({ error: "must be a host name or address" }).min(1, { error: "must be a host name or address" }).optional(),
  /** @default - PGPORT, or the secret's port, else 5432 */
  port: wholeNumber(1, 65535).optional(),
  /** @default - PGDATABASE, or the secret's dbname */
  database: z.string({ error: "must be a database name" }).min(1, { error: "must be a database name" }).optional(),
  /** @default - PGUSER (not with secretArn: the secret's username) */
  user: z.string({ error: "must be a user name" }).min(1, { error: "must be a user name" }).optional(),
  /** Never allowed: refused below with what to do instead. */
  password: z.unknown().optional(),
  /** A Secrets Manager secret, JSON with username and password (and host, port, dbname). @default - PGUSER and PGPASSWORD */
  secretArn: z.string({ error: "must be a Secrets Manager secret ARN" }).regex(SECRET_ARN, { error: "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)" }).optional(),
  /**
   * TLS: verify-full checks the server's certificate chain and name; require encrypts without
   * checking who answers; disable sends everything in clear text, for a database on the test
   * machine only (insecureDisableTlsForLocalTests must confirm it).
   * @default "verify-full"
   */
  sslmode: z.enum(SSL_MODES, { error: `must be one of ${SSL_MODES.join(", ")}` }).default("verify-full"),
  /** PEM file of the CAs to trust (relative to the repository root), such as Amazon RDS's bundle. @default - Node's bundled public CAs */
  sslRootCert: z.string({ error: "must be the path of a PEM file" }).min(1, { error: "must be the path of a PEM file" }).optional(),
  /** Confirms sslmode: disable, which is for a database on the same machine in local tests only. @default false */
  insecureDisableTlsForLocalTests: z.boolean({ error: "must be true or false" }).optional(),
}).superRefine((db, ctx) => {
  if (db.password !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["password"],
      message: `must not be in ${RETRAINING_FILE} (it is committed): set PGPASSWORD in the environment, or keep the credentials in AWS Secrets Manager and set secretArn`,
    });
  }
  if (db.secretArn !== undefined && db.user !== undefined) {
    ctx.addIssue({ code: "custom", path: ["user"], message: "must not be set with secretArn: the user is the secret's username" });
  }
  if (db.sslmode === "disable" && db.insecureDisableTlsForLocalTests !== true) {
    ctx.addIssue({
      code: "custom",
      path: ["sslmode"],
      message: "is disable, which sends the password and the data in clear text: it is for a database on the test machine only, "
        + "and needs insecureDisableTlsForLocalTests: true to say so; use verify-full (or require) for a real database",
    });
  }
  if (db.insecureDisableTlsForLocalTests === true && db.sslmode !== "disable") {
    ctx.addIssue({ code: "custom", path: ["insecureDisableTlsForLocalTests"], message: `only goes with sslmode: disable, and sslmode is ${db.sslmode}: remove it` });
  }
  if (db.sslRootCert !== undefined && db.sslmode !== "verify-full") {
    ctx.addIssue({ code: "custom", path: ["sslRootCert"], message: `is only used by sslmode: verify-full (${db.sslmode} checks no certificate)` });
  }
}).transform(({ password: _password, ...db }) => db);

/** The database section as written (values not yet taken from the environment or the secret). */
export type DatabaseConfig = z.output<typeof databaseSchema>;

// ---------------------------------------------------------------------------------------------
// The file.
// ---------------------------------------------------------------------------------------------

/** The whole file, for a service whose models are `models`. */
export function retrainingSchema(models: readonly string[]) {
  return z.strictObject({
    database: databaseSchema.prefault({}),
    models: z.record(z.string(), modelSchema, { error: "must map model names to their retraining" }),
  }).superRefine((config, ctx) => {
    const configured = Object.keys(config.models);
    if (configured.length === 0) ctx.addIssue({ code: "custom", path: ["models"], message: "must configure at least one model" });
    for (const model of configured.filter((m) => !models.includes(m))) {
      ctx.addIssue({
        code: "custom",
        path: ["models", model],
        message: `is not a model of the service; its models are ${models.join(", ")} (models in .projenrc.ts)`,
      });
    }
  });
}

/** The retraining configuration, validated. */
export type RetrainingConfig = z.output<ReturnType<typeof retrainingSchema>>;

/** Validates a parsed file; throws a ConfigError listing every problem, each naming `file` and its key path. */
export function parseRetrainingConfig(input: unknown, models: readonly string[], file = RETRAINING_FILE): RetrainingConfig {
  const result = toResult(retrainingSchema(models), input ?? {});
  if (!result.ok) throw new ConfigError(result.problems.map((p): FileProblem => ({ ...p, file })));
  return result.value;
}

/**
 * Reads and validates `dir`/retraining.yaml for a service whose models are `models` (the service
 * definition's). YAML is read by the stack files' rules (UTF-8, one document, no key twice).
 */
export function loadRetrainingConfig(dir: string, models: readonly string[]): RetrainingConfig {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(join(dir, RETRAINING_FILE));
  } catch {
    throw new ConfigError([{
      file: RETRAINING_FILE, path: "(file)", message: "cannot be read: create it at the repository root (README, \"Retraining\")",
    }]);
  }
  const { doc } = readYamlForEditing(bytes, RETRAINING_FILE);
  let input: unknown;
  try {
    input = doc?.toJS();
  } catch (error) {
    throw new ConfigError([{ file: RETRAINING_FILE, path: "(file)", message: `is not valid YAML: ${(error as Error).message.split("\n")[0]}` }]);
  }
  return parseRetrainingConfig(input, models);
}

/** One model's retraining; a model without an entry is refused, naming those that have one. */
export function modelRetraining(config: RetrainingConfig, model: string): ModelRetraining {
  const found = config.models[model];
  if (found !== undefined) return found;
  throw new CliError(`model "${model}" has no retraining configured: add models.${model} to ${RETRAINING_FILE} `
    + `(configured: ${Object.keys(config.models).join(", ")})`);
}
