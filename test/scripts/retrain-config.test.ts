import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { parse } from "yaml";
import { CliError } from "../../scripts/lib/cli";
import {
  loadRetrainingConfig, modelRetraining, parseRetrainingConfig, queryPlaceholderProblem, RETRAINING_FILE,
} from "../../scripts/lib/retrain/config";
import { type ConnectionSettings, resolveConnection } from "../../scripts/lib/retrain/database";
import { evaluationSpecProblems } from "../../scripts/lib/retrain/evaluation";
import { type TuningSpec, tuningSpecProblems } from "../../scripts/lib/retrain/tuning-spec";
import { readProjectConfig } from "../../stacks/config/files";
import { ConfigError } from "../../stacks/config/load";
import { REPO_ROOT } from "../support/stack-files";

const MODEL = "demand-model";
const OTHER = "spare-model";
const MODELS = [MODEL, OTHER];
const SECRET_ARN = "arn:aws:secretsmanager:ap-southeast-4:404040404041:secret:warehouse-AbCdEf";

const secrets = mockClient(SecretsManagerClient);
beforeEach(() => secrets.reset());

/** A valid model entry, as written in the file. */
function modelEntry(): Record<string, unknown> {
  return {
    query: "SELECT id, day, y, a, b FROM facts WHERE day >= $1 AND day < $2",
    dateColumn: "day",
    window: { start: "2021-03-01" },
    target: "y",
    features: ["a", "b"],
    split: { train: 0.7, validation: 0.15, test: 0.15 },
    tuning: {
      objective: "reg:squarederror",
      evalMetric: "rmse",
      objectiveMetric: "validation:rmse",
      ranges: {
        eta: { type: "continuous", min: 0.1, max: 0.5, scaling: "Logarithmic" },
        num_round: { type: "integer", min: 1, max: 4000 },
      },
    },
  };
}

/** A file with one model, `edit` applied to its entry (and to the whole file). */
function file(edit: (model: Record<string, unknown>, all: Record<string, unknown>) => void = () => undefined): Record<string, unknown> {
  const model = modelEntry();
  const all: Record<string, unknown> = { models: { [MODEL]: model } };
  edit(model, all);
  return all;
}

/** The problems of a file, as "file: path: message" lines. */
function problems(input: unknown, models: readonly string[] = MODELS): string[] {
  try {
    parseRetrainingConfig(input, models);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.file}: ${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

const tuning = (model: Record<string, unknown>) => model.tuning as Record<string, unknown>;
const ranges = (model: Record<string, unknown>) => tuning(model).ranges as Record<string, unknown>;

describe("the shipped retraining.yaml", () => {
  test("GIVEN the repository's retraining.yaml WHEN it is validated for the service definition's models THEN it has no problem", () => {
    // The service's own models (Pulumi.yaml, from .projenrc.ts): a file left over from another service fails here.
    const { project } = readProjectConfig(REPO_ROOT);
    const text = readFileSync(join(REPO_ROOT, RETRAINING_FILE), "utf8");
    const configured = Object.keys((parse(text) as { models: Record<string, unknown> }).models);
    const config = loadRetrainingConfig(REPO_ROOT, project.models);
    expect(Object.keys(config.models)).toEqual(configured);
    expect(configured.every((m) => project.models.includes(m))).toBe(true);
    expect(config.database.sslmode).toBe("verify-full");
  });
});

describe("a valid file", () => {
  test("GIVEN a model without pushbackDays, evaluation or a database section WHEN parsed THEN the window pushes back 30 days and TLS is verify-full", () => {
    const config = parseRetrainingConfig(file(), MODELS);
    expect(config.models[MODEL].window).toEqual({ start: "2021-03-01", pushbackDays: 30 });
    expect(config.models[MODEL].evaluation).toEqual({});
    expect(config.database).toEqual({ sslmode: "verify-full" });
  });

  test("GIVEN a parsed file WHEN a model is looked up THEN a configured one comes back and another is refused naming those configured", () => {
    const config = parseRetrainingConfig(file(), MODELS);
    expect(modelRetraining(config, MODEL).target).toBe("y");
    expect(() => modelRetraining(config, OTHER)).toThrow(new CliError(
      `model "${OTHER}" has no retraining configured: add models.${OTHER} to retraining.yaml (configured: ${MODEL})`));
  });
});

describe("the query's placeholders", () => {
  test("GIVEN queries WHEN their placeholders are checked THEN $1 and $2 are both required, $10 is not $1, and other numbers are refused", () => {
    expect(queryPlaceholderProblem("SELECT 1 WHERE d >= $1 AND d < $2")).toBeUndefined();
    expect(queryPlaceholderProblem("SELECT 1 WHERE d >= $2 AND d < $1 OR $1 IS NULL")).toBeUndefined();
    expect(queryPlaceholderProblem("SELECT 1 WHERE d >= $1")).toMatch(/^does not use \$2: the query must filter on the window/);
    expect(queryPlaceholderProblem("SELECT 1 WHERE d >= $10 AND d < $2")).toMatch(/^does not use \$1 and uses \$10, which nothing binds:/);
    expect(queryPlaceholderProblem("SELECT 1 WHERE d BETWEEN $1 AND $2 AND k = $3")).toMatch(/^uses \$3, which nothing binds:/);
    expect(queryPlaceholderProblem("SELECT $$quoted$$ WHERE d >= '2020-01-01'")).toMatch(/^does not use \$1 and \$2:/);
  });

  test("GIVEN a query with its window pasted in WHEN the file is parsed THEN the problem names the file and models.<model>.query", () => {
    const found = problems(file((m) => { m.query = "SELECT id, day, y, a, b FROM facts WHERE day >= '2020-01-01'"; }));
    expect(found).toEqual([`retraining.yaml: models.${MODEL}.query: ${queryPlaceholderProblem("'")}`]);
  });
});

describe("problems name the file and the key", () => {
  test.each<[string, (m: Record<string, unknown>, all: Record<string, unknown>) => void, string]>([
    ["a model the service does not have", (_m, all) => { (all.models as Record<string, unknown>)["ghost-model"] = modelEntry(); },
      `models.ghost-model: is not a model of the service; its models are ${MODEL}, ${OTHER} (models in .projenrc.ts)`],
    ["no models", (_m, all) => { all.models = {}; }, "models: must configure at least one model"],
    ["a misspelt key", (m) => { m.featurs = m.features; }, `models.${MODEL}.featurs: unknown key (check the spelling)`],
    ["a date that does not exist", (m) => { m.window = { start: "2023-02-29" }; }, `models.${MODEL}.window.start: must be a calendar date written YYYY-MM-DD`],
    ["a negative pushback", (m) => { m.window = { start: "2023-02-01", pushbackDays: -1 }; }, `models.${MODEL}.window.pushbackDays: must be at least 0, got -1`],
    ["fractions that do not add up to 1", (m) => { m.split = { train: 0.7, validation: 0.15, test: 0.1 }; },
      `models.${MODEL}.split: must add up to 1, got 0.95 (train 0.7 + validation 0.15 + test 0.1)`],
    ["an empty split", (m) => { m.split = { train: 0.85, validation: 0.15, test: 0 }; }, `models.${MODEL}.split.test: must be more than 0 (every split needs rows), got 0`],
    ["the target among the features", (m) => { m.features = ["a", "y"]; }, `models.${MODEL}.features[1]: is the target (y): a model must not learn from its answer`],
    ["a feature listed twice", (m) => { m.features = ["a", "b", "a"]; }, `models.${MODEL}.features[2]: lists a twice`],
    ["the date among the features", (m) => { m.features = ["a", "day"]; },
      `models.${MODEL}.features[1]: is the dateColumn (day), a date, and XGBoost reads numbers: derive numbers from it in the query (EXTRACT(dow FROM day) AS day_dow)`],
    ["the date as the target", (m) => { m.target = "day"; }, `models.${MODEL}.target: is the dateColumn (day): the target must be a number`],
    ["a row key column listed twice", (m) => { m.rowKey = ["id", "id"]; }, `models.${MODEL}.rowKey: lists a column twice`],
    ["a column that is not a plain name", (m) => { m.target = "y-value"; },
      `models.${MODEL}.target: must be a column name of the query's result: letters, digits and _ (rename others with AS in the query), got "y-value"`],
    ["testing given as text", (m) => { tuning(m).testing = "yes"; }, `models.${MODEL}.tuning.testing: must be true or false, got "yes"`],
    ["a range without a type", (m) => { ranges(m).eta = { min: 0.1, max: 0.5 }; }, `models.${MODEL}.tuning.ranges.eta.type: must be continuous or integer`],
    ["a misspelt tuning key", (m) => { tuning(m).maxJob = 3; }, `models.${MODEL}.tuning.maxJob: unknown key (check the spelling)`],
  ])("GIVEN %s WHEN the file is parsed THEN the one problem names retraining.yaml and its key", (_what, edit, expected) => {
    const found = problems(file(edit));
    expect(found).toHaveLength(1);
    expect(found[0].startsWith(`retraining.yaml: ${expected}`)).toBe(true);
  });
});

describe("the tuning and evaluation rules are the steps' own", () => {
  test.each<[string, (tuning: Record<string, unknown>) => void]>([
    ["a training objective on the training split", (t) => { t.objectiveMetric = "train:rmse"; }],
    ["a metric to maximise, minimised by default", (t) => { t.evalMetric = "auc"; t.objectiveMetric = "validation:auc"; }],
    ["a hyperparameter XGBoost does not tune", (t) => { (t.ranges as Record<string, unknown>).learning_rate = { type: "continuous", min: 0.1, max: 0.2 }; }],
    ["a whole-number hyperparameter searched as continuous", (t) => { (t.ranges as Record<string, unknown>).max_depth = { type: "continuous", min: 1, max: 10 }; }],
    ["a reverse logarithmic integer range", (t) => {
      (t.ranges as Record<string, unknown>).max_delta_step = { type: "integer", min: 0, max: 1, scaling: "ReverseLogarithmic" };
    }],
    ["num_round both tuned and fixed", (t) => { t.numRound = 100; }],
    ["no parallel jobs", (t) => { t.maxParallelJobs = 0; }],
    ["a training instance type that does not exist", (t) => { t.instanceType = "ml.m5.huge"; }],
  ])("GIVEN %s WHEN the file is parsed THEN each problem tuningSpecProblems finds is reported at its key in retraining.yaml", (_what, edit) => {
    const found = problems(file((m) => edit(tuning(m))));
    const edited = modelEntry();
    edit(tuning(edited));
    const expected = tuningSpecProblems(tuning(edited) as unknown as TuningSpec)
      .map((p) => `retraining.yaml: models.${MODEL}.tuning.${p.path.join(".")}: ${p.message}`);
    expect(expected.length).toBeGreaterThan(0);
    expect(found).toEqual(expected);
  });

  test("GIVEN a batch transform instance type that does not exist WHEN the file is parsed THEN evaluationSpecProblems's problem is reported at its key", () => {
    const found = problems(file((m) => { m.evaluation = { instanceType: "ml.t3.medium", instanceCount: 2 }; }));
    const expected = evaluationSpecProblems({ instanceType: "ml.t3.medium", instanceCount: 2 })
      .map((p) => `retraining.yaml: models.${MODEL}.evaluation.${p.field}: ${p.message}`);
    expect(expected).toHaveLength(1);
    expect(found).toEqual(expected);
  });

  test("GIVEN the seed's ranges in the shipped file WHEN its tuning sections are checked by the tuning step's rules THEN none has a problem", () => {
    const text = readFileSync(join(REPO_ROOT, RETRAINING_FILE), "utf8");
    const models = (parse(text) as { models: Record<string, { tuning: TuningSpec }> }).models;
    for (const model of Object.values(models)) expect(tuningSpecProblems(model.tuning)).toEqual([]);
  });
});

describe("the database section", () => {
  const withDatabase = (database: Record<string, unknown>) => file((_m, all) => { all.database = database; });

  test("GIVEN a password in the file WHEN parsed THEN it is refused with what to do instead, and the message does not repeat it", () => {
    const found = problems(withDatabase({ host: "db.internal", password: "hunter2-in-the-repo" }));
    expect(found).toEqual(["retraining.yaml: database.password: must not be in retraining.yaml (it is committed): set PGPASSWORD in the environment, "
      + "or keep the credentials in AWS Secrets Manager and set secretArn"]);
    expect(found.join("\n")).not.toContain("hunter2");
  });

  test.each<[string, Record<string, unknown>, string]>([
    ["TLS disabled without the local-tests key", { sslmode: "disable" },
      "database.sslmode: is disable, which sends the password and the data in clear text: it is for a database on the test machine only, "
      + "and needs insecureDisableTlsForLocalTests: true to say so; use verify-full (or require) for a real database"],
    ["the local-tests key with TLS on", { sslmode: "require", insecureDisableTlsForLocalTests: true },
      "database.insecureDisableTlsForLocalTests: only goes with sslmode: disable, and sslmode is require: remove it"],
    ["a CA bundle that would not be used", { sslmode: "require", sslRootCert: "certs/ca.pem" },
      "database.sslRootCert: is only used by sslmode: verify-full (require checks no certificate)"],
    ["a user beside a secret", { secretArn: SECRET_ARN, user: "etl" }, "database.user: must not be set with secretArn: the user is the secret's username"],
    ["a secret that is not an ARN", { secretArn: "warehouse" },
      "database.secretArn: must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), got \"warehouse\""],
    ["an unknown TLS mode", { sslmode: "prefer" }, "database.sslmode: must be one of verify-full, require, disable, got \"prefer\""],
    ["a port out of range", { port: 70000 }, "database.port: must be at most 65535, got 70000"],
  ])("GIVEN %s WHEN parsed THEN the problem names the key", (_what, database, expected) => {
    expect(problems(withDatabase(database))).toEqual([`retraining.yaml: ${expected}`]);
  });

  test("GIVEN TLS disabled with the local-tests key WHEN parsed THEN it is accepted", () => {
    expect(parseRetrainingConfig(withDatabase({ sslmode: "disable", insecureDisableTlsForLocalTests: true }), MODELS).database.sslmode).toBe("disable");
  });
});

describe("reading the file", () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "retrain-config-")); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("GIVEN no retraining.yaml WHEN loaded THEN the error names the file and says to create it", () => {
    expect(() => loadRetrainingConfig(dir, MODELS)).toThrow(ConfigError);
    try {
      loadRetrainingConfig(dir, MODELS);
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        { file: "retraining.yaml", path: "(file)", message: "cannot be read: create it at the repository root (README, \"Retraining\")" },
      ]);
    }
  });

  test.each([
    ["a key written twice", "models:\n  a: {}\n  a: {}\n", /^retraining\.yaml: models\.a: is set twice \(again at line 3\)/],
    ["broken YAML", "models: [\n", /^retraining\.yaml: \(file\): is not valid YAML/],
    ["a merge of something that is not a map", "base: &b 5\nmodels:\n  <<: *b\n", /^retraining\.yaml: \(file\): is not valid YAML/],
  ])("GIVEN %s WHEN loaded THEN the problem names the file", (_what, text, expected) => {
    writeFileSync(join(dir, RETRAINING_FILE), text);
    let found: string[] = [];
    try {
      loadRetrainingConfig(dir, MODELS);
    } catch (error) {
      found = (error as ConfigError).problems.map((p) => `${p.file}: ${p.path}: ${p.message}`);
    }
    expect(found[0]).toMatch(expected);
  });
});

describe("the connection", () => {
  const database = (db: Record<string, unknown> = {}) => parseRetrainingConfig(file((_m, all) => { all.database = db; }), MODELS).database;
  const ENV = { PGHOST: "env-host", PGPORT: "6543", PGDATABASE: "env_db", PGUSER: "env_user", PGPASSWORD: "env-secret-pw" };
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "retrain-conn-")); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Everything of the settings that can be printed. */
  const printable = (s: ConnectionSettings) => JSON.stringify(s);

  test("GIVEN only the environment WHEN resolved THEN PG* variables give every value, and the printed settings hold no password", async () => {
    const s = await resolveConnection(database(), { dir, env: ENV });
    expect({ host: s.host, port: s.port, database: s.database, user: s.user, sslmode: s.sslmode }).toEqual({
      host: "env-host", port: 6543, database: "env_db", user: "env_user", sslmode: "verify-full",
    });
    expect(s.password()).toBe("env-secret-pw");
    expect(s.credentialsFrom).toBe("PGUSER and PGPASSWORD");
    expect(printable(s)).not.toContain("env-secret-pw");
  });

  test("GIVEN the file and the environment WHEN resolved THEN the file's host, port, database and user win", async () => {
    const s = await resolveConnection(database({ host: "file-host", port: 5433, database: "file_db", user: "file_user" }), { dir, env: ENV });
    expect([s.host, s.port, s.database, s.user]).toEqual(["file-host", 5433, "file_db", "file_user"]);
    expect(s.credentialsFrom).toBe("database.user in retraining.yaml and PGPASSWORD");
  });

  test("GIVEN nothing WHEN resolved THEN the error lists every missing value and where it may come from", async () => {
    await expect(resolveConnection(database(), { dir, env: {} })).rejects.toThrow(new CliError("cannot connect to the retraining database: nothing gives "
      + "the host (database.host in retraining.yaml, or PGHOST); the database name (database.database in retraining.yaml, or PGDATABASE); "
      + "the user (database.user in retraining.yaml, or PGUSER, or a secret: database.secretArn)"));
  });

  test("GIVEN no password anywhere WHEN resolved THEN the settings say so and the password is undefined", async () => {
    const s = await resolveConnection(database(), { dir, env: { ...ENV, PGPASSWORD: undefined } });
    expect(s.password()).toBeUndefined();
    expect(s.credentialsFrom).toBe("PGUSER and no password (PGPASSWORD is not set)");
  });

  test("GIVEN PGPORT that is not a port WHEN resolved THEN the error names it", async () => {
    await expect(resolveConnection(database(), { dir, env: { ...ENV, PGPORT: "54x" } })).rejects.toThrow(new CliError('PGPORT must be a port number from 1 to 65535, got "54x"'));
  });

  test("GIVEN a secret WHEN resolved THEN its username and password are used (not PGUSER/PGPASSWORD) and the file's host overrides the secret's", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
      SecretString: JSON.stringify({ host: "secret-host", port: 5999, dbname: "secret_db", username: "secret_user", password: "secret-pw-value" }),
    });
    const s = await resolveConnection(database({ secretArn: SECRET_ARN, host: "proxy-host" }), { dir, env: ENV, secrets: new SecretsManagerClient({}) });
    expect([s.host, s.port, s.database, s.user, s.password()]).toEqual(["proxy-host", 5999, "secret_db", "secret_user", "secret-pw-value"]);
    expect(s.credentialsFrom).toBe(`the secret ${SECRET_ARN}`);
    expect(printable(s)).not.toContain("secret-pw-value");
  });

  test.each<[string, string | undefined, string]>([
    ["text that is not JSON", "password=secret-pw-value", `the database secret ${SECRET_ARN} is not JSON: it must be a JSON object with username and password (and host, port, dbname)`],
    ["a JSON list", '["secret-pw-value"]', `the database secret ${SECRET_ARN} is not a JSON object: it must hold username and password (and host, port, dbname)`],
    ["no password", '{"username":"u","host":"secret-pw-value"}',
      `the database secret ${SECRET_ARN} lacks a usable password: it must be JSON with username and password (strings), and may give host, dbname (strings) and port (a number)`],
    ["a port that is not one", '{"username":"u","password":"secret-pw-value","port":"x"}',
      `the database secret ${SECRET_ARN} lacks a usable port: it must be JSON with username and password (strings), and may give host, dbname (strings) and port (a number)`],
    ["no SecretString", undefined, `the database secret ${SECRET_ARN} holds no SecretString (a binary secret?): it must be JSON with username and password`],
  ])("GIVEN a secret with %s WHEN resolved THEN the error names the secret and never quotes it", async (_what, secretString, expected) => {
    secrets.on(GetSecretValueCommand).resolves(secretString === undefined ? {} : { SecretString: secretString });
    const error = await resolveConnection(database({ secretArn: SECRET_ARN }), { dir, env: ENV, secrets: new SecretsManagerClient({}) })
      .catch((e: Error) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as Error).message).toBe(expected);
    expect((error as Error).message).not.toContain("secret-pw-value");
  });

  test("GIVEN a secret the role may not read WHEN resolved THEN the error names the secret and the permission", async () => {
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error("User is not authorized to perform secretsmanager:GetSecretValue"), { name: "AccessDeniedException" }));
    const secretsClient = new SecretsManagerClient({});
    await expect(resolveConnection(database({ secretArn: SECRET_ARN }), { dir, env: ENV, secrets: secretsClient, retry: { maxAttempts: 1 } }))
      .rejects.toThrow(new CliError(`cannot read the database secret ${SECRET_ARN} (AccessDeniedException: User is not authorized to perform secretsmanager:GetSecretValue); `
        + "the role that runs the retraining needs secretsmanager:GetSecretValue on it"));
  });

  test("GIVEN a secretArn and no Secrets Manager client WHEN resolved THEN the error says so", async () => {
    await expect(resolveConnection(database({ secretArn: SECRET_ARN }), { dir, env: ENV }))
      .rejects.toThrow(new CliError(`retraining.yaml: database.secretArn is set, but no Secrets Manager client was given to read ${SECRET_ARN}`));
  });

  test("GIVEN sslRootCert WHEN resolved THEN the PEM file is read relative to the repository root; a missing or non-PEM file is named", async () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    writeFileSync(join(dir, "ca.pem"), pem);
    writeFileSync(join(dir, "not.pem"), "hello");
    expect((await resolveConnection(database({ sslRootCert: "ca.pem" }), { dir, env: ENV })).ca).toBe(pem);
    await expect(resolveConnection(database({ sslRootCert: "missing.pem" }), { dir, env: ENV })).rejects.toThrow(new CliError(
      "retraining.yaml: database.sslRootCert: cannot read missing.pem; it must be a PEM file of CA certificates, relative to the repository root"));
    await expect(resolveConnection(database({ sslRootCert: "not.pem" }), { dir, env: ENV })).rejects.toThrow(new CliError(
      "retraining.yaml: database.sslRootCert: not.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  });
});
