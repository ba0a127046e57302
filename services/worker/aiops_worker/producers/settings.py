"""The producers' settings: one model per producer, read from the environment (and `.env`) when the
producer is built. The names are the env vars (SYSLOG_HOST, FILE_TAIL_PATHS, ...); every producer is off
unless configured. Only pydantic and the contract are imported here, so any module may import this one."""

from pydantic import Field
from pydantic_settings import BaseSettings

from aiops_contracts.settings import CommonSettings


class LogProducerSettings(BaseSettings):
    """What every log producer shares."""

    model_config = CommonSettings.model_config  # the same sources and refusals as the services' settings
    logs_envelope_max_records: int = Field(default=500, ge=1)  # log lines per published envelope


class SyslogSettings(LogProducerSettings):
    """producers/syslog.py"""

    syslog_host: str = "0.0.0.0"
    syslog_udp_port: int = Field(default=0, ge=0, le=65535)  # e.g. 5514; 0: off
    syslog_tcp_port: int = Field(default=0, ge=0, le=65535)  # e.g. 5514; 0: off
    syslog_max_message_bytes: int = Field(default=65_536, ge=480)


class FileTailSettings(LogProducerSettings):
    """producers/file_tail.py"""

    file_tail_paths: list[str] = Field(default_factory=list)  # files to follow, e.g. ["/var/log/syslog"]
    file_tail_interval_s: float = Field(default=1.0, gt=0)
    file_tail_from_start: bool = False  # a file seen for the first time is read from its start, else its end
    # Bytes read per file per poll; a record longer than this is published in pieces this long.
    file_tail_max_record_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)


class SnmpTrapSettings(BaseSettings):
    """producers/snmp_traps.py"""

    model_config = CommonSettings.model_config
    snmp_trap_host: str = "0.0.0.0"
    snmp_trap_port: int = Field(default=0, ge=0, le=65535)  # e.g. 1162; 0: off
    # Traps are taken only with one of these communities (v1/v2c); required once the port is set.
    snmp_trap_communities: list[str] = Field(default_factory=list)
    # v3 traps: the users of the enabled SNMP v3 sources, read again this often.
    snmp_trap_users_refresh_s: float = Field(default=30.0, gt=0)
