"""The real `openai` Python SDK against `clawdbot serve --openai-api` (tests/openai_sdk.rs).

Usage: client.py demo BASE_URL TOKEN     models, a completion, a stream, a wrong key, an oversized request
       client.py cancel BASE_URL TOKEN   opens a stream, reads one chunk, closes it mid-way
Prints one `ok <check>` line per passed check; any failure raises (non-zero exit).
"""
import sys

import openai


def client(base, token):
    return openai.OpenAI(base_url=base, api_key=token, max_retries=0, timeout=30)


def demo(base, token):
    c = client(base, token)
    ids = [m.id for m in c.models.list()]
    assert "demo/demo" in ids, ids
    print("ok models.list", ids, flush=True)

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello from the sdk"}]
    r = c.chat.completions.create(model="demo/demo", messages=messages)
    text = r.choices[0].message.content
    assert "hello from the sdk" in text and r.choices[0].finish_reason == "stop", r
    assert r.usage.total_tokens > 0, r.usage
    print("ok completion", text, flush=True)

    parts, finish, usage = [], None, None
    stream = c.chat.completions.create(
        model="demo", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert "".join(parts) == text, (parts, text)
    assert len(parts) > 1 and finish == "stop" and usage is not None, (parts, finish, usage)
    print("ok stream", len(parts), "chunks", flush=True)

    try:
        client(base, "wrong-token-0123456789abcdefghijklmnop").models.list()
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError as e:
        assert e.status_code == 401 and "wrong-token" not in str(e), e
    print("ok wrong key -> AuthenticationError", flush=True)

    try:
        c.chat.completions.create(model="demo", messages=[{"role": "user", "content": "x" * 3_000_000}])
        raise AssertionError("an oversized request was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400, e
    print("ok oversized -> BadRequestError", flush=True)

    try:
        c.chat.completions.create(model="no-such-model", messages=messages)
        raise AssertionError("an unknown model was accepted")
    except openai.BadRequestError as e:
        assert "no-such-model" in str(e), e
    print("ok unknown model -> BadRequestError", flush=True)


def cancel(base, token):
    c = client(base, token)
    stream = c.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "a long answer"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print("ok first chunk", chunk.choices[0].delta.content, flush=True)
            break
    stream.close()
    print("ok closed", flush=True)


if __name__ == "__main__":
    {"demo": demo, "cancel": cancel}[sys.argv[1]](sys.argv[2], sys.argv[3])
