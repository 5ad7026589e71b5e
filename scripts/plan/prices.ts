/**
 * On-demand prices of SageMaker real-time inference (hosting) instances, in USD per instance-hour.
 *
 * SOURCE: AWS's SageMaker pricing page, "Real-Time Inference", region US East (N. Virginia):
 *   https://aws.amazon.com/sagemaker/pricing/
 * DATE: 2026-11-22. No network was available when this table was written, so the values were taken
 * from that page as quoted by public write-ups found in the stored-page index on that date
 * (figures agreeing in at least two of them, for example ml.m5.large 0.115, ml.c5.2xlarge 0.408,
 * ml.g4dn.xlarge 0.736, ml.g5.xlarge 1.408, ml.g5.2xlarge 1.515). Instance types whose quoted
 * prices disagreed were left out; the plan warns for any type without a price.
 *
 * The stacks deploy to eu-west-1, whose prices are somewhat higher than us-east-1's; the plan
 * prints which region the prices are for. To refresh from the AWS Price List offer file (products
 * with productFamily "ML Instance", attributes.component "Hosting", attributes.regionCode):
 *   curl -s https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/current/index.json
 */
export const PRICE_TABLE = {
  source: "https://aws.amazon.com/sagemaker/pricing/ (Real-Time Inference, on-demand)",
  date: "2026-11-22",
  region: "us-east-1",
  currency: "USD",
  /** Hours in the monthly figures: 365 days * 24 h / 12. */
  hoursPerMonth: 730,
} as const;

/** USD per instance-hour, by hosting instance type. */
export const HOURLY_USD: Readonly<Record<string, number>> = {
  "ml.t3.medium": 0.05,
  "ml.t3.large": 0.1,
  "ml.t3.xlarge": 0.2,
  "ml.t3.2xlarge": 0.399,
  "ml.m5.large": 0.115,
  "ml.m5.xlarge": 0.23,
  "ml.m5.2xlarge": 0.461,
  "ml.c5.xlarge": 0.204,
  "ml.c5.2xlarge": 0.408,
  "ml.c5.4xlarge": 0.816,
  "ml.c5.9xlarge": 1.836,
  "ml.r5.2xlarge": 0.605,
  "ml.r5.4xlarge": 1.21,
  "ml.r5.8xlarge": 2.419,
  "ml.g4dn.xlarge": 0.736,
  "ml.g4dn.4xlarge": 1.505,
  "ml.g4dn.8xlarge": 2.72,
  "ml.g4dn.12xlarge": 4.89,
  "ml.g5.xlarge": 1.408,
  "ml.g5.2xlarge": 1.515,
  "ml.g5.12xlarge": 7.09,
  "ml.g5.24xlarge": 10.18,
  "ml.g5.48xlarge": 20.36,
  "ml.p3.2xlarge": 3.825,
  "ml.p4d.24xlarge": 37.688,
};

/** The hourly price of an instance type, or undefined when the table has none. */
export function hourlyPrice(instanceType: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(HOURLY_USD, instanceType) ? HOURLY_USD[instanceType] : undefined;
}
