/** An answer's text as the chat shows it: its paragraphs and its Markdown tables (the rows it rests on), in order. */
export type Block = { kind: "text"; text: string } | { kind: "table"; head: string[]; rows: string[][] };

const cells = (line: string): string[] => line.replace(/^\|\s?/, "").replace(/\s?\|$/, "").split(" | ");

/** Lines starting with "|" make a table (its head, the separator line, then its rows); other lines make
 * paragraphs, which a blank line or a table ends. */
export function answerBlocks(text: string): Block[] {
  const groups: string[][] = [];
  let previous = "";
  for (const line of text.split("\n")) {
    const kind = !line.trim() ? "" : line.startsWith("|") ? "table" : "text";
    if (kind && kind === previous) groups.at(-1)?.push(line);
    else if (kind) groups.push([line]);
    previous = kind;
  }
  return groups.map((lines): Block => {
    if (!lines[0]?.startsWith("|")) return { kind: "text", text: lines.join("\n") };
    const [head = "", , ...rows] = lines;
    return { kind: "table", head: cells(head), rows: rows.map(cells) };
  });
}
