"""The base of the models people write by hand (automation rules, replay requests, notifications.yml): a key
the model does not know is refused, naming it, never silently ignored (a typo would otherwise turn a setting off).
"""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
