import { describe, expect, it } from "vitest";
import { answerBlocks } from "@/components/chat/blocks";

const TABLE = "| host | cpu % |\n|---|---|\n| web-1 | 93.0 |\n| web-2 | 12.5 |";

describe("an answer's text as paragraphs and tables", () => {
  it("keeps each paragraph, and the text after a table", () => {
    const text = `2 host(s) are busy.\nAutomation restart-web matches.\n\nSee below.\n\n${TABLE}\n\nweb-1 is the busiest.`;
    expect(answerBlocks(text)).toEqual([
      { kind: "text", text: "2 host(s) are busy.\nAutomation restart-web matches." },
      { kind: "text", text: "See below." },
      { kind: "table", head: ["host", "cpu %"], rows: [["web-1", "93.0"], ["web-2", "12.5"]] },
      { kind: "text", text: "web-1 is the busiest." },
    ]);
  });

  it("reads two tables as two, and text without a table as text", () => {
    const second = "| alert | count |\n|---|---|\n| disk full | 4 |";
    expect(answerBlocks(`Two queries.\n\n${TABLE}\n\n${second}`).map((b) => (b.kind === "table" ? b.head : b.text)))
      .toEqual(["Two queries.", ["host", "cpu %"], ["alert", "count"]]);
    expect(answerBlocks("Nothing is wrong.")).toEqual([{ kind: "text", text: "Nothing is wrong." }]);
  });
});
