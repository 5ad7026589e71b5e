import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { shellWord } from "../../projen/tool-task";

/**
 * The generated tasks and npm scripts, run for real in this repository: arguments reach the tools
 * whole, exit statuses come through, and tasks find the project's binaries. Each test starts one
 * command and records, through a preloaded module, the argument list of every Node process it starts.
 */

const REPO_ROOT = resolve(__dirname, "../..");
const LOCAL_BIN = join(REPO_ROOT, "node_modules", ".bin");

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "mlplatform-tasks-"));
  writeFileSync(join(work, "record-argv.js"), "require(\"node:fs\").appendFileSync(process.env.ARGV_LOG, JSON.stringify(process.argv.slice(1)) + \"\\n\");\n");
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command in the repository; returns its status, stderr and the arguments the tool `script` was started with. */
function run(command: string, args: readonly string[], script: string, options: { path?: string; cwd?: string; pwd?: string } = {}) {
  const log = join(work, "argv.log");
  const child = spawnSync(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: options.path ?? process.env.PATH,
      PWD: options.pwd ?? process.env.PWD,
      ARGV_LOG: log,
      NODE_OPTIONS: `--require ${join(work, "record-argv.js")}`,
    },
  });
  const started = readFileSync(log, "utf8").trim().split("\n").map((line) => JSON.parse(line) as string[]);
  const argv = started.find((a) => a.some((arg) => arg.endsWith(script)));
  return { status: child.status, stderr: child.stderr, toolArgs: argv?.slice(argv.findIndex((arg) => arg.endsWith(script)) + 1) };
}

describe("the tools' tasks, run", () => {
  it("GIVEN projen started without npx, in a subdirectory, without node_modules/.bin on PATH WHEN a task gets a quoted argument THEN the tool receives it whole", () => {
    const path = (process.env.PATH ?? "").split(delimiter).filter((p) => resolve(p) !== LOCAL_BIN).join(delimiter);
    const projen = join(REPO_ROOT, "node_modules", "projen", "bin", "projen");
    const description = "MAE 0.031 on the October holdout";
    const args = [projen, "registry", "approve", "--arn", "x", "--description", description, "--bogus"];
    // A stale PWD, as a shell that did not cd would leave it: the tasks' PATH must come from the project directory.
    const result = run(process.execPath, args, "scripts/registry.ts", { path, cwd: join(REPO_ROOT, "test"), pwd: tmpdir() });
    // ts-node was found through the tasks' own PATH, and the description is one argument.
    expect(result.toolArgs).toEqual(["approve", "--arn", "x", "--description", description, "--bogus"]);
    expect(result.stderr).toContain("registry: Unknown option '--bogus'");
    // projen ends with 1 whenever a step fails, whatever the step's status: why the npm scripts run the tools directly.
    expect(result.status).toBe(1);
  });

  it("GIVEN npm run WHEN a tool gets a quoted argument and an unknown option THEN it receives the argument whole and npm exits with the tool's usage status 2", () => {
    const result = run("npm", ["run", "--silent", "promote", "--", "--reason", "INC-42 hotfix", "--bogus"], "scripts/promote.ts");
    expect(result.toolArgs).toEqual(["--reason", "INC-42 hotfix", "--bogus"]);
    expect(result.stderr).toContain("promote: Unknown option '--bogus'");
    expect(result.status).toBe(2);
  });

  it("GIVEN npm run plan WHEN called wrongly THEN the plan's launcher gets the arguments whole and npm exits with the plan's usage status 2", () => {
    const result = run("npm", ["run", "--silent", "plan", "--", "--stack", "no such stage", "--bogus"], "node_modules/.cache/mlplatform/launch.js");
    expect(result.toolArgs).toEqual(["--stack", "no such stage", "--bogus"]);
    expect(result.status).toBe(2);
  });
});

describe("shellWord", () => {
  it("GIVEN plain words THEN they stay as they are, and other words are single-quoted so sh reads them back unchanged", () => {
    const words = ["node_modules/.cache/mlplatform/launch.js", "--stack", "a b", "it's", "$HOME", "*", ""];
    expect(words.map(shellWord).slice(0, 2)).toEqual(["node_modules/.cache/mlplatform/launch.js", "--stack"]);
    const echoed = spawnSync("sh", ["-c", `printf '%s\\n' ${words.map(shellWord).join(" ")}`], { encoding: "utf8" }).stdout;
    expect(echoed).toBe(`${words.join("\n")}\n`);
  });
});
