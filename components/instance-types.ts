/**
 * Facts about SageMaker hosting instance types that decide what an EndpointConfiguration may ask
 * for. Pure: no Pulumi, no AWS calls.
 *
 * Some instance families carry local NVMe instance storage, encrypted by a hardware module on the
 * instance. On those types SageMaker attaches no EBS ML storage volume, so:
 * - `KmsKeyId` must not be set: "You can't request a KmsKeyId when using an instance type with
 *   local storage ... the call to CreateEndpointConfig fails."
 *   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html
 * - `VolumeSizeInGB` is not supported either (the storage size is fixed by the instance type).
 *   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html
 *
 * AWS's list of hosting instance types with instance storage:
 * https://aws.amazon.com/releasenotes/host-instance-storage-volumes-table/ (linked from
 * https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html). That table could
 * not be read offline; the families below come from:
 * [1] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html
 *     ("ML instance families with the NVMe-type instance storage include ml.p4d, ml.g4dn, and
 *     ml.g5"; "ml.c5 and ml.p2" use EBS volumes).
 * [2] sagemaker-python-sdk `volume_size_supported` / `instance_supports_kms`: a family with a "d"
 *     in its name, or g5, takes no volume size and no KMS key; PR #4828 (2024-08) adds g6 and trn1.
 *     https://github.com/aws/sagemaker-python-sdk/pull/4828
 * [3] EC2 accelerated-computing instance specs, instance store column (p5*, trn2, p6*):
 *     https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html#ac_instance-store
 *     (not re-checked offline; confirm against [the table] when in doubt).
 */

/** Instance families (the part between `ml.` and the size) with local NVMe instance storage. */
export const LOCAL_STORAGE_FAMILIES: readonly string[] = [
  // "d" families: local NVMe SSD by EC2 naming convention [2]. (ml.p3dn has it too, but is a
  // training-only type: it is not a ProductionVariantInstanceType.)
  "c5d", "c6gd", "m5d", "m6gd", "r5d", "r6gd", "r7gd",
  "g4dn", "p4d", "p4de", "dl1",
  // GPU and Trainium families without a "d" that still carry NVMe instance storage [1][2].
  "g5", "g6", "g6e", "trn1", "trn1n",
  // Large accelerated families with NVMe instance storage [3].
  "p5", "p5e", "p5en", "trn2", "p6-b200", "p6e-gb200",
];

const INSTANCE_TYPE = /^ml\.([a-z0-9-]+)\.([a-z0-9]+)$/;

/** `ml.g5.xlarge` -> `g5`; undefined when the string is not an `ml.<family>.<size>` type. */
export function instanceFamily(instanceType: string): string | undefined {
  return INSTANCE_TYPE.exec(instanceType)?.[1];
}

/** True for `ml.*` instance types of a family with local NVMe instance storage. */
export function hasLocalInstanceStorage(instanceType: string): boolean {
  const family = instanceFamily(instanceType);
  return family !== undefined && LOCAL_STORAGE_FAMILIES.includes(family);
}

/**
 * Deployment guardrails do not apply to Inf1 endpoints: SageMaker silently falls back to
 * all-at-once with no baking period.
 * https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html
 */
export function ignoresDeploymentGuardrails(instanceType: string): boolean {
  return instanceFamily(instanceType) === "inf1";
}
