"""The Celery integration people write first: the baseline ``bench/run.py`` compares us with.

One task per SMS posts the XML with ``requests.post`` (a new connection every time), parses the
answer, keeps the code in Redis and queues one follow-up task that asks ``state`` for that one
message. Celery's defaults everywhere else: prefork pool with one process per CPU, early acks,
prefetch multiplier 4, no result backend.

    NAIVE_BROKER_URL=redis://... NAIVE_GATEWAY_URL=http://... NAIVE_QUEUE=naive \\
        celery -A naive_app worker        (with bench/ on PYTHONPATH)
"""

from __future__ import annotations

import os
from xml.sax.saxutils import escape

import redis
import requests
from celery import Celery
from lxml import etree

BROKER_URL = os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:6379/0")
GATEWAY_URL = os.environ.get("NAIVE_GATEWAY_URL", "http://127.0.0.1:8099")
QUEUE = os.environ.get("NAIVE_QUEUE", "naive")
LOGIN = os.environ.get("NAIVE_LOGIN", "naive")
PASSWORD = os.environ.get("NAIVE_PASSWORD", "naive-password")
TEXT = "BenchShop: код для входа {код}. Никому не сообщайте его."
HEADERS = {"Content-Type": "text/xml; charset=utf-8"}

SEND_XML = """<?xml version="1.0" encoding="utf-8"?>
<request>
  <security>
    <login>{login}</login>
    <password>{password}</password>
  </security>
  <phone>{phone}</phone>
  <sender>target</sender>
  <random_string_len>6</random_string_len>
  <text>{text}</text>
</request>"""

STATE_XML = """<?xml version="1.0" encoding="utf-8"?>
<request>
  <security>
    <login value="{login}"/>
    <password value="{password}"/>
  </security>
  <get_state>
    <id_sms>{id_sms}</id_sms>
  </get_state>
</request>"""

app = Celery("naive_app", broker=BROKER_URL)
app.conf.task_default_queue = QUEUE
app.conf.task_ignore_result = True

store = redis.Redis.from_url(BROKER_URL)


@app.task
def send_code(phone: str) -> None:
    body = SEND_XML.format(
        login=escape(LOGIN), password=escape(PASSWORD), phone=escape(phone), text=escape(TEXT)
    )
    response = requests.post(
        f"{GATEWAY_URL}/password_generation/api.php",
        data=body.encode(),
        headers=HEADERS,
        timeout=10,
    )
    success = etree.fromstring(response.content).find("success")
    if success is None:
        raise RuntimeError("the gateway did not send the SMS")
    store.set(f"{QUEUE}:code:{phone}", success.get("code") or "", ex=300)
    check_delivery.apply_async((success.get("id_sms"),), countdown=1)


@app.task
def check_delivery(id_sms: str) -> None:
    attrs = {"login": escape(LOGIN, {'"': "&quot;"}), "password": escape(PASSWORD, {'"': "&quot;"})}
    body = STATE_XML.format(id_sms=escape(id_sms), **attrs)
    response = requests.post(
        f"{GATEWAY_URL}/xml/state.php", data=body.encode(), headers=HEADERS, timeout=10
    )
    state = etree.fromstring(response.content).find("state")
    status = state.text if state is not None and state.text else "unknown"
    store.set(f"{QUEUE}:status:{id_sms}", status, ex=3600)
