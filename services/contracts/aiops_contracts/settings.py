"""CommonSettings: the settings both services read, spelled the same in each. Only settings modules read the env."""

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiops_contracts.influx_write import check_head_text
from aiops_contracts.outbound import check_outbound_url


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

    stream_batch_size: int = Field(default=500, ge=1, le=10_000)
    stream_block_ms: int = Field(default=1_000, ge=1)
    # An entry pending this long on a consumer is taken over (its consumer is presumed dead).
    stream_claim_idle_ms: int = Field(default=30_000, ge=100)
    # After this many deliveries an entry that still fails goes to the dead-letter stream.
    stream_max_deliveries: int = Field(default=5, ge=1)
    stream_maxlen_factor: float = Field(default=1.0, gt=0)  # scales every stream's MAXLEN
    # Put before every Redis name this code uses, streams and keys alike (aiops_contracts.bus, redis_key): a
    # replay or a test runs on streams and state of its own. Empty in a deployment.
    bus_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_.:-]{0,64}$")

    otel_exporter_otlp_endpoint: str = ""  # tracing is off unless set

    # LLM (aiops_contracts/llm): any OpenAI-compatible chat API (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp).
    # Empty LLM_BASE_URL is the default mode: enrichment and chat answer from rules and templates.
    llm_base_url: str = ""  # e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1
    llm_api_key: str = ""  # secret; local servers accept any
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(default=30.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)  # per call, with the client's back-off
    llm_max_tokens: int = Field(default=800, ge=16)  # completion tokens per call
    llm_tokens_per_hour: int = Field(default=200_000, ge=0)  # all calls of all replicas; 0: no limit
    # The chat (any viewer may ask) uses at most this share of LLM_TOKENS_PER_HOUR: the rest stays for enrichment.
    llm_chat_budget_share: float = Field(default=0.5, gt=0, le=1)
    llm_chat_tokens_per_user_hour: int = Field(default=20_000, ge=0)  # one user's chat tokens an hour; 0: no limit
    llm_cost_per_1k_prompt: float = Field(default=0.0, ge=0)  # currency units, for the cost metric
    llm_cost_per_1k_completion: float = Field(default=0.0, ge=0)
    llm_cache_ttl_s: int = Field(default=3_600, ge=0)  # answers cached per template/prototype key

    def redis_key(self, name: str, *parts: str) -> str:
        """The Redis key of `name` (a constant of aiops_contracts.streams or of the module owning the key), with
        `parts` after it, ":"-joined, under BUS_PREFIX. Every per-deployment key goes through here (the Bus puts
        its streams and the live channel under the same prefix), so a test run, a replay or a second deployment
        sharing a Redis neither sees nor overwrites another's state: heartbeats, leases, caches, counters."""
        return self.bus_prefix + ":".join((name, *parts))

    @field_validator("influx_url", "influx_token")
    @classmethod
    def _fits_a_request_head(cls, value: str, info: ValidationInfo) -> str:
        """Refused where it would break InfluxDB's requests (the URL's host and path go into the Host header and the
        request target, the token into Authorization), so a service does not start with it; surrounding whitespace
        is dropped first, as from secret files (a token file's trailing newline)."""
        name = str(info.field_name)
        return check_head_text(name.upper(), value.strip(), target=name == "influx_url")

    @field_validator("llm_base_url")
    @classmethod
    def _llm_outbound(cls, value: str) -> str:
        return check_outbound_url(value) if value else value
