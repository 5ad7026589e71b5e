import { ecrRegistryHost, partitionOfRegion } from "../../../components/names";
import { CliError } from "../cli";

/**
 * The built-in SageMaker XGBoost algorithm's image, per region: data, and the one function that
 * reads it.
 *
 * Source: the SageMaker Python SDK's image table, `src/sagemaker/image_uri_config/xgboost.json`
 * (github.com/aws/sagemaker-python-sdk), which AWS publishes as the registry paths of its
 * algorithms ("Docker Registry Paths and Example Code", SageMaker developer guide). Every framework
 * version listed below (0.90-1 to 2.1-0) has the same registry account per region there, for
 * training and inference alike, in the repository `sagemaker-xgboost`. The isolated regions
 * (us-iso-*, us-isob-*, us-isof-*) are left out: their ECR hosts are not `amazonaws.com(.cn)`.
 * A region or version that is missing here is refused with a message saying so; add it from the
 * source above when AWS publishes it.
 */

/** Repository of the framework-version XGBoost images. */
export const XGBOOST_REPOSITORY = "sagemaker-xgboost";

/** Framework versions of the built-in XGBoost (`<xgboost version>-<image revision>`). */
export const XGBOOST_VERSIONS: readonly string[] = ["0.90-1", "0.90-2", "1.0-1", "1.2-1", "1.2-2", "1.3-1", "1.5-1", "1.7-1", "2.1-0"];

/** Where the table comes from. */
export const XGBOOST_IMAGE_SOURCE = "sagemaker-python-sdk src/sagemaker/image_uri_config/xgboost.json (AWS's registry paths of the built-in algorithms)";

/** Region → the AWS account that publishes the XGBoost images there. */
export const XGBOOST_REGISTRY_ACCOUNTS: Readonly<Record<string, string>> = {
  "af-south-1": "510948584623",
  "ap-east-1": "651117190479",
  "ap-northeast-1": "354813040037",
  "ap-northeast-2": "366743142698",
  "ap-northeast-3": "867004704886",
  "ap-south-1": "720646828776",
  "ap-south-2": "628508329040",
  "ap-southeast-1": "121021644041",
  "ap-southeast-2": "783357654285",
  "ap-southeast-3": "951798379941",
  "ap-southeast-4": "106583098589",
  "ca-central-1": "341280168497",
  "ca-west-1": "190319476487",
  "cn-north-1": "450853457545",
  "cn-northwest-1": "451049120500",
  "eu-central-1": "492215442770",
  "eu-central-2": "680994064768",
  "eu-north-1": "662702820516",
  "eu-south-1": "978288397137",
  "eu-south-2": "104374241257",
  "eu-west-1": "141502667606",
  "eu-west-2": "764974769150",
  "eu-west-3": "659782779980",
  "il-central-1": "898809789911",
  "me-central-1": "272398656194",
  "me-south-1": "801668240914",
  "sa-east-1": "737474898029",
  "us-east-1": "683313688378",
  "us-east-2": "257758044811",
  "us-gov-east-1": "237065988967",
  "us-gov-west-1": "414596584902",
  "us-west-1": "746614075791",
  "us-west-2": "246618743249",
};

/**
 * `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/sagemaker-xgboost:<version>`: the image that
 * trains (the tuning job) and serves (the evaluation's batch transform) the model.
 */
export function xgboostImageUri(region: string, version: string): string {
  const accountId = XGBOOST_REGISTRY_ACCOUNTS[region];
  if (accountId === undefined) {
    throw new CliError(`no built-in XGBoost image is known for region "${region}": the table (scripts/lib/retrain/xgboost-images.ts, from `
      + `${XGBOOST_IMAGE_SOURCE}) lists ${Object.keys(XGBOOST_REGISTRY_ACCOUNTS).length} regions; add the region's registry account from that source`);
  }
  if (!XGBOOST_VERSIONS.includes(version)) {
    throw new CliError(`XGBoost version "${version}" is not a built-in XGBoost image version; choose one of ${XGBOOST_VERSIONS.join(", ")}`);
  }
  const host = ecrRegistryHost({ accountId, region, partition: partitionOfRegion(region) });
  return `${host}/${XGBOOST_REPOSITORY}:${version}`;
}
