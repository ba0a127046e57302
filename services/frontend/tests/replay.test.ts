import { describe, expect, it } from "vitest";
import { describe as describeChange, startedFrom } from "@/components/replay/replay-diff";
import { changesOf } from "@/components/replay/replay-form";

const incident = (title: string, events: number, hosts: string[] = []) => ({ id: title, title, events, hosts });

describe("replay changes", () => {
  it("say a split in words with each part's events and hosts", () => {
    const change = { change: "split", incident: incident("db-1 down", 5, ["db-1"]),
      into: [incident("refused", 2, ["db-1"]), incident("FATAL", 3)] };
    expect(describeChange(change)).toBe("db-1 down (5 events, db-1) would split into refused (2 events, db-1) | FATAL (3 events)");
  });

  it("say an automation difference per rule", () => {
    expect(describeChange({ change: "automation_added", rule: "page-db", would: 2, did: 0 }))
      .toBe("rule page-db: would run 2, did 0");
  });
});

describe("the starting state", () => {
  it("says what a snapshot held", () => {
    const state = { kind: "snapshot" as const, description: "", templates: 12, prototypes: 3, warmup_points: 360,
      incidents: 1, resolved_incidents: 2 };
    expect(startedFrom(state))
      .toBe("snapshot: 12 templates, 3 prototypes, 360 warm-up metric points, 1 open incidents, 2 recently resolved");
  });
});

describe("the replay form", () => {
  it("sends only the settings given, and rules as parsed JSON", () => {
    const form = new FormData();
    form.set("incident_alert_window_s", "60");
    form.set("anomaly_alert_min_z", "");
    form.set("log_rules", '[{"name": "x", "category": "y", "severity": "high", "template": "FATAL"}]');
    expect(changesOf(form)).toEqual({ incident_alert_window_s: 60, automation_rules: undefined,
      log_rules: [{ name: "x", category: "y", severity: "high", template: "FATAL" }] });
  });

  it("refuses rules that are not a list", () => {
    const form = new FormData();
    form.set("automation_rules", '{"name": "x"}');
    expect(() => changesOf(form)).toThrow("Automation rules: a JSON list of rules");
  });
});
