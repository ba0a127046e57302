"""The latest quality report: the JSON file scripts/bench/quality.py writes (QUALITY_REPORT_PATH)."""

import asyncio
from pathlib import Path

from aiops_api.quality.schemas import QualityReport


async def get_report(*, path: Path) -> QualityReport:
    """The report at `path`, or the empty state when none has been written."""
    try:
        text = await asyncio.to_thread(path.read_text)
    except FileNotFoundError:
        return QualityReport(available=False)
    return QualityReport.model_validate_json(text).model_copy(update={"available": True})
