"""Local fakes of the AI providers' public HTTP contracts, served on 127.0.0.1 in a thread.

Each fake checks what a real provider checks (the `Authorization: Bearer` key, required fields,
allowed values, the multipart body for Stability, Runway's version header) and answers in the
provider's documented shapes, including its error bodies. Switches:

* `fail(status, body, headers=..., times=..., path=...)`: the next `times` requests (to `path`
  prefix, if given) get that answer instead: 429 with Retry-After, 500, 401, HTML garbage...
* `delay`: seconds to wait before answering anything (timeouts);
* every request is recorded in `requests` (headers lower-cased, raw body) for shape checks.

A `FakeCdn` serves result files from another origin, so tests see that the key is not sent there.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

OPENAI_KEY = "sk-test-0123456789abcdefSECRETKEY"
STABILITY_KEY = "sk-stab-0123456789abcdefSECRETKEY"
RUNWAY_KEY = "key_runway_0123456789abcdefSECRETKEY"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), "application/json", dict(headers or {}))


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """multipart/form-data fields (what Stability reads)."""
        content_type = self.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise ValueError(f"not multipart: {content_type!r}")
        raw = f"Content-Type: {content_type}\r\n\r\n".encode() + self.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = part.get_payload(decode=True).decode()
        return fields


@dataclass
class _Fault:
    reply: Reply
    remaining: int | None
    path: str | None


class FakeServer:
    """A threaded HTTP/1.1 server; subclasses implement `handle(request) -> Reply`."""

    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.requests: list[Recorded] = []
        self._faults: list[_Fault] = []
        self.delay = 0.0

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(
        self,
        status: int,
        body: bytes | dict[str, Any] = b"",
        *,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        times: int | None = 1,
        path: str | None = None,
        delay: float = 0.0,
    ) -> None:
        if isinstance(body, dict):
            raw, ctype = json.dumps(body).encode(), content_type or "application/json"
        else:
            raw, ctype = body, content_type or "text/plain"
        with self._lock:
            self._faults.append(_Fault(Reply(status, raw, ctype, dict(headers or {}), delay), times, path))

    def _take_fault(self, path: str) -> Reply | None:
        with self._lock:
            for fault in list(self._faults):
                if fault.path is not None and not path.startswith(fault.path):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault.reply
        return None

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_prefix) and (method is None or r.method == method)]

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_DELETE = _any  # noqa: N815 - http.server's naming

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"fake-{self.name}", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        request = Recorded(handler.command, path, {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.requests.append(request)
        reply = self._take_fault(path)
        if reply is None:
            try:
                reply = self.handle(request)
            except Exception as exc:  # a bug in the fake must show up as a 500, not a hang
                reply = json_reply({"error": f"fake crashed: {exc!r}"}, 500)
        wait = self.delay + reply.delay
        if wait:
            time.sleep(wait)
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def handle(self, request: Recorded) -> Reply:  # pragma: no cover - overridden
        return json_reply({"error": "not found"}, 404)


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    image = Image.new("RGB", (width, height), color)
    # A stripe marks the left edge, so a test can tell the crop was centred.
    image.paste((250, 250, 250), (0, 0, max(1, width // 20), height))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


FAKE_MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 2048


class FakeCdn(FakeServer):
    """Serves result files by path (another origin than the API)."""

    name = "cdn"

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, tuple[bytes, str]] = {}

    def put(self, path: str, data: bytes, content_type: str) -> str:
        self.files[path] = (data, content_type)
        return self.base_url + path

    def handle(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path in self.files:
            data, ctype = self.files[request.path]
            return Reply(200, data, ctype)
        return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")


def _bearer(request: Recorded, key: str) -> bool:
    return request.headers.get("authorization") == f"Bearer {key}"


# --- OpenAI-compatible ------------------------------------------------------------------------------


def story_json(scene_count: int, **overrides: Any) -> str:
    story: dict[str, Any] = {
        "title": "City opens a new solar park",
        "lead": "The city has opened its largest solar park. It will power ten thousand homes.",
        "body": (
            "The city has opened its largest solar park on Monday.\n\n"
            "It will power ten thousand homes and cut emissions. Engineers spent two years building it."
        ),
        "scenes": [f"Scene {i + 1}: the park grows, panel by panel, row {i + 1}." for i in range(scene_count)],
        "captions": {
            "telegram": "City opens a new solar park. It will power ten thousand homes.",
            "instagram": "A new solar park! Ten thousand homes powered by the sun.",
            "youtube": "The city opened its largest solar park. Engineers spent two years building it.",
        },
        "hashtags": ["#Solar", "#Energy", "#City"],
    }
    story.update(overrides)
    return json.dumps(story, ensure_ascii=False)


class FakeOpenAI(FakeServer):
    """`/v1/chat/completions`, `/v1/images/generations`, `/v1/models`, OpenAI's shapes and errors."""

    name = "openai"
    models = ("gpt-test", "gpt-image-test")
    image_sizes = ("1024x1024", "1024x1536", "1536x1024", "1792x1024", "1024x1792")

    def __init__(self, key: str | None = OPENAI_KEY) -> None:
        super().__init__()
        self.key = key
        # What the model "writes": a function of the scene count asked for (from the user message).
        self.chat_content: Callable[[int], str] | str = story_json
        self.finish_reason = "stop"
        self.refusal: str | None = None
        self.accepts_response_format = True
        self.image_mode = "b64_json"  # or "url" (then files come from `cdn`)
        self.image_b64_override: str | None = None
        self.cdn: FakeCdn | None = None

    @staticmethod
    def error(message: str, status: int, *, type_: str = "invalid_request_error", code: str | None = None) -> Reply:
        return json_reply({"error": {"message": message, "type": type_, "param": None, "code": code}}, status)

    def handle(self, request: Recorded) -> Reply:
        if self.key is not None and not _bearer(request, self.key):
            # The real API echoes a masked key; ours echoes the whole one, to prove we scrub it.
            sent = request.headers.get("authorization", "").removeprefix("Bearer ")
            return self.error(f"Incorrect API key provided: {sent}.", 401, code="invalid_api_key")
        if request.method == "GET" and request.path == "/v1/models":
            return json_reply(
                {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]}
            )
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self._chat(request)
        if request.method == "POST" and request.path == "/v1/images/generations":
            return self._image(request)
        return self.error(f"Invalid URL ({request.method} {request.path})", 404)

    def _chat(self, request: Recorded) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return self.error("We could not parse the JSON body of your request.", 400)
        if not isinstance(body.get("model"), str) or body["model"] not in self.models:
            return self.error(f"The model `{body.get('model')}` does not exist", 404, code="model_not_found")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.error("'messages' is a required property", 400)
        for m in messages:
            if m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
                return self.error("Invalid 'messages': each needs a role and string content.", 400)
        if "temperature" in body and not (0 <= body["temperature"] <= 2):
            return self.error("Invalid 'temperature': must be between 0 and 2.", 400)
        if "response_format" in body:
            if not self.accepts_response_format:
                return self.error("Unrecognized request argument supplied: response_format", 400)
            if body["response_format"] != {"type": "json_object"}:
                return self.error("Invalid 'response_format'.", 400)
            if not any("json" in m["content"].lower() for m in messages):
                return self.error("'messages' must contain the word 'json' to use 'response_format'.", 400)
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        match = re.search(r"Number of scenes: (\d+)", user)
        scenes = int(match.group(1)) if match else 1
        content = self.chat_content(scenes) if callable(self.chat_content) else self.chat_content
        return json_reply(
            {
                "id": "chatcmpl-" + uuid.uuid4().hex[:12],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": self.refusal},
                        "finish_reason": self.finish_reason,
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300},
            }
        )

    def _image(self, request: Recorded) -> Reply:
        body = request.json()
        if body.get("model") not in self.models:
            return self.error(f"The model `{body.get('model')}` does not exist", 404, code="model_not_found")
        if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            return self.error("'prompt' is a required property", 400)
        if body.get("size", "1024x1024") not in self.image_sizes:
            return self.error(f"'{body.get('size')}' is not one of {list(self.image_sizes)} - 'size'", 400)
        if body.get("n", 1) != 1:
            return self.error("'n' must be 1 for this model", 400)
        if body.get("response_format", "url") not in ("url", "b64_json"):
            return self.error("Invalid 'response_format'", 400)
        w, h = (int(v) for v in body.get("size", "1024x1024").split("x"))
        png = png_bytes(w, h)
        if self.image_mode == "url" and self.cdn is not None:
            url = self.cdn.put(f"/images/{uuid.uuid4().hex}.png", png, "image/png")
            item: dict[str, Any] = {"url": url}
        else:
            item = {"b64_json": self.image_b64_override or base64.b64encode(png).decode()}
        return json_reply({"created": int(time.time()), "data": [{**item, "revised_prompt": body["prompt"]}]})


# --- Stability ------------------------------------------------------------------------------------

STABILITY_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")


def stability_error(status: int, name: str, *errors: str) -> Reply:
    return json_reply({"id": uuid.uuid4().hex, "name": name, "errors": list(errors)}, status)


class FakeStability(FakeServer):
    name = "stability"

    def __init__(self) -> None:
        super().__init__()
        self.finish_reason = "SUCCESS"
        self.credits = 42.5

    @staticmethod
    def size_for(ratio: str) -> tuple[int, int]:
        w, h = (int(v) for v in ratio.split(":"))
        width = round(math.sqrt(1_048_576 * w / h) / 64) * 64  # about one megapixel, multiples of 64
        return width, round(width * h / w / 64) * 64

    def handle(self, request: Recorded) -> Reply:
        if not _bearer(request, STABILITY_KEY):
            return stability_error(401, "unauthorized", "authorization: invalid or missing header value")
        if request.method == "GET" and request.path == "/v1/user/balance":
            return json_reply({"credits": self.credits})
        match = re.fullmatch(r"/v2beta/stable-image/generate/(core|ultra|sd3)", request.path)
        if request.method != "POST" or not match:
            return stability_error(404, "not_found", f"{request.path}: not found")
        accept = request.headers.get("accept", "")
        if accept not in ("image/*", "application/json"):
            return stability_error(400, "bad_request", "accept: must be image/* or application/json")
        try:
            form = request.form()
        except ValueError:
            return stability_error(400, "bad_request", "content-type: must be multipart/form-data")
        prompt = form.get("prompt", "")
        if not prompt.strip():
            return stability_error(400, "bad_request", "prompt: cannot be empty")
        if len(prompt) > 10_000:
            return stability_error(400, "bad_request", "prompt: must be at most 10000 characters")
        ratio = form.get("aspect_ratio", "1:1")
        if ratio not in STABILITY_RATIOS:
            return stability_error(400, "bad_request", f"aspect_ratio: must be one of {', '.join(STABILITY_RATIOS)}")
        fmt = form.get("output_format", "png")
        if fmt not in ("png", "jpeg", "webp"):
            return stability_error(400, "bad_request", "output_format: must be one of png, jpeg, webp")
        if "seed" in form and not (form["seed"].isdigit() and int(form["seed"]) <= 4_294_967_294):
            return stability_error(400, "bad_request", "seed: must be an integer between 0 and 4294967294")
        if "forbidden" in prompt.lower():
            return stability_error(
                403, "content_moderation", "Your request was flagged by our content moderation system."
            )
        w, h = self.size_for(ratio)
        image = Image.open(io.BytesIO(png_bytes(w, h)))
        out = io.BytesIO()
        image.save(out, {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt])
        seed = form.get("seed", "123456")
        if accept == "application/json":
            return json_reply(
                {"image": base64.b64encode(out.getvalue()).decode(), "finish_reason": self.finish_reason, "seed": seed}
            )
        return Reply(200, out.getvalue(), f"image/{fmt}", {"finish-reason": self.finish_reason, "seed": seed})


# --- Runway ---------------------------------------------------------------------------------------

RUNWAY_VERSION = "2024-11-06"
RUNWAY_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")


def runway_error(status: int, message: str, issues: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"error": message}
    if issues:
        body["issues"] = issues
    return json_reply(body, status)


class FakeRunway(FakeServer):
    """`POST /v1/image_to_video`, `GET|DELETE /v1/tasks/{id}`, `GET /v1/organization`."""

    name = "runway"

    def __init__(self, cdn: FakeCdn) -> None:
        super().__init__()
        self.cdn = cdn
        self.tasks: dict[str, dict[str, Any]] = {}
        self.polls_to_finish = 3  # PENDING, RUNNING..., then the outcome
        self.outcome: dict[str, Any] = {"status": "SUCCEEDED"}
        self.video = FAKE_MP4
        self.video_type = "video/mp4"

    def handle(self, request: Recorded) -> Reply:
        if not _bearer(request, RUNWAY_KEY):
            return runway_error(401, "Invalid API key")
        if request.headers.get("x-runway-version") != RUNWAY_VERSION:
            return runway_error(400, "You must provide a valid X-Runway-Version header.")
        if request.method == "GET" and request.path == "/v1/organization":
            return json_reply({"creditBalance": 1250, "tier": {"maxMonthlyCreditSpend": 10000}})
        if request.method == "POST" and request.path == "/v1/image_to_video":
            return self._create(request)
        match = re.fullmatch(r"/v1/tasks/([\w-]+)", request.path)
        if match:
            task = self.tasks.get(match.group(1))
            if task is None:
                return runway_error(404, "Task not found")
            if request.method == "DELETE":
                task["cancelled"] = True
                return Reply(204, b"", "application/json")
            if request.method == "GET":
                return self._poll(task)
        return runway_error(404, "Not found")

    def _create(self, request: Recorded) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return runway_error(400, "Invalid JSON body")
        issues: list[dict[str, Any]] = []
        image = body.get("promptImage")
        if not isinstance(image, str):
            issues.append({"path": ["promptImage"], "message": "Required"})
        elif image.startswith("data:"):
            head, _sep, data = image.partition(",")
            if not re.fullmatch(r"data:image/(jpeg|png|webp);base64", head):
                issues.append({"path": ["promptImage"], "message": "Unsupported data URI"})
            else:
                try:
                    Image.open(io.BytesIO(base64.b64decode(data, validate=True))).verify()
                except Exception:
                    issues.append({"path": ["promptImage"], "message": "Invalid image"})
        elif not image.startswith("https://"):
            issues.append({"path": ["promptImage"], "message": "Must be an HTTPS URL or a data URI"})
        if body.get("model") not in ("gen4_turbo", "gen3a_turbo"):
            issues.append({"path": ["model"], "message": "Invalid enum value"})
        if body.get("ratio") not in RUNWAY_RATIOS:
            issues.append({"path": ["ratio"], "message": "Invalid enum value"})
        if body.get("duration", 10) not in (5, 10):
            issues.append({"path": ["duration"], "message": "Invalid enum value. Expected 5 | 10"})
        if len(body.get("promptText", "")) > 1000:
            issues.append({"path": ["promptText"], "message": "String must contain at most 1000 character(s)"})
        if issues:
            return runway_error(400, "Validation of body failed", issues)
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = {"id": task_id, "polls": 0, "body": body, "cancelled": False}
        return json_reply({"id": task_id})

    def _poll(self, task: dict[str, Any]) -> Reply:
        task["polls"] += 1
        base = {"id": task["id"], "createdAt": "2026-11-22T10:00:00.000Z"}
        if task["cancelled"]:
            return json_reply({**base, "status": "CANCELLED"})
        if task["polls"] == 1:
            return json_reply({**base, "status": "PENDING"})
        if task["polls"] < self.polls_to_finish:
            return json_reply({**base, "status": "RUNNING", "progress": round(task["polls"] / self.polls_to_finish, 2)})
        if self.outcome["status"] == "SUCCEEDED":
            url = self.cdn.put(f"/videos/{task['id']}.mp4", self.video, self.video_type)
            return json_reply({**base, "status": "SUCCEEDED", "output": [url]})
        return json_reply({**base, **self.outcome})


@contextmanager
def serving(fake: FakeServer) -> Iterator[FakeServer]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
