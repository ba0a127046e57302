import { describe, expect, it } from "vitest";
import { parseObject } from "@/components/sources/pollers";

describe("the polled source form's JSON fields", () => {
  it("reads an object, and nothing as an empty one", () => {
    expect(parseObject('{"port": 161}', "Settings")).toEqual({ port: 161 });
    expect(parseObject("  ", "Credentials")).toEqual({});
  });

  it("names the field whose text is not a JSON object", () => {
    expect(() => parseObject('{"community": public}', "Credentials")).toThrow(/^Credentials: not JSON \(/);
    expect(() => parseObject("[1]", "Settings")).toThrow("Settings: a JSON object");
  });
});
