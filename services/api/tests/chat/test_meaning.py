"""The chat's meaning fallback (chat/meaning.py) while the embedding model fails: no intent, so the parser's
default stands; a failed warm-up is logged when it fails, not at exit, and shutdown stops one still running."""

import asyncio

from aiops_api.chat.meaning import IntentMeaning
from aiops_api.logs.search import LogSearch
from aiops_contracts.embeddings import TextEmbedder


def meaning_of(settings, device: str = "cpu") -> IntentMeaning:
    search = LogSearch(settings)
    search.embedder = TextEmbedder(device)
    return IntentMeaning(search)


def logged(caplog, message: str) -> list:
    return [r for r in caplog.records if r.message == message]


async def test_a_failed_warm_up_is_logged_when_it_fails_and_questions_get_no_intent(api_settings, caplog) -> None:
    meaning = meaning_of(api_settings, "no-such-device")  # torch refuses it once the weights are read
    meaning.warm_up()
    async with asyncio.timeout(120):
        while not logged(caplog, "background task failed"):
            await asyncio.sleep(0.05)
    (failed,) = logged(caplog, "background task failed")
    assert failed.task == "chat-meaning-warm-up" and "no-such-device" in str(failed.exc_info[1])
    assert await meaning.nearest("which disks will be full soon?") is None
    (unavailable,) = logged(caplog, "chat meaning unavailable, the parser's default stands")
    assert unavailable.error_type == "RuntimeError"
    await meaning.aclose()


async def test_shutdown_stops_a_warm_up_still_running_and_logs_nothing(api_settings, caplog) -> None:
    meaning = meaning_of(api_settings)
    meaning.warm_up()
    await meaning.aclose()
    assert meaning._warming is not None and meaning._warming.cancelled()
    assert not logged(caplog, "background task failed")
