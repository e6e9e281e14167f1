"""A Bot API stand-in: a real HTTP server on loopback that speaks Telegram's JSON.

Tests and benchmarks run the real python-telegram-bot `Application` against
it through `base_url`, so every request really goes over HTTP and every
answer has Telegram's shape (`{"ok": true, "result": ...}`, errors with
`error_code`, `description` and `parameters.retry_after`). It keeps only
what our bot uses: getMe, getUpdates (offsets confirm, long-poll timeouts,
`allowed_updates` filters what is handed out),
sendMessage, editMessageText, answerCallbackQuery, setWebhook,
deleteWebhook, sendPhoto, sendDocument. In webhook mode it POSTs updates to
the registered URL with the secret header and re-sends until it gets a 2xx,
as Telegram does.

Updates are built as Telegram serialises them, including what a client
really sends and tests must survive: a command typed without its
`bot_command` entity, a button tap on a message the bot never sent (or no
longer has), service messages (`write_access_allowed`, pinned messages),
group and supergroup chats, `my_chat_member` when a user blocks the bot,
media without text, and raw JSON the library cannot parse (`push_raw`).
Faults are scripted: `fail_next` (5xx, or 429 with `retry_after`),
`drop_polls` (the polling connection cut mid-request), `garble_polls` (a
getUpdates answer that is not a list) and `instant_polls` (a proxy that
answers long polls at once).

Rate limits are token buckets (Telegram publishes "about 30 messages per
second overall, about one per second per chat" and allows short bursts);
a request over either limit gets 429 with `retry_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

MAX_TEXT = 4096
RATE_LIMITED_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument", "editmessagetext"})
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "tg-spoiler", "span", "blockquote", "tg-emoji"}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)((?:\s+[a-z-]+=\"[^\"<>]*\")*)\s*>")
_FILES = "_uploaded_files"  # where `_params` keeps multipart uploads, out of Telegram's names
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description, parameters."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; one request costs one token."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def wait_time(self, now: float) -> float:
        """0 when a token is available now, else seconds until one is."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass(frozen=True)
class Rejection:
    """One 429, for tracing which sends collide: the limit that refused it, the request's
    text, and the last accepted text to the same chat (with how long before)."""

    at: float
    chat_id: int
    limit: str  # "chat" or "overall"
    text: str
    previous_text: str | None
    since_previous: float | None


@dataclass
class SentMessage:
    """A message the bot sent (or edited), as the stand-in stored it."""

    chat_id: int
    message_id: int
    text: str
    kind: str = "text"
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    edits: list[str] = field(default_factory=list)
    file_name: str | None = None
    file: bytes | None = None
    """What sendPhoto/sendDocument uploaded (name and bytes), for tests to read back."""

    @property
    def buttons(self) -> list[list[tuple[str, str]]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[(b["text"], b.get("callback_data", "")) for b in row] for row in rows]


class BotApiStandIn:
    """The server and its state; `async with BotApiStandIn() as api:` runs it."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        overall_rate: float = 30.0,
        overall_burst: float = 30.0,
        chat_rate: float = 1.0,
        chat_burst: float = 1.0,
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Rapport",
            "username": "rapport_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.overall = TokenBucket(overall_rate, overall_burst)
        self.chat_rate, self.chat_burst = chat_rate, chat_burst
        self.chat_buckets: dict[int, TokenBucket] = {}
        self.updates: list[dict[str, Any]] = []
        self.history: dict[int, dict[str, Any]] = {}
        self.last_update_id = 0
        self._closing = False
        self.handed_out: set[int] = set()
        self.confirmed_up_to = 0
        self.sent: list[SentMessage] = []
        self.callback_answers: dict[str, str | None] = {}
        self.blocked: set[int] = set()
        self.users: dict[int, dict[str, Any]] = {}
        self.calls: dict[str, int] = {}
        self.too_many_requests = 0
        self.rejections: list[Rejection] = []
        self._last_accepted: dict[int, tuple[float, str]] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.failures: dict[str, list[int]] = {}
        self.chat_failures: dict[int, list[int]] = {}
        self.allowed_updates: list[str] | None = None
        self.dropped_polls = 0
        """How many more getUpdates requests to cut off mid-way (connection closed)."""
        self.garbled_polls = 0
        """How many more getUpdates answers are `"result": "garbage"` instead of a list."""
        self.instant_polls = False
        """Answer getUpdates at once even when asked to wait (a misbehaving proxy)."""
        self.groups: dict[int, dict[str, Any]] = {}
        self._next_update = itertools.count(1)
        self._next_message: dict[int, itertools.count[int]] = {}
        self._next_callback = itertools.count(1)
        self._new_update = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task[None] | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The value for PTB's `base_url` / RAPPORT_TELEGRAM_API_URL."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        async with self._new_update:
            self._new_update.notify_all()  # end long polls now, not at their timeout
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> BotApiStandIn:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- what tests do as customers ------------------------------------------

    def user(self, chat_id: int, first_name: str = "Ann", username: str | None = None) -> None:
        self.users[chat_id] = {
            "id": chat_id,
            "is_bot": False,
            "first_name": first_name,
            **({"username": username} if username else {}),
        }

    def group(self, chat_id: int, title: str = "Shop fans", kind: str = "supergroup") -> None:
        """A group or supergroup the bot is in (ids are negative, as Telegram's)."""
        self.groups[chat_id] = {"id": chat_id, "type": kind, "title": title}
        self.users.setdefault(chat_id, self.groups[chat_id])  # the bot may send there

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.groups:
            return dict(self.groups[chat_id])
        user = self.users.setdefault(
            chat_id, {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}"}
        )
        return {"id": chat_id, "type": "private", "first_name": user["first_name"]}

    def _message_id(self, chat_id: int) -> int:
        return next(self._next_message.setdefault(chat_id, itertools.count(1)))

    def _user_message(
        self, chat_id: int, *, sender: int | None = None, **content: Any
    ) -> dict[str, Any]:
        self._chat(chat_id)
        author = sender if sender is not None else chat_id
        self._chat(author)
        return {
            "message_id": self._message_id(chat_id),
            "from": self.users[author],
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }

    async def push_update(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue one update (the next update_id) and wake long polls; returns its id."""
        update_id = self.last_update_id = next(self._next_update)
        update = {"update_id": update_id, kind: payload}
        self.updates.append(update)
        self.history[update_id] = update
        async with self._new_update:
            self._new_update.notify_all()
        return update_id

    async def push_raw(self, update: dict[str, Any]) -> int:
        """Queue this JSON as it is (an `update_id` is added if missing); returns the id."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            update_id = next(self._next_update)
            update = {"update_id": update_id, **update}
        self.last_update_id = max(self.last_update_id, update_id)
        self.updates.append(update)
        self.history[update_id] = update
        async with self._new_update:
            self._new_update.notify_all()
        return update_id

    async def send_text(
        self, chat_id: int, text: str, *, entities: bool = True, sender: int | None = None
    ) -> dict[str, Any]:
        """The customer types `text` (a leading /command gets its bot_command entity).

        `entities=False` is a client that sends a command without its entity
        (some do); `sender` is who writes when `chat_id` is a group.
        """
        content: dict[str, Any] = {"text": text}
        command = re.match(r"/[A-Za-z0-9_@]+", text)
        if command and entities:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        message = self._user_message(chat_id, sender=sender, **content)
        await self.push_update("message", message)
        return message

    async def send_in_group(self, chat_id: int, user_id: int, text: str) -> dict[str, Any]:
        """User `user_id` types `text` in the group `chat_id` (registered with `group`)."""
        content: dict[str, Any] = {"text": text}
        command = re.match(r"/[A-Za-z0-9_@]+", text)
        if command:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        self._chat(user_id)
        message = {
            "message_id": self._message_id(chat_id),
            "from": self.users[user_id],
            "chat": self.groups[chat_id],
            "date": int(time.time()),
            **content,
        }
        await self.push_update("message", message)
        return message

    async def send_reply(self, chat_id: int, to: SentMessage, text: str) -> dict[str, Any]:
        """The user answers one of the bot's messages with Telegram's "reply" (a quote)."""
        message = self._user_message(
            chat_id, text=text, reply_to_message=self._bot_message_dict(to)
        )
        await self.push_update("message", message)
        return message

    async def send_sticker(self, chat_id: int) -> dict[str, Any]:
        sticker = {"file_id": "CAACAgI", "file_unique_id": "AgAD", "type": "regular",
                   "width": 512, "height": 512, "is_animated": False,
                   "is_video": False}  # fmt: skip
        message = self._user_message(chat_id, sticker=sticker)
        await self.push_update("message", message)
        return message

    async def send_photo(self, chat_id: int, caption: str | None = None) -> dict[str, Any]:
        photo = [{"file_id": "AgACAgI", "file_unique_id": "AQAD", "width": 90, "height": 90,
                  "file_size": 1234}]  # fmt: skip
        extra: dict[str, Any] = {"photo": photo, **({"caption": caption} if caption else {})}
        message = self._user_message(chat_id, **extra)
        await self.push_update("message", message)
        return message

    async def send_service(self, chat_id: int, field: str, value: Any = None) -> dict[str, Any]:
        """A service message: `write_access_allowed`, `pinned_message`, `users_shared`, …"""
        content: dict[str, Any] = {field: {} if value is None else value}
        message = self._user_message(chat_id, **content)
        await self.push_update("message", message)
        return message

    async def send_voice(self, chat_id: int) -> dict[str, Any]:
        voice = {"file_id": "AwACAgI", "file_unique_id": "AgADv", "duration": 3}
        message = self._user_message(chat_id, voice=voice)
        await self.push_update("message", message)
        return message

    async def channel_post(self, chat_id: int, text: str) -> None:
        """A post in a channel the bot administers (no `from`)."""
        chat = {"id": chat_id, "type": "channel", "title": "Shop news"}
        post = {"message_id": self._message_id(chat_id), "chat": chat,
                "date": int(time.time()), "text": text}  # fmt: skip
        await self.push_update("channel_post", post)

    async def member_status(self, chat_id: int, status: str) -> None:
        """`my_chat_member`: the user blocked ("kicked") or unblocked ("member") the bot."""
        user = self.users.get(chat_id) or self._chat(chat_id)
        old = "kicked" if status == "member" else "member"
        await self.push_update(
            "my_chat_member",
            {
                "chat": self._chat(chat_id),
                "from": self.users.get(chat_id, user),
                "date": int(time.time()),
                "old_chat_member": {"user": self.bot_user, "status": old,
                                    **({"until_date": 0} if old == "kicked" else {})},
                "new_chat_member": {"user": self.bot_user, "status": status,
                                    **({"until_date": 0} if status == "kicked" else {})},
            },
        )  # fmt: skip
        if status == "kicked":
            self.block(chat_id)
        else:
            self.blocked.discard(chat_id)

    async def tap_unknown(self, chat_id: int, message_id: int, data: str) -> str:
        """A tap under a bot message this bot never sent (or no longer knows), `data` as given."""
        query_id = str(next(self._next_callback))
        message = {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": "An old message",
            "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": data}]]},
        }
        await self.push_update(
            "callback_query",
            {"id": query_id, "from": self.users.get(chat_id) or self._chat(chat_id),
             "message": message, "chat_instance": f"ci{chat_id}", "data": data},
        )  # fmt: skip
        return query_id

    async def edit_text(self, message: Mapping[str, Any], text: str) -> None:
        """The customer edits a message they sent earlier."""
        edited = {**message, "text": text, "edit_date": int(time.time()) + 1}
        await self.push_update("edited_message", edited)

    async def tap(self, sent: SentMessage, data: str) -> str:
        """The customer taps the inline button with `data` under a bot message."""
        query_id = str(next(self._next_callback))
        await self.push_update(
            "callback_query",
            {
                "id": query_id,
                "from": self.users.get(sent.chat_id) or self._chat(sent.chat_id),
                "message": self._bot_message_dict(sent),
                "chat_instance": f"ci{sent.chat_id}",
                "data": data,
            },
        )
        return query_id

    def block(self, chat_id: int) -> None:
        """The customer blocks the bot: every send to them is 403 from now on."""
        self.blocked.add(chat_id)

    def fail_next(self, method: str, code: int, times: int = 1) -> None:
        """The next `times` calls of `method` answer with HTTP `code` (e.g. 502; 429 says
        retry after 1 s, as Telegram does)."""
        self.failures.setdefault(method.lower(), []).extend([code] * times)

    def fail_chat(self, chat_id: int, *codes: int) -> None:
        """The next sends to this chat answer these codes in turn (429 says retry after 1 s).

        Per chat rather than per call, so a test can fail a set share of a
        campaign's recipients however the sends interleave.
        """
        self.chat_failures.setdefault(chat_id, []).extend(codes)

    async def redeliver(self, update_id: int) -> int:
        """Hand out an update again under a new id, as Telegram does after a lost ack."""
        original = self.history[update_id]
        kind = next(k for k in original if k != "update_id")
        return await self.push_update(kind, original[kind])

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    @property
    def pending(self) -> list[int]:
        """Ids of updates not yet confirmed by a getUpdates offset."""
        return [u["update_id"] for u in self.updates]

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        """Wait until `predicate()` is true (polls the state, no sleeps in callers)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the bot did not do what the test waited for")
            await asyncio.sleep(0.01)

    # -- the HTTP side -----------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"].lower()
        self.calls[method] = self.calls.get(method, 0) + 1
        try:
            params = await _params(request)
            queued = self.failures.get(method)
            if queued:
                code = queued.pop(0)
                if code == 429:
                    raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
                raise ApiError(code, "Bad Gateway" if code == 502 else f"Error {code}")
            if method == "getupdates" and self.dropped_polls > 0:
                self.dropped_polls -= 1
                if request.transport is not None:
                    request.transport.close()  # the connection dies mid-request
                raise ApiError(502, "Bad Gateway")
            if method == "getupdates" and self.garbled_polls > 0:
                self.garbled_polls -= 1
                return web.json_response({"ok": True, "result": "garbage"})
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            if method in RATE_LIMITED_METHODS:
                self._scripted_chat_failure(_int(params, "chat_id"))
                self._rate_limit(_int(params, "chat_id"), str(params.get("text") or ""))
            result = await handler(params)
        except ApiError as exc:
            if exc.code == 429:
                self.too_many_requests += 1
            return _error(exc)
        return web.json_response({"ok": True, "result": result})

    def _scripted_chat_failure(self, chat_id: int) -> None:
        queued = self.chat_failures.get(chat_id)
        if not queued:
            return
        code = queued.pop(0)
        if code == 429:
            raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        if code == 403:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        raise ApiError(code, "Bad Gateway" if code == 502 else f"Error {code}")

    def _rate_limit(self, chat_id: int, text: str = "") -> None:
        now = time.monotonic()
        chat = self.chat_buckets.setdefault(chat_id, TokenBucket(self.chat_rate, self.chat_burst))
        wait = max(self.overall.wait_time(now), chat.wait_time(now))
        if wait > 0:
            previous = self._last_accepted.get(chat_id)
            self.rejections.append(
                Rejection(
                    at=now,
                    chat_id=chat_id,
                    limit="chat" if chat.wait_time(now) > 0 else "overall",
                    text=text,
                    previous_text=previous[1] if previous else None,
                    since_previous=now - previous[0] if previous else None,
                )
            )
            retry = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        self.overall.take()
        chat.take()
        self._last_accepted[chat_id] = (now, text)

    def _bot_message_dict(self, sent: SentMessage) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "from": self.bot_user,
            "chat": self._chat(sent.chat_id),
            "date": int(time.time()),
        }
        if sent.kind == "text":
            message["text"] = sent.edits[-1] if sent.edits else sent.text
        else:
            message["caption"] = sent.text
            if sent.kind == "photo":
                message["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1,
                                     "height": 1}]  # fmt: skip
            else:
                message["document"] = {"file_id": "d", "file_unique_id": "d"}
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message

    def _target(self, params: Mapping[str, Any]) -> int:
        chat_id = _int(params, "chat_id")
        if chat_id not in self.users and chat_id not in self.groups:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    async def _api_getme(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _api_getupdates(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409, "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )  # fmt: skip
        offset = _int(params, "offset", 0)
        limit = min(max(_int(params, "limit", 100), 1), 100)
        timeout = 0.0 if self.instant_polls else float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if allowed:
            self.allowed_updates = json.loads(allowed) if isinstance(allowed, str) else allowed
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            self.confirmed_up_to = max(self.confirmed_up_to, offset - 1)
        if not self.updates and timeout > 0:
            async with self._new_update:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._new_update.wait_for(lambda: bool(self.updates) or self._closing),
                        timeout,
                    )
        if self.allowed_updates:  # Telegram never hands out kinds the bot did not ask for
            self.updates = [u for u in self.updates if self._allowed(u)]
        batch = self.updates[:limit]
        self.handed_out.update(u["update_id"] for u in batch)
        return batch

    def _allowed(self, update: Mapping[str, Any]) -> bool:
        kinds = [k for k in update if k != "update_id"]
        return not kinds or any(k in (self.allowed_updates or ()) for k in kinds)

    async def _api_setwebhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook_url = str(params.get("url") or "") or None
        self.webhook_secret = params.get("secret_token") or None
        if self.webhook_url and self._pusher is None:
            self._pusher = asyncio.create_task(self._push_webhooks())
        return True

    async def _api_deletewebhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook_url = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        return True

    async def _api_sendmessage(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = self._target(params)
        text = str(params.get("text") or "")
        _check_text(text, params.get("parse_mode"))
        return self._store(chat_id, "text", text, params)

    async def _api_sendphoto(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._store_file(self._target(params), "photo", params)

    async def _api_senddocument(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._store_file(self._target(params), "document", params)

    def _store_file(self, chat_id: int, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
        uploads: dict[str, tuple[str, bytes]] = params.get(_FILES) or {}
        if kind not in params:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        result = self._store(chat_id, kind, str(params.get("caption") or ""), params)
        if kind in uploads:
            self.sent[-1].file_name, self.sent[-1].file = uploads[kind]
        return result

    def _store(
        self, chat_id: int, kind: str, text: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        markup = params.get("reply_markup")
        reply_to = params.get("reply_parameters") or {}
        sent = SentMessage(
            chat_id=chat_id,
            message_id=self._message_id(chat_id),
            text=text,
            kind=kind,
            parse_mode=params.get("parse_mode"),
            reply_markup=json.loads(markup) if isinstance(markup, str) else markup,
            reply_to_message_id=(json.loads(reply_to) if isinstance(reply_to, str) else reply_to)
            .get("message_id"),
        )  # fmt: skip
        self.sent.append(sent)
        return self._bot_message_dict(sent)

    async def _api_editmessagetext(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = self._target(params)
        message_id = _int(params, "message_id")
        text = str(params.get("text") or "")
        _check_text(text, params.get("parse_mode"))
        for sent in self.sent:
            if sent.chat_id == chat_id and sent.message_id == message_id:
                sent.edits.append(text)
                markup = params.get("reply_markup")
                sent.reply_markup = json.loads(markup) if isinstance(markup, str) else markup
                return self._bot_message_dict(sent)
        raise ApiError(400, "Bad Request: message to edit not found")

    async def _api_answercallbackquery(self, params: Mapping[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id in self.callback_answers:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        self.callback_answers[query_id] = params.get("text")
        return True

    async def _push_webhooks(self) -> None:
        """Deliver updates to the webhook one at a time, dropping each on a 2xx."""
        async with ClientSession(timeout=ClientTimeout(total=30)) as http:
            # A flag, not only cancel(): Python 3.11's wait_for can swallow a
            # cancellation that races with the condition being notified.
            while not self._closing:
                if not self.webhook_url or not self.updates:
                    async with self._new_update:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._new_update.wait(), 0.2)
                    continue
                update = self.updates[0]
                headers = {}
                if self.webhook_secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
                try:
                    async with http.post(self.webhook_url, json=update, headers=headers) as r:
                        delivered = 200 <= r.status < 300
                except Exception:
                    delivered = False
                self.handed_out.add(update["update_id"])
                if delivered:
                    self.updates.pop(0)
                    self.confirmed_up_to = update["update_id"]
                else:
                    await asyncio.sleep(0.1)


def _int(params: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise ApiError(400, f"Bad Request: {name} is required")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name}") from None


def _check_text(text: str, parse_mode: str | None) -> None:
    """Refuse what Telegram refuses: empty, too long, or HTML that does not parse."""
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    if parse_mode and parse_mode.upper() == "HTML":
        _check_html(text)


def _check_html(text: str) -> None:
    stack: list[str] = []
    position = 0
    for match in re.finditer(r"[<&]", text):
        if match.start() < position:
            continue
        if match.group() == "&":
            entity = _ENTITY.match(text, match.start())
            if entity is None:
                raise ApiError(400, "Bad Request: can't parse entities: unsupported entity")
            position = entity.end()
            continue
        tag = _TAG.match(text, match.start())
        if tag is None or tag.group(2).lower() not in _ALLOWED_TAGS:
            raise ApiError(400, "Bad Request: can't parse entities: unsupported start tag")
        name = tag.group(2).lower()
        if tag.group(1):
            if not stack or stack.pop() != name:
                raise ApiError(400, f"Bad Request: can't parse entities: unexpected end tag {name}")
        else:
            stack.append(name)
        position = tag.end()
    if stack:
        raise ApiError(400, "Bad Request: can't parse entities: unclosed start tag")


async def _params(request: web.Request) -> dict[str, Any]:
    """Bot API parameters from the query string, a form, multipart or JSON, like Telegram."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST":
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            files: dict[str, tuple[str, bytes]] = {}
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = "<file>"
                    files[key] = (value.filename, value.file.read())
                else:  # a plain field: str, or bytes when it came without a charset
                    params[key] = value if isinstance(value, str) else bytes(value).decode()
            params[_FILES] = files
    return params


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)
