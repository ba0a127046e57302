"""Database models, one module per domain. Importing this package registers every table on `Base.metadata`."""

from aiops_contracts.db.alerts import Alert
from aiops_contracts.db.archive import ArchiveBatch
from aiops_contracts.db.audit import AuditEntry
from aiops_contracts.db.automations import AutomationRule, AutomationRun
from aiops_contracts.db.base import Base
from aiops_contracts.db.chat import ChatMessage
from aiops_contracts.db.enrichments import IncidentEnrichment, IncidentResolution
from aiops_contracts.db.forecasts import Forecast
from aiops_contracts.db.incidents import Incident, IncidentEvent, IncidentSignal, IncidentSplit
from aiops_contracts.db.logs import LogMinerState, LogPrototype, LogTemplate, LogTemplateCount
from aiops_contracts.db.notifications import Notification, NotificationGroup, NotificationReceiver, Silence
from aiops_contracts.db.pipelines import (
    Pipeline,
    PipelineCommit,
    PipelineJob,
    PipelineRun,
    PipelineScore,
    PipelineStep,
    PipelineTest,
)
from aiops_contracts.db.processed import ProcessedEvent
from aiops_contracts.db.replay import ReplayRun
from aiops_contracts.db.sources import Source
from aiops_contracts.db.topology import TopologyEdge
from aiops_contracts.db.users import RefreshToken, User

metadata = Base.metadata

__all__ = ["Alert", "ArchiveBatch", "AuditEntry", "AutomationRule", "AutomationRun", "Base", "ChatMessage", "Forecast", "Incident", "IncidentEnrichment", "IncidentResolution", "IncidentEvent", "IncidentSignal", "IncidentSplit", "LogMinerState", "LogPrototype", "LogTemplate", "LogTemplateCount", "Notification", "NotificationGroup", "NotificationReceiver", "Pipeline", "PipelineCommit", "PipelineJob", "PipelineRun", "PipelineScore", "PipelineStep", "PipelineTest", "ProcessedEvent", "RefreshToken", "ReplayRun", "Silence", "Source", "TopologyEdge", "User", "metadata"]
