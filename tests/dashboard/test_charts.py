"""The SVG charts parse as XML, name themselves for screen readers and print their values."""

import xml.etree.ElementTree as ET

import pytest

from dashboard.charts import Bar, Series, bar_chart, fit, funnel_chart, text_width, trend_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def assert_accessible(root: ET.Element, title: str) -> str:
    """Check the chart is an image named by its <title> and <desc>; return the description."""
    assert root.get("role") == "img"
    labelled_by = (root.get("aria-labelledby") or "").split()
    found = {element.get("id"): element for element in root.iter() if element.get("id")}
    assert [found[ident].tag for ident in labelled_by] == [f"{SVG}title", f"{SVG}desc"]
    assert found[labelled_by[0]].text == title
    return found[labelled_by[1]].text or ""


def test_bar_chart_shows_labels_and_values() -> None:
    svg = bar_chart(
        "投诉类别分布",
        [Bar("噪音扰民", 12), Bar("报修", 7), Bar("停车", 0)],
        chart_id="categories",
    )

    root = parse(svg)
    description = assert_accessible(root, "投诉类别分布")
    assert "噪音扰民：12" in description and "停车：0" in description
    assert {"噪音扰民", "报修", "停车", "12", "7", "0"} <= set(texts(root))
    heights = [float(r.get("height") or 0) for r in root.iter(f"{SVG}rect")]
    # The largest value fills the plot; a zero draws nothing.
    assert heights[0] > heights[1] > heights[2] == 0
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_bar_chart_escapes_labels_and_shows_given_text() -> None:
    svg = bar_chart("A & B", [Bar("<b>x</b>", 0.5, "50.0%")], chart_id="rates")

    root = parse(svg)
    assert assert_accessible(root, "A & B") == "<b>x</b>：50.0%"
    assert "<b>x</b>" in texts(root) and "50.0%" in texts(root)


def test_an_empty_chart_still_parses() -> None:
    root = parse(bar_chart("空", [], chart_id="empty"))

    assert assert_accessible(root, "空") == ""


def test_weekly_trend_has_a_legend_and_every_value() -> None:
    svg = trend_chart(
        "每周投诉",
        ["2026-W10", "2026-W11"],
        [Series("受理", [2, 1]), Series("结案", [2, 0])],
        chart_id="weekly",
    )

    root = parse(svg)
    description = assert_accessible(root, "每周投诉")
    assert description == "2026-W10：受理 2，结案 2；2026-W11：受理 1，结案 0"
    shown = texts(root)
    assert {"受理", "结案", "2026-W10", "2026-W11"} <= set(shown)
    assert shown.count("2") == 2 and shown.count("1") == 1 and shown.count("0") == 1


def test_funnel_narrows_with_each_tier() -> None:
    steps = [Bar("首问责任人", 5, "5（100.0%）"), Bar("客服班长", 3, "3（60.0%）"),
             Bar("品质部", 0, "0（0.0%）")]  # fmt: skip
    svg = funnel_chart("投诉升级层级", steps, chart_id="ladder")

    root = parse(svg)
    description = assert_accessible(root, "投诉升级层级")
    assert description == "首问责任人：5（100.0%）；客服班长：3（60.0%）；品质部：0（0.0%）"
    widths = [float(r.get("width") or 0) for r in root.iter(f"{SVG}rect")]
    assert widths[0] > widths[1] > widths[2] == 0
    assert widths[1] == pytest.approx(widths[0] * 3 / 5)
    assert {"首问责任人", "客服班长", "3（60.0%）"} <= set(texts(root))


def test_long_labels_are_cut_to_fit() -> None:
    label = "非常非常非常长的投诉类别名称"

    cut = fit(label, 60)

    assert cut.endswith("…") and text_width(cut) <= 60
    assert fit("噪音", 60) == "噪音"
