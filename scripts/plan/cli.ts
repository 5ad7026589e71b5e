import { appendFileSync } from "node:fs";
import { resolve } from "node:path";
import type { StackDiff } from "./diff";
import { emptyPlan, planStack, planStacks, type ProjectInfo, readProjectInfo } from "./engine";
import { type DeletionIntent, INTENT_LABEL, unmatched } from "./intent";
import { diffJson, planJson, renderDiffs, renderPlans } from "./render";
import type { Finding, StackPlan } from "./types";
import { stackFileName } from "../../stacks/config/load";
import { CliError, COMMON_OPTIONS, EXIT, type Io, parseOptions, print, processIo, runTool, UsageError } from "../lib/cli";

const TOOL = "plan";

export const HELP = `Usage:
  plan [--stack <stage>|all] [--json] [--dir <project>]
  plan diff --against <git-revision> [--stack <stage>|all] [--allow-delete <name>]... [--allow-deletions]
            [--summary <file>] [--json] [--dir <project>]
  plan diff --from <stage> --to <stage> [--summary <file>] [--json] [--dir <project>]

Runs the real Pulumi program for each stack under Pulumi's mock runtime: no AWS credentials, no
Pulumi CLI, no network. Prints every resource with its future physical name (auto-named resources get
their name from a hash of the inputs that would replace them), the settings that matter, rollout-time
and cost estimates, and findings: errors for what AWS or the provider would reject, warnings for hazards.

  --stack <stage>    one stack, or all of them (default: all)
  --json             one JSON document: { "stacks": [...] } or { "diffs": [...] }
  --dir <project>    the directory holding Pulumi.yaml (default: the current directory)

plan diff compares each resource: create, delete, update in place or REPLACE, with the properties
that caused it.
  --against <rev>    the same stack with its stack files at a git revision (the program is today's)
  --from/--to        one stack with another, for reviewing a promotion (e.g. --from qa --to prod)
  --summary <file>   also append a Markdown summary (per stack: creates, updates, replaces, deletes
                     and findings) to <file>, e.g. "$GITHUB_STEP_SUMMARY"

Deleting or replacing an Endpoint, a bucket or a KMS key is an error finding (replacement): clients
lose the endpoint, the data goes with the bucket, data under the key becomes unreadable. When the
change means it, say so, and the finding becomes a warning (replacement-hazard) that still shows:
  --allow-delete <name>  that resource: its logical name (the NAME column; it matches in every stack
                         diffed) or its URN (its own stack only); repeat for several
  --allow-deletions      every such deletion and replacement in the stacks diffed
In the pull-request workflow, the label "${INTENT_LABEL}" on the pull request passes
--allow-deletions; adding or removing the label runs the check again.

Exit status: 0 when no stack has an error finding, 1 when one has, 2 for a wrong command line
(npx projen plan reports any failure as 1; npm run plan -- ... keeps each code).`;

const PLAN_OPTIONS = { ...COMMON_OPTIONS, stack: { type: "string" }, dir: { type: "string" } } as const;
const DIFF_OPTIONS = {
  ...PLAN_OPTIONS,
  "against": { type: "string" },
  "from": { type: "string" },
  "to": { type: "string" },
  "allow-delete": { type: "string", multiple: true },
  "allow-deletions": { type: "boolean" },
  "summary": { type: "string" },
} as const;

/** Runs `plan` with its arguments (without the program name); returns the exit code. */
export function main(argv: readonly string[], io: Io = processIo, cwd = process.cwd()): Promise<number> {
  return runTool(TOOL, io, async () => (argv[0] === "diff" ? diffMain(argv.slice(1), io, cwd) : planMain(argv, io, cwd)));
}

async function planMain(argv: readonly string[], io: Io, cwd: string): Promise<number> {
  const opts = parseOptions(argv, PLAN_OPTIONS);
  if (opts.help) return help(io);
  const dir = resolve(cwd, opts.dir ?? ".");
  const project = readProjectInfo(dir);
  const plans = await planStacks(dir, selectStages(opts.stack, project));
  print(io, opts.json, planJson(plans), () => renderPlans(plans));
  return plans.some((p) => hasErrors(p.findings)) ? EXIT.failure : EXIT.ok;
}

async function diffMain(argv: readonly string[], io: Io, cwd: string): Promise<number> {
  const opts = parseOptions(argv, DIFF_OPTIONS);
  if (opts.help) return help(io);
  const dir = resolve(cwd, opts.dir ?? ".");
  const project = readProjectInfo(dir);
  const intent = deletionIntent(opts["allow-delete"], opts["allow-deletions"]);
  if (opts.summary === "") throw new UsageError("--summary needs a file name");
  let diffs: StackDiff[];
  if (opts.against !== undefined) {
    if (opts.from !== undefined || opts.to !== undefined) throw new UsageError("use either --against <rev> or --from <stage> --to <stage>, not both");
    diffs = await diffAgainst(dir, project, opts.against, selectStages(opts.stack, project), intent);
    for (const name of unmatched(intent, diffs.flatMap((d) => d.changes))) {
      io.err(`${TOOL}: --allow-delete ${name} matches no deleted or replaced endpoint, bucket or KMS key in the stacks diffed`);
    }
  } else if (opts.from !== undefined || opts.to !== undefined) {
    if (opts.stack !== undefined) throw new UsageError("--stack does not go with --from/--to: the two stacks are the ones compared");
    if (intent.all || intent.resources.length > 0) {
      throw new UsageError("--allow-delete and --allow-deletions go with --against: comparing two stacks deletes nothing");
    }
    const from = selectStage(opts.from, "from", project);
    const to = selectStage(opts.to, "to", project);
    if (from === to) throw new UsageError(`--from and --to name the same stack "${from}"`);
    // Loaded here so `plan` alone does not load (or, under ts-node, transpile) the diff modules.
    const { diffPlans } = await import("./diff");
    const before = await planStack(dir, from, project);
    const after = await planStack(dir, to, project);
    const diff = diffPlans(before, after, { mode: "promotion", beforeLabel: from, afterLabel: to, notes: invalidNotes(before) });
    diffs = [{ ...diff, findings: [...diff.findings, ...errorsOf(before), ...errorsOf(after)] }];
  } else {
    throw new UsageError("plan diff needs --against <git-revision>, or --from <stage> and --to <stage>");
  }
  print(io, opts.json, diffJson(diffs), () => renderDiffs(diffs));
  if (opts.summary !== undefined) await appendSummary(resolve(cwd, opts.summary), diffs);
  return diffs.some((d) => hasErrors(d.findings)) ? EXIT.failure : EXIT.ok;
}

function deletionIntent(resources: readonly string[] | undefined, all: boolean | undefined): DeletionIntent {
  const names = resources ?? [];
  if (names.some((r) => r.trim() === "")) throw new UsageError("--allow-delete needs a logical name or URN");
  return { all: all === true, resources: names };
}

/** Appends the Markdown summary (GitHub's job summary file is appended to, step by step). */
async function appendSummary(file: string, diffs: readonly StackDiff[]): Promise<void> {
  const { diffMarkdown } = await import("./markdown");
  try {
    appendFileSync(file, diffMarkdown(diffs));
  } catch (error) {
    throw new CliError(`--summary: cannot write ${file}: ${(error as Error).message}`);
  }
}

async function diffAgainst(
  dir: string, project: ProjectInfo, rev: string, stages: readonly string[], intent: DeletionIntent,
): Promise<StackDiff[]> {
  const [{ diffPlans }, { filesAtRevision }] = await Promise.all([import("./diff"), import("./git")]);
  const files = filesAtRevision(dir, rev, stages);
  try {
    const label = `${rev} (${files.commit.slice(0, 12)})`;
    const past = readProjectInfo(files.dir);
    const diffs: StackDiff[] = [];
    for (const stage of stages) {
      const before = files.missing.includes(stage) ? emptyPlan(stage) : await planStack(files.dir, stage, past);
      const after = await planStack(dir, stage, project);
      const notes = [
        `only the stack files come from ${rev}; the program is the working tree's`,
        ...(files.missing.includes(stage) ? [`${stackFileName(stage)} did not exist at ${rev}: every resource is new`] : invalidNotes(before)),
      ];
      const diff = diffPlans(before, after, { mode: "revision", beforeLabel: label, afterLabel: "working tree", notes, intent });
      diffs.push({ ...diff, findings: [...diff.findings, ...errorsOf(after)] });
    }
    return diffs;
  } finally {
    files.cleanup();
  }
}

function invalidNotes(plan: StackPlan): string[] {
  return hasErrors(plan.findings) && plan.resources.length === 0
    ? [`${plan.file} of ${plan.stack} is invalid there, so it registers nothing: ${plan.findings[0].message}`] : [];
}

function errorsOf(plan: StackPlan): Finding[] {
  return plan.findings.filter((f) => f.severity === "error");
}

function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === "error");
}

function selectStages(stack: string | undefined, project: ProjectInfo): string[] {
  if (stack === undefined || stack === "all") return project.stages;
  return [selectStage(stack, "stack", project)];
}

function selectStage(stack: string | undefined, option: string, project: ProjectInfo): string {
  if (stack === undefined || stack === "") throw new UsageError(`--${option} needs a stack name (${project.stages.join(", ")})`);
  if (!project.stages.includes(stack)) {
    throw new UsageError(`--${option}: unknown stack "${stack}"; the stacks are ${project.stages.join(", ")} (the registry, then mlplatform:stages in Pulumi.yaml)`);
  }
  return stack;
}

function help(io: Io): number {
  for (const line of HELP.split("\n")) io.out(line);
  return EXIT.ok;
}
