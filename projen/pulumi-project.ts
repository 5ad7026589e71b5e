import { Project, YamlFile } from "projen";
import type { ServiceDefinition } from "./service";
import { CONFIG_NAMESPACE } from "../stacks/config/schema";

/**
 * Writes Pulumi.yaml: the nodejs/TypeScript runtime, the program in `stacks/`, and the
 * project-level config that every stack shares. Stack files (Pulumi.<stage>.yaml) stay hand-edited.
 */
export function addPulumiProjectFile(project: Project, def: ServiceDefinition): YamlFile {
  const { region, ...shared } = def;
  const config: Record<string, unknown> = {
    "aws:region": region,
    // Every AWS resource gets the stack's explicit provider, pinned to the stage account.
    "pulumi:disable-default-providers": { value: ["aws"] },
  };
  for (const [key, value] of Object.entries(shared)) {
    config[`${CONFIG_NAMESPACE}:${key}`] = typeof value === "object" ? { value } : value;
  }
  return new YamlFile(project, "Pulumi.yaml", {
    obj: {
      name: def.serviceName,
      description: `SageMaker model serving for ${def.serviceName}: one stack per stage account`,
      runtime: { name: "nodejs", options: { typescript: true, packagemanager: "npm" } },
      main: "stacks/",
      config,
    },
  });
}
