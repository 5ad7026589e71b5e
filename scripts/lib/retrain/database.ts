import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Client, type ClientConfig, type FieldDef } from "pg";
import { type DatabaseConfig, RETRAINING_FILE, type SslMode } from "./config";
import { type RetryOptions, retryingClient } from "../aws";
import { CliError, isError } from "../cli";

/**
 * The retraining database (PostgreSQL): the settings to reach it (retraining.yaml, then the
 * secret, then the PG* environment), the connection (TLS verified by default; a failure names the
 * host, the port and what failed, and never a credential), and a query read in batches through a
 * server-side cursor, its values bound by the driver.
 */

/** PostgreSQL's port when nothing says otherwise. */
export const DEFAULT_POSTGRES_PORT = 5432;

// ---------------------------------------------------------------------------------------------
// The settings: the file, then the secret, then the environment.
// ---------------------------------------------------------------------------------------------

/**
 * Where and how to connect, with every value resolved. The password is a function, so the
 * settings can be printed, logged or serialised without it.
 */
export interface ConnectionSettings {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** The password, when there is one (a function, so that it never prints). */
  readonly password: () => string | undefined;
  readonly sslmode: SslMode;
  /** PEM text of the CAs verify-full trusts. @default - Node's bundled public CAs */
  readonly ca?: string;
  /** Where the user and password came from, for messages (never the values). */
  readonly credentialsFrom: string;
}

/** What resolveConnection reads besides the file. */
export interface ResolveOptions {
  /** Directory that sslRootCert is relative to (the repository root). */
  readonly dir: string;
  /**
   * The environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD.
   * @default - none: only the file and the secret
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Reads the secret of `secretArn`.
   * @default - none: a secretArn is refused
   */
  readonly secrets?: SecretsManagerClient;
  /** @default - the project's retry policy */
  readonly retry?: RetryOptions;
}

/** The JSON of a database secret (the shape RDS and Secrets Manager's rotation templates use). */
interface DatabaseSecret {
  readonly host?: string;
  readonly port?: number;
  readonly dbname?: string;
  readonly username: string;
  readonly password: string;
}

/**
 * The settings to connect with: each of host, port and database from the file, else the secret,
 * else PGHOST/PGPORT/PGDATABASE; the user and password from the secret when secretArn is set,
 * else PGUSER (or the file's user) and PGPASSWORD. Throws a CliError naming what is missing and
 * where it may come from; no message carries a password or the secret's text.
 */
export async function resolveConnection(db: DatabaseConfig, options: ResolveOptions): Promise<ConnectionSettings> {
  const env = options.env ?? {};
  const secret = db.secretArn === undefined ? undefined : await readDatabaseSecret(db.secretArn, options);
  const envPort = env.PGPORT === undefined || env.PGPORT === "" ? undefined : portFromEnv(env.PGPORT);
  const host = db.host ?? secret?.host ?? nonEmpty(env.PGHOST);
  const database = db.database ?? secret?.dbname ?? nonEmpty(env.PGDATABASE);
  const user = secret?.username ?? db.user ?? nonEmpty(env.PGUSER);
  const fromSecret = db.secretArn === undefined ? "" : `, or the secret ${db.secretArn}`;
  const missing = [
    ...(host === undefined ? [`the host (database.host in ${RETRAINING_FILE}, or PGHOST${fromSecret})`] : []),
    ...(database === undefined ? [`the database name (database.database in ${RETRAINING_FILE}, or PGDATABASE${fromSecret})`] : []),
    ...(user === undefined ? [`the user (database.user in ${RETRAINING_FILE}, or PGUSER, or a secret: database.secretArn)`] : []),
  ];
  if (host === undefined || database === undefined || user === undefined) {
    throw new CliError(`cannot connect to the retraining database: nothing gives ${missing.join("; ")}`);
  }
  const password = secret?.password ?? nonEmpty(env.PGPASSWORD);
  return {
    host,
    port: db.port ?? secret?.port ?? envPort ?? DEFAULT_POSTGRES_PORT,
    database,
    user,
    password: () => password,
    sslmode: db.sslmode,
    ...(db.sslRootCert !== undefined ? { ca: readRootCertificates(db.sslRootCert, options.dir) } : {}),
    credentialsFrom: db.secretArn !== undefined ? `the secret ${db.secretArn}`
      : `${db.user !== undefined ? `database.user in ${RETRAINING_FILE}` : "PGUSER"} and ${password === undefined ? "no password (PGPASSWORD is not set)" : "PGPASSWORD"}`,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function portFromEnv(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new CliError(`PGPORT must be a port number from 1 to 65535, got "${text}"`);
  return port;
}

function readRootCertificates(path: string, dir: string): string {
  const file = isAbsolute(path) ? path : join(dir, path);
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch {
    throw new CliError(`${RETRAINING_FILE}: database.sslRootCert: cannot read ${path}; it must be a PEM file of CA certificates, relative to the repository root`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CliError(`${RETRAINING_FILE}: database.sslRootCert: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

/**
 * GetSecretValue of a database secret, checked for the fields a connection needs. Errors name the
 * secret and the missing fields, never its text: a JSON parser's message would quote it.
 */
async function readDatabaseSecret(arn: string, options: ResolveOptions): Promise<DatabaseSecret> {
  if (options.secrets === undefined) {
    throw new CliError(`${RETRAINING_FILE}: database.secretArn is set, but no Secrets Manager client was given to read ${arn}`);
  }
  let text: string | undefined;
  try {
    text = (await retryingClient(options.secrets, options.retry).send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
  } catch (error) {
    if (error instanceof CliError) throw error;
    const what = isError(error) ? `${error.name}: ${error.message.split("\n")[0]}` : String(error);
    throw new CliError(`cannot read the database secret ${arn} (${what}); the role that runs the retraining needs secretsmanager:GetSecretValue on it`);
  }
  if (text === undefined) throw new CliError(`the database secret ${arn} holds no SecretString (a binary secret?): it must be JSON with username and password`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`the database secret ${arn} is not JSON: it must be a JSON object with username and password (and host, port, dbname)`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new CliError(`the database secret ${arn} is not a JSON object: it must hold username and password (and host, port, dbname)`);
  }
  const fields = parsed as Record<string, unknown>;
  const wrong = [
    ...["username", "password"].filter((k) => typeof fields[k] !== "string" || fields[k] === ""),
    ...["host", "dbname"].filter((k) => fields[k] !== undefined && (typeof fields[k] !== "string" || fields[k] === "")),
  ];
  const port = fields.port === undefined ? undefined : Number(fields.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) wrong.push("port");
  if (wrong.length > 0) {
    throw new CliError(`the database secret ${arn} lacks a usable ${wrong.join(", ")}: it must be JSON with username and password (strings), `
      + "and may give host, dbname (strings) and port (a number)");
  }
  return {
    username: fields.username as string,
    password: fields.password as string,
    ...(fields.host !== undefined ? { host: fields.host as string } : {}),
    ...(fields.dbname !== undefined ? { dbname: fields.dbname as string } : {}),
    ...(port !== undefined ? { port } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// The connection.
// ---------------------------------------------------------------------------------------------

/** What went wrong when connecting. */
export type ConnectionFailure = "dns" | "refused" | "timeout" | "tls" | "auth" | "database" | "other";

/** The database could not be reached; the message names the host, the port and what failed. */
export class DatabaseConnectionError extends CliError {
  constructor(
    public readonly host: string, public readonly port: number, public readonly failure: ConnectionFailure, public readonly reason: string,
  ) {
    super(`cannot connect to PostgreSQL at ${host}:${port}: ${reason}`);
    this.name = "DatabaseConnectionError";
  }
}

/** The driver's settings: every value explicit (no PG* variables read behind our back), values as the server's text. */
export function pgClientConfig(s: ConnectionSettings, connectTimeoutMs: number): ClientConfig {
  return {
    host: s.host,
    port: s.port,
    database: s.database,
    user: s.user,
    // A function: the driver asks for it only when the server does, and nothing prints it.
    password: s.password as () => string,
    ssl: s.sslmode === "disable" ? false
      : s.sslmode === "require" ? { rejectUnauthorized: false }
        : { rejectUnauthorized: true, ...(s.ca !== undefined ? { ca: s.ca } : {}) },
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: "retrain-data",
    // UTC and ISO dates whatever the server's defaults; nothing this session runs can write.
    options: "-c TimeZone=UTC -c DateStyle=ISO -c default_transaction_read_only=on",
    // Every value as the server writes it (numbers keep their digits, dates stay dates).
    types: { getTypeParser: () => (value: string) => value } as unknown as ClientConfig["types"],
  };
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"]);
const TIMEOUT_CODES = new Set(["ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);
const CERTIFICATE_CODES = /^(UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/;

/** Why a connection attempt failed, in words that say what to check; never a credential. */
export function describeConnectionFailure(
  error: unknown, s: ConnectionSettings, connectTimeoutMs: number,
): { failure: ConnectionFailure; reason: string } {
  const e = (isError(error) ? error : new Error(String(error))) as Error & { code?: string };
  const code = typeof e.code === "string" ? e.code : "";
  const line = e.message.split("\n")[0];
  if (DNS_CODES.has(code)) return { failure: "dns", reason: `the host name does not resolve (DNS ${code}); check database.host or PGHOST` };
  if (code === "ECONNREFUSED") return { failure: "refused", reason: "the connection was refused (ECONNREFUSED): no server listens on that port, or a firewall refuses it" };
  if (TIMEOUT_CODES.has(code) || /timeout/i.test(line)) {
    return {
      failure: "timeout",
      reason: `no answer within ${connectTimeoutMs / 1000} s (${code || line}): a security group, firewall or route drops the connection`,
    };
  }
  if (CERTIFICATE_CODES.test(code)) {
    return {
      failure: "tls",
      reason: `TLS verification of the server's certificate failed (${code}: ${line}); with sslmode verify-full the certificate must chain to `
        + "a CA in database.sslRootCert (for Amazon RDS, its CA bundle) or Node's public CAs, and name the host",
    };
  }
  if (/does not support SSL|SSL connection|ssl/i.test(line) && code === "") {
    return { failure: "tls", reason: `TLS could not be set up (${line}); the server must accept TLS with sslmode ${s.sslmode}` };
  }
  if (code === "28P01" || code === "28000" || /password must be a string|SASL|SCRAM/.test(line)) {
    const what = code === "28000" ? "the server's pg_hba.conf admits no such login from here" : "authentication failed";
    return { failure: "auth", reason: `${what}${code ? ` (SQLSTATE ${code})` : ""}: check the user and password (from ${s.credentialsFrom})` };
  }
  if (code === "3D000") return { failure: "database", reason: `the server has no database "${s.database}" (SQLSTATE 3D000)` };
  return { failure: "other", reason: `${code ? `${code}: ` : ""}${line}` };
}

/** A connected client for `settings`; failures become a DatabaseConnectionError. */
export async function connectDatabase(settings: ConnectionSettings, connectTimeoutMs = 10_000): Promise<Client> {
  const client = new Client(pgClientConfig(settings, connectTimeoutMs));
  // Errors after connecting (the server going away) reject the running query; without a listener they would crash the process.
  client.on("error", () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    const { failure, reason } = describeConnectionFailure(error, settings, connectTimeoutMs);
    throw new DatabaseConnectionError(settings.host, settings.port, failure, reason);
  }
}

// ---------------------------------------------------------------------------------------------
// The query.
// ---------------------------------------------------------------------------------------------

/** Rows per FETCH from the cursor. */
export const DEFAULT_BATCH_ROWS = 10_000;

/** A batch of rows, each an array of the server's text values (null for NULL), and the columns. */
export interface RowBatch {
  readonly fields: readonly FieldDef[];
  readonly rows: readonly (readonly (string | null)[])[];
}

const CURSOR = "retrain_rows";
const DECLARE = `DECLARE ${CURSOR} NO SCROLL CURSOR FOR `;

/**
 * Runs `sql` with `params` bound by the driver (never written into the SQL) in a read-only
 * transaction, through a server-side cursor, and yields its rows `batchRows` at a time. The first
 * batch comes even when there are no rows (its fields say what the query returns). Stopping the
 * iteration closes the cursor.
 */
export async function* queryInBatches(
  client: Client, sql: string, params: readonly unknown[], batchRows = DEFAULT_BATCH_ROWS,
): AsyncGenerator<RowBatch> {
  if (!Number.isInteger(batchRows) || batchRows < 1) throw new CliError(`rows per batch must be a whole number of at least 1, got ${batchRows}`);
  const text = sql.trim().replace(/;\s*$/, "");
  await client.query("BEGIN READ ONLY");
  try {
    try {
      await client.query({ text: DECLARE + text, values: [...params] });
    } catch (error) {
      throw queryError(error, text);
    }
    for (;;) {
      const result = await client.query<(string | null)[]>({ text: `FETCH FORWARD ${batchRows} FROM ${CURSOR}`, rowMode: "array" })
        .catch((error: unknown) => { throw queryError(error, text); });
      yield { fields: result.fields, rows: result.rows };
      if (result.rows.length < batchRows) break;
    }
  } finally {
    // Read-only: nothing to keep. Also ends an iteration stopped early, and a transaction a failure aborted.
    await client.query("ROLLBACK").catch(() => undefined);
  }
}

/** The server's error about the query, with the line and column of its position in the query as written. */
function queryError(error: unknown, sql: string): Error {
  if (!isError(error)) return new CliError(`the query failed: ${String(error)}`);
  const { code, position } = error as Error & { code?: string; position?: string };
  // Errors of the connection itself (ECONNRESET) pass as they are; the server's carry a SQLSTATE.
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return error;
  const offset = position === undefined ? undefined : Number(position) - DECLARE.length - 1;
  let at = "";
  if (offset !== undefined && offset >= 0 && offset <= sql.length) {
    const before = sql.slice(0, offset).split("\n");
    at = ` at line ${before.length}, column ${before[before.length - 1].length + 1} of the query`;
  }
  return new CliError(`the query failed${at}: ${error.message.split("\n")[0]} (SQLSTATE ${code})`);
}
