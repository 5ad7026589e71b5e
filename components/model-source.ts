/**
 * What an endpoint serves, as the endpoint component takes it: resolved ARNs and URLs. The config
 * schema (stacks/config/schema.ts) derives it from a stack file's `source`, which names only the
 * stage's choice (a version, an image tag and a model data key).
 */
/** The model an endpoint serves: a registry model package version, or an image plus model data. */
export type ModelSource =
  | {
    /** Versioned model package ARN (`.../model-package/<group>/<version>`), possibly in another account. */
    readonly modelPackageArn: string;
  }
  | {
    /** Inference image URI with a tag or digest. */
    readonly image: string;
    /** s3:// URL of the model.tar.gz the container loads. */
    readonly modelDataUrl: string;
    /** Container environment variables. */
    readonly environment: Readonly<Record<string, string>>;
  };
