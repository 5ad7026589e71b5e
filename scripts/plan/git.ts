import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_FILE, stackFileName } from "../../stacks/config/load";
import { CliError, UsageError } from "../lib/cli";

/**
 * The project's Pulumi files as they were at a git revision, written to a temporary directory so
 * the plan can run on them. Only the stack files come from the revision: the program is the one in
 * the working tree (the plan answers "what would this config do with today's code").
 */
export interface RevisionFiles {
  readonly dir: string;
  /** The commit the revision resolved to. */
  readonly commit: string;
  /** Stages whose stack file did not exist at the revision. */
  readonly missing: string[];
  cleanup(): void;
}

function git(cwd: string, args: readonly string[]): string {
  return execFileSync("git", ["-C", cwd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function filesAtRevision(projectDir: string, rev: string, stages: readonly string[]): RevisionFiles {
  if (rev === "" || rev.startsWith("-")) throw new UsageError(`--against: "${rev}" is not a git revision`);
  try {
    git(projectDir, ["rev-parse", "--show-toplevel"]);
  } catch {
    throw new CliError(`--against needs a git repository, and ${projectDir} is not in one`);
  }
  let commit: string;
  try {
    commit = git(projectDir, ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]).trim();
  } catch {
    throw new UsageError(`--against: unknown git revision "${rev}" (try a branch, a tag, a commit or HEAD~1)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "mlplatform-plan-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const show = (file: string): string | undefined => {
    try {
      return git(projectDir, ["show", `${commit}:./${file}`]);
    } catch {
      return undefined;
    }
  };
  const project = show(PROJECT_FILE);
  if (project === undefined) {
    cleanup();
    throw new CliError(`--against: ${PROJECT_FILE} does not exist at ${rev} (${commit.slice(0, 12)})`);
  }
  writeFileSync(join(dir, PROJECT_FILE), project);
  const missing: string[] = [];
  for (const stage of stages) {
    const text = show(stackFileName(stage));
    if (text === undefined) missing.push(stage);
    else writeFileSync(join(dir, stackFileName(stage)), text);
  }
  return { dir, commit, missing, cleanup };
}
