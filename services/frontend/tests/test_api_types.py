"""The dashboard's API types follow the API: the committed OpenAPI document equals the app's, and the
TypeScript types equal what openapi-typescript generates from it. A changed API fails here (and then in
`next build`'s type check), not in the user's browser."""

import json
import subprocess
from pathlib import Path

from aiops_api.main import create_app
from aiops_api.settings import ApiSettings

FRONTEND = Path(__file__).resolve().parents[1]
API_DIR = FRONTEND / "lib" / "api"
REGENERATE = "cd services/frontend && npm run dump:api && npm run gen:api"


def test_committed_openapi_document_is_the_apps() -> None:
    # The document does not depend on settings values; model_construct skips the secret checks.
    current = json.dumps(create_app(ApiSettings.model_construct()).openapi(), indent=1, sort_keys=True) + "\n"
    assert (API_DIR / "openapi.json").read_text() == current, f"lib/api/openapi.json is stale: {REGENERATE}"


def test_committed_types_are_generated_from_the_document(tmp_path: Path) -> None:
    generated = tmp_path / "schema.d.ts"
    subprocess.run([str(FRONTEND / "node_modules" / ".bin" / "openapi-typescript"), str(API_DIR / "openapi.json"),
                    "-o", str(generated)], check=True, capture_output=True, timeout=120)
    assert (API_DIR / "schema.d.ts").read_text() == generated.read_text(), f"lib/api/schema.d.ts is stale: {REGENERATE}"
