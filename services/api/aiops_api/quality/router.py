"""HTTP route of quality: what the shipped detectors score on the benchmarks, on what data, measured when."""

from fastapi import APIRouter

from aiops_api.deps import SettingsDep, Viewer
from aiops_api.quality import service
from aiops_api.quality.schemas import QualityReport

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])


@router.get("", operation_id="get_quality")
async def get_quality(settings: SettingsDep, _: Viewer) -> QualityReport:
    """The latest detection-quality report (scripts/bench/quality.py, run by the test command): log template
    mining, anomaly detection, false alarms and capacity forecasts, per data set or category, with plain
    baselines beside. `available` is false until a report has been written."""
    return await service.get_report(path=settings.quality_report_path)
