"""CommonSettings: the settings both services read, spelled the same in each. Only settings modules read the env."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    # Refusals never echo the values: they may be secrets.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      hide_input_in_errors=True)

    # development | test | production: a label only; secrets are checked the same way in every environment.
    environment: str = "development"
    log_level: str = "INFO"

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/aiops"
    database_pool_size: int = 10
    redis_url: str = "redis://127.0.0.1:6379/0"
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "aiops"
    influx_token: str = ""  # InfluxDB 2.x/3.x token for the v1-compatible API; empty for 1.x without auth
    chroma_url: str = "http://127.0.0.1:8000"
    # Prepended to every ChromaDB collection name (log_prototypes, log_embeddings): one Chroma, many setups.
    chroma_collection_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,40}$")
    embedding_device: str = "cpu"  # torch device of the sentence embedding model (all-MiniLM-L6-v2)

    consumer_group: str = "aiops-consumers"
    stream_batch_size: int = Field(default=500, ge=1, le=10_000)
    stream_block_ms: int = Field(default=1_000, ge=1)
    # An entry pending this long on a consumer is taken over (its consumer is presumed dead).
    stream_claim_idle_ms: int = Field(default=30_000, ge=100)
    # After this many deliveries an entry that still fails goes to the dead-letter stream.
    stream_max_deliveries: int = Field(default=5, ge=1)
    stream_maxlen_factor: float = Field(default=1.0, gt=0)  # scales every stream's MAXLEN

    otel_exporter_otlp_endpoint: str = ""  # tracing is off unless set
