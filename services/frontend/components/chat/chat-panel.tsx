"use client";
/** The chat beside every dashboard page: a toggle that opens a side panel with the streamed chat (what it cites
 * is linked); closed by default, and left out on the chat page itself. */
import { usePathname } from "next/navigation";
import { useState } from "react";
import { ChatView } from "@/components/chat/chat-view";

export function ChatPanel() {
  const path = usePathname();
  const [open, setOpen] = useState(false);
  if (path.startsWith("/chat")) return null;
  return (
    <>
      <button type="button" className="chat-toggle" aria-expanded={open} aria-controls="chat-panel"
        onClick={() => setOpen(!open)}>
        {open ? "Close chat" : "Ask the chat"}
      </button>
      <aside id="chat-panel" className="chat-panel" aria-label="Chat" hidden={!open}>
        <ChatView compact />
      </aside>
    </>
  );
}
