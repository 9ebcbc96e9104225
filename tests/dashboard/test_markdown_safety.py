"""Strings from outside the code (identity claims, patient IDs from a cohort file) never become Markdown."""
from dashboard.auth import md_text


def test_md_text_leaves_no_link_image_or_html_active():
    shown = md_text("A001](https://evil.example)![x](https://evil.example/p.png)<img src=x>**bold**")
    for active in ("](", "![", "**"):
        assert active not in shown, active
    assert "<img" not in shown.replace("\\<img", ""), "an HTML tag stays text"
    assert md_text("A_0001") == "A\\_0001", "underscores in IDs show as typed"
