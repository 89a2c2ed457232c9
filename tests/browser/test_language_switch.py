"""A manager switches the admin to Chinese from the header, and back."""

import re


def test_manager_switches_to_chinese_and_back_on_the_same_page(signed_in):
    page = signed_in
    page.goto("/admin/replay/conversation/?status__exact=resolved")
    assert page.locator("#site-name").inner_text() == "Smart Support back office"

    page.click("#language-switch button[value=zh-hans]")

    page.wait_for_url(re.compile(r".*/admin/replay/conversation/\?status__exact=resolved$"))
    assert page.locator("#site-name").inner_text() == "Smart Support 管理后台"
    assert page.get_attribute("html", "lang") == "zh-hans"
    assert page.get_attribute("#language-switch button[value=zh-hans]", "aria-pressed") == "true"
    page.goto("/admin/")  # the choice holds on the next page, whatever the browser's language (en-US)
    assert "对话回放" in page.content()

    page.click("#language-switch button[value=en]")

    page.wait_for_url(re.compile(r".*/admin/$"))
    assert page.locator("#site-name").inner_text() == "Smart Support back office"
