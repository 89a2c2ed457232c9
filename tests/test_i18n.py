"""The back office in the managers' languages: English and Simplified Chinese, chosen by the browser or
by the switch in the admin header; the committed catalogue complete and compiled."""

import dataclasses
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from gettext import GNUTranslations
from html import unescape
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command

from analytics.storage import rebuild_rollups
from smart_support.agent.scenarios import plan_conversation
from tests.factories import AnalyticsEventFactory, ConversationFactory

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
DASHBOARD = "/admin/analytics/dashboard/"
RANGE = {"from": "2026-11-01", "to": "2026-11-01", "tz": "UTC"}
CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}


@pytest.fixture
def one_day(db):
    ConversationFactory(started_at=datetime(2026, 11, 1, 9, tzinfo=timezone.utc))
    ConversationFactory(started_at=datetime(2026, 11, 1, 10, tzinfo=timezone.utc), resolved=False, escalated=True)
    rebuild_rollups()


def test_dashboard_speaks_chinese_to_a_chinese_browser(admin_client, one_day):
    page = admin_client.get(DASHBOARD, RANGE, **CHINESE).content.decode()

    assert '<html lang="zh-hans"' in page
    assert "Smart Support 管理后台" in page
    # the totals table: every measure's label and definition
    for label in ("已解决", "已升级", "工具调用", "输入 Token", "成本（美元）", "审批请求"):
        assert f"<th scope=\"row\">{label}</th>" in page
    assert "至少一次升级至人工。" in page
    # the headline metrics under the names the managers use
    cards = dict(re.findall(r'<div class="card" id="card-([a-z_]+)">\s*<h3>([^<]*)</h3>', page))
    assert cards["resolution_rate"] == "解决率" and cards["escalation_rate"] == "升级率"
    assert cards["cost_per_conversation"] == "每对话成本"
    assert "中断统计" in cards["interrupts"]
    titles = re.findall(r'<div class="chart">\s*<h2>([^<]*)</h2>', page)
    assert any("Agent 使用率" in title for title in titles), titles
    assert any("中断统计" in title for title in titles), titles
    # controls, range and the drill-down links speak Chinese too; the numbers keep their form
    assert '<label for="id_range">时间范围</label>' in page and '<option value="30d">最近 30 天</option>' in page
    assert "2026年11月1日 – 2026年11月1日" in page
    assert "打开这 2 个对话" in page and "50.0 %" in page
    assert "Conversations per agent" not in page and "Approval requests" not in page


def test_dashboard_stays_english_without_accept_language(admin_client, one_day):
    page = admin_client.get(DASHBOARD, RANGE).content.decode()

    assert '<html lang="en"' in page
    assert "Smart Support back office" in page and '<th scope="row">Resolved</th>' in page
    assert "已解决" not in page


def test_admin_index_names_apps_and_models_in_chinese(admin_client):
    page = admin_client.get("/admin/", **CHINESE).content.decode()

    for name in ("对话、回放与数据分析", "对话回放", "数据分析", "仪表盘", "Agent 数据解读", "模型价格"):
        assert name in page, name


def test_event_times_follow_the_chinese_locale_and_the_list_stays_compact_in_both(admin_client):
    started = datetime(2026, 11, 5, 9, 30, tzinfo=timezone.utc)
    AnalyticsEventFactory(conversation=ConversationFactory(thread_id="thread-dated", started_at=started), occurred_at=started)

    chinese = admin_client.get("/admin/analytics/analyticsevent/", **CHINESE).content.decode()
    english = admin_client.get("/admin/analytics/analyticsevent/").content.decode()

    assert "2026年11月5日 09:30" in chinese
    assert "Nov. 5, 2026, 9:30 a.m." in english
    # the conversation list's narrow Started column reads the same in every language
    assert "2026-11-05 09:30" in admin_client.get("/admin/replay/conversation/", **CHINESE).content.decode()


def test_the_switch_in_the_header_chooses_chinese_over_the_browser(admin_client):
    response = admin_client.post(
        "/i18n/setlang/", {"language": "zh-hans", "next": "/admin/replay/conversation/"}, **ENGLISH
    )

    assert response.status_code == 302 and response["Location"] == "/admin/replay/conversation/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    page = admin_client.get("/admin/replay/conversation/", **ENGLISH).content.decode()
    assert '<html lang="zh-hans"' in page and "Smart Support 管理后台" in page


def test_the_switch_back_to_english_holds_against_a_chinese_browser(admin_client):
    admin_client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"}, **CHINESE)

    page = admin_client.get("/admin/", **CHINESE).content.decode()
    assert '<html lang="en"' in page and "Smart Support back office" in page


def test_the_switch_refuses_a_next_url_of_another_site(admin_client):
    response = admin_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == "/"


def test_header_shows_the_switch_marking_the_active_language_and_keeping_the_page(admin_client):
    page = admin_client.get("/admin/replay/conversation/?status__exact=resolved", **CHINESE).content.decode()

    switch = re.search(r'<form id="language-switch" action="/i18n/setlang/" method="post".*?</form>', page, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in switch
    assert '<input type="hidden" name="next" value="/admin/replay/conversation/?status__exact=resolved">' in switch
    assert re.search(r'value="zh-hans"[^>]*aria-pressed="true">中文</button>', switch)
    assert re.search(r'value="en"[^>]*aria-pressed="false">English</button>', switch)


def test_login_page_offers_the_switch_too(client):
    page = client.get("/admin/login/", **CHINESE).content.decode()

    assert 'id="language-switch"' in page and "Smart Support 管理后台" in page


def test_inspection_page_reads_in_chinese_with_its_advice(admin_client, checkpointer):
    from tests.apps.routing_tools_app import build_routing_tools_app

    build_routing_tools_app(checkpointer=checkpointer).invoke(
        {"messages": [("user", "move my flight to LX 38")]}, {"configurable": {"thread_id": "travel-1"}}
    )

    page = admin_client.get("/admin/replay/inspection/", **CHINESE).content.decode()

    assert "以只读方式读取了最近的 1 个线程（请求最多 200 个）：" in page
    assert "<h2>会改变解读结果的设置</h2>" in page
    assert "这些工具被调用后，由非工具节点答复，并且紧接着 Agent/节点发生了切换" in page
    # what is pasted into the environment stays as it is
    assert '<pre class="settings">SMART_SUPPORT_ROUTING_TOOLS=CompleteOrEscalate,ToFlightBookingAssistant</pre>' in page


def test_lockout_message_reads_in_chinese():
    from django.utils import translation

    from access.lockout import lockout_message

    with translation.override("zh-hans"):
        message = lockout_message(username="manager")

    assert message.startswith("'manager' 从此地址登录失败次数过多：接下来 15 分钟 内将拒绝登录")


def test_dashboard_says_when_it_last_synced_in_chinese(admin_client, db):
    ConversationFactory(started_at=datetime(2026, 11, 1, 9, tzinfo=timezone.utc))
    synced = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    with time_machine.travel(synced, tick=False):
        call_command("backfill_events", verbosity=0)

    with time_machine.travel(synced + timedelta(seconds=12), tick=False):
        fresh = admin_client.get(DASHBOARD, RANGE, **CHINESE).content.decode()
    with time_machine.travel(synced + timedelta(days=3), tick=False):
        stale = admin_client.get(DASHBOARD, RANGE, **CHINESE).content.decode()
        english = admin_client.get(DASHBOARD, RANGE, **ENGLISH).content.decode()

    assert re.search(r'<p class="last-synced"[^>]*>上次同步于 12 秒前。</p>', fresh)
    assert "上次同步于 3 天前：在 backfill_events 运行之前，较新的对话不会计入" in stale
    assert "Last synced 3 days ago: newer conversations" in english


@pytest.fixture
def refund_replay(run_reference_agent):
    """A refund handed from the supervisor to billing, approved by a reviewer, then issued."""
    plan = plan_conversation(seed=29, index=1, scenario="refund_approved")
    plan = dataclasses.replace(plan, thread_id="refund-zh", metadata={"tenant": "acme", "channel": "email"})
    run_reference_agent(plan, datetime(2026, 11, 10, 9, tzinfo=timezone.utc))
    call_command("backfill_events", verbosity=0)
    return plan


def test_replay_page_tells_the_steps_in_chinese(admin_client, refund_replay):
    page = unescape(admin_client.get("/admin/replay/conversation/replay/refund-zh/", **CHINESE).content.decode())

    for label in ("租户", "渠道", "客户", "步骤数", "输入 Token", "成本", "时间按", "全部展开", "返回列表"):
        assert f"{label}<strong" in page or f">{label}<" in page or f"‹ {label}<" in page, label
    assert "转接给 <strong>billing</strong>" in page
    assert re.search(r"<strong>billing</strong> 调用 <code>issue_refund</code>", page)
    assert "<strong>billing</strong> 请求审批：" in page
    assert '<span class="badge approved">已批准</span>' in page and "审核人：maria.lopez" in page
    assert "等待 1 小时 4 分钟" in page  # the reviewer's 3,840 s
    assert "耗时" in page and "输入 " in page
    for english in ("hands over to", " calls <code>", "Approval requested by", "waited ", "took "):
        assert english not in page, english


def test_replay_page_keeps_english_for_an_english_browser(admin_client, refund_replay):
    page = unescape(admin_client.get("/admin/replay/conversation/replay/refund-zh/", **ENGLISH).content.decode())

    assert "hands over to <strong>billing</strong>" in page
    assert "<strong>billing</strong> calls <code>issue_refund</code>" in page
    assert '<span class="badge approved">approved</span>' in page and "by maria.lopez" in page
    assert "waited 1 h 4 min" in page


def test_conversation_list_column_headers_and_filters_in_chinese(admin_client, refund_replay):
    page = admin_client.get("/admin/replay/conversation/", **CHINESE).content.decode()

    assert "<h1>对话</h1>" in page  # the list's name, where the dashboard's card counts 对话数
    headers = [unescape(re.sub(r"<[^>]+>", "", header)).strip()
               for header in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', page, re.S)]
    for header in ("线程", "开始时间（UTC）", "客户", "首条消息", "Agent", "步骤数", "Token", "成本", "已升级", "已解决", "回放"):
        assert header in headers, (header, headers)
    for filter_text in ("转接给", "审批", "有审批", "任意日期", "今天", "最近 7 天"):
        assert filter_text in page, filter_text


def test_counts_of_one_read_in_the_singular_in_english():
    from analytics.admin import describe_repricing
    from analytics.dashboard_links import conversations_text
    from analytics.pricing import RepriceLine, RepriceResult

    one = RepriceResult(lines=(RepriceLine("gpt-4o", 1, Decimal("0.001"), Decimal("0.002"), 0),),
                        changed_calls=1, changed_conversations=1)
    two = RepriceResult(lines=(RepriceLine("gpt-4o", 2, Decimal("0.001"), Decimal("0.002"), 1),),
                        changed_calls=2, changed_conversations=2)

    assert describe_repricing(one) == "Repriced 1 LLM call in 1 conversation; total cost change +0.001000 USD."
    assert describe_repricing(two) == "Repriced 2 LLM calls in 2 conversations; total cost change +0.001000 USD."
    assert one.lines[0].describe() == "gpt-4o: 1 call, $0.001000 → $0.002000 (+0.001000)"
    assert two.lines[0].describe() == "gpt-4o: 2 calls, $0.001000 → $0.002000 (+0.001000), 1 unpriced"
    assert conversations_text(1, "open") == "open this 1 conversation"
    assert conversations_text(2, "open") == "open these 2 conversations"


def _entries(po: str) -> list[dict[str, str]]:
    """The catalogue's entries (header and obsolete ones left out): flags, msgid, and every msgstr joined."""
    entries = []
    for block in po.strip().split("\n\n"):
        lines = block.splitlines()
        if all(line.startswith("#~") for line in lines):
            continue
        fields: dict[str, str] = {"flags": " ".join(line for line in lines if line.startswith("#,"))}
        key = None
        for line in lines:
            if line.startswith("#"):
                continue
            if not line.startswith('"'):
                key, line = line.split(" ", 1)
                fields.setdefault(key, "")
            fields[key] += line.strip()[1:-1]
        if fields.get("msgid"):
            entries.append(fields)
    return entries


def test_every_entry_of_the_catalogue_is_translated_and_none_fuzzy():
    po = (LOCALE / "django.po").read_text(encoding="utf-8")
    entries = _entries(po)

    assert len(entries) > 150
    assert [entry["msgid"] for entry in entries if "fuzzy" in entry["flags"]] == []
    untranslated = [
        entry["msgid"] for entry in entries if not all(entry[key] for key in entry if key.startswith("msgstr"))
    ]
    assert untranslated == []
    assert "#, fuzzy" not in po.split("\n\n")[0]  # a fuzzy header would drop the plural rule


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
def test_committed_mo_holds_what_the_po_compiles_to(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(LOCALE / "django.po")], check=True)

    with open(compiled, "rb") as fresh, open(LOCALE / "django.mo", "rb") as committed:
        assert GNUTranslations(committed)._catalog == GNUTranslations(fresh)._catalog
