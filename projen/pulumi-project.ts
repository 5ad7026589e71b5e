import { Project, YamlFile } from "projen";
import type { ServiceDefinition } from "./service";
import { CONFIG_NAMESPACE } from "../stacks/config/schema";

/**
 * Pulumi.yaml as an object: the nodejs/TypeScript runtime, the program in `stacks/`, and the
 * project-level config that every stack shares (the service definition under `mlplatform:`).
 * Pure, so tests can write the Pulumi.yaml of a definition of their own without synthesizing.
 */
export function pulumiProjectDocument(def: ServiceDefinition): Record<string, unknown> {
  const config: Record<string, unknown> = {
    "aws:region": def.region,
    // Every AWS resource gets the stack's explicit provider, pinned to the stage account.
    "pulumi:disable-default-providers": { value: ["aws"] },
  };
  for (const [key, value] of Object.entries(def)) {
    if (value === undefined) continue;
    config[`${CONFIG_NAMESPACE}:${key}`] = typeof value === "object" ? { value } : value;
  }
  return {
    name: def.serviceName,
    description: `SageMaker model serving for ${def.serviceName}: one stack per stage account`,
    runtime: { name: "nodejs", options: { typescript: true, packagemanager: "npm" } },
    main: "stacks/",
    config,
  };
}

/** Writes Pulumi.yaml (generated; stack files stay the team's, see projen/stack-files.ts). */
export function addPulumiProjectFile(project: Project, def: ServiceDefinition): YamlFile {
  return new YamlFile(project, "Pulumi.yaml", { obj: pulumiProjectDocument(def) });
}
