"""The back office in the managers' languages: English and Simplified Chinese, chosen by the browser or
by the switch in the admin header; the committed catalogue complete and compiled."""

import re
import shutil
import subprocess
from datetime import datetime, timezone
from gettext import GNUTranslations
from pathlib import Path

import pytest
from django.conf import settings

from analytics.storage import rebuild_rollups
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
