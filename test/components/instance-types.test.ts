import { ProductionVariantInstanceType } from "@aws-sdk/client-sagemaker";
import {
  hasLocalInstanceStorage,
  ignoresDeploymentGuardrails,
  instanceFamily,
  LOCAL_STORAGE_FAMILIES,
} from "../../components/instance-types";

describe("instanceFamily", () => {
  test("GIVEN ml.g5.xlarge WHEN parsed THEN the family is g5", () => {
    expect(instanceFamily("ml.g5.xlarge")).toBe("g5");
  });

  test("GIVEN a hyphenated family WHEN parsed THEN the family keeps its hyphen", () => {
    expect(instanceFamily("ml.p6-b200.48xlarge")).toBe("p6-b200");
  });

  test("GIVEN a type without the ml. prefix WHEN parsed THEN there is no family", () => {
    expect(instanceFamily("m5.large")).toBeUndefined();
  });
});

describe("hasLocalInstanceStorage", () => {
  test.each(["ml.m5d.large", "ml.c5d.xlarge", "ml.r5d.2xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge", "ml.g6.xlarge", "ml.p4d.24xlarge", "ml.trn1.2xlarge"])(
    "GIVEN %s WHEN checked THEN it has local NVMe storage", (type) => {
      expect(hasLocalInstanceStorage(type)).toBe(true);
    });

  test.each(["ml.m5.large", "ml.c5.xlarge", "ml.p3.2xlarge", "ml.inf2.xlarge", "ml.t2.medium", "not-an-instance"])(
    "GIVEN %s WHEN checked THEN it has no local storage", (type) => {
      expect(hasLocalInstanceStorage(type)).toBe(false);
    });

  test('GIVEN every SDK hosting family named with a "d" (local disk) WHEN listed THEN each is a local-storage family', () => {
    const families = new Set(Object.values(ProductionVariantInstanceType).map((type) => instanceFamily(type) ?? type));
    const dFamilies = [...families].filter((family) => family.includes("d"));
    expect(dFamilies.filter((family) => !LOCAL_STORAGE_FAMILIES.includes(family))).toEqual([]);
  });

  test("GIVEN the local-storage families WHEN compared with the SDK hosting types THEN each family exists", () => {
    const families = new Set(Object.values(ProductionVariantInstanceType).map((type) => instanceFamily(type)));
    expect(LOCAL_STORAGE_FAMILIES.filter((family) => !families.has(family))).toEqual([]);
  });
});

describe("ignoresDeploymentGuardrails", () => {
  test("GIVEN ml.inf1.xlarge WHEN checked THEN guardrails do not apply", () => {
    expect(ignoresDeploymentGuardrails("ml.inf1.xlarge")).toBe(true);
  });

  test("GIVEN ml.inf2.xlarge WHEN checked THEN guardrails apply", () => {
    expect(ignoresDeploymentGuardrails("ml.inf2.xlarge")).toBe(false);
  });
});
