"""Each channel sender against a real local receiver that checks the platform's documented
format and signature (tests/support/notify_receivers.py), and e-mail through a real SMTP server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from sitewatch.console.notify.channels import Message, SendError, Smtp, check_target, send
from tests.support.notify_receivers import MailBox, Receivers, serve_receivers, serve_smtp

MSG = Message(
    key="d-1",
    title="[SiteWatch] 未戴安全帽 north/gate",
    text="- 12:00:01 北门 未戴安全帽 0.87\n- 12:00:09 北门 未戴安全帽 0.91",
    items=[{"id": 1}, {"id": 2}],
)


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    yield from serve_receivers(Receivers(dingtalk_secret="SEC-ding", feishu_secret="fs-secret"))


@pytest.fixture(name="client")
def client_fixture() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def test_wecom_markdown_reaches_the_robot(rx: Receivers, client: httpx.Client) -> None:
    send(
        "wecom", {"url": f"{rx.base}/wecom?key=abc"}, MSG, client=client, smtp=None, now=time.time()
    )
    (body,) = rx.messages("wecom")
    assert body["msgtype"] == "markdown"
    assert MSG.title in body["markdown"]["content"] and "0.91" in body["markdown"]["content"]


def test_dingtalk_signed_url_is_accepted_and_a_wrong_secret_refused(
    rx: Receivers, client: httpx.Client
) -> None:
    target = {"url": f"{rx.base}/dingtalk?access_token=tok", "secret": "SEC-ding"}
    send("dingtalk", target, MSG, client=client, smtp=None, now=time.time())
    (body,) = rx.messages("dingtalk")
    assert body["markdown"] == {"title": MSG.title, "text": MSG.text}
    with pytest.raises(SendError, match="sign not match"):
        send(
            "dingtalk",
            {**target, "secret": "wrong"},
            MSG,
            client=client,
            smtp=None,
            now=time.time(),
        )
    with pytest.raises(SendError, match="timestamp"):  # a clock two hours off is refused too
        send("dingtalk", target, MSG, client=client, smtp=None, now=time.time() - 7200)


def test_feishu_signed_post_is_accepted_and_a_wrong_secret_refused(
    rx: Receivers, client: httpx.Client
) -> None:
    target = {"url": f"{rx.base}/feishu/hook-1", "secret": "fs-secret"}
    send("feishu", target, MSG, client=client, smtp=None, now=time.time())
    (body,) = rx.messages("feishu")
    post = body["content"]["post"]["zh_cn"]
    assert body["msg_type"] == "post" and post["title"] == MSG.title
    assert [p[0]["text"] for p in post["content"]] == MSG.text.splitlines()
    with pytest.raises(SendError, match="sign match fail"):
        send("feishu", {**target, "secret": "nope"}, MSG, client=client, smtp=None, now=time.time())


def test_webhook_is_signed_over_its_body(rx: Receivers, client: httpx.Client) -> None:
    target = {"url": f"{rx.base}/webhook", "secret": rx.webhook_secret}
    send("webhook", target, MSG, client=client, smtp=None, now=time.time())
    (body,) = rx.messages("webhook")
    assert body["delivery"] == "d-1" and body["notifications"] == MSG.items
    with pytest.raises(SendError, match="HTTP 401"):
        send(
            "webhook", {**target, "secret": "other"}, MSG, client=client, smtp=None, now=time.time()
        )
    assert rx.refused[-1] == ("webhook", "bad signature")


def test_a_receiver_down_is_a_send_error(rx: Receivers, client: httpx.Client) -> None:
    rx.fail_next = 1
    with pytest.raises(SendError, match="HTTP 500"):
        send(
            "wecom",
            {"url": f"{rx.base}/wecom?key=k"},
            MSG,
            client=client,
            smtp=None,
            now=time.time(),
        )
    with pytest.raises(SendError, match="ConnectError"):
        send(
            "wecom",
            {"url": "http://127.0.0.1:9/wecom?key=k"},
            MSG,
            client=client,
            smtp=None,
            now=time.time(),
        )


def test_email_arrives_at_a_real_smtp_server(client: httpx.Client) -> None:
    gen = serve_smtp()
    box, port = next(gen)
    try:
        smtp = Smtp("127.0.0.1", port, "none", "sitewatch@example.org")
        send(
            "email",
            {"to": ["safety@example.org", "pm@example.org"]},
            MSG,
            client=client,
            smtp=smtp,
            now=time.time(),
        )
        assert isinstance(box, MailBox)
        (mail,) = box.mails
        assert mail["Subject"] == MSG.title
        assert "0.91" in mail.get_content()
        assert box.envelopes == [
            ("sitewatch@example.org", ["safety@example.org", "pm@example.org"])
        ]
    finally:
        gen.close()
    with pytest.raises(SendError, match="SITEWATCH_SMTP_HOST"):
        send("email", {"to": ["a@b.c"]}, MSG, client=client, smtp=None, now=time.time())


@pytest.mark.parametrize(
    ("channel", "target", "problem"),
    [
        ("sms", {}, "unknown channel 'sms'"),
        ("wecom", {}, "missing \\['url'\\]"),
        ("webhook", {"url": "https://x"}, "missing \\['secret'\\]"),
        ("dingtalk", {"url": "ftp://x"}, "must start with https://"),
        ("email", {"to": "a@b.c"}, "list of addresses"),
        ("feishu", {"url": "https://x", "token": "t"}, "unknown keys \\['token'\\]"),
    ],
)
def test_bad_targets_say_what_is_wrong(
    channel: str, target: dict[str, object], problem: str
) -> None:
    assert re.search(problem, check_target(channel, target) or "no problem found")


def test_good_targets_pass() -> None:
    assert (
        check_target(
            "dingtalk",
            {"url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "s"},
        )
        is None
    )
    assert check_target("email", {"to": ["a@b.c"]}) is None
