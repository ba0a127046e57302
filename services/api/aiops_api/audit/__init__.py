"""The audit log: every change made through the API (record_change), queryable by admins."""

from aiops_api.audit.service import record_change

__all__ = ["record_change"]
