/**
 * On-demand prices of SageMaker real-time inference (hosting) instances, in USD per instance-hour.
 *
 * SOURCE: AWS's SageMaker pricing page, "Real-Time Inference", region US East (N. Virginia):
 *   https://aws.amazon.com/sagemaker/pricing/
 * DATE: 2026-11-22. No network was available when this table was written, so the values are that
 * page's figures as quoted by public sources found in the stored-page and code indexes on that date
 * (hosting price lists and cost guides; e.g. ml.m5.large 0.115, ml.c5.2xlarge 0.408, ml.g4dn.xlarge
 * 0.736, ml.g5.xlarge 1.408, ml.g5.2xlarge 1.515). Types quoted only in notebook or training price
 * lists, or with disagreeing figures, were left out; the plan warns for any type without a price.
 * Every type here must be a hosting (production variant) type: test/scripts/plan-findings checks it.
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
  "ml.m5.large": 0.115,
  "ml.m5.xlarge": 0.23,
  "ml.m5.2xlarge": 0.461,
  "ml.c5.2xlarge": 0.408,
  "ml.g4dn.xlarge": 0.736,
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
