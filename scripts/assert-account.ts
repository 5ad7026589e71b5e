import { assertAccount } from "./lib/account-guard";
import { AWS_CLI_HELP, AWS_CLI_OPTIONS, awsSettings, createAwsClients, type ToolDeps } from "./lib/aws";
import { COMMON_OPTIONS, EXIT, parseOptions, print, processIo, required, runTool, UsageError } from "./lib/cli";
import { readProjectConfig } from "../stacks/config/files";
import { accountOfStack, deploymentStacks } from "../stacks/config/schema";

const TOOL = "assert-account";

const HELP = [
  `Usage: ${TOOL} --stack <stage> [options]`,
  "",
  "Checks that the current AWS credentials belong to the account of a stage (as listed in",
  "Pulumi.yaml). Exits 0 when they do; exits 1 naming both account ids when they do not.",
  "Run it before anything that acts on a stage's account.",
  "",
  "Options:",
  "  --stack STACK       The stack to check: a stage, or the registry's stack",
  ...AWS_CLI_HELP,
  "  --json              Print the result as JSON",
  "  -h, --help          Show this help",
  "",
  "Exit codes: 0 the account matches, 1 it does not (or AWS failed), 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];

const OPTIONS = { ...COMMON_OPTIONS, ...AWS_CLI_OPTIONS, stack: { type: "string" } } as const;

/** `assert-account --stack <stage>`: returns the exit code. */
export async function main(argv: readonly string[], deps: ToolDeps = {}): Promise<number> {
  const io = deps.io ?? processIo;
  return runTool(TOOL, io, async () => {
    const values = parseOptions(argv, OPTIONS);
    if (values.help) {
      HELP.forEach((line) => io.out(line));
      return EXIT.ok;
    }
    const stage = required(values.stack, "stack");
    const { project, region } = readProjectConfig(deps.cwd ?? process.cwd());
    const expectedAccountId = accountOfStack(project, stage);
    if (expectedAccountId === undefined) {
      throw new UsageError(`unknown stack "${stage}"; the stacks of Pulumi.yaml are ${deploymentStacks(project).map((s) => s.name).join(", ")}`);
    }
    const { aws, retry } = awsSettings(TOOL, values, region, deps);
    const { sts } = (deps.createClients ?? createAwsClients)(aws);
    const caller = await assertAccount(sts, { stage, expectedAccountId }, retry);
    print(io, values.json, { stage, accountId: caller.accountId, callerArn: caller.arn },
      (r) => [`ok: credentials are for account ${r.accountId}, the account of stack ${r.stage} (${r.callerArn})`]);
    return EXIT.ok;
  });
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
