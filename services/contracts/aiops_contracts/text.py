"""Text that every store takes: PostgreSQL refuses NUL in text and JSONB values (`\u0000`), so a NUL that
arrives in a log line is replaced at the edge (webhooks, producers) and again before anything is stored."""

NUL_REPLACEMENT = "\ufffd"


def without_nul(text: str) -> str:
    """`text` with each NUL character replaced by U+FFFD (the character that marks undecodable input)."""
    return text.replace("\0", NUL_REPLACEMENT) if "\0" in text else text
