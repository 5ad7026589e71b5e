import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { Script } from "node:vm";
import { ensureFreshBundle, type Freshness } from "./bundle";

/**
 * Starts the plan bundle with a V8 code cache beside it, the way Node 22's module compile cache
 * would (Node 20, which this project supports, has none). The bundle is 1.2 MB of the project's own
 * TypeScript, zod and yaml; without a cache V8 compiles every function of it that runs, on every
 * run. With one, the second and later runs load the bytecode instead (about 50 ms less in process).
 *
 * Only the bundle is cached: Pulumi and the AWS SDK stay external and load as Node loads them.
 * The cache file is named by a hash of the bundle's text and the Node version, so a rebuilt bundle
 * never meets bytecode compiled from another text; V8 itself also rejects data it did not write
 * (a wrong V8 version or flags, a truncated file), and a rejected cache is rebuilt. Failing to
 * write the cache (a read-only directory) only costs the speed-up.
 *
 * Before that it makes sure the bundle is current (bundle.ts): when any source esbuild read, or the
 * launcher itself, changed since the last build, it rebuilds both first; a changed launcher then
 * runs again as a new process, so the new launcher code is what runs the plan.
 *
 * Usage: node launch.js [plan arguments] (the bundle is plan.js in the same directory).
 * MLPLATFORM_PLAN_CACHE=report prints what happened to the bundle and the code cache on stderr.
 */

/** The CommonJS wrapper Node puts around a module's text. */
const WRAPPER = ["(function (exports, require, module, __filename, __dirname) { ", "\n});"] as const;

/** The cache file for a bundle's text: `<bundle name>-<hash>.v8cache` beside the bundle. */
export function cacheFileOf(bundle: string, source: string): string {
  const hash = createHash("sha256").update(process.version).update("\0").update(source).digest("hex").slice(0, 16);
  return join(dirname(bundle), `${basename(bundle, ".js")}-${hash}.v8cache`);
}

/** What happened to the cache on this run (for tests and MLPLATFORM_PLAN_CACHE=report). */
export type CacheUse = "hit" | "miss" | "rejected";

/**
 * Runs `bundle` as a CommonJS module compiled with its code cache; when there was no usable cache,
 * writes one as the process exits (so it holds every function the run compiled).
 */
export function runWithCodeCache(bundle: string): CacheUse {
  const source = readFileSync(bundle, "utf8");
  const cacheFile = cacheFileOf(bundle, source);
  const cachedData = readCache(cacheFile);
  const script = new Script(WRAPPER[0] + source + WRAPPER[1], { filename: bundle, cachedData });
  const use: CacheUse = cachedData === undefined ? "miss" : script.cachedDataRejected === true ? "rejected" : "hit";
  if (use !== "hit") process.once("exit", () => writeCache(script, cacheFile));
  const module = { exports: {}, filename: bundle, id: bundle, loaded: false };
  const wrapped = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dir: string) => void;
  wrapped.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return use;
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes the cache atomically (temp file, then rename) and removes the caches of earlier bundles. */
function writeCache(script: Script, file: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, script.createCachedData());
    renameSync(temp, file);
    const prefix = `${basename(file).replace(/-[0-9a-f]{16}\.v8cache$/, "")}-`;
    for (const name of readdirSync(dirname(file))) {
      if (name.startsWith(prefix) && name.endsWith(".v8cache") && name !== basename(file)) rmSync(join(dirname(file), name), { force: true });
    }
  } catch {
    // no cache this time: the next run compiles again
    rmSync(temp, { force: true });
  }
}

/** Set in the environment of a launcher started again after rebuilding itself (never a second time). */
const RELAUNCHED = "MLPLATFORM_PLAN_RELAUNCHED";

/** Makes the bundle current, then runs it; returns an exit code only when the plan cannot start. */
export function launch(dir: string, args: readonly string[], report: (line: string) => void): number | undefined {
  const freshness: Freshness = ensureFreshBundle(dir);
  if (freshness.state === "failed") {
    process.stderr.write(`plan: the plan bundle does not build: ${freshness.reason}\n`);
    return 1;
  }
  report(`plan: bundle ${freshness.state}${freshness.state === "rebuilt" ? ` (${freshness.reason})` : ""}`);
  if (freshness.state === "rebuilt" && freshness.launcherChanged && process.env[RELAUNCHED] === undefined) {
    const child = spawnSync(process.execPath, [...process.execArgv, join(dir, "launch.js"), ...args], {
      stdio: "inherit", env: { ...process.env, [RELAUNCHED]: "1" },
    });
    if (child.signal !== null) process.kill(process.pid, child.signal);
    return child.status ?? 1;
  }
  report(`plan: code cache ${runWithCodeCache(join(dir, "plan.js"))}`);
  return undefined;
}

if (require.main === module) {
  const report = process.env.MLPLATFORM_PLAN_CACHE === "report" ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;
  const code = launch(__dirname, process.argv.slice(2), report);
  if (code !== undefined) process.exitCode = code;
}
