"""`mnistsum serve`: MLflow's scoring server for one registered model, behind a guard that bounds every request.

MLflow's own server (`mlflow models serve`) answers what it cannot parse with a 500, or a 400 that carries a
stack trace with absolute paths and echoes the request body (megabytes of it); it takes a body of any size and
any content type. The guard in front of it (plain ASGI, around `mlflow.pyfunc.scoring_server.init`) makes
every answer bounded and plain:
- POST /invocations takes `application/json` only (415 otherwise), at most MAX_BODY bytes (413), nested at
  most MAX_DEPTH deep (400);
- every error is JSON `{"error_code": ..., "message": one line}`: no stack trace, no absolute path, no echo
  of the input, at most MAX_MESSAGE characters;
- anything the model or MLflow did not expect is a one-line 400 naming the exception type, never a 500.
Everything else (the pixel contract, the predictions) is MLflow's server and the model as registered.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

import uvicorn

from mnistsum.errors import InputError, exits_cleanly

MAX_BODY = 8 * 2**20  # bytes: about 800 images as JSON floats, 2,600 as integer pixels
DRAIN = 8
MAX_DEPTH = 8  # {"inputs": {"pixels": [[[pixel]]]}} nests 5 deep
MAX_MESSAGE = 300
JSON_TYPE = "application/json"
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[\w.@+-]+){2,}/?")


def one_line(text: str) -> str:
    """A client's view of an error message: MLflow's "Failed to predict data '<the whole body>'. Error: ..."
    keeps only its error, the first line of that, no absolute path, at most MAX_MESSAGE characters."""
    if "Error: " in text and text.startswith("Failed to predict data"):
        text = text[text.rindex("Error: ") + len("Error: ") :]
    if "Failed to enforce schema" in text or "Model is missing inputs" in text:
        return 'the body does not match the model\'s input: send {"inputs": images}, images (n, 56, 28)'
    line = next((part.strip() for part in text.splitlines() if part.strip()), "error")
    line = _PATH.sub("<path>", line)
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def shape_problem(value: Any) -> str | None:
    """What no image body can hold, in one line: nesting deeper than MAX_DEPTH (measured iteratively, so a deep
    body cannot exhaust the stack that measures it) or an integer no array holds (numpy would fail on it deep in
    MLflow); None when neither."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            if level > MAX_DEPTH:
                return f"body nests deeper than {MAX_DEPTH} levels"
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
        elif isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**63:
            return "an integer beyond 64 bits in the body; expected pixels 0-255 or floats in [0, 1]"
    return None


class Guard:
    """ASGI middleware: checks an /invocations request before the scoring server sees it, and rewrites every
    error it answers into one bounded line."""

    def __init__(self, app: Any, max_body: int = MAX_BODY):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations":
            return await self.app(scope, receive, send)
        refusal = await self._check(scope, receive)
        if isinstance(refusal, tuple):
            return await _answer(send, *refusal)
        body = refusal
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:  # the app asked again: the client is gone as far as it is concerned
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        status, held = 200, []

        async def rewrite(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status < 400:
                    return await send(message)
                held.append(message)
            elif message["type"] == "http.response.body" and status >= 400:
                held.append(message)
                if not message.get("more_body"):
                    await _answer(send, *_client_error(status, b"".join(m.get("body", b"") for m in held[1:])))
            else:
                await send(message)

        try:
            await self.app(scope, replay, rewrite)
        except Exception as exc:  # noqa: BLE001 - whatever escaped MLflow: one line, the answer already sent or not
            if not held and status < 400:
                await _answer(send, 400, "BAD_REQUEST", f"could not score the body ({type(exc).__name__})")

    async def _check(self, scope: dict, receive: Any) -> bytes | tuple[int, str, str]:
        """The body, or (status, error code, line) refusing the request."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] != "POST":
            return 405, "METHOD_NOT_ALLOWED", f"{scope['method']} /invocations: expected POST"
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != JSON_TYPE:
            shown = one_line(content_type)[:60] if content_type.strip() else "missing"
            return 415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type {shown}: expected {JSON_TYPE}"
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400, "BAD_REQUEST", "the client went away before the body ended"
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body:
                chunks.append(chunk)
            # Over the cap the rest is read and dropped (up to DRAIN x the cap), so that a client which sends its
            # whole body before reading gets the 413 rather than a reset connection.
            if not message.get("more_body") or size > DRAIN * self.max_body:
                break
        if size > self.max_body:
            return 413, "REQUEST_TOO_LARGE", f"body over {self.max_body:,} bytes; at most that a request"
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except RecursionError:
            return 400, "BAD_REQUEST", f"body nests deeper than {MAX_DEPTH} levels"
        except (ValueError, UnicodeDecodeError) as exc:
            where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            return 400, "BAD_REQUEST", f'body is not JSON{where}: expected {{"inputs": images}}'
        if problem := shape_problem(parsed):
            return 400, "BAD_REQUEST", problem
        return body


def _client_error(status: int, body: bytes) -> tuple[int, str, str]:
    """MLflow's error answer, as the client gets it: its code and its message, in one line."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {"message": body.decode("utf-8", "replace")}
    if not isinstance(answer, dict):
        answer = {"message": str(answer)}
    code = str(answer.get("error_code") or "BAD_REQUEST")
    return (400 if status >= 500 else status), code, one_line(str(answer.get("message") or "error"))


async def _answer(send: Any, status: int, code: str, line: str) -> None:
    body = json.dumps({"error_code": code, "message": line}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def app(model_uri: str) -> Guard:
    """The guarded scoring server for a model URI; a model that cannot load is an InputError."""
    # deferred: loading the model imports TensorFlow; the guard itself needs neither
    from mlflow.pyfunc import scoring_server

    from mnistsum.tracking.registry import load_pyfunc

    return Guard(scoring_server.init(load_pyfunc(model_uri)))


@exits_cleanly
def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(prog="python -m mnistsum.serving")
    args.add_argument("model")
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, default=5001)
    parsed = args.parse_args(argv)
    guarded = app(parsed.model)
    try:
        uvicorn.run(guarded, host=parsed.host, port=parsed.port)
    except OSError as exc:
        raise InputError(f"cannot serve on {parsed.host}:{parsed.port}: {exc.strerror or exc}") from None


if __name__ == "__main__":
    sys.exit(main())
