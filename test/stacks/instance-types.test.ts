import { readFileSync } from "node:fs";
import { ProductionVariantInstanceType } from "@aws-sdk/client-sagemaker";
import { PRODUCTION_VARIANT_INSTANCE_TYPES } from "../../components/production-variant-instance-types";
import { INSTANCE_TYPES_FILE, renderInstanceTypes } from "../../scripts/gen-instance-types";

describe("the production-variant instance types", () => {
  it("GIVEN the installed AWS SDK THEN the checked-in list is exactly its enum (else run npx projen gen:instance-types)", () => {
    expect([...PRODUCTION_VARIANT_INSTANCE_TYPES].sort()).toEqual([...new Set(Object.values(ProductionVariantInstanceType))].sort());
  });

  it("GIVEN the generator THEN the checked-in file is what it writes, byte for byte", () => {
    expect(readFileSync(INSTANCE_TYPES_FILE, "utf8")).toBe(renderInstanceTypes(Object.values(ProductionVariantInstanceType)));
  });

  it("GIVEN a list with repeats and no order WHEN rendered THEN each type appears once, sorted", () => {
    const text = renderInstanceTypes(["ml.m5.xlarge", "ml.c5.large", "ml.m5.xlarge"]);
    expect(text.match(/"ml\.[^"]+"/g)).toEqual(["\"ml.c5.large\"", "\"ml.m5.xlarge\""]);
  });
});
