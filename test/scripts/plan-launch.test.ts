import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { cacheFileOf } from "../../scripts/plan/launch";
import { REPO_ROOT } from "../support/stack-files";

/**
 * The plan's launcher (scripts/plan/launch.ts): runs plan.js beside it with a V8 code cache. Tested
 * with a small stand-in bundle, built and run as the plan task does.
 */

/** A stand-in for plan.js: reports its arguments, module paths and a sibling require; exits with argv[2]. */
const FAKE_BUNDLE = `
const sibling = require("./sibling.js");
process.stdout.write(JSON.stringify({ args: process.argv.slice(2), dir: __dirname, file: __filename, sibling }) + "\\n");
process.exitCode = Number(process.argv[2] || 0);
`;

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "plan-launch-"));
  execFileSync(join(REPO_ROOT, "node_modules", ".bin", "esbuild"), [
    "scripts/plan/launch.ts", "--bundle", "--platform=node", "--target=node20", "--log-level=warning", `--outfile=${join(dir, "launch.js")}`,
  ], { cwd: REPO_ROOT, stdio: "pipe" });
  writeFileSync(join(dir, "plan.js"), FAKE_BUNDLE);
  writeFileSync(join(dir, "sibling.js"), "module.exports = \"from the bundle's directory\";\n");
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function launch(...args: string[]) {
  const child = spawnSync(process.execPath, [join(dir, "launch.js"), ...args], {
    cwd: tmpdir(), encoding: "utf8", env: { ...process.env, MLPLATFORM_PLAN_CACHE: "report" },
  });
  return { code: child.status, out: child.stdout, cache: /code cache (\w+)/.exec(child.stderr)?.[1], stderr: child.stderr };
}

const caches = () => readdirSync(dir).filter((f) => f.endsWith(".v8cache")).sort();
const leftovers = () => readdirSync(dir).filter((f) => f.endsWith(".tmp"));

describe("the plan launcher", () => {
  it("GIVEN no cache WHEN run twice THEN the first run writes the cache and the second uses it, with the same result", () => {
    const first = launch("0", "--stack", "qa");
    expect(caches()).toEqual([basename(cacheFileOf(join(dir, "plan.js"), FAKE_BUNDLE))]);
    const second = launch("0", "--stack", "qa");
    expect([first.code, first.cache, second.code, second.cache]).toEqual([0, "miss", 0, "hit"]);
    expect(second.out).toBe(first.out);
    expect(JSON.parse(first.out)).toEqual({
      args: ["0", "--stack", "qa"], dir, file: join(dir, "plan.js"), sibling: "from the bundle's directory",
    });
  });

  it("GIVEN the bundle sets an exit code WHEN launched THEN the launcher exits with it", () => {
    expect(launch("1").code).toBe(1);
    expect(launch("2").code).toBe(2);
  });

  it("GIVEN a cache file of garbage WHEN run THEN V8 rejects it, the bundle still runs and the cache is rewritten", () => {
    const file = cacheFileOf(join(dir, "plan.js"), FAKE_BUNDLE);
    writeFileSync(file, Buffer.from("not a V8 code cache"));
    const run = launch("0");
    expect([run.code, run.cache]).toEqual([0, "rejected"]);
    expect(launch("0").cache).toBe("hit");
  });

  it("GIVEN a rebuilt bundle WHEN run THEN its text gets a new cache and the old bundle's cache is removed", () => {
    launch("0");
    const before = caches();
    const changed = `${FAKE_BUNDLE}// rebuilt\n`;
    writeFileSync(join(dir, "plan.js"), changed);
    expect(launch("0").cache).toBe("miss");
    const after = caches();
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    expect(join(dir, after[0])).toBe(cacheFileOf(join(dir, "plan.js"), changed));
  });

  it("GIVEN the cache cannot be written WHEN run THEN the bundle runs and exits as usual and no temp file is left", () => {
    // A directory where the cache file should be: reading and renaming onto it both fail (also as root).
    const file = cacheFileOf(join(dir, "plan.js"), FAKE_BUNDLE);
    mkdirSync(file);
    writeFileSync(join(file, "keep"), "");
    const run = launch("1");
    expect([run.code, run.cache, JSON.parse(run.out).args]).toEqual([1, "miss", ["1"]]);
    expect(run.stderr).not.toMatch(/Error|at /);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN two Node versions WHEN naming the cache THEN the bundle text and the Node version both change the name", () => {
    const name = cacheFileOf("/x/plan.js", "a");
    expect(name).toMatch(/^\/x\/plan-[0-9a-f]{16}\.v8cache$/);
    expect(cacheFileOf("/x/plan.js", "b")).not.toBe(name);
    const version = process.version;
    Object.defineProperty(process, "version", { value: "v0.0.0-test" });
    try {
      expect(cacheFileOf("/x/plan.js", "a")).not.toBe(name);
    } finally {
      Object.defineProperty(process, "version", { value: version });
    }
  });
});
