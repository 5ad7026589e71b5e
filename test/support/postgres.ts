import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";

/**
 * A real PostgreSQL server for the tests (DESIGN §6: where Debian packages a real server, tests use
 * it). Debian's `postgresql` package puts the server under /usr/lib/postgresql/<version>/bin; this
 * module runs initdb and pg_ctl from there in a temporary directory, as the `postgres` user when
 * the tests run as root (initdb refuses root), listening on a free port of 127.0.0.1 with TLS on.
 *
 * TLS is real: the setup makes its own certificate authority with `openssl`, signs a server
 * certificate for `localhost` and `127.0.0.1` with it, and also makes a second CA that signed
 * nothing, so a test can verify the server against the right CA (verify-full passes) and the wrong
 * one (verification fails). pg_hba.conf admits password (SCRAM) logins over TLS and, for the tests
 * of `sslmode: disable`, without it.
 *
 * The server's own time zone is deliberately not UTC (startPostgres's `timeZone`), so a client that
 * forgot to set its session to UTC would read dates and timestamps in another zone and fail the tests.
 *
 * Started about once per test file (startPostgres in beforeAll, stop in afterAll): initdb, the
 * certificates and the start take about 2 s on these machines.
 */

/** Where Debian installs the server binaries, one directory per major version. */
export const POSTGRES_LIB = "/usr/lib/postgresql";

/** What to install when the binaries are missing (also what .ci/run installs). */
export const INSTALL_HINT = "install Debian's postgresql package: apt-get install -y --no-install-recommends postgresql";

/** A running test server and how to reach it. */
export interface TestPostgres {
  readonly host: string;
  readonly port: number;
  /** The database the tests use (created at the start). */
  readonly database: string;
  /** The superuser, with a password login. */
  readonly user: string;
  readonly password: string;
  /** The CA that signed the server certificate (a PEM file in the server's directory). */
  readonly caFile: string;
  /** A CA that signed nothing the server presents. */
  readonly otherCaFile: string;
  /** The major version of the server binaries used. */
  readonly version: string;
  /** A connected client over TLS verified against caFile, for seeding and checks; the caller ends it. */
  connect(): Promise<Client>;
  /**
   * Replaces the server certificate with one, signed by the same CA, whose only name is `dnsName`,
   * and reloads the server; resolves once new connections get it. Undone by restoreCertificate.
   */
  useCertificateFor(dnsName: string): Promise<void>;
  /** Back to the certificate for localhost and 127.0.0.1. */
  restoreCertificate(): Promise<void>;
  /** Stops the server (fast shutdown) and removes its directory. */
  stop(): Promise<void>;
}

/** Options of startPostgres. */
export interface StartOptions {
  /**
   * The server's TimeZone setting, which sessions inherit unless they set their own.
   * @default "Pacific/Auckland"
   */
  readonly timeZone?: string;
}

/** The newest bin directory of Debian's server packages; throws with the install hint when there is none. */
export function serverBinDir(root = POSTGRES_LIB): { bin: string; version: string } {
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, "bin", "postgres")) && existsSync(join(root, v, "bin", "initdb")))
    : [];
  if (versions.length === 0) {
    throw new Error(`the PostgreSQL server binaries are missing (no ${root}/<version>/bin/postgres and initdb): ${INSTALL_HINT}. `
      + "The retraining tests run against a real server and are never skipped.");
  }
  const version = versions.sort((a, b) => Number(b) - Number(a))[0];
  return { bin: join(root, version, "bin"), version };
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The uid and gid to run the server as: the postgres user when we are root, else ourselves. */
function serverAccount(): { uid: number; gid: number; asServer: string[] } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let ids: string[];
  try {
    ids = ["-u", "-g"].map((flag) => execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  } catch {
    throw new Error(`the tests run as root, and initdb refuses root, but there is no "postgres" user to run the server as: ${INSTALL_HINT} (it creates the user)`);
  }
  return { uid: Number(ids[0]), gid: Number(ids[1]), asServer: ["runuser", "-u", "postgres", "--"] };
}

function run(command: string, args: readonly string[], account: ReturnType<typeof serverAccount>, what: string): string {
  const [file, ...rest] = account === undefined ? [command, ...args] : [...account.asServer, command, ...args];
  try {
    return execFileSync(file, rest, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${what} failed: ${(stderr ?? "").trim() || (stdout ?? "").trim() || (error as Error).message}`);
  }
}

function openssl(args: readonly string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed (the test server's certificates need the openssl command): ${String((error as { stderr?: unknown }).stderr ?? error)}`);
  }
}

/** A self-signed CA: `<name>.key` and `<name>.crt` in `dir`. */
function makeCa(dir: string, name: string, subject: string): void {
  openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", subject,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
}

/** A server certificate `<name>.crt` (key `<name>.key`) for `altNames`, signed by the CA `ca`. */
function makeServerCertificate(dir: string, name: string, ca: string, altNames: string): void {
  openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", "/CN=retrain test server"], dir);
  writeFileSync(join(dir, `${name}.ext`), [
    `subjectAltName=${altNames}`,
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
    "",
  ].join("\n"));
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial",
    "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`], dir);
}

/** Gives the server's account a file (the server refuses a key readable by others). */
function handOver(path: string, account: ReturnType<typeof serverAccount>, mode: number): void {
  if (account !== undefined) chownSync(path, account.uid, account.gid);
  chmodSync(path, mode);
}

/** Starts a server (see the module comment). Stop it with `stop()` in afterAll. */
export async function startPostgres(options: StartOptions = {}): Promise<TestPostgres> {
  const { bin, version } = serverBinDir();
  const account = serverAccount();
  const dir = mkdtempSync(join(tmpdir(), "retrain-pg-"));
  const data = join(dir, "data");
  const user = "retrain_test";
  const password = randomBytes(18).toString("base64url");
  let started = false;
  const pgCtl = (args: readonly string[], what: string) => run(join(bin, "pg_ctl"), ["-D", data, ...args], account, what);

  let watchdog: ChildProcess | undefined;
  const stop = async () => {
    if (started) {
      started = false;
      pgCtl(["-m", "fast", "-w", "stop"], "pg_ctl stop");
    }
    // The watchdog (its own process group) has nothing left to guard.
    if (watchdog?.pid !== undefined && watchdog.exitCode === null) process.kill(-watchdog.pid, "SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (account !== undefined) chownSync(dir, account.uid, account.gid);
    const passwordFile = join(dir, "password");
    writeFileSync(passwordFile, `${password}\n`);
    handOver(passwordFile, account, 0o600);
    run(join(bin, "initdb"), ["-D", data, "-U", user, "--pwfile", passwordFile, "-A", "scram-sha-256", "-E", "UTF8",
      "--locale", "C", "--no-sync", "--no-instructions"], account, "initdb");
    rmSync(passwordFile);

    makeCa(dir, "ca", "/CN=retrain test CA");
    makeCa(dir, "other-ca", "/CN=retrain test other CA");
    makeServerCertificate(dir, "server", "ca", "DNS:localhost,IP:127.0.0.1");
    for (const file of ["server.key", "server.crt"]) handOver(join(dir, file), account, 0o600);
    for (const file of ["ca.crt", "other-ca.crt"]) chmodSync(join(dir, file), 0o644);

    writeFileSync(join(data, "pg_hba.conf"), [
      "# TYPE    DATABASE USER ADDRESS       METHOD",
      "local     all      all                scram-sha-256",
      "hostssl   all      all  127.0.0.1/32  scram-sha-256",
      "hostnossl all      all  127.0.0.1/32  scram-sha-256",
      "",
    ].join("\n"));

    let lastError: Error | undefined;
    // The free port can be taken between finding it and binding it: try a few.
    for (let attempt = 0; attempt < 3 && !started; attempt++) {
      const port = await freePort();
      appendFileSync(join(data, "postgresql.conf"), [
        "",
        "# Test server (test/support/postgres.ts): a later setting overrides an earlier one.",
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        "ssl = on",
        `ssl_cert_file = '${join(dir, "server.crt")}'`,
        `ssl_key_file = '${join(dir, "server.key")}'`,
        `timezone = '${options.timeZone ?? "Pacific/Auckland"}'`,
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "",
      ].join("\n"));
      try {
        pgCtl(["-l", join(dir, "server.log"), "-w", "-t", "30", "start"], "pg_ctl start");
        started = true;
        watchdog = startWatchdog(join(bin, "pg_ctl"), data, dir, account);
        const server = serverHandle({ dir, port, user, password, version, stop, account });
        await createDatabase(server);
        return server;
      } catch (error) {
        const log = existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8") : "";
        lastError = new Error(`${(error as Error).message}\n${log.split("\n").slice(-10).join("\n")}`);
        if (!/could not bind|Address already in use/i.test(log)) break;
      }
    }
    throw lastError ?? new Error("the test PostgreSQL server did not start");
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A process of its own (detached, so a signal to the test run does not reach it) that stops the
 * server and removes its directory once the test process is gone: a run that ends without
 * afterAll (killed, crashed) leaves no server behind. stop() ends it.
 */
function startWatchdog(pgCtl: string, data: string, dir: string, account: ReturnType<typeof serverAccount>): ChildProcess {
  const script = `while [ -d /proc/${process.pid} ]; do sleep 1; done; "${pgCtl}" -D "${data}" -m immediate stop; rm -rf "${dir}"`;
  const [file, ...args] = account === undefined ? ["sh", "-c", script] : [...account.asServer, "sh", "-c", script];
  const child = spawn(file, args, { detached: true, stdio: "ignore" });
  child.unref();
  return child;
}

/** The tests' database (initdb made only `postgres` and the templates). */
const DATABASE = "retrain_data";

async function createDatabase(server: TestPostgres): Promise<void> {
  const admin = new Client({
    host: server.host,
    port: server.port,
    database: "postgres",
    user: server.user,
    password: server.password,
    ssl: { rejectUnauthorized: true, ca: readFileSync(server.caFile, "utf8") },
  });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
}

function serverHandle(s: {
  dir: string;
  port: number;
  user: string;
  password: string;
  version: string;
  stop: () => Promise<void>;
  account: ReturnType<typeof serverAccount>;
}): TestPostgres {
  const caFile = join(s.dir, "ca.crt");
  const connect = async () => {
    const client = new Client({
      host: "127.0.0.1",
      port: s.port,
      database: DATABASE,
      user: s.user,
      password: s.password,
      ssl: { rejectUnauthorized: true, ca: readFileSync(caFile, "utf8") },
    });
    await client.connect();
    return client;
  };
  /** Points the server at a certificate file and waits until new sessions see the setting. */
  const switchCertificate = async (name: string) => {
    // Over the Unix socket: a TCP session would have to accept whichever certificate is current.
    const admin = new Client({ host: s.dir, port: s.port, database: DATABASE, user: s.user, password: s.password });
    await admin.connect();
    try {
      await admin.query(`ALTER SYSTEM SET ssl_cert_file = '${join(s.dir, `${name}.crt`)}'`);
      await admin.query(`ALTER SYSTEM SET ssl_key_file = '${join(s.dir, `${name}.key`)}'`);
      await admin.query("SELECT pg_reload_conf()");
    } finally {
      await admin.end();
    }
    // New sessions fork from the postmaster once it has reloaded: the same moment it loads the new certificate.
    for (let i = 0; i < 100; i++) {
      const probe = new Client({ host: "127.0.0.1", port: s.port, database: DATABASE, user: s.user, password: s.password, ssl: { rejectUnauthorized: false } });
      await probe.connect();
      const shown = await probe.query<{ ssl_cert_file: string }>("SHOW ssl_cert_file").finally(() => probe.end());
      if (shown.rows[0].ssl_cert_file.endsWith(`${name}.crt`)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the test server did not load ${name}.crt`);
  };
  return {
    host: "127.0.0.1",
    port: s.port,
    database: DATABASE,
    user: s.user,
    password: s.password,
    caFile,
    otherCaFile: join(s.dir, "other-ca.crt"),
    version: s.version,
    connect,
    useCertificateFor: async (dnsName) => {
      const name = "renamed";
      makeServerCertificate(s.dir, name, "ca", `DNS:${dnsName}`);
      for (const file of [`${name}.key`, `${name}.crt`]) handOver(join(s.dir, file), s.account, 0o600);
      await switchCertificate(name);
    },
    restoreCertificate: () => switchCertificate("server"),
    stop: s.stop,
  };
}

/**
 * A server for the calling test file: started and seeded before its tests, stopped after them.
 * `use` receives it once it is ready.
 */
export function seededPostgres(seed: (client: Client) => Promise<void>, use: (server: TestPostgres) => void): void {
  let server: TestPostgres | undefined;
  beforeAll(async () => {
    server = await startPostgres();
    const client = await server.connect();
    try {
      await seed(client);
    } finally {
      await client.end();
    }
    use(server);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });
}
